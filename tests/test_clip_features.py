"""CLIP frame features computed once: the step that looks them up equals the step that
runs the frozen CLIP tower, the cache is keyed by weights and preprocessing, and a
damaged cache is computed again."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from inrv_jax.data import cached_arrays
from inrv_jax.runtime import parallel
from inrv_jax.training import checkpoints
from inrv_jax.training import clip_features
from inrv_jax.training import train
from inrv_jax.data import datasets
from inrv_jax.data import pipeline
from tiny_configs import tiny_clip


def _setup_and_batch(config, source):
  mesh = parallel.make_mesh()
  batches = pipeline.Batches(source, config.train.batch_size, config.seed, 0)
  batch = parallel.global_batch(next(batches), mesh)
  batches.close()
  return mesh, batch


def test_cached_features_give_the_loss_and_update_of_the_clip_tower(tiny_config):
  c = tiny_clip(tiny_config)
  c.data.max_clips = 4
  source = datasets.load(c.data)
  mesh, batch = _setup_and_batch(c, source)
  cached = train.setup(c, len(source), mesh, source=source)
  uncached = train.setup(c, len(source), mesh)
  assert cached.clip_features.shape == (4, 8, 8) and uncached.clip_features is None
  active = jnp.int32(len(source))
  state_a, metrics_a = cached.step(parallel.replicate(cached.state, mesh), batch, active)
  state_b, metrics_b = uncached.step(parallel.replicate(uncached.state, mesh), batch, active)
  np.testing.assert_allclose(metrics_a["loss"], metrics_b["loss"], rtol=1e-6)
  np.testing.assert_allclose(metrics_a["psnr"], metrics_b["psnr"], rtol=1e-6)
  for a, b in zip(jax.tree.leaves(state_a.params), jax.tree.leaves(state_b.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def _conditioner(config, num_videos):
  graphdef, frozen, state = checkpoints.build_state(config, num_videos)
  return nnx.merge(graphdef, state.params, frozen).conditioner


def _four_clips(tiny_config):
  """The CLIP-conditioned tiny config on 4 clips: (config, source, data directory,
  conditioner, cache key)."""
  c = tiny_clip(tiny_config)
  c.data.max_clips = 4
  source = datasets.load(c.data)
  directory = pathlib.Path(datasets.builder_for(c.data).data_dir)
  conditioner = _conditioner(c, len(source))
  return c, source, directory, conditioner, clip_features.cache_key(conditioner, source,
                                                                     directory)


def test_features_are_stored_once_and_keyed_by_weights_and_preprocessing(tiny_config):
  c, source, directory, conditioner, key = _four_clips(tiny_config)
  first = clip_features.load_or_compute(c.data, conditioner, source, progress=False)
  stored = directory / "clip_features" / f"{key}.npy"
  np.testing.assert_array_equal(np.load(stored), first)
  assert first.shape == (4, 8, 8)
  # later runs read the file (checked against its checksum), they do not recompute
  cached_arrays.save(stored, np.zeros_like(first))
  assert not np.any(clip_features.load_or_compute(c.data, conditioner, source, progress=False))
  # the same weights (same seed) with CLIP normalisation: another key, other features
  c.model.clip.normalize = True
  normalized = _conditioner(c, len(source))
  assert clip_features.cache_key(normalized, source, directory) != key
  assert not np.allclose(
      clip_features.load_or_compute(c.data, normalized, source, progress=False), first)
  # other weights (another seed): another key
  c.seed = 1
  assert clip_features.cache_key(_conditioner(c, len(source)), source, directory) not in (
      key, clip_features.cache_key(normalized, source, directory))


def _overwrite_bytes(path: pathlib.Path):
  data = bytearray(path.read_bytes())
  data[-64:] = b"\x7f" * 64  # the last values, now other finite floats
  path.write_bytes(bytes(data))


def _truncate(path: pathlib.Path):
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])


def _nan(path: pathlib.Path):
  features = np.load(path)
  features[0, 0, 0] = np.nan
  np.save(path, features)


@pytest.mark.parametrize("damage", [_overwrite_bytes, _truncate, _nan])
def test_a_damaged_feature_cache_is_computed_again_with_one_line(tiny_config, capfd, damage):
  c, source, directory, conditioner, key = _four_clips(tiny_config)
  for earlier in (directory / "clip_features").glob(f"{key}.*"):  # another test's cache
    earlier.unlink()
  first = clip_features.load_or_compute(c.data, conditioner, source, progress=False)
  np.testing.assert_array_equal(first, clip_features.compute(conditioner, source, False))
  stored = directory / "clip_features" / f"{key}.npy"
  damage(stored)
  capfd.readouterr()
  again = clip_features.load_or_compute(c.data, conditioner, source, progress=False)
  np.testing.assert_array_equal(again, first)
  err = capfd.readouterr().err
  assert err.count("failed their check") == 1 and str(stored) in err and "computing them again" in err
  assert "Traceback" not in err
  np.testing.assert_array_equal(np.load(stored), first)  # the cache is whole again
  capfd.readouterr()
  clip_features.load_or_compute(c.data, conditioner, source, progress=False)
  assert "failed their check" not in capfd.readouterr().err
