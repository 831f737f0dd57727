"""What every clip dataset shares: configs, features, resumable preparation, reading.

A builder lists its jobs (one per source file/folder) from the manual
directory; `ClipBuilder._download_and_prepare` runs them through
`sharded_writer` (process pool, progress bar, resume) and hands the finished
array_record shards to TFDS, which writes `dataset_info.json`. Reading needs
no TensorFlow: `builder.as_data_source("train")` or
`tfds.data_source("how2sign_faces/100x100x25", data_dir=...)` once the builder
module is imported.

Records: {"video": (T, H, W, 3) uint8, "source": the file/folder it came from,
"start": its first frame there, "index": its position = latent row}, in a
fixed order (sources sorted, clips in time order). Skipped sources are listed
with the reason in `skipped.json` beside the prepared data.
"""

import dataclasses
import json
import os
import pathlib
import shutil
import sys

from absl import logging
from array_record.python import array_record_module
import filelock
import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core import example_serializer

from inrv_jax import errors
from inrv_jax.data.builders import sharded_writer
from inrv_jax.data.builders import sources

MANIFEST = "skipped.json"   # sources that gave no clip, and those cut short ("kept_frames")
SOURCES = "sources.json"    # [{"file", "clips"}] of every source, in dataset order


class _QuietTfdsNotices:
  """Drops two TFDS warnings that every run of ours triggers and that mean nothing here.

  "Using custom data configuration: <repr>": our configs are built from the
  clip size (`config_for`), so they are custom by design. "Variant folder X has
  no dataset_info.json": TFDS looking for an earlier preparation, before ours.
  """
  NOTICES = ("Using custom data configuration: %s", "Variant folder %s has no %s")

  def filter(self, record) -> bool:
    return record.msg not in self.NOTICES


logging.get_absl_logger().addFilter(_QuietTfdsNotices())


@dataclasses.dataclass
class ClipConfig(tfds.core.BuilderConfig):
  """Clip size and windows; the name reads HxWxT (e.g. 100x100x25, + _strideS)."""
  num_frames: int = 25
  height: int = 100
  width: int = 100
  stride: int = 0   # 0 = the first T frames of each video; S > 0 = every window S frames apart


def clip_name(num_frames: int, height: int, width: int, stride: int) -> str:
  return f"{height}x{width}x{num_frames}" + (f"_stride{stride}" if stride > 0 else "")


def config_for(builder_cls, num_frames: int, height: int, width: int,
               stride: int) -> ClipConfig | str:
  """The builder's listed config of that size (by name), else a new one."""
  name = clip_name(num_frames, height, width, stride)
  if name in builder_cls.builder_configs:
    return name
  return ClipConfig(name=name, num_frames=num_frames, height=height, width=width, stride=stride)


def default_data_dir() -> str:
  """The TFDS convention: $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
  return os.environ.get("TFDS_DATA_DIR", str(pathlib.Path.home() / "tensorflow_datasets"))


def default_manual_dir(data_dir: str) -> pathlib.Path:
  """TFDS's default manual directory: <data_dir>/downloads/manual."""
  return pathlib.Path(data_dir or default_data_dir()).expanduser() / "downloads" / "manual"


class ClipBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base of the clip datasets; subclasses define `_jobs` and their instructions."""

  VERSION = tfds.core.Version("1.0.0")
  CROP: tuple = ()           # (top, bottom, left, right) applied before resizing; None = edge
  JOBS_PER_SHARD = 128       # sources per array_record shard
  DESCRIPTION = ""
  HOMEPAGE = ""
  workers = 0                # processes decoding sources (0 = one per CPU core)

  def __init__(self, **kwargs):
    kwargs.setdefault("file_format", "array_record")
    try:
      super().__init__(**kwargs)
    except Exception as err:  # an unreadable dataset_info.json: protobuf, JSON, type errors
      damaged = self._prepared_dir(kwargs)
      if damaged is None or not (damaged / "dataset_info.json").exists():
        raise
      discard_damaged(damaged, f"dataset_info.json: {type(err).__name__}: {err}")
      super().__init__(**kwargs)

  @classmethod
  def _prepared_dir(cls, kwargs: dict) -> pathlib.Path | None:
    """<data_dir>/<name>/<config name>/<version> of a builder's constructor arguments."""
    config = kwargs.get("config")
    name = config if isinstance(config, str) else getattr(config, "name", None)
    if name is None:
      return None
    root = pathlib.Path(kwargs.get("data_dir") or default_data_dir()).expanduser()
    return root / cls.name / name / str(cls.VERSION)

  @property
  def spec(self) -> sources.ClipSpec:
    cfg = self.builder_config
    return sources.ClipSpec(cfg.num_frames, cfg.height, cfg.width, cfg.stride, self.CROP)

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.DESCRIPTION,
        homepage=self.HOMEPAGE or None,
        features=tfds.features.FeaturesDict({
            "video": tfds.features.Tensor(
                shape=(cfg.num_frames, cfg.height, cfg.width, 3), dtype=np.uint8),
            "source": tfds.features.Text(),   # file/folder (relative to the manual dir)
            "start": np.int64,                # first frame of the clip in its source
            "index": np.int64,                # position in the dataset = latent row
        }),
        disable_shuffling=True)  # record order = source order = latent rows

  def _jobs(self, manual_dir: pathlib.Path) -> list[sharded_writer.Job]:
    """The work, one job per source, in dataset order."""
    raise NotImplementedError

  def _split_jobs(self, manual_dir: pathlib.Path) -> dict[str, list[sharded_writer.Job]]:
    """The work of every split, by split name ({"train": `_jobs`} unless overridden)."""
    return {"train": self._jobs(manual_dir)}

  def check_sources(self, manual_dir) -> None:
    """Raise DataError if the raw files are not where preparation will look."""
    self._split_jobs(self._source_root(pathlib.Path(manual_dir).expanduser()))

  def _source_root(self, manual_dir: pathlib.Path) -> pathlib.Path:
    """Where the raw files are (record `source` names are relative to it)."""
    return manual_dir

  def missing(self, manual_dir: pathlib.Path, what: str) -> errors.DataError:
    """The error for absent raw data: where to get it and where to put it."""
    return errors.DataError(
        f"{self.name}: {what} in the manual directory {manual_dir} "
        "(set it with --config.data.manual_dir=DIR).\n"
        + tfds.core.utils.dedent(self.MANUAL_DOWNLOAD_INSTRUCTIONS or ""))

  def _split_generators(self, dl_manager):
    raise NotImplementedError("ClipBuilder writes its shards in _download_and_prepare")

  def _generate_examples(self):
    raise NotImplementedError("ClipBuilder writes its shards in _download_and_prepare")

  def work_dir(self, split: str = "train") -> pathlib.Path:
    """Where finished shards of `split` wait while a preparation is under way (survives
    interruptions)."""
    name = self.info.full_name + ("" if split == "train" else f"-{split}")
    return pathlib.Path(self.data_dir_root) / "downloads" / "partial_shards" / name

  def _download_and_prepare(self, dl_manager, download_config) -> None:
    del dl_manager
    manual_dir = self._source_root(pathlib.Path(download_config.manual_dir or default_manual_dir(
        str(self.data_dir_root))).expanduser())
    split_jobs = self._split_jobs(manual_dir)
    features = self.info.features
    serializer = example_serializer.ExampleSerializer(features.get_serialized_info())

    def make_record(clip, index: int) -> bytes:
      name, start, video = clip
      source = os.path.relpath(name, manual_dir) if os.path.isabs(name) else name
      return serializer.serialize_example(features.encode_example(
          {"video": video, "source": source, "start": start, "index": index}))

    infos, skipped, counts = [], [], []
    for split, jobs in split_jobs.items():
      shards = sharded_writer.write_shards(
          jobs, self.work_dir(split), make_record, self.JOBS_PER_SHARD, self.workers,
          tag=self.info.full_name, desc=f"{self.info.full_name} {split}")
      skipped += [s for shard in shards for s in shard.skipped + shard.cut_short]
      if split == "train":
        counts = [{"file": _relative(name, manual_dir), "clips": n}
                  for shard in shards for name, n in shard.sources]
      kept = [s for s in shards if s.num_clips]
      if not kept:
        raise errors.DataError(
            f"{self.name}: none of the {len(jobs)} sources of the {split} split in {manual_dir} "
            "gave a clip:\n" + "\n".join(f"  {s['reason']}" for s in skipped[:20]))
      template = self._get_filename_template(split_name=split)
      paths = [template.sharded_filepath(shard_index=i, num_shards=len(kept))
               for i in range(len(kept))]
      for shard, path in zip(kept, paths):
        os.replace(shard.path, path)
      infos.append(tfds.core.SplitInfo(
          name=split, shard_lengths=[s.num_clips for s in kept],
          num_bytes=sum(path.stat().length for path in paths), filename_template=template))
      logging.info("%s %s: %d clips", self.info.full_name, split, sum(s.num_clips for s in kept))
    self.info.set_splits(tfds.core.SplitDict(infos))
    (pathlib.Path(self.data_dir) / MANIFEST).write_text(json.dumps(skipped, indent=1))
    (pathlib.Path(self.data_dir) / SOURCES).write_text(json.dumps(counts, indent=1))
    logging.info("%s: %d sources skipped (listed in %s)", self.info.full_name, len(skipped),
                 MANIFEST)
    self._finished_work_dirs = [self.work_dir(split) for split in split_jobs]

  def _log_download_bytes(self) -> None:
    # TFDS' own line ("Downloading and preparing dataset Unknown size ...") is
    # wrong for us: nothing is downloaded, clips are cut from local files.
    print(f"Preparing {self.info.full_name} from local files into {self.data_dir_root} "
          "(nothing is downloaded)")

  def _log_download_done(self) -> None:
    print(f"Prepared {self.info.full_name} in {self.data_dir}; later runs reuse it")

  def download_and_prepare(self, *args, **kwargs):
    super().download_and_prepare(*args, **kwargs)
    for finished in getattr(self, "_finished_work_dirs", ()):
      if finished.exists():
        shutil.rmtree(finished)


