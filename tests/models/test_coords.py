"""Coordinate order and the positional encoding, against hand-computed values."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from inrv_jax.models import coords


def test_axis_values_map_to_minus_one_one():
  np.testing.assert_allclose(coords.axis_values(5), [-1.0, -0.5, 0.0, 0.5, 1.0])
  np.testing.assert_allclose(coords.axis_values(1), [-1.0])  # i / max(N-1, 1)


def test_grid_is_row_major_over_t_h_w():
  g = coords.grid(2, 3, 4)
  assert g.shape == (24, 3)
  # width varies fastest, then height, then time; vectors are (t, h, w).
  np.testing.assert_allclose(g[0], [-1, -1, -1])
  np.testing.assert_allclose(g[1], [-1, -1, -1 + 2 / 3])
  np.testing.assert_allclose(g[4], [-1, 0, -1])
  np.testing.assert_allclose(g[12], [1, -1, -1])
  np.testing.assert_allclose(g[-1], [1, 1, 1])


def test_encoding_has_63_features_in_nerf_order():
  c = np.array([[0.5, -0.25, 1.0]], np.float32)  # (t, h, w)
  enc = np.asarray(coords.positional_encoding(c, 10))[0]
  assert enc.shape == (63,) and coords.encoded_size(10) == 63
  np.testing.assert_allclose(enc[:3], c[0])
  # frequency k, axis j -> [sin, cos] at 3 + 6k + 2j
  for k in range(10):
    for j, value in enumerate(c[0]):
      angle = (2 ** k) * math.pi * value
      np.testing.assert_allclose(enc[3 + 6 * k + 2 * j], math.sin(angle), atol=2e-5)
      np.testing.assert_allclose(enc[3 + 6 * k + 2 * j + 1], math.cos(angle), atol=2e-5)


def test_hand_computed_first_features():
  enc = np.asarray(coords.positional_encoding(np.array([[0.5, 0.0, -1.0]], np.float32), 1))[0]
  # [t, h, w, sin(pi t), cos(pi t), sin(pi h), cos(pi h), sin(pi w), cos(pi w)]
  np.testing.assert_allclose(enc, [0.5, 0.0, -1.0, 1.0, 0.0, 0.0, 1.0, 0.0, -1.0], atol=1e-6)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_per_axis_features_are_the_full_encoding_columns(axis):
  values = coords.axis_values(7)
  full_input = np.zeros((7, 3), np.float32)
  full_input[:, axis] = values
  full = np.asarray(coords.positional_encoding(full_input, 10))
  per_axis = np.asarray(coords.per_axis_encoding(values, 10))
  np.testing.assert_allclose(full[:, coords.axis_feature_columns(axis, 10)], per_axis, atol=1e-6)


def test_axis_tables_sum_to_the_encoding_exactly():
  tables = coords.axis_encoding_tables((5, 7, 6), 10)
  t, h, w = np.unravel_index(np.arange(5 * 7 * 6), (5, 7, 6))
  np.testing.assert_array_equal(tables[0][t] + tables[1][h] + tables[2][w],
                                coords.positional_encoding(jnp.asarray(coords.grid(5, 7, 6)), 10))
