"""What a workdir was trained on, recorded in it and checked by every later use.

Training writes WORKDIR/training_data.json: for a folder of videos
(data.name="video_folder"), its directory and, per video in dataset order, the
file name, size, modification time, SHA-256 of its bytes and how many clips it
gave; for every dataset, the number of clips (latent rows). Training, resuming
and the task modes that read training clips (`training_source`) compare the
folder with it first:

- a video changed (other bytes under its name), added or removed: errors.UserError,
  one line naming the files and the two ways on: a new workdir, or
  `--accept_data_change` (ACCEPT_FLAG) to use the workdir with the videos as they
  are now, rows then resolving through the record (below);
- the folder moved: the task modes take --data_path=DIR (DATA_PATH_FLAG) or, when
  the config's path is gone, find the folder at the recorded path; a copy whose
  files have new times but the same bytes is the same data;
- a workdir inside the data folder is refused before anything is written (its
  outputs would become training videos).

Latent row i of the workdir is clip k of recorded video v; `training_source`
returns the current clips in that order, so an index names the clip it was
trained on whatever was added before it. Workdirs written before the record
existed have none: they are used as they are and get one at their next training.
"""

import hashlib
import json
import os
import pathlib

import ml_collections

from inrv_jax import errors
from inrv_jax.data import datasets
from inrv_jax.data.builders import base
from inrv_jax.data.builders import video_folder

RECORD = "training_data.json"
ACCEPT_FLAG = "--accept_data_change"
DATA_PATH_FLAG = "--data_path"
SHOWN = 5  # file names a message lists before "and N more"