def _relative(name: str, root: pathlib.Path) -> str:
  return os.path.relpath(name, root) if os.path.isabs(name) else name


def discard_damaged(prepared: pathlib.Path, reason: str) -> None:
  """Remove a damaged prepared dataset (one plain line says so); it is prepared again."""
  print(f"{errors.path_text(prepared)}: the prepared data is damaged ({reason}); preparing "
        "it again", file=sys.stderr, flush=True)
  shutil.rmtree(prepared, ignore_errors=True)


def damage(builder: ClipBuilder) -> str | None:
  """Why the prepared shards of `builder` can't be read, or None when every shard opens
  and holds the records its dataset_info.json lists (reads each shard's index only)."""
  try:
    for split in builder.info.splits.values():
      for path, length in zip(split.filepaths, split.shard_lengths):
        if not os.path.isfile(path):
          return f"{os.path.basename(path)}: missing"
        reader = array_record_module.ArrayRecordReader(str(path))
        try:
          if not reader.ok():
            reader.read([0])  # raises the reader's reason
            return f"{os.path.basename(path)}: unreadable"
          found = reader.num_records()
        finally:
          reader.close()
        if found != length:
          return f"{os.path.basename(path)}: {found} records, {length} expected"
  except Exception as err:  # Riegeli, OS and protobuf errors: the files aren't what they say
    return " ".join(f"{type(err).__name__}: {err}".split())[:300]
  return None


def _reopened(builder: ClipBuilder) -> ClipBuilder:
  return type(builder)(config=builder.builder_config, data_dir=builder.data_dir_root)


def _intact(builder: ClipBuilder) -> ClipBuilder:
  """`builder`, or a fresh unprepared one after its damaged prepared data was removed."""
  if builder.is_prepared():
    why = damage(builder)
    if why:
      discard_damaged(pathlib.Path(builder.data_dir), why)
      return _reopened(builder)
  return builder


def prepare(builder: ClipBuilder, manual_dir: str | os.PathLike | None = None,
            workers: int = 0, split: str = "train"):
  """Prepare `builder` once (resuming an interrupted run); return the data source of `split`.

  Prepared data whose shards fail their check (`damage`) is removed and prepared
  again, with one line saying so. Processes preparing one dataset at once take
  turns (a lock file under <data_dir>/downloads): the first prepares, the others
  then read its result. Raises errors.DataError when the prepared dataset has no
  such split or the raw files are missing.
  """
  builder = _intact(builder)
  if not builder.is_prepared():
    lock_dir = pathlib.Path(builder.data_dir_root) / "downloads"
    lock_dir.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(lock_dir / (builder.info.full_name.replace("/", "_") + ".lock"))
    try:
      lock.acquire(timeout=0)
    except filelock.Timeout:
      print(f"waiting for another process preparing {builder.info.full_name} "
            f"(lock file {lock.lock_file})", file=sys.stderr, flush=True)
      lock.acquire()
    try:
      done = _intact(_reopened(builder))  # another process may have prepared it meanwhile
      if done.is_prepared():
        builder = done
      else:
        builder.workers = workers
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
            manual_dir=str(manual_dir) if manual_dir else None))
        builder = _reopened(builder)
    finally:
      lock.release()
  if split not in builder.info.splits:
    raise errors.DataError(f"{builder.info.full_name} has no {split!r} split (it has "
                           f"{sorted(builder.info.splits)}); Moving MNIST writes a test split "
                           "with --config.data.test_videos=N")
  return builder.as_data_source(split=split)


def _manifest(builder: ClipBuilder) -> list[dict]:
  path = pathlib.Path(builder.data_dir) / MANIFEST
  try:
    return json.loads(path.read_text()) if path.exists() else []
  except (OSError, ValueError):
    return []


def skipped_files(builder: ClipBuilder) -> list[dict]:
  """The sources that gave no clip, with the reason ([] if none)."""
  return [s for s in _manifest(builder) if "kept_frames" not in s]


def cut_short_files(builder: ClipBuilder) -> list[dict]:
  """The sources that stopped decoding part-way and gave the clips of their first
  frames: {"file", "reason", "kept_frames"} each ([] if none)."""
  return [s for s in _manifest(builder) if "kept_frames" in s]


def clips_per_source(builder: ClipBuilder) -> list[dict] | None:
  """[{"file", "clips"}] of every source of the train split, in dataset order; None for
  data prepared before this was recorded."""
  path = pathlib.Path(builder.data_dir) / SOURCES
  try:
    return json.loads(path.read_text()) if path.exists() else None
  except (OSError, ValueError):
    return None
