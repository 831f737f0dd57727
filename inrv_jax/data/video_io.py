"""Decode and encode video files: the one place that knows the codec library (PyAV)."""

import os
import pathlib

import av
import numpy as np

from inrv_jax import errors

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")


class VideoReadError(errors.DataError):
  """A video file that can't be decoded; the message names the file."""


def iter_frames(path: os.PathLike):
  """Frames of a video one at a time, each (H, W, 3) uint8 RGB (streams long videos)."""
  try:
    with av.open(str(path)) as container:
      if not container.streams.video:
        raise VideoReadError(f"{path}: no video stream")
      for frame in container.decode(video=0):
        yield frame.to_ndarray(format="rgb24")
  except VideoReadError:
    raise
  except (av.error.FFmpegError, OSError, ValueError) as err:
    raise VideoReadError(f"{path}: cannot decode ({err})") from err


def read_video(path: os.PathLike, max_frames: int = 0) -> np.ndarray:
  """All frames (or the first `max_frames`) of a video as (N, H, W, 3) uint8 RGB."""
  frames = []
  for frame in iter_frames(path):
    frames.append(frame)
    if max_frames and len(frames) >= max_frames:
      break
  if not frames:
    raise VideoReadError(f"{path}: no frames could be decoded")
  return np.stack(frames)


def _even(frames: np.ndarray) -> np.ndarray:
  """Pad H and W to even sizes by repeating the last row/column (yuv420p needs it)."""
  pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
  return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def write_mp4(path: os.PathLike, frames: np.ndarray, fps: int = 8) -> pathlib.Path:
  """Write (T, H, W, 3) uint8 frames as H.264 MP4."""
  frames = _even(np.asarray(frames, np.uint8))
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with av.open(str(path), "w") as container:
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height = frames.shape[2], frames.shape[1]
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "18"}
    for frame in frames:
      container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
  return path


def write_gif(path: os.PathLike, frames: np.ndarray, fps: int = 8) -> pathlib.Path:
  """Write (T, H, W, 3) uint8 frames as a looping GIF."""
  from PIL import Image
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
  images[0].save(path, save_all=True, append_images=images[1:],
                 duration=max(1, round(1000 / fps)), loop=0)
  return path


def write_png(path: os.PathLike, image: np.ndarray) -> pathlib.Path:
  """Write an (H, W, 3) uint8 image."""
  from PIL import Image
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(np.asarray(image, np.uint8)).save(path)
  return path
