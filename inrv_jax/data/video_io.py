"""Decode and encode video files: the one place that knows the codec library (PyAV)."""

import os
import pathlib
import warnings

import av
import numpy as np

from inrv_jax import errors

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")


class VideoReadError(errors.DataError):
  """A video file that can't be decoded; the message names the file."""


def upright(image: np.ndarray, rotation: float) -> np.ndarray:
  """An (H, W, C) frame as a player shows it, given its display-matrix rotation.

  `rotation` is PyAV's `VideoFrame.rotation`: degrees counter-clockwise, in
  [-180, 180], read from the display matrix (MP4/MOV `tkhd`, MKV projection).
  ffmpeg's `rotate=90` stream tag (a phone held upright) is the matrix with
  rotation -90: the player turns the frame 90 degrees clockwise, as ffmpeg's
  autorotate does (`transpose=clock`). Rounded to the nearest quarter turn; 0
  (no side data) returns the frame as it is. Returns an (H, W, C) or (W, H, C) view.
  """
  quarter_turns = int(round(rotation / 90.0)) % 4
  return np.rot90(image, quarter_turns) if quarter_turns else image


def iter_frames(path: os.PathLike):
  """Frames of a video one at a time, each (H, W, 3) uint8 RGB as a player shows them.

  Streams long videos. Rotation metadata is applied (see `upright`). A stream
  whose frame size changes part-way (an encoder restart, a resolution switch)
  is scaled, frame by frame, to its first frame's size, as a player keeps its
  window: every frame of a video then has one shape, which clips, inversion
  and FVD need, and the content is all kept. A warning names the file and
  both sizes. Raises VideoReadError (a DataError) naming the file when it
  can't be read (a broken symlink, a symlink loop: "cannot read"), opened or decoded.
  """
  name = errors.path_text(path)
  try:
    os.stat(path)
  except OSError as err:
    link = f"; a symlink to {errors.path_text(os.readlink(path))}" if os.path.islink(path) else ""
    raise VideoReadError(f"{name}: cannot read ({err.strerror}{link})") from err
  try:
    with av.open(str(path)) as container:
      if not container.streams.video:
        raise VideoReadError(f"{name}: no video stream")
      size, warned = None, False
      for index, frame in enumerate(container.decode(video=0)):
        rotation = frame.rotation  # read before `reformat`, which drops side data
        if size is None:
          size = (frame.width, frame.height)
        elif (frame.width, frame.height) != size:
          if not warned:
            warnings.warn(f"{name}: frame size changes from {size[0]}x{size[1]} to "
                          f"{frame.width}x{frame.height} (WxH) at frame {index}; scaling "
                          f"the frames of another size to {size[0]}x{size[1]}")
            warned = True
          frame = frame.reformat(width=size[0], height=size[1])
        yield np.ascontiguousarray(upright(frame.to_ndarray(format="rgb24"), rotation))
  except VideoReadError:
    raise
  except (av.error.FFmpegError, OSError, ValueError) as err:
    raise VideoReadError(f"{name}: cannot decode ({err})") from err


def read_video(path: os.PathLike, max_frames: int = 0) -> np.ndarray:
  """All frames (or the first `max_frames`) of a video as (N, H, W, 3) uint8 RGB."""
  frames = []
  for frame in iter_frames(path):
    frames.append(frame)
    if max_frames and len(frames) >= max_frames:
      break
  if not frames:
    raise VideoReadError(f"{errors.path_text(path)}: no frames could be decoded")
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
