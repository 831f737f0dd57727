"""config.data -> a prepared, random-access source of uint8 clips.

Every dataset yields records {"video": (T, H, W, 3) uint8, "index": int} (plus
"source" and "start"), in a fixed order: record i trains latent row i. A
dataset not yet prepared is prepared first (progress bar, resumable); raw
files come from data.manual_dir (see README "Datasets").
"""

import ml_collections
import numpy as np

from inrv_jax import errors
from inrv_jax.data.builders import base
from inrv_jax.data.builders import how2sign_faces
from inrv_jax.data.builders import moving_mnist
from inrv_jax.data.builders import rainbow_jelly
from inrv_jax.data.builders import sky_timelapse
from inrv_jax.data.builders import video_folder

CLIP_BUILDERS = {
    "how2sign_faces": how2sign_faces.How2signFaces,
    "sky_timelapse": sky_timelapse.SkyTimelapse,
    "rainbow_jelly": rainbow_jelly.RainbowJelly,
}


def builder_for(data: ml_collections.ConfigDict) -> base.ClipBuilder:
  """The TFDS builder (not yet prepared) that config.data names."""
  data_dir = data.dir or base.default_data_dir()
  size = (data.num_frames, data.height, data.width, data.stride)
  if data.name == "video_folder":
    return video_folder.builder(data.path, tuple(data.files), data_dir, *size, tuple(data.crop))
  if data.name == "moving_mnist":
    config = moving_mnist.config_for(*size, data.generated_videos, data.generator_seed,
                                     data.digit_source, data.test_videos)
    return moving_mnist.MovingMnist(config=config, data_dir=data_dir)
  if data.name in CLIP_BUILDERS:
    cls = CLIP_BUILDERS[data.name]
    return cls(config=base.config_for(cls, *size), data_dir=data_dir)
  raise errors.DataError(f"data.name={data.name!r} is not available; choose one of "
                         f"{sorted([*CLIP_BUILDERS, 'moving_mnist', 'video_folder'])}")


def missing_data(data: ml_collections.ConfigDict) -> str | None:
  """Why the dataset can't be prepared (cheap: lists files, decodes nothing), or None."""
  try:
    builder = builder_for(data)
    if not builder.is_prepared():
      builder.check_sources(data.manual_dir or base.default_manual_dir(data.dir))
  except errors.DataError as err:
    return str(err)
  return None


def prepare(data: ml_collections.ConfigDict, split: str = "train"):
  """Prepare the dataset if needed; returns (data source of `split`, builder).

  Raises errors.DataError when the raw files are missing or the dataset has no `split`.
  """
  builder = builder_for(data)
  manual_dir = data.manual_dir or base.default_manual_dir(data.dir)
  source = base.prepare(builder, manual_dir, data.prepare_workers, split)
  return source, builder


class _FirstN:
  """The first n records of a source (data.max_clips, progressive stages)."""

  def __init__(self, source, n: int):
    self._source, self._n = source, min(n, len(source))

  def __len__(self):
    return self._n

  def __getitem__(self, i):
    if not 0 <= i < self._n:
      raise IndexError(i)
    return self._source[i]


def first_n(source, n: int):
  """The first n records of `source` (all of them when n >= its length)."""
  return source if n >= len(source) else _FirstN(source, n)


def load(data: ml_collections.ConfigDict, split: str = "train"):
  """The records of `split` ("train": the training videos, cut to data.max_clips; "test":
  held-out videos, e.g. Moving MNIST's with data.test_videos), preparing them if needed.

  Raises errors.DataError when the raw files are missing or the dataset has no `split`.
  """
  source, _ = prepare(data, split)
  return first_n(source, data.max_clips) if data.max_clips and split == "train" else source


def clips01(source, indices) -> np.ndarray:
  """Records `indices` of a source as videos (n, T, H, W, 3) float32 in [0, 1]."""
  return np.stack([np.asarray(source[int(i)]["video"], np.float32) / 255.0 for i in indices])
