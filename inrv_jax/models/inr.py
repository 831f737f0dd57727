"""The per-video INR: weight shapes, flat <-> tensors, and inr_apply.

Everything here is a pure function of (weights, coords). Weights are a tuple
of 2 * num_layers arrays (W0, b0, W1, b1, ...); W_l is stored (out, in) as in
the authors' release, and a layer computes x @ W_l.T + b_l.
"""

import dataclasses
import math
import jax
import jax.numpy as jnp
import numpy as np

from inrv_jax.models import coords as coords_lib


@dataclasses.dataclass(frozen=True)
class INRSpec:
  """Architecture of the per-video network."""
  hidden: int = 256          # width of every hidden layer
  hidden_layers: int = 4     # number of hidden layers (paper: 63->256 x4 -> 3)
  num_frequencies: int = 10  # NeRF frequencies (63 input features for 10)
  out_channels: int = 3      # RGB
  activation: str = "relu"   # "relu" (paper) or "sine" (SIREN variant)
  sine_w0: float = 30.0      # SIREN frequency factor, used only with "sine"

  @property
  def in_features(self) -> int:
    return coords_lib.encoded_size(self.num_frequencies)

  @property
  def shapes(self) -> tuple[tuple[int, ...], ...]:
    """Shapes of (W0, b0, ..., WL, bL), weights (out, in)."""
    dims = [self.in_features] + [self.hidden] * self.hidden_layers + [self.out_channels]
    out = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
      out += [(fan_out, fan_in), (fan_out,)]
    return tuple(out)

  @property
  def names(self) -> tuple[str, ...]:
    return tuple(f"{kind}{i}" for i in range(len(self.shapes) // 2)
                 for kind in ("W", "b"))

  @property
  def num_params(self) -> int:
    return sum(math.prod(s) for s in self.shapes)

  @property
  def macs_per_pixel(self) -> int:
    return sum(math.prod(s) for s in self.shapes[0::2])


Weights = tuple[jnp.ndarray, ...]


def flatten(spec: INRSpec, weights: Weights) -> jnp.ndarray:
  """Tensors -> (num_params,) vector, row-major per tensor, in tensor order."""
  del spec
  return jnp.concatenate([w.reshape(-1) for w in weights])


def unflatten(spec: INRSpec, flat: jnp.ndarray) -> Weights:
  """(num_params,) -> tensors; inverse of `flatten`."""
  sizes = [math.prod(s) for s in spec.shapes]
  splits = np.cumsum(sizes)[:-1]
  return tuple(p.reshape(s) for p, s in zip(jnp.split(flat, splits), spec.shapes))


def _activation(spec: INRSpec, x: jnp.ndarray, first: bool) -> jnp.ndarray:
  if spec.activation == "relu":
    return jax.nn.relu(x)
  if spec.activation == "sine":
    return jnp.sin(spec.sine_w0 * x) if first else jnp.sin(x)
  raise ValueError(f"unknown INR activation {spec.activation!r}; use 'relu' or 'sine'")


def inr_apply(spec: INRSpec, weights: Weights, coords: jnp.ndarray) -> jnp.ndarray:
  """One video's INR at the given coordinates.

  weights: tensors of `spec.shapes`; coords: (P, 3) in (t, h, w) order.
  Returns (P, out_channels) raw outputs in target space ([-1, 1] nominal).
  """
  x = coords_lib.positional_encoding(coords, spec.num_frequencies)  # (P, 63)
  num_layers = len(weights) // 2
  for layer in range(num_layers):
    w, b = weights[2 * layer], weights[2 * layer + 1]
    x = x @ w.T + b
    if layer < num_layers - 1:
      x = _activation(spec, x, first=layer == 0)
  return x


def batched_apply(spec: INRSpec, weights: Weights, coords: jnp.ndarray) -> jnp.ndarray:
  """vmap of inr_apply over videos: weights (B, ...) and coords (P, 3) -> (B, P, C)."""
  return jax.vmap(lambda w: inr_apply(spec, w, coords))(weights)


def grid_apply(spec: INRSpec, weights: Weights, num_frames: int, height: int,
               width: int) -> jnp.ndarray:
  """Render whole videos of a batch: weights (B, ...) -> (B, T, H, W, C)."""
  return axes_apply(spec, weights, *(jnp.asarray(coords_lib.axis_values(n))
                                     for n in (num_frames, height, width)))


def axes_apply(spec: INRSpec, weights: Weights, t_values: jnp.ndarray,
               h_values: jnp.ndarray, w_values: jnp.ndarray) -> jnp.ndarray:
  """The INR on the grid t_values x h_values x w_values: -> (B, Nt, Nh, Nw, C).

  Uses the separable structure of the encoding: the first layer's
  pre-activation is A_t[t] + A_h[h] + A_w[w] + b0, so the (pixels x 63)
  encoding is never built. Numerically equal to `batched_apply` on the grid.
  """
  num_layers = len(weights) // 2
  w0, b0 = weights[0], weights[1]  # (B, hidden, 63), (B, hidden)
  partial = []
  for axis, values in enumerate((t_values, h_values, w_values)):
    feats = coords_lib.per_axis_encoding(values, spec.num_frequencies)  # (N, F)
    cols = coords_lib.axis_feature_columns(axis, spec.num_frequencies)
    partial.append(jnp.einsum("nf,bof->bno", feats.astype(w0.dtype), w0[:, :, cols]))
  a_t, a_h, a_w = partial  # (B, Nt, hid), (B, Nh, hid), (B, Nw, hid)
  x = (a_t[:, :, None, None, :] + a_h[:, None, :, None, :]
       + a_w[:, None, None, :, :] + b0[:, None, None, None, :])  # (B, Nt, Nh, Nw, hid)
  x = _activation(spec, x, first=True)
  shape = x.shape[:4]
  x = x.reshape(x.shape[0], -1, x.shape[-1])  # (B, P, hid)
  for layer in range(1, num_layers):
    w, b = weights[2 * layer], weights[2 * layer + 1]
    x = jnp.einsum("bpi,boi->bpo", x, w) + b[:, None, :]
    if layer < num_layers - 1:
      x = _activation(spec, x, first=False)
  return x.reshape(*shape, -1)
