"""`moving_mnist` (TFDS name `inrv_moving_mnist`): two bouncing MNIST digits, 64x64.

Two sources, chosen by the config:
  standard   <manual_dir>/mnist_test_seq.npy, the usual (20 frames, 10,000 videos,
             64, 64) uint8 array (note: frames first); clips of each video.
  generated  <manual_dir>/mnist.npz (x_train: (N, 28, 28) uint8 digits): any number
             of videos of any length, seeded — video i depends only on (seed, i).
Grey frames are repeated to RGB; resized with anti-aliasing if H x W != 64 x 64.
(The TFDS name differs from TFDS's own `moving_mnist`, which needs TensorFlow.)
"""

import dataclasses
import pathlib

import numpy as np

from inrv_jax import errors
from inrv_jax.data.builders import base
from inrv_jax.data.builders import bouncing_digits
from inrv_jax.data.builders import sharded_writer
from inrv_jax.data.builders import sources

SEQUENCE_FILE = "mnist_test_seq.npy"
DIGITS_FILE = "mnist.npz"
VIDEOS_PER_JOB = 250
DEFAULT_NAME = base.clip_name(20, 64, 64, 0)  # the standard set as it is


@dataclasses.dataclass
class MovingMnistConfig(base.ClipConfig):
  generated_videos: int = 0   # 0 = read mnist_test_seq.npy; N > 0 = generate N videos
  seed: int = 0               # generator seed


def config_for(num_frames: int, height: int, width: int, stride: int,
               generated_videos: int = 0, seed: int = 0) -> MovingMnistConfig:
  name = base.clip_name(num_frames, height, width, stride)
  if generated_videos:
    name = f"generated{generated_videos}_seed{seed}_{name}"
  elif name == DEFAULT_NAME:
    return MovingMnist.BUILDER_CONFIGS[0]
  return MovingMnistConfig(name=name, num_frames=num_frames, height=height, width=width,
                           stride=stride, generated_videos=generated_videos, seed=seed)


def generated_clips(npz_path: str, first: int, stop: int, seed: int,
                    spec: sources.ClipSpec) -> list[sources.Clip]:
  """Clips of generated videos first..stop-1 (each video T = spec.num_frames long)."""
  try:
    with np.load(npz_path) as data:
      digits = data["x_train"]
  except (OSError, ValueError, KeyError) as err:
    raise errors.DataError(f"{npz_path}: expected an MNIST .npz with x_train ({err})") from err
  if digits.ndim != 3 or digits.dtype != np.uint8:
    raise errors.DataError(f"{npz_path}: x_train must be (N, 28, 28) uint8, "
                           f"got {digits.dtype} {digits.shape}")
  out = []
  for i in range(first, stop):
    video = bouncing_digits.bouncing_digits(
        digits, np.random.default_rng([seed, i]), spec.num_frames)
    out += sources.frames_to_clips(sources.grey_to_rgb(video), spec, f"generated#{i}")
  return out


class MovingMnist(base.ClipBuilder):
  """Moving MNIST; configs HxWxT[_strideS], generatedN_seedS_HxWxT for generated videos."""

  name = "inrv_moving_mnist"
  BUILDER_CONFIGS = [MovingMnistConfig(name=DEFAULT_NAME, num_frames=20, height=64, width=64,
                                       stride=0)]
  JOBS_PER_SHARD = 4
  DESCRIPTION = "Moving MNIST (Srivastava et al., 2015): two bouncing digits on 64x64."
  HOMEPAGE = "https://www.cs.toronto.edu/~nitish/unsupervised_video/"
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  Standard set: download {SEQUENCE_FILE} from
  https://www.cs.toronto.edu/~nitish/unsupervised_video/ and put it at
    <manual_dir>/{SEQUENCE_FILE}
  Generated videos (--config.data.generated_videos=N): put an MNIST {DIGITS_FILE}
  with x_train (e.g. https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz) at
    <manual_dir>/{DIGITS_FILE}
  then run: python -m inrv_jax.data.prepare --config=configs/mnist.py --config.data.manual_dir=<manual_dir>
  """

  def _jobs(self, manual_dir: pathlib.Path) -> list[sharded_writer.Job]:
    cfg, spec = self.builder_config, self.spec
    if cfg.generated_videos:
      path = manual_dir / DIGITS_FILE
      if not path.is_file():
        raise self.missing(manual_dir, f"no {DIGITS_FILE}")
      return [sharded_writer.Job(
          generated_clips, (str(path), a, min(a + VIDEOS_PER_JOB, cfg.generated_videos),
                            cfg.seed, spec), f"generated#{a}")
              for a in range(0, cfg.generated_videos, VIDEOS_PER_JOB)]
    path = manual_dir / SEQUENCE_FILE
    if not path.is_file():
      raise self.missing(manual_dir, f"no {SEQUENCE_FILE}")
    try:
      num_videos = np.load(path, mmap_mode="r").shape[1]
    except (OSError, ValueError, IndexError) as err:
      raise errors.DataError(f"{path}: not a (frames, videos, 64, 64) .npy array ({err})") from err
    return [sharded_writer.Job(sources.sequence_array_clips,
                               (str(path), a, min(a + VIDEOS_PER_JOB, num_videos), spec),
                               f"{SEQUENCE_FILE}#{a}")
            for a in range(0, num_videos, VIDEOS_PER_JOB)]
