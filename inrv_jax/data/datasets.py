"""config.data -> a prepared, random-access source of uint8 clips.

Every dataset yields records {"video": (T, H, W, 3) uint8, "index": int}, in
a fixed order: record i trains latent row i.
"""

import ml_collections

from inrv_jax import errors
from inrv_jax.data.builders import video_folder


def _video_folder(data: ml_collections.ConfigDict):
  source, _ = video_folder.prepare(
      data.path, tuple(data.files), data.dir or video_folder.default_data_dir(),
      data.num_frames, data.height, data.width, data.stride, tuple(data.crop))
  return source


LOADERS = {"video_folder": _video_folder}


class _FirstN:
  """The first n records of a source (data.max_clips)."""

  def __init__(self, source, n: int):
    self._source, self._n = source, min(n, len(source))

  def __len__(self):
    return self._n

  def __getitem__(self, i):
    if not 0 <= i < self._n:
      raise IndexError(i)
    return self._source[i]


def load(data: ml_collections.ConfigDict):
  if data.name not in LOADERS:
    raise errors.DataError(
        f"data.name={data.name!r} is not available; choose one of {sorted(LOADERS)}")
  source = LOADERS[data.name](data)
  return _FirstN(source, data.max_clips) if data.max_clips else source
