"""Coordinate grids and the NeRF positional encoding (pure functions).

Order follows the authors' release (see INRV_SPEC.md): a video of T frames of
H x W pixels is queried on a grid flattened row-major over (t, h, w) -- time
slowest, width fastest -- and every coordinate vector is ordered (t, h, w).
"""

import jax
import jax.numpy as jnp
import numpy as np

NUM_AXES = 3  # (t, h, w)


def axis_values(size: int) -> np.ndarray:
  """Normalised positions of one axis: i / max(size-1, 1) mapped to [-1, 1]."""
  if size < 1:
    raise ValueError(f"axis size must be >= 1, got {size}")
  return ((np.arange(size, dtype=np.float32) / max(size - 1, 1)) - 0.5) * 2.0


def grid(num_frames: int, height: int, width: int) -> np.ndarray:
  """(T*H*W, 3) float32 coordinates, row-major over (t, h, w)."""
  t, h, w = np.meshgrid(axis_values(num_frames), axis_values(height),
                        axis_values(width), indexing="ij")
  return np.stack([t, h, w], axis=-1).reshape(-1, NUM_AXES)


def encoded_size(num_frequencies: int, num_axes: int = NUM_AXES) -> int:
  """Features per coordinate: the raw coordinate plus sin and cos per frequency."""
  return num_axes + 2 * num_axes * num_frequencies


def positional_encoding(coords: jnp.ndarray, num_frequencies: int) -> jnp.ndarray:
  """NeRF encoding: [c, then for k: for axis j: sin(2^k pi c_j), cos(2^k pi c_j)].

  coords: (..., D) -> (..., D + 2*D*num_frequencies).
  """
  freqs = (2.0 ** jnp.arange(num_frequencies, dtype=coords.dtype)) * jnp.pi  # (K,)
  angles = freqs[:, None] * coords[..., None, :]  # (..., K, D)
  sincos = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1)  # (..., K, D, 2)
  return jnp.concatenate(
      [coords, sincos.reshape(*coords.shape[:-1], -1)], axis=-1)


def per_axis_encoding(values: jnp.ndarray, num_frequencies: int) -> jnp.ndarray:
  """Encoding features of a single axis: (N,) -> (N, 1 + 2*num_frequencies).

  Column 0 is the raw value; column 1 + 2k is sin(2^k pi x), 2 + 2k is cos.
  The full encoding of (t, h, w) is these per-axis features interleaved, see
  `axis_feature_columns`; the separable first layer uses this to avoid the
  (pixels x 63) matrix.
  """
  freqs = (2.0 ** jnp.arange(num_frequencies, dtype=values.dtype)) * jnp.pi
  angles = freqs[None, :] * values[:, None]  # (N, K)
  sincos = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1)  # (N, K, 2)
  return jnp.concatenate([values[:, None], sincos.reshape(values.shape[0], -1)], -1)


def axis_feature_columns(axis: int, num_frequencies: int,
                         num_axes: int = NUM_AXES) -> np.ndarray:
  """Columns of the full encoding that belong to `axis`, in per-axis order."""
  cols = [axis]
  for k in range(num_frequencies):
    base = num_axes + 2 * num_axes * k + 2 * axis
    cols += [base, base + 1]
  return np.asarray(cols)


def axis_encoding_tables(grid_shape: tuple[int, ...], num_frequencies: int) -> list[np.ndarray]:
  """Per axis of a grid, every position's share of the full encoding: float32 arrays
  (size_axis, encoded_size), the axis's features in their `positional_encoding`
  columns and zeros in the other axes' columns.

  Pixel (t, h, w) of the grid then has the encoding tables[0][t] + tables[1][h]
  + tables[2][w], exactly (each column sums one value with zeros), so a sampled
  pixel's encoding is three row gathers instead of 2 * D * num_frequencies
  sines and cosines.
  """
  tables = []
  for axis, size in enumerate(grid_shape):
    with jax.ensure_compile_time_eval():  # concrete values, also while a caller is traced
      features = np.asarray(per_axis_encoding(jnp.asarray(axis_values(size)), num_frequencies))
    table = np.zeros((size, encoded_size(num_frequencies, len(grid_shape))), np.float32)
    table[:, axis_feature_columns(axis, num_frequencies, len(grid_shape))] = features
    tables.append(table)
  return tables
