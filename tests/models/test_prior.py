"""The learned prior (models/prior.py) on a known 2-D mixture of four Gaussians."""

import jax
import numpy as np
import pytest

from inrv_jax.models import prior as prior_lib

MODES = np.array([[-3.0, -3.0], [-3.0, 3.0], [3.0, -3.0], [3.0, 3.0]]) + np.array([5.0, -1.0])
SPREAD = 0.4  # std of each mode


def mixture(n: int, seed: int = 0) -> np.ndarray:
  rng = np.random.default_rng(seed)
  return (MODES[rng.integers(0, 4, n)] + SPREAD * rng.normal(size=(n, 2))).astype(np.float32)


@pytest.fixture(scope="module")
def fitted() -> prior_lib.LatentPrior:
  data = mixture(2000)
  mean, std = prior_lib.normalisation(data)
  graphdef, state = prior_lib.init_state(2, 64, 2, 32, seed=0, learning_rate=1e-3)
  run = prior_lib.make_train_steps(graphdef, 1e-3, 256, 0.995, "logit_normal", 500)
  for _ in range(3):
    state, losses = run(state, (data - mean) / std, jax.random.key(0))
  assert np.all(np.isfinite(np.asarray(losses)))
  return prior_lib.LatentPrior(graphdef, state["ema"], mean, std, "heun", 16)


def near_modes(samples: np.ndarray) -> tuple[float, np.ndarray]:
  """Fraction of samples within 3 stds of a mode, and each mode's share of all samples."""
  dist = np.linalg.norm(samples[:, None] - MODES[None], axis=-1)
  near = dist.min(axis=1) < 3 * SPREAD
  return float(near.mean()), np.bincount(dist.argmin(axis=1)[near], minlength=4) / len(samples)


def test_samples_recover_the_modes_and_moments(fitted):
  data = mixture(4000, seed=1)
  samples = fitted.sample(jax.random.key(1), 4000)
  assert samples.shape == (4000, 2) and samples.dtype == np.float32
  np.testing.assert_allclose(samples.mean(axis=0), data.mean(axis=0), atol=0.25)
  np.testing.assert_allclose(samples.std(axis=0), data.std(axis=0), atol=0.25)
  near, shares = near_modes(samples)
  assert near > 0.9, near  # the data: 0.99; a per-dimension Gaussian of the same moments: ~0.2
  np.testing.assert_allclose(shares, 0.25, atol=0.06)
  gaussian = data.mean(axis=0) + data.std(axis=0) * np.random.default_rng(0).normal(size=(4000, 2))
  assert near_modes(gaussian)[0] < 0.5  # the check above tells a mixture from a blob


@pytest.mark.parametrize("solver", prior_lib.SOLVERS)
def test_same_key_same_samples(fitted, solver):
  a = fitted.sample(jax.random.key(3), 64, steps=8, solver=solver)
  b = fitted.sample(jax.random.key(3), 64, steps=8, solver=solver)
  c = fitted.sample(jax.random.key(4), 64, steps=8, solver=solver)
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)


def test_energy_is_lower_on_the_modes_than_between_them(fitted):
  times = jax.numpy.asarray(np.repeat([0.8, 0.9, 0.95], 16), jax.numpy.float32)
  noise = jax.random.normal(jax.random.key(0), (len(times), 2))
  on_modes = np.asarray(fitted.energy(jax.numpy.asarray(MODES, jax.numpy.float32), noise, times))
  between = np.array([[5.0, -1.0], [2.0, -1.0], [8.0, -1.0], [5.0, 2.0]], np.float32)
  off = np.asarray(fitted.energy(jax.numpy.asarray(between), noise, times))
  assert on_modes.shape == (4,) and np.all(on_modes >= 0)
  assert on_modes.max() < off.min(), (on_modes, off)


def test_bad_sampling_arguments_are_refused(fitted):
  with pytest.raises(ValueError, match="solver"):
    fitted.sample(jax.random.key(0), 2, solver="rk4")
  with pytest.raises(ValueError, match=">= 1"):
    fitted.sample(jax.random.key(0), 0)
  with pytest.raises(ValueError, match="anchors"):
    fitted.sample(jax.random.key(0), 2, start=0.5)
  with pytest.raises(ValueError, match=r"\[0, 1\)"):
    fitted.sample(jax.random.key(0), 2, anchors=MODES, start=1.0)


def test_samples_started_from_noised_training_latents_stay_near_them(fitted):
  anchors = (MODES[0] + SPREAD * np.random.default_rng(2).normal(size=(6, 2))).astype(np.float32)
  near = fitted.sample(jax.random.key(5), 512, anchors=anchors, start=0.9)
  assert near.shape == (512, 2) and near.dtype == np.float32
  np.testing.assert_array_equal(near, fitted.sample(jax.random.key(5), 512, anchors=anchors,
                                                    start=0.9))
  assert near_modes(near)[1][0] > 0.9  # all near the anchors' mode, on it
  assert near_modes(fitted.sample(jax.random.key(5), 512, anchors=anchors, start=0.0))[1][0] < 0.4
  to_anchors = np.linalg.norm(near[:, None] - anchors[None], axis=-1).min(axis=1)
  assert to_anchors.min() > 1e-4 and np.median(to_anchors) > 0.05  # new points, not the anchors
