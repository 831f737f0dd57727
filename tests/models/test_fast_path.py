"""The fast paths of kernels.py (the chunked ReLU trunk of axes_apply/grid_apply, the loss
taken in the forward pass) equal the plain vmap(inr_apply) path; chunk sizes are set by
argument (a kernels.Tuning)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inrv_jax.models import coords as coords_lib
from inrv_jax.models import inr as inr_lib
from inrv_jax.models import kernels

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


@pytest.fixture(params=[4 * W, H * W // 2 + 1, H * W, 2 * H * W, 1000000],
                ids=["4-row-chunks", "half-frame-chunks", "1-frame-chunks", "2-frame-chunks",
                     "one-chunk"])
def tuning(request):
  return dataclasses.replace(kernels.CPU, chunk_pixels=request.param)


def test_render_equals_plain_path(tuning):
  weights = _weights(batch=2)
  fast = jax.jit(lambda w: inr_lib.grid_apply(SPEC, w, T, H, W, tuning))(weights)
  assert fast.shape == (2, T, H, W, 3)
  np.testing.assert_allclose(fast, _plain(weights), atol=1e-5, rtol=0)


def test_training_gradients_equal_plain_path(tuning):
  weights = _weights(batch=2, seed=1)
  target = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (2, T, H, W, 3)), jnp.float32)
  loss = lambda apply: (lambda w: jnp.mean(jnp.abs(apply(w) - target)))
  fast_loss, fast_grads = jax.jit(jax.value_and_grad(
      loss(lambda w: inr_lib.grid_apply(SPEC, w, T, H, W, tuning))))(weights)
  plain_loss, plain_grads = jax.value_and_grad(loss(_plain))(weights)
  np.testing.assert_allclose(fast_loss, plain_loss, atol=1e-6)
  for name, fast, plain in zip(SPEC.names, fast_grads, plain_grads):
    scale = float(jnp.max(jnp.abs(plain)))
    np.testing.assert_allclose(fast, plain, atol=1e-5 * max(scale, 1.0), err_msg=name)


def test_chunks_are_whole_frames_or_rows_that_divide_the_grid():
  chunk_shape = lambda *grid: kernels.chunk_shape(*grid, chunk_pixels=5000)
  assert chunk_shape(25, 100, 100) == (1, 50)  # the paper grid: half frames
  assert chunk_shape(16, 32, 32) == (4, 32)
  assert chunk_shape(7, 10, 10) == (7, 10)
  assert chunk_shape(7, 40, 40) == (1, 40)  # 1,600 pixels a frame, 7 frames: one frame
  assert chunk_shape(2, 97, 100) == (1, 97)  # 97 rows are prime: whole frames
  assert chunk_shape(16, 106, 106) == (1, 106)  # 2-row chunks would be 212 pixels
  assert chunk_shape(4, 128, 128) == (1, 32)
  assert chunk_shape(1, 3, 6000) == (1, 1)  # a row above the budget stays whole


def test_each_backend_has_its_tuning():
  """The CPU runs chunks of a few thousand pixels; GPUs and TPUs whole frames within a
  memory budget and the reference hypernetwork head."""
  assert kernels.for_backend("cpu") == kernels.CPU
  gpu = kernels.for_backend("gpu")
  assert gpu == kernels.for_backend("tpu") and gpu.whole_frames and gpu.vector_rows == 0
  pixels = gpu.pixels_per_chunk(batch=16, hidden=256, itemsize=4)  # 1 GiB of activations
  assert pixels == 65536
  assert kernels.chunk_shape(25, 100, 100, pixels, gpu.whole_frames) == (5, 100)
  assert kernels.chunk_shape(16, 512, 512, 1000, whole_frames=True) == (1, 512)  # never rows
  assert kernels.CPU.pixels_per_chunk(batch=16, hidden=256, itemsize=4) == 5000


def test_accelerator_and_reference_tunings_give_the_cpu_tunings_numbers():
  """The same render and training gradients whichever tuning runs them."""
  weights = _weights(batch=2, seed=8)
  target = jnp.asarray(np.random.default_rng(9).uniform(-1, 1, (2, T, H, W, 3)), jnp.float32)
  results = {}
  for name, tuning in (("cpu", kernels.CPU), ("accelerator", kernels.ACCELERATOR),
                       ("reference", kernels.REFERENCE)):
    squared = lambda pred, target_: jnp.square(pred - target_)
    loss = lambda w, tuning=tuning: inr_lib.grid_pixel_loss(SPEC, w, target, squared, tuning)[0]
    results[name] = (inr_lib.grid_apply(SPEC, weights, T, H, W, tuning),
                     jax.grad(loss)(weights))
  reference_render, reference_grads = results.pop("reference")
  np.testing.assert_allclose(reference_render, _plain(weights), atol=1e-5, rtol=0)
  for name, (render, grads) in results.items():
    np.testing.assert_allclose(render, reference_render, atol=1e-5, rtol=0, err_msg=name)
    for label, fast, plain in zip(SPEC.names, grads, reference_grads):
      scale = max(float(jnp.max(jnp.abs(plain))), 1.0)
      np.testing.assert_allclose(fast, plain, atol=1e-5 * scale, err_msg=f"{name} {label}")


def test_sine_inr_keeps_the_dense_path():
  spec = inr_lib.INRSpec(activation="sine", hidden=32, hidden_layers=2)
  rng = np.random.default_rng(3)
  weights = tuple(jnp.asarray(rng.normal(0, 0.1, (1, *s)), jnp.float32) for s in spec.shapes)
  grid = jnp.asarray(coords_lib.grid(3, 4, 5))
  plain = inr_lib.batched_apply(spec, weights, grid).reshape(1, 3, 4, 5, 3)
  np.testing.assert_allclose(inr_lib.grid_apply(spec, weights, 3, 4, 5), plain, atol=1e-5)


@pytest.mark.parametrize("name", ["l1", "weighted_mse"])
def test_loss_taken_in_the_forward_pass_equals_autodiff_of_the_render(tuning, name):
  """grid_pixel_loss backpropagates each chunk's loss as it renders it, keeping no
  activations; its loss, render and gradients equal autodiff of grid_apply's loss."""
  from inrv_jax.training import losses  # pylint: disable=import-outside-toplevel
  elementwise = losses.ELEMENTWISE[name]
  weights = _weights(batch=2, seed=4)
  target = jnp.asarray(np.random.default_rng(5).uniform(-1, 1, (2, T, H, W, 3)), jnp.float32)
  fused = lambda w: inr_lib.grid_pixel_loss(SPEC, w, target, elementwise, tuning)
  (loss, render), grads = jax.jit(jax.value_and_grad(fused, has_aux=True))(weights)
  plain_loss, plain_grads = jax.value_and_grad(
      lambda w: losses.pixel_loss(name)(_plain(w), target))(weights)
  np.testing.assert_allclose(loss, plain_loss, rtol=1e-5)
  np.testing.assert_allclose(render, _plain(weights), atol=1e-5, rtol=0)
  for label, fast, plain in zip(SPEC.names, grads, plain_grads):
    scale = float(jnp.max(jnp.abs(plain)))
    np.testing.assert_allclose(fast, plain, atol=1e-5 * max(scale, 1.0), err_msg=label)
  doubled = jax.grad(lambda w: 2.0 * fused(w)[0])(weights)  # the loss's cotangent scales
  np.testing.assert_allclose(doubled[0], 2.0 * grads[0], rtol=1e-6)