def _sha256(path: pathlib.Path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as file:
    for block in iter(lambda: file.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _videos(data: ml_collections.ConfigDict) -> tuple[pathlib.Path, list[pathlib.Path]] | None:
  """(directory, video files) of a video folder config; None for other datasets."""
  if data.name != "video_folder":
    return None
  directory, names = video_folder.resolve_source(data.path, tuple(data.files))
  return directory, video_folder.list_videos(directory, names)


def _stat(path: pathlib.Path) -> os.stat_result:
  return path.stat() if path.exists() else path.lstat()  # a broken symlink: the link itself


def _content(path: pathlib.Path, known: dict | None) -> dict:
  """{"file", "bytes", "mtime_ns", "sha256"} of one video; the hash of `known` (the record's
  entry of that name) is reused when size and time are unchanged."""
  stat = _stat(path)
  entry = {"file": errors.path_text(path.name), "bytes": stat.st_size,
           "mtime_ns": stat.st_mtime_ns}
  if known and (known.get("bytes"), known.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns):
    entry["sha256"] = known.get("sha256")
  else:
    try:
      entry["sha256"] = _sha256(path)
    except OSError:  # a broken symlink, unreadable: preparation skipped it too
      entry["sha256"] = None
  return entry


def read(workdir: os.PathLike | str) -> dict | None:
  """The workdir's record (module docstring), or None when it has none (older workdirs)."""
  path = pathlib.Path(workdir).expanduser() / RECORD
  if not path.is_file():
    return None
  try:
    record = json.loads(path.read_text())
  except (OSError, ValueError) as err:
    raise errors.UserError(f"{path}: unreadable record of the training data ({err}); "
                           "delete it to adopt the data as it is now") from err
  if not isinstance(record, dict):
    raise errors.UserError(f"{path}: unreadable record of the training data (a JSON object "
                           "was expected); delete it to adopt the data as it is now")
  return record


def refuse_workdir_inside_data(workdir: os.PathLike | str,
                               data: ml_collections.ConfigDict) -> None:
  """errors.UserError when `workdir` is the video folder or lies inside it."""
  if data.name != "video_folder" or not data.path:
    return
  directory, _ = video_folder.resolve_source(data.path, tuple(data.files))
  workdir = pathlib.Path(workdir).expanduser().resolve()
  if workdir == directory or directory in workdir.parents:
    raise errors.UserError(f"--workdir={workdir} is inside the data folder {directory}: its "
                           "videos would become training data; choose a --workdir outside it")


def _names(items: list[str]) -> str:
  shown = ", ".join(items[:SHOWN])
  return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def differences(record: dict, data: ml_collections.ConfigDict) -> tuple[str, list[dict]]:
  """(text naming the changed, added and removed videos ("" when none), the folder's
  entries now) for a record of a video folder."""
  _, files = _videos(data)
  recorded = {v["file"]: v for v in record.get("videos") or []}
  now = [_content(p, recorded.get(errors.path_text(p.name))) for p in files]
  names = {v["file"] for v in now}
  changed = [v["file"] for v in now if v["file"] in recorded
             and (v["bytes"], v["sha256"]) != (recorded[v["file"]].get("bytes"),
                                               recorded[v["file"]].get("sha256"))]
  added = [v["file"] for v in now if v["file"] not in recorded]
  removed = [name for name in recorded if name not in names]
  parts = [f"{what}: {_names(items)}" for what, items in
           (("changed", changed), ("added", added), ("removed", removed)) if items]
  return "; ".join(parts), now


def check(workdir: os.PathLike | str, data: ml_collections.ConfigDict,
          accept: bool = False) -> dict | None:
  """The workdir's record after checking the folder `data` names against it; None when
  the workdir has no record. Raises errors.UserError, one line naming the files and
  what to do, when videos changed, were added or removed (unless `accept`)."""
  record = read(workdir)
  if record is None or record.get("videos") is None or data.name != "video_folder":
    return record
  text, _ = differences(record, data)
  if text and not accept:
    directory, _ = video_folder.resolve_source(data.path, tuple(data.files))
    raise errors.UserError(
        f"{directory}: not the videos {workdir} was trained on ({text}); train a new "
        f"--workdir on them, or pass {ACCEPT_FLAG} to use this workdir with the videos as "
        "they are now")
  return record


def clip_counts(data: ml_collections.ConfigDict, builder=None, source=None) -> list[dict]:
  """[{"file", "clips"}] of every source of the prepared train split, in dataset order
  (from its sources.json; data prepared before it existed: from the records)."""
  builder = builder or datasets.builder_for(data)
  counts = base.clips_per_source(builder)
  if counts is not None:
    return counts
  source = source if source is not None else datasets.prepare(data)[0]
  out = []
  for i in range(len(source)):
    name = source[i]["source"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    if out and out[-1]["file"] == name:
      out[-1]["clips"] += 1
    else:
      out.append({"file": name, "clips": 1})
  return out


def write(workdir: os.PathLike | str, data: ml_collections.ConfigDict, num_clips: int,
          source=None) -> dict:
  """Record in `workdir` what it is trained on now (module docstring); returns the record."""
  record = {"dataset": data.name, "num_clips": int(num_clips), "directory": None,
            "videos": None}
  if data.name == "video_folder":
    previous = read(workdir) or {}
    known = {v["file"]: v for v in previous.get("videos") or []}
    directory, files = _videos(data)
    videos = [_content(p, known.get(errors.path_text(p.name))) for p in files]
    clips = {c["file"]: c["clips"] for c in clip_counts(data, source=source)}
    for video in videos:
      video["clips"] = clips.get(video["file"], 0)
    record.update(directory=errors.path_text(directory), videos=videos)
  path = pathlib.Path(workdir) / RECORD
  partial = path.with_name(path.name + ".partial")
  partial.write_text(json.dumps(record, indent=1))
  partial.replace(path)
  return record


def resolve_data(workdir: os.PathLike | str, data: ml_collections.ConfigDict,
                 data_path: str | None = None) -> ml_collections.ConfigDict:
  """A copy of the workdir's `data` config whose path is where the videos are now:
  `data_path` when given, else the config's path, else the recorded directory.

  Raises errors.UserError naming --data_path when the folder is nowhere to be found.
  """
  data = ml_collections.ConfigDict(data.to_dict())
  if data.name != "video_folder":
    return data
  if data_path:
    data.path = str(data_path)
    return data
  if data.path == video_folder.BUNDLED:
    return data
  directory = pathlib.Path(data.path).expanduser()
  if directory.is_dir():
    return data
  record = read(workdir) or {}
  recorded = record.get("directory")
  if recorded and pathlib.Path(recorded).is_dir():
    data.path = recorded
    return data
  raise errors.UserError(
      f"{workdir} was trained on the videos in {recorded or data.path}, which is not a "
      f"directory any more; pass {DATA_PATH_FLAG}=DIR where they are now")


class _Rows:
  """The records of a source in the order of the workdir's latent rows (None: a row
  whose clip is gone, errors.UserError when read)."""

  def __init__(self, source, indices: list[int | None], where: str):
    self._source, self._indices, self._where = source, indices, where

  def __len__(self):
    return len(self._indices)

  def __getitem__(self, i):
    if not 0 <= i < len(self._indices):
      raise IndexError(i)
    if self._indices[i] is None:
      raise errors.UserError(f"the clip of latent row {i} is no longer in {self._where} (its "
                             "video was removed or is shorter now)")
    return self._source[self._indices[i]]


def training_source(workdir: os.PathLike | str, data: ml_collections.ConfigDict,
                    data_path: str | None = None, accept: bool = False):
  """The training clips of a workdir, record i = latent row i, after `check`.

  data: the workdir's data config; data_path: where the videos are now (task modes'
  --data_path; default: the config's path or the recorded one). With `accept`, rows
  resolve through the record: row i is clip k of recorded video v wherever that clip
  is now. Raises errors.UserError when the videos changed (without `accept`) or the
  folder can't be found; with `accept`, reading a row whose clip is gone raises it.
  """
  data = resolve_data(workdir, data, data_path)
  record = check(workdir, data, accept)
  source, builder = datasets.prepare(data)
  whole = source
  if data.max_clips:
    source = datasets.first_n(source, data.max_clips)
  if not record or record.get("videos") is None:
    return source
  offsets, start = {}, 0
  for entry in clip_counts(data, builder, whole):
    offsets[pathlib.Path(entry["file"]).name] = (start, entry["clips"])
    start += entry["clips"]
  rows = []
  for video in record["videos"]:
    first, count = offsets.get(video["file"], (None, 0))
    for k in range(video.get("clips", 0)):
      rows.append(first + k if first is not None and k < count else None)
  rows = rows[:record.get("num_clips", len(rows))]
  if rows == list(range(len(rows))) and len(rows) == len(source):
    return source
  return _Rows(whole, rows, data.path)
