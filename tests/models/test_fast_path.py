"""The chunked ReLU trunk of axes_apply/grid_apply equals the plain vmap(inr_apply) path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inrv_jax.models import coords as coords_lib
from inrv_jax.models import inr as inr_lib

SPEC = inr_lib.INRSpec()  # the paper INR: 63 -> 256 x4 -> 3
T, H, W = 6, 12, 10


def _weights(batch: int, seed: int = 0) -> inr_lib.Weights:
  """Kaiming-scale weights like a trained hypernetwork emits, (batch, *shape)."""
  rng = np.random.default_rng(seed)
  out = []
  for shape in SPEC.shapes:
    std = np.sqrt(2.0 / shape[-1]) if len(shape) == 2 else 0.1
    out.append(jnp.asarray(rng.normal(0.0, std, (batch, *shape)), jnp.float32))
  return tuple(out)


def _plain(weights):
  grid = jnp.asarray(coords_lib.grid(T, H, W))
  return inr_lib.batched_apply(SPEC, weights, grid).reshape(-1, T, H, W, SPEC.out_channels)


@pytest.fixture(params=[1, 2, 1000000], ids=["1-frame-chunks", "2-frame-chunks", "one-chunk"])
def chunk_frames(request, monkeypatch):
  monkeypatch.setattr(inr_lib, "CHUNK_PIXELS", request.param * H * W)
  return request.param


def test_render_equals_plain_path(chunk_frames):
  weights = _weights(batch=2)
  fast = jax.jit(lambda w: inr_lib.grid_apply(SPEC, w, T, H, W))(weights)
  assert fast.shape == (2, T, H, W, 3)
  np.testing.assert_allclose(fast, _plain(weights), atol=1e-5, rtol=0)


def test_training_gradients_equal_plain_path(chunk_frames):
  weights = _weights(batch=2, seed=1)
  target = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (2, T, H, W, 3)), jnp.float32)
  loss = lambda apply: (lambda w: jnp.mean(jnp.abs(apply(w) - target)))
  fast_loss, fast_grads = jax.jit(jax.value_and_grad(
      loss(lambda w: inr_lib.grid_apply(SPEC, w, T, H, W))))(weights)
  plain_loss, plain_grads = jax.value_and_grad(loss(_plain))(weights)
  np.testing.assert_allclose(fast_loss, plain_loss, atol=1e-6)
  for name, fast, plain in zip(SPEC.names, fast_grads, plain_grads):
    scale = float(jnp.max(jnp.abs(plain)))
    np.testing.assert_allclose(fast, plain, atol=1e-5 * max(scale, 1.0), err_msg=name)


def test_odd_frame_counts_use_a_divisor():
  assert inr_lib._frames_per_chunk(25, 10000) == 1
  assert inr_lib._frames_per_chunk(16, 1024) == 16
  assert inr_lib._frames_per_chunk(7, 100) == 7
  assert 7 % inr_lib._frames_per_chunk(7, inr_lib.CHUNK_PIXELS // 3) == 0


def test_sine_inr_keeps_the_dense_path():
  spec = inr_lib.INRSpec(activation="sine", hidden=32, hidden_layers=2)
  rng = np.random.default_rng(3)
  weights = tuple(jnp.asarray(rng.normal(0, 0.1, (1, *s)), jnp.float32) for s in spec.shapes)
  grid = jnp.asarray(coords_lib.grid(3, 4, 5))
  plain = inr_lib.batched_apply(spec, weights, grid).reshape(1, 3, 4, 5, 3)
  np.testing.assert_allclose(inr_lib.grid_apply(spec, weights, 3, 4, 5), plain, atol=1e-5)
