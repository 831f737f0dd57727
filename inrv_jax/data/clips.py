"""Frames -> training clips: crop, anti-aliased resize, cut into T-frame windows."""

import numpy as np
from PIL import Image


def crop(frames: np.ndarray, box: tuple[int, ...]) -> np.ndarray:
  """frames (N, H, W, 3); box (top, bottom, left, right) in pixels, () = no crop."""
  if not box:
    return frames
  if len(box) != 4:
    raise ValueError(f"crop box must be (top, bottom, left, right), got {box}")
  top, bottom, left, right = box
  out = frames[:, top:bottom, left:right]
  if out.shape[1] == 0 or out.shape[2] == 0:
    raise ValueError(f"crop box {box} is empty for frames of size {frames.shape[1:3]}")
  return out


def resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
  """Anti-aliased bilinear resize of (N, H, W, 3) uint8 frames (PIL, as torchvision antialias)."""
  if frames.shape[1:3] == (height, width):
    return frames
  return np.stack([
      np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.BILINEAR))
      for f in frames])


def window_starts(num_available: int, num_frames: int, stride: int) -> list[int]:
  """First frames of the T-frame clips of one video; stride 0 = the first clip only."""
  if num_available < num_frames:
    return []
  if stride <= 0:
    return [0]
  return list(range(0, num_available - num_frames + 1, stride))


def to_unit_range(clips: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [-1, 1], the paper's (x/255 - 0.5)/0.5."""
  return (clips.astype(np.float32) / 255.0 - 0.5) / 0.5