@pytest.mark.parametrize("chunk_pixels", [7, 35, 5000], ids=["row-chunks", "frame-chunks",
                                                              "one-chunk"])
def test_an_odd_grid_gives_the_plain_gradients(chunk_pixels):
  """Odd sizes (3 frames of 5 x 7) in chunks of one row, one frame, or all of it; chunks
  whose pixels do not split into tuning.weight_gradient_blocks blocks take one weight product."""
  from inrv_jax.training import losses  # pylint: disable=import-outside-toplevel
  tuning = dataclasses.replace(kernels.CPU, chunk_pixels=chunk_pixels)
  t, h, w = 3, 5, 7
  blocks = tuning.weight_gradient_blocks
  assert kernels.pixel_blocks(7, blocks) == kernels.pixel_blocks(105, blocks) == 1
  assert kernels.pixel_blocks(5000, blocks) == 2
  weights = _weights(batch=1, seed=6)
  target = jnp.asarray(np.random.default_rng(7).uniform(-1, 1, (1, t, h, w, 3)), jnp.float32)
  grid = jnp.asarray(coords_lib.grid(t, h, w))
  plain = lambda w_: inr_lib.batched_apply(SPEC, w_, grid).reshape(1, t, h, w, 3)
  plain_grads = jax.grad(lambda w_: losses.l1(plain(w_), target))(weights)
  fused_grads = jax.grad(lambda w_: inr_lib.grid_pixel_loss(
      SPEC, w_, target, losses.l1_elements, tuning)[0])(weights)
  saved_grads = jax.grad(lambda w_: losses.l1(inr_lib.grid_apply(SPEC, w_, t, h, w, tuning),
                                              target))(weights)
  for label, fused, saved, reference in zip(SPEC.names, fused_grads, saved_grads, plain_grads):
    scale = max(float(jnp.max(jnp.abs(reference))), 1.0)
    np.testing.assert_allclose(fused, reference, atol=1e-5 * scale, err_msg=label)
    np.testing.assert_allclose(saved, reference, atol=1e-5 * scale, err_msg=label)
