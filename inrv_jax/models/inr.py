"""The per-video INR: weight shapes, one MLP forward, and the render of a grid.

Everything here is a pure function of (weights, coords). Weights are a tuple
of 2 * num_layers arrays (W0, b0, W1, b1, ...); W_l is stored (out, in) as in
the authors' release, and a layer computes x @ W_l.T + b_l.

  inr_apply      one video's INR at coordinates (P, 3): encode, then `mlp_apply`
  mlp_apply      the MLP forward (the only one of this file)
  pixels_apply   each video's INR at its own pixels of a grid (sampled training, inversion)
  grid_apply     whole videos: the first layer split by grid axis (`axes_apply`), the
                 rest by `mlp_apply`, or by the fast ReLU trunk of kernels.py
  grid_pixel_loss  a pixel loss of the whole grid, its gradient taken in the
                 forward pass by kernels.py where the backend's tuning says so

The fast paths and their per-backend tuning are in kernels.py; every function
here that can take one has a `tuning` argument (None: kernels.for_backend(),
kernels.REFERENCE: this file's plain computation).
"""

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp

from inrv_jax.models import coords as coords_lib
from inrv_jax.models import kernels
from inrv_jax.models.common import dot


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
  return mlp_apply(spec, weights, coords_lib.positional_encoding(coords, spec.num_frequencies))


def mlp_apply(spec: INRSpec, weights: Weights, encoded: jnp.ndarray) -> jnp.ndarray:
  """One video's INR on already encoded coordinates: (P, in_features) -> (P, out_channels).

  Computes in the weights' dtype (the bf16 option), sums in f32 (`dot`).
  """
  return _layers_from(spec, weights, encoded.astype(weights[0].dtype), 0)


def _layers_from(spec: INRSpec, weights: Weights, x: jnp.ndarray, start: int) -> jnp.ndarray:
  """The MLP forward from layer `start` on, x (..., P, in) its input -> (..., P,
  out_channels): layer, activation, ..., the last layer without activation. Leading axes
  are videos, with weights (..., out, in) and biases (..., out) to match."""
  num_layers = len(weights) // 2
  for layer in range(start, num_layers):
    w, b = weights[2 * layer], weights[2 * layer + 1]
    x = dot("...pi,...oi->...po", x, w) + b[..., None, :]
    if layer < num_layers - 1:
      x = _activation(spec, x, first=layer == 0)
  return x


def batched_apply(spec: INRSpec, weights: Weights, coords: jnp.ndarray) -> jnp.ndarray:
  """vmap of inr_apply over videos: weights (B, ...) and coords (P, 3) -> (B, P, C)."""
  return jax.vmap(lambda w: inr_apply(spec, w, coords))(weights)


def pixels_apply(spec: INRSpec, weights: Weights, grid_shape: tuple[int, int, int],
                 pixels: jnp.ndarray) -> jnp.ndarray:
  """Each video's INR at its own pixels of the (T, H, W) grid.

  weights: tensors each (B, *shape); pixels: (B, P) int flat indices in
  [0, T*H*W), row-major over (t, h, w) like `coords.grid`. Returns (B, P, C)
  raw outputs in target space. The sampled-pixel forward of training
  (train.pixel_fraction < 1) and of inversion.

  Each pixel's encoding is gathered from per-axis tables
  (`coords.axis_encoding_tables`), not computed: the sines and cosines of every
  sampled pixel at every step are a visible share of a small step. The result
  is the encoding's bit for bit.
  """
  table_t, table_h, table_w = coords_lib.axis_encoding_tables(grid_shape, spec.num_frequencies)
  at_t, at_h, at_w = jnp.unravel_index(pixels, grid_shape)  # each (B, P)
  encoded = (jnp.asarray(table_t)[at_t] + jnp.asarray(table_h)[at_h]
             + jnp.asarray(table_w)[at_w])  # (B, P, in_features)
  return jax.vmap(lambda w, x: mlp_apply(spec, w, x))(weights, encoded)


def grid_apply(spec: INRSpec, weights: Weights, num_frames: int, height: int,
               width: int, tuning: kernels.Tuning | None = None) -> jnp.ndarray:
  """Render whole videos of a batch: weights (B, ...) -> (B, T, H, W, C).

  Equals `batched_apply` on `coords.grid(T, H, W)` within float tolerance
  (tests/models/test_inr.py, tests/models/test_fast_path.py). tuning: see `axes_apply`.
  """
  return axes_apply(spec, weights, *_grid_axis_values(num_frames, height, width),
                    tuning=tuning)


