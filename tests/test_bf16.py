"""bfloat16 INR compute (model.compute_dtype) stays close to float32 and still trains."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inrv_jax.training import losses
from inrv_jax.training import train
from inrv_jax.models import inr


def paper_weights(batch=1, seed=0):
  spec = inr.INRSpec()
  keys = jax.random.split(jax.random.key(seed), len(spec.shapes))
  return spec, tuple(jax.random.normal(k, (batch, *s)) * np.sqrt(2.0 / s[-1])
                     for k, s in zip(keys, spec.shapes))


def loss_and_grads(spec, weights, videos, dtype, fraction):
  def loss(ws):
    pred, target, _ = train.predict_and_target(spec, ws, videos, fraction,
                                               jax.random.key(0), dtype)
    return losses.l1(pred, target), pred
  (value, pred), grads = jax.value_and_grad(loss, has_aux=True)(weights)
  return value, pred, grads


@pytest.mark.parametrize("fraction", [1.0, 0.5])  # whole grid (separable trunk), sampled pixels
def test_bfloat16_matches_float32_within_bfloat16_precision(fraction):
  spec, weights = paper_weights()
  videos = jax.random.uniform(jax.random.key(1), (1, 3, 12, 10, 3), minval=-1, maxval=1)
  loss32, pred32, grads32 = loss_and_grads(spec, weights, videos, jnp.float32, fraction)
  loss16, pred16, grads16 = loss_and_grads(spec, weights, videos, jnp.bfloat16, fraction)
  assert pred16.dtype == jnp.float32 and all(g.dtype == jnp.float32 for g in grads16)
  scale = float(jnp.max(jnp.abs(pred32)))
  assert float(jnp.max(jnp.abs(pred16 - pred32))) < 0.05 * scale
  np.testing.assert_allclose(loss16, loss32, rtol=0.02)
  for g16, g32 in zip(grads16, grads32):
    cosine = jnp.vdot(g16, g32) / (jnp.linalg.norm(g16) * jnp.linalg.norm(g32))
    assert float(cosine) > 0.98


def test_bfloat16_training_loss_falls(tiny_config, tmp_path):
  tiny_config.model.compute_dtype = "bfloat16"
  tiny_config.train.num_steps = 40
  train.train_and_evaluate(tiny_config, tmp_path)
  history = [json.loads(l)["loss"] for l in (tmp_path / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(l)]
  assert np.mean(history[-2:]) < 0.7 * history[0]
