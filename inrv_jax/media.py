"""Video grids, MP4/GIF/PNG files and plots written to a workdir."""

import pathlib

import numpy as np

from inrv_jax.data import video_io

GAP = 2  # pixels of white between grid cells


def to_uint8(videos01: np.ndarray) -> np.ndarray:
  """Videos or images in [0, 1] (any shape) -> uint8 0-255, rounded, clipped first."""
  return np.round(np.clip(np.asarray(videos01), 0.0, 1.0) * 255.0).astype(np.uint8)


def video_grid(rows: np.ndarray) -> np.ndarray:
  """rows (R, C, T, H, W, 3) in [0, 1] -> one video (T, R*H', C*W', 3) uint8 with gaps."""
  rows = to_uint8(rows)
  r, c, t, h, w, _ = rows.shape
  out = np.full((t, r * (h + GAP) - GAP, c * (w + GAP) - GAP, 3), 255, np.uint8)
  for i in range(r):
    for j in range(c):
      out[:, i * (h + GAP):i * (h + GAP) + h, j * (w + GAP):j * (w + GAP) + w] = rows[i, j]
  return out


def frame_grid(videos: np.ndarray, num_columns: int = 8) -> np.ndarray:
  """videos (R, T, H, W, 3) in [0, 1] -> an image: one row per video, evenly spaced frames."""
  t = videos.shape[1]
  columns = np.unique(np.linspace(0, t - 1, min(num_columns, t)).round().astype(int))
  cells = np.asarray(videos)[:, columns]  # (R, C, H, W, 3)
  return video_grid(cells[:, :, None])[0]


def write_video_set(directory: str | pathlib.Path, name: str, grid: np.ndarray,
                    still: np.ndarray, fps: int) -> list[pathlib.Path]:
  """name.mp4 and name.gif of a grid video (T, H, W, 3) uint8, and name.png of `still`."""
  directory = pathlib.Path(directory)
  return [video_io.write_mp4(directory / f"{name}.mp4", grid, fps),
          video_io.write_gif(directory / f"{name}.gif", grid, fps),
          video_io.write_png(directory / f"{name}.png", still)]


def grid_rows(videos: np.ndarray, columns: int) -> np.ndarray:
  """(n, T, H, W, 3) -> (R, columns, T, H, W, 3), blank (white) cells at the end."""
  rows = -(-len(videos) // columns)
  blank = np.ones((rows * columns - len(videos), *videos.shape[1:]), videos.dtype)
  return np.concatenate([videos, blank]).reshape(rows, columns, *videos.shape[1:])


def write_grid_videos(directory, name, rows: np.ndarray, fps: int, still=None) -> list[str]:
  """rows (R, C, T, H, W, 3) in [0, 1] -> name.mp4, name.gif of their grid video and
  name.png of `still` (default: the grid's first frame); returns the three paths."""
  still = video_grid(rows[:, :, :1])[0] if still is None else still
  return [str(p) for p in write_video_set(directory, name, video_grid(rows), still, fps)]


def loss_curve(path: str | pathlib.Path, steps, losses, title: str = "training loss"):
  """Write a PNG of losses against steps (log scale) to `path`."""
  # A bare Figure, not pyplot: no global backend switch (a notebook keeps its inline plots)
  from matplotlib.figure import Figure
  fig = Figure(figsize=(6, 4), dpi=100)
  ax = fig.subplots()
  ax.plot(steps, losses)
  ax.set_xlabel("step")
  ax.set_ylabel("loss")
  ax.set_yscale("log")
  ax.set_title(title)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path)
  return pathlib.Path(path)