def axes_apply(spec: INRSpec, weights: Weights, t_values: jnp.ndarray,
               h_values: jnp.ndarray, w_values: jnp.ndarray,
               tuning: kernels.Tuning | None = None) -> jnp.ndarray:
  """The INR on the grid t_values x h_values x w_values: -> (B, Nt, Nh, Nw, C).

  Uses the separable structure of the encoding: the first layer's
  pre-activation is A_t[t] + A_h[h] + A_w[w] + b0, so the (pixels x 63)
  encoding is never built; the other layers are `mlp_apply`'s (`_layers_from`). For ReLU INRs
  with `tuning.trunk` (default tuning: kernels.for_backend()) the layers run
  as kernels.relu_trunk instead, chunk by chunk with a hand-written backward pass.
  """
  tuning = kernels.for_backend() if tuning is None else tuning
  a_t, a_h, a_w, b0, layers = _separable(spec, weights, (t_values, h_values, w_values))
  if spec.activation == "relu" and tuning.trunk:
    return kernels.relu_trunk(a_t, a_h, a_w, b0, layers, tuning)
  x = kernels.first_preactivation(a_t, a_h, a_w, b0)  # (B, Nt, Nh, Nw, hid)
  shape = x.shape[:4]
  if len(weights) > 2:
    x = _activation(spec, x, first=True)
  x = _layers_from(spec, weights, x.reshape(shape[0], -1, x.shape[-1]), 1)
  return x.reshape(*shape, -1)


def grid_pixel_loss(spec: INRSpec, weights: Weights, targets: jnp.ndarray,
                    elementwise: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray],
                    tuning: kernels.Tuning | None = None
                    ) -> tuple[jnp.ndarray, jnp.ndarray]:
  """mean(elementwise(render, targets)) over every pixel and channel, and the render.

  weights: tensors each (B, *shape); targets: (B, T, H, W, C) float32 in target
  space; elementwise(pred, target) -> the per-element loss, any equal shapes
  (e.g. |pred - target|). Returns (loss () float32, render (B, T, H, W, C) in
  the weights' dtype). The render carries no gradient, and no gradient flows to
  `targets` (data): only the loss is differentiable with respect to the weights.

  The reference renders with `grid_apply` and differentiates its loss. For ReLU
  INRs with `tuning.fused_loss` (default tuning: kernels.for_backend()) the
  loss and its gradient are taken chunk by chunk as the grid is rendered
  (kernels.relu_trunk_loss), so no layer's activations are stored for a
  backward pass; equal within float tolerance (tests/models/test_fast_path.py).
  """
  tuning = kernels.for_backend() if tuning is None else tuning
  _, t, h, w, _ = targets.shape
  if spec.activation != "relu" or not tuning.fused_loss:
    pred = grid_apply(spec, weights, t, h, w, tuning)
    return jnp.mean(elementwise(pred.astype(jnp.float32), targets)), jax.lax.stop_gradient(pred)
  a_t, a_h, a_w, b0, layers = _separable(spec, weights, _grid_axis_values(t, h, w))
  total, pred = kernels.relu_trunk_loss(elementwise, a_t, a_h, a_w, b0, layers, targets, tuning)
  return total / targets.size, jax.lax.stop_gradient(pred)


def _grid_axis_values(num_frames: int, height: int, width: int) -> tuple:
  """The t, h and w coordinates of the whole grid, each (N,) (coords.axis_values)."""
  return tuple(jnp.asarray(coords_lib.axis_values(n)) for n in (num_frames, height, width))


def _separable(spec: INRSpec, weights: Weights, axis_values) -> tuple:
  """The INR split for a grid: the first layer's pre-activation by axis, A_t (B, Nt, hid),
  A_h (B, Nh, hid), A_w (B, Nw, hid) for the t, h, w values (each (N,)), its bias b0
  (B, hid), and the other layers as ((W_l, b_l), l = 1..L)."""
  w0 = weights[0]  # (B, hidden, 63)
  partial = []
  for axis, values in enumerate(axis_values):
    feats = coords_lib.per_axis_encoding(values, spec.num_frequencies)  # (N, F)
    cols = coords_lib.axis_feature_columns(axis, spec.num_frequencies)
    partial.append(dot("nf,bof->bno", feats.astype(w0.dtype), w0[:, :, cols]))
  return (*partial, weights[1], tuple(zip(weights[2::2], weights[3::2])))
