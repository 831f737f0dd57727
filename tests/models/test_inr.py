"""The per-video INR: sizes, flat <-> tensors, separable rendering == plain vmap."""

import jax
import jax.numpy as jnp
import numpy as np

from inrv_jax.models import coords
from inrv_jax.models import inr


def random_weights(spec, batch, seed=0):
  keys = jax.random.split(jax.random.key(seed), len(spec.shapes))
  return tuple(jax.random.normal(k, (batch, *s)) / np.sqrt(s[-1])
               for k, s in zip(keys, spec.shapes))


def test_paper_inr_has_214531_parameters():
  spec = inr.INRSpec()
  assert spec.in_features == 63
  assert spec.shapes[0] == (256, 63) and spec.shapes[-2] == (3, 256)
  assert spec.num_params == 214_531
  assert spec.macs_per_pixel == 213_504


def test_inr_apply_is_the_mlp_of_the_encoding():
  spec = inr.INRSpec(hidden=8, hidden_layers=1, num_frequencies=2)
  w0, b0, w1, b1 = (w[0] for w in random_weights(spec, 1))
  c = jnp.asarray(coords.grid(2, 3, 3))
  x = np.asarray(coords.positional_encoding(c, 2))
  expected = np.maximum(x @ np.asarray(w0).T + b0, 0) @ np.asarray(w1).T + b1
  np.testing.assert_allclose(inr.inr_apply(spec, (w0, b0, w1, b1), c), expected, atol=1e-5)


def test_grid_apply_equals_vmapped_inr_apply_on_paper_inr():
  spec = inr.INRSpec()
  weights = random_weights(spec, 2)
  separable = inr.grid_apply(spec, weights, 3, 5, 4)
  plain = inr.batched_apply(spec, weights, jnp.asarray(coords.grid(3, 5, 4)))
  assert separable.shape == (2, 3, 5, 4, 3)
  np.testing.assert_allclose(separable.reshape(2, -1, 3), plain, atol=1e-5)


def test_sampled_pixels_equal_the_inr_at_their_coordinates():
  # pixels_apply gathers each pixel's encoding from per-axis tables: bit for bit the
  # encoding of its grid coordinates, so the same outputs as inr_apply there
  spec = inr.INRSpec(hidden=32, hidden_layers=2)
  weights = random_weights(spec, 2)
  pixels = jax.random.randint(jax.random.key(1), (2, 50), 0, 5 * 7 * 6)
  grid = jnp.asarray(coords.grid(5, 7, 6))
  sampled = jax.jit(lambda w, p: inr.pixels_apply(spec, w, (5, 7, 6), p))(weights, pixels)
  at_coords = jax.vmap(lambda w, i: inr.inr_apply(spec, w, grid[i]))(weights, pixels)
  np.testing.assert_allclose(sampled, at_coords, rtol=1e-6, atol=1e-6)

