"""Small raw datasets in the real on-disk layouts, made from the bundled real clips.

Tests and the pipeline benchmark write these into a temporary manual
directory: real encoded mp4 / png files, the real folder structure, and
optionally planted bad files (too short, corrupt).
"""

import functools
import pathlib

import numpy as np

from inrv_jax.data import clips as clips_lib
from inrv_jax.data import video_io
from inrv_jax.data.builders import how2sign_faces
from inrv_jax.data.builders import moving_mnist
from inrv_jax.data.builders import rainbow_jelly
from inrv_jax.data.builders import sky_timelapse
from inrv_jax.data.builders import video_folder


@functools.lru_cache(maxsize=None)
def _bundled(name: str, num_frames: int) -> np.ndarray:
  return video_io.read_video(video_folder.bundled_dir() / name, max_frames=num_frames)


def real_frames(i: int, num_frames: int, height: int, width: int) -> np.ndarray:
  """(T, H, W, 3) uint8 frames of bundled clip i % 3, shifted in time by i."""
  name = video_folder.BUNDLED_FILES[i % len(video_folder.BUNDLED_FILES)]
  frames = _bundled(name, num_frames + 8)
  shift = (i // len(video_folder.BUNDLED_FILES)) % 8
  return clips_lib.resize(frames[shift:shift + num_frames], height, width)


def write_how2sign(manual_dir: pathlib.Path, videos: int, cuts: int, num_frames: int,
                   size: int = 128, short: int = 0, corrupt: int = 0) -> pathlib.Path:
  """How2Sign-Blobs/train/faces_intervals_2s/<video>/cut-<k>.mp4, plus bad cuts."""
  root = manual_dir.joinpath(*how2sign_faces.LAYOUT)
  for v in range(videos):
    for k in range(cuts):
      video_io.write_mp4(root / f"vid{v:03d}" / f"cut-{k}.mp4",
                         real_frames(v * cuts + k, num_frames, size, size), fps=25)
  for s in range(short):
    video_io.write_mp4(root / f"short{s}" / "cut-0.mp4", real_frames(s, 3, size, size))
  for c in range(corrupt):
    (root / f"corrupt{c}").mkdir(parents=True, exist_ok=True)
    (root / f"corrupt{c}" / "cut-0.mp4").write_bytes(b"\x00not an mp4" * 50)
  return root


def write_sky(manual_dir: pathlib.Path, clips: int, num_frames: int,
              bad_image: bool = False) -> pathlib.Path:
  """sky_timelapse/sky_train/<video>/<clip>/<frame>.png of 640x360 frames."""
  root = manual_dir.joinpath(*sky_timelapse.LAYOUT)
  for c in range(clips):
    folder = root / f"video{c // 2:02d}" / f"video{c // 2:02d}_{c % 2}"
    for t, frame in enumerate(real_frames(c, num_frames, 360, 640)):
      video_io.write_png(folder / f"frame_{t + 1}.png", frame)
  if bad_image:
    folder = root / "video99" / "video99_0"
    for t, frame in enumerate(real_frames(0, num_frames, 360, 640)):
      video_io.write_png(folder / f"frame_{t + 1}.png", frame)
    (folder / "frame_2.png").write_bytes(b"not a png")
  return root


def write_jelly(manual_dir: pathlib.Path, pieces: int, num_frames: int,
                short: bool = False) -> pathlib.Path:
  """RainbowJelly/<k>.mp4 pieces of 640x360 video."""
  root = manual_dir / rainbow_jelly.FOLDER
  for k in range(pieces):
    video_io.write_mp4(root / f"{k:05d}.mp4", real_frames(k, num_frames, 360, 640), fps=30)
  if short:
    video_io.write_mp4(root / "zz_short.mp4", real_frames(0, 2, 360, 640), fps=30)
  return root


def write_mnist(manual_dir: pathlib.Path, videos: int, num_frames: int = 20,
                digits: int = 10) -> None:
  """mnist_test_seq.npy (T, N, 64, 64) and mnist.npz x_train (digits, 28, 28), uint8."""
  rng = np.random.default_rng(0)
  manual_dir.mkdir(parents=True, exist_ok=True)
  seq = rng.integers(0, 256, (num_frames, videos, 64, 64), dtype=np.uint8)
  np.save(manual_dir / moving_mnist.SEQUENCE_FILE, seq)
  x_train = np.zeros((digits, 28, 28), np.uint8)
  x_train[:, 6:22, 10:18] = rng.integers(128, 256, (digits, 16, 8), dtype=np.uint8)
  np.savez(manual_dir / moving_mnist.DIGITS_FILE, x_train=x_train)

