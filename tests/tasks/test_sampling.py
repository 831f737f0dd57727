import dataclasses

import jax
import numpy as np
import pytest

import inrv_jax
from inrv_jax import errors
from inrv_jax import learned_prior
from inrv_jax import trained_model
from inrv_jax.tasks import interpolation
from inrv_jax.tasks import sampling


@pytest.fixture(scope="module")
def tiny_model_with_prior(tiny_model, tmp_path_factory):
  """tiny_model with a learned prior fitted on its latents (the tiny prior of shrink_prior)."""
  prior = learned_prior.fit(tiny_model.latents, tiny_model.config.prior,
                            tmp_path_factory.mktemp("prior"), progress=False)
  return dataclasses.replace(tiny_model, prior=prior)


@pytest.mark.parametrize("method", sampling.METHODS)
def test_sampling_is_deterministic_per_key_with_the_right_shape(tiny_model, tiny_model_with_prior,
                                                                method):
  if method == "prior":
    tiny_model = tiny_model_with_prior
  a = inrv_jax.sample(jax.random.key(1), 3, tiny_model, method=method)
  b = inrv_jax.sample(jax.random.key(1), 3, tiny_model, method=method)
  c = inrv_jax.sample(jax.random.key(2), 3, tiny_model, method=method)
  assert a.shape == (3, 4, 8, 12, 3) and a.dtype == np.float32
  assert 0.0 <= a.min() and a.max() <= 1.0
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  other = inrv_jax.sample(jax.random.key(1), 2, tiny_model, method=method, num_frames=3,
                          resolution=(5, 6))
  assert other.shape == (2, 3, 5, 6, 3)


def test_gaussian_samples_follow_the_latent_statistics(tiny_model):
  z = sampling.sample_latents(jax.random.key(0), 4000, tiny_model.latents, "gaussian")
  np.testing.assert_allclose(z.mean(0), tiny_model.latents.mean(0), atol=0.1)
  np.testing.assert_allclose(z.std(0), tiny_model.latents.std(0), rtol=0.1)


def test_slerp_random_samples_lie_on_slerp_paths_between_training_latents(tiny_model):
  latents = tiny_model.latents
  z = sampling.sample_latents(jax.random.key(3), 5, latents, "slerp_random")
  grid = np.linspace(0, 1, sampling.SLERP_POINTS)
  for sample in z:
    distances = [np.abs(interpolation.slerp(latents[a], latents[b], grid) - sample).max(1).min()
                 for a in range(len(latents)) for b in range(len(latents)) if a != b]
    assert min(distances) < 1e-5


def test_sample_without_a_model_uses_the_last_one(tiny_model, monkeypatch):
  monkeypatch.setattr(trained_model, "_LAST_MODEL", [])
  monkeypatch.delenv("INRV_WORKDIR", raising=False)
  with pytest.raises(errors.UserError, match="no model"):
    inrv_jax.sample(jax.random.key(0), 1)
  trained_model.remember(tiny_model)
  np.testing.assert_array_equal(inrv_jax.sample(jax.random.key(0), 2),
                                inrv_jax.sample(jax.random.key(0), 2, tiny_model))


def test_bad_sampling_arguments(tiny_model):
  with pytest.raises(errors.UserError, match="unknown sampling method"):
    inrv_jax.sample(0, 1, tiny_model, method="uniform")
  with pytest.raises(errors.UserError, match=">= 1"):
    inrv_jax.sample(0, 0, tiny_model)


@pytest.mark.parametrize("n", [2.5, "3", 0, True])
def test_a_count_that_is_not_a_positive_integer_is_refused(tiny_model, n):
  with pytest.raises(errors.UserError, match=f"number of samples must be an integer >= 1, "
                                             f"got {n!r}"):
    inrv_jax.sample(jax.random.key(0), n, tiny_model)


def test_a_bad_count_is_reported_before_a_missing_model(tmp_path):
  empty = tmp_path / "not_a_workdir"
  empty.mkdir()
  with pytest.raises(errors.UserError, match="number of samples must be an integer >= 1"):
    inrv_jax.sample(0, 2.5, workdir=empty)
  with pytest.raises(errors.UserError, match="config.json"):  # a good count: the workdir's fault
    inrv_jax.sample(0, 2, workdir=empty)
