"""Per-frame CLIP features of every training video, computed once.

With conditioning="clip" (paper Sec. 3.2) the CLIP image tower is frozen:
only the GRU and the merge MLP train. A training video's per-frame features
therefore never change, and the step can look them up instead of running the
tower (about 4.4 GFLOP a frame for ViT-B/32) on every frame at every step.

The features of a dataset, (N, T, D) float32, are stored beside its prepared
data as clip_features/<key>.npy, where the key is a SHA-256 of everything
they depend on: the CLIP weights, the tower's sizes, the preprocessing
(input size, normalisation) and the clips (count, shape, dataset directory).
Other weights or preprocessing give another file; nothing stale is read. A
checksum beside it (cached_arrays) is checked before each use: a damaged or
cut-short file is computed again, with one line saying so.
"""

import dataclasses
import hashlib
import json
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from flax import nnx

from inrv_jax.data import cached_arrays
from inrv_jax.data import clips as clips_lib
from inrv_jax.data import datasets
from inrv_jax.models import conditioning as conditioning_lib

BATCH = 8  # videos per CLIP call while computing


def cache_key(conditioner: conditioning_lib.ClipConditioner, source, dataset_dir: str) -> str:
  """Hex SHA-256 of the conditioner's CLIP weights, sizes and preprocessing and of the
  clips' identity (count, shape, dataset directory)."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(nnx.state(conditioner.clip)):
    digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
  first = np.asarray(source[0]["video"])
  digest.update(json.dumps({
      "spec": dataclasses.asdict(conditioner.clip.spec),
      "normalize": bool(conditioner.normalize), "num_videos": len(source),
      "clip_shape": list(first.shape), "dataset": str(dataset_dir)}, sort_keys=True).encode())
  return digest.hexdigest()


def compute(conditioner: conditioning_lib.ClipConditioner, source,
            progress: bool = True) -> np.ndarray:
  """Frame features (N, T, D) float32 of every record of `source`, in dataset order.

  Videos are converted exactly as the training pipeline converts them
  (uint8 -> [-1, 1]) and go through conditioner.frame_features.
  """
  graphdef, state = nnx.split(conditioner)
  encode = jax.jit(lambda s, v: nnx.merge(graphdef, s).frame_features(v))
  out = []
  for start in tqdm.trange(0, len(source), BATCH, desc="CLIP features", unit="batch",
                           disable=not progress, leave=False):
    indices = range(start, min(start + BATCH, len(source)))
    videos = np.stack([clips_lib.to_unit_range(np.asarray(source[i]["video"]))
                       for i in indices])
    out.append(np.asarray(encode(state, jnp.asarray(videos)), np.float32))
  return np.concatenate(out)


def load_or_compute(data_config: ml_collections.ConfigDict,
                    conditioner: conditioning_lib.ClipConditioner, source,
                    progress: bool = True) -> np.ndarray:
  """The cached features (N, T, D) float32 of `source` (the dataset `data_config`
  names) for this conditioner, computing and storing them first if there are none
  (clip_features/<key>.npy in the dataset's prepared-data directory)."""
  dataset_dir = datasets.builder_for(data_config).data_dir
  path = (pathlib.Path(dataset_dir) / "clip_features"
          / f"{cache_key(conditioner, source, dataset_dir)}.npy")
  features = cached_arrays.load(path, "CLIP features", dtype=np.float32,
                                shape=(len(source), data_config.num_frames, None))
  if features is not None:
    return features
  features = compute(conditioner, source, progress)
  cached_arrays.save(path, features)
  return features
