import numpy as np
import pytest

import inrv_jax
from inrv_jax import errors
from inrv_jax.tasks import interpolation
from inrv_jax.tasks import rendering


def test_slerp_endpoints_equal_the_inputs():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=64).astype(np.float32), rng.normal(size=64).astype(np.float32)
  path = interpolation.slerp_path(a, b, 7)
  assert path.shape == (7, 64)
  np.testing.assert_allclose(path[0], a, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(path[-1], b, rtol=1e-6, atol=1e-7)
  # slerp keeps the norm between equal-norm ends; lerp shrinks it
  b = b / np.linalg.norm(b) * np.linalg.norm(a)
  mid = interpolation.slerp(a, b, 0.5)[0]
  np.testing.assert_allclose(np.linalg.norm(mid), np.linalg.norm(a), rtol=1e-5)
  assert np.linalg.norm(interpolation.lerp_path(a, b, 3)[1]) < np.linalg.norm(a)


def test_slerp_falls_back_to_lerp_for_parallel_latents():
  a = np.ones(4, np.float32)
  np.testing.assert_allclose(interpolation.slerp_path(a, 3 * a, 3), [a, 2 * a, 3 * a])


def test_interpolating_training_videos_starts_and_ends_at_them(tiny_model):
  videos = inrv_jax.interpolate(1, 4, steps=5, model=tiny_model)
  assert videos.shape == (5, 4, 8, 12, 3)
  ends = rendering.render(tiny_model, tiny_model.latents[[1, 4]])
  np.testing.assert_allclose(videos[[0, -1]], ends, atol=1e-6)
  latent_end = inrv_jax.interpolate(1, tiny_model.latents[4], steps=2, model=tiny_model,
                                    method="lerp", resolution=(6, 6))
  assert latent_end.shape == (2, 4, 6, 6, 3)


def test_bad_endpoints_say_what_is_wrong(tiny_model):
  with pytest.raises(errors.UserError, match="index 6 is out of range.*6 training videos"):
    inrv_jax.interpolate(0, 6, model=tiny_model)
  with pytest.raises(errors.UserError, match="must have 8 values"):
    inrv_jax.interpolate(0, np.zeros(3), model=tiny_model)
  with pytest.raises(errors.UserError, match="at least 2 steps"):
    inrv_jax.interpolate(0, 1, steps=1, model=tiny_model)
