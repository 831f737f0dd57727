"""Raw sources -> uint8 clips: video files, folders of frames, arrays of videos.

Every reader here is a module-level function (so a worker process can run
it) returning [(source name, first frame, clip (T, H, W, 3) uint8), ...] for
one unit of work, and raises errors.DataError naming the file when that unit
can't give a clip (too short, unreadable, wrong size).
"""

import dataclasses
import pathlib
import re
from typing import Iterable, Iterator

import numpy as np
from PIL import Image

from inrv_jax import errors
from inrv_jax.data import clips as clips_lib
from inrv_jax.data import video_io

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
Clip = tuple[str, int, np.ndarray]  # (source name, first frame, (T, H, W, 3) uint8)


@dataclasses.dataclass(frozen=True)
class ClipSpec:
  """How frames become clips: crop box, resize, T-frame windows `stride` apart."""
  num_frames: int
  height: int
  width: int
  stride: int = 0            # 0 = only the first T frames of each source
  crop: tuple = ()           # (top, bottom, left, right); None = the frame's edge; () = no crop


def natural_key(path: pathlib.Path):
  """Sort key so that cut-2 comes before cut-10."""
  return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(path))]


def _crop_box(spec: ClipSpec, frame: np.ndarray, name: str) -> tuple[int, ...]:
  if not spec.crop:
    return ()
  h, w = frame.shape[:2]
  top, bottom, left, right = spec.crop
  box = (top or 0, h if bottom is None else bottom, left or 0, w if right is None else right)
  if box[1] > h or box[3] > w:
    raise errors.DataError(
        f"{name}: frames are {w}x{h} (WxH), too small for the crop box "
        f"rows {box[0]}:{box[1]}, columns {box[2]}:{box[3]}")
  return box


class Clips(list):
  """A source's clips [(name, start, clip), ...]; `cut_short` is {"reason", "kept_frames"}
  when decoding stopped part-way (a truncated file) and the frames before it were kept."""
  cut_short: dict | None = None


def frames_to_clips(frames: Iterable[np.ndarray], spec: ClipSpec, name: str) -> Clips:
  """Crop + anti-aliased resize each (H, W, 3) frame as it arrives, then cut windows.

  Only resized frames are kept, so long videos fit in memory. A source that stops
  decoding part-way (errors.DataError from `frames`, e.g. a truncated file) keeps
  the frames decoded before it, whatever the stride: its clips are those windows,
  and the result's `cut_short` says why and how many frames were kept. Raises
  errors.DataError when fewer than T frames decode.
  """
  kept, box, cut = [], None, None
  frames = iter(frames)
  while not (spec.stride <= 0 and len(kept) >= spec.num_frames):
    try:
      frame = next(frames)
    except StopIteration:
      break
    except errors.DataError as err:
      if not kept:
        raise
      cut = {"reason": str(err), "kept_frames": len(kept)}
      break
    if box is None:
      box = _crop_box(spec, frame, name)
    small = clips_lib.resize(clips_lib.crop(frame[None], box), spec.height, spec.width)
    kept.append(small[0])
  starts = clips_lib.window_starts(len(kept), spec.num_frames, spec.stride)
  if not starts:
    stopped = f" before decoding stopped ({cut['reason']})" if cut else ""
    raise errors.DataError(
        f"{name}: only {len(kept)} frames{stopped}, shorter than the {spec.num_frames} frames "
        "a clip needs")
  video = np.stack(kept)  # (N, H, W, 3)
  out = Clips((name, s, video[s:s + spec.num_frames]) for s in starts)
  out.cut_short = cut
  return out


def video_file_clips(path: str, spec: ClipSpec) -> list[Clip]:
  """Clips of one video file (mp4, avi, ...), named by errors.path_text(path)."""
  return frames_to_clips(video_io.iter_frames(path), spec, errors.path_text(path))


def image_files(folder: pathlib.Path) -> list[pathlib.Path]:
  return sorted((p for p in folder.iterdir()
                 if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()), key=natural_key)


def _read_images(paths: list[pathlib.Path]) -> Iterator[np.ndarray]:
  for p in paths:
    try:
      with Image.open(p) as image:
        yield np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as err:
      raise errors.DataError(f"{p}: unreadable image ({err})") from err


def frame_folder_clips(folder: str, spec: ClipSpec) -> list[Clip]:
  """Clips of one folder of frame images, in natural file-name order."""
  return frames_to_clips(_read_images(image_files(pathlib.Path(folder))), spec, folder)


def grey_to_rgb(videos: np.ndarray) -> np.ndarray:
  """(..., H, W) uint8 -> (..., H, W, 3)."""
  return np.repeat(videos[..., None], 3, axis=-1)


def sequence_array_clips(path: str, first: int, stop: int, spec: ClipSpec) -> list[Clip]:
  """Clips of videos first..stop-1 of a (T, N, H, W) uint8 array file (mnist_test_seq.npy)."""
  try:
    array = np.load(path, mmap_mode="r")
  except (OSError, ValueError) as err:
    raise errors.DataError(f"{path}: unreadable .npy file ({err})") from err
  if array.ndim != 4 or array.dtype != np.uint8:
    raise errors.DataError(f"{path}: expected a (frames, videos, H, W) uint8 array like "
                           f"mnist_test_seq.npy, got {array.dtype} {array.shape}")
  out = []
  for i in range(first, min(stop, array.shape[1])):
    video = grey_to_rgb(np.asarray(array[:, i]))  # (T, H, W, 3)
    out += frames_to_clips(video, spec, f"{pathlib.Path(path).name}#{i}")
  return out
