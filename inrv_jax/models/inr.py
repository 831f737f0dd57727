"""The per-video INR: weight shapes, flat <-> tensors, and inr_apply.

Everything here is a pure function of (weights, coords). Weights are a tuple
of 2 * num_layers arrays (W0, b0, W1, b1, ...); W_l is stored (out, in) as in
the authors' release, and a layer computes x @ W_l.T + b_l.
"""

import dataclasses
import functools
import math
from typing import Callable

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


def dot(equation: str, a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
  """einsum accumulated in float32, returned in a's dtype.

  For float32 this is the plain einsum. For bfloat16 the sums are f32 (the
  better number); on CPUs with bf16 matrix units (Intel AMX) it is also the
  form XLA's CPU backend runs on AMX: a 2048^3 bf16 x bf16 -> f32 dot at ~1.5
  TFLOP/s on 2 cores, a bf16 -> bf16 one at ~0.27 (BENCHMARKS.md, "bf16 and
  AMX", which also says why the whole bf16 step is not faster yet).
  """
  return jnp.einsum(equation, a, b, preferred_element_type=jnp.float32).astype(a.dtype)



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
  x = encoded.astype(weights[0].dtype)
  num_layers = len(weights) // 2
  for layer in range(num_layers):
    w, b = weights[2 * layer], weights[2 * layer + 1]
    x = dot("pi,oi->po", x, w) + b
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

  Each pixel's encoding is gathered, not computed: the sines and cosines of
  every sampled pixel at every step were 6% of the quickstart's step on CPU
  (BENCHMARKS.md, "Where the quickstart step goes"). The tables come from
  `coords.axis_encoding_tables`, so the result is the encoding's bit for bit.
  """
  table_t, table_h, table_w = coords_lib.axis_encoding_tables(grid_shape, spec.num_frequencies)
  at_t, at_h, at_w = jnp.unravel_index(pixels, grid_shape)  # each (B, P)
  encoded = (jnp.asarray(table_t)[at_t] + jnp.asarray(table_h)[at_h]
             + jnp.asarray(table_w)[at_w])  # (B, P, in_features)
  return jax.vmap(lambda w, x: mlp_apply(spec, w, x))(weights, encoded)


def grid_apply(spec: INRSpec, weights: Weights, num_frames: int, height: int,
               width: int) -> jnp.ndarray:
  """Render whole videos of a batch: weights (B, ...) -> (B, T, H, W, C)."""
  return axes_apply(spec, weights, *_grid_axis_values(num_frames, height, width))


def axes_apply(spec: INRSpec, weights: Weights, t_values: jnp.ndarray,
               h_values: jnp.ndarray, w_values: jnp.ndarray) -> jnp.ndarray:
  """The INR on the grid t_values x h_values x w_values: -> (B, Nt, Nh, Nw, C).

  Uses the separable structure of the encoding: the first layer's
  pre-activation is A_t[t] + A_h[h] + A_w[w] + b0, so the (pixels x 63)
  encoding is never built. Numerically equal to `batched_apply` on the grid.
  For ReLU INRs the rest runs a chunk of pixels at a time (whole frames, or
  rows of one frame: `_chunk_shape`) with a hand-written backward pass
  (`_relu_trunk`), so activations stay in cache.
  """
  a_t, a_h, a_w, b0, layers = _separable(spec, weights, (t_values, h_values, w_values))
  if spec.activation == "relu":
    chunk = _chunk_shape(a_t.shape[1], a_h.shape[1], a_w.shape[1])
    return _relu_trunk(chunk, a_t, a_h, a_w, b0, layers)
  x = _activation(spec, _first_preactivation(a_t, a_h, a_w, b0), first=True)
  shape = x.shape[:4]
  x = x.reshape(x.shape[0], -1, x.shape[-1])  # (B, P, hid)
  for layer, (w, b) in enumerate(layers):
    x = dot("bpi,boi->bpo", x, w) + b[:, None, :]
    if layer < len(layers) - 1:
      x = _activation(spec, x, first=False)
  return x.reshape(*shape, -1)


def grid_pixel_loss(spec: INRSpec, weights: Weights, targets: jnp.ndarray,
                    elementwise: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]
                    ) -> tuple[jnp.ndarray, jnp.ndarray]:
  """mean(elementwise(render, targets)) over every pixel and channel, and the render.

  weights: tensors each (B, *shape); targets: (B, T, H, W, C) float32 in target
  space; elementwise(pred, target) -> the per-element loss, any equal shapes
  (e.g. |pred - target|). Returns (loss () float32, render (B, T, H, W, C) in
  the weights' dtype). The render carries no gradient, and no gradient flows to
  `targets` (data): only the loss is differentiable with respect to the weights.

  For ReLU INRs the loss's gradient is taken chunk by chunk in the forward
  pass (`_relu_trunk_loss`): each chunk of pixels is rendered, its loss
  gradient backpropagated through the layers at once and only the weight
  gradients kept, so no layer's activations are stored for a backward pass
  (the paper step's saved activations were 3 x 256 MB; BENCHMARKS.md). Equal
  to autodiff of `grid_apply` within float tolerance (tests/models/test_fast_path.py).
  Other activations render with `grid_apply` and differentiate normally.
  """
  _, t, h, w, _ = targets.shape
  if spec.activation != "relu":
    pred = grid_apply(spec, weights, t, h, w)
    return jnp.mean(elementwise(pred.astype(jnp.float32), targets)), jax.lax.stop_gradient(pred)
  a_t, a_h, a_w, b0, layers = _separable(spec, weights, _grid_axis_values(t, h, w))
  total, pred = _relu_trunk_loss(_chunk_shape(t, h, w), elementwise, a_t, a_h, a_w, b0,
                                 layers, targets)
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


# Pixels per chunk of the ReLU trunk. A chunk is whole frames, or rows of one frame where a
# frame holds more (`_chunk_shape`). Its (chunk, 256) f32 activations, 5 MB each, stay in
# cache instead of streaming 256 MB per layer; on the paper grid (25 x 100 x 100) half-frame
# chunks are 4-10% faster than whole frames (BENCHMARKS.md, "Half-frame chunks").
CHUNK_PIXELS = 5000


def _first_preactivation(a_t, a_h, a_w, b0):
  """(B, nt, hid), (B, nh, hid), (B, Nw, hid), (B, hid) -> (B, nt, nh, Nw, hid)."""
  return (a_t[:, :, None, None, :] + a_h[:, None, :, None, :]
          + a_w[:, None, None, :, :] + b0[:, None, None, None, :])


def _largest_divisor(n: int, at_most: int) -> int:
  """The largest divisor of n that is at most `at_most` (>= 1)."""
  d = max(1, min(n, at_most))
  while n % d:
    d -= 1
  return d


def _chunk_shape(num_frames: int, height: int, width: int) -> tuple[int, int]:
  """(frames, rows) of a trunk chunk of the (num_frames, height, width) grid.

  Whole frames (rows = height), as many as divide num_frames within
  CHUNK_PIXELS, while a frame holds at most CHUNK_PIXELS pixels; else one frame
  and the most rows that divide height within CHUNK_PIXELS, unless they hold
  under half of it (a prime height, 97 or 101 rows: one-row chunks made such a
  step 1.6x slower), then one whole frame.
  """
  if height * width <= CHUNK_PIXELS:
    return _largest_divisor(num_frames, CHUNK_PIXELS // max(height * width, 1)), height
  rows = _largest_divisor(height, CHUNK_PIXELS // max(width, 1))
  return 1, (rows if 2 * rows * width >= CHUNK_PIXELS else height)


def _split_blocks(x, size: int):
  """(B, N, ...) -> (N / size, B, size, ...)."""
  return jnp.swapaxes(x.reshape(x.shape[0], -1, size, *x.shape[2:]), 0, 1)


def _join_blocks(x):
  """(n, B, size, ...) -> (B, n * size, ...); inverse of `_split_blocks`."""
  x = jnp.swapaxes(x, 0, 1)
  return x.reshape(x.shape[0], -1, *x.shape[3:])


def _axis_chunks(a_t, a_h, frames: int, rows: int):
  """A_t (B, Nt, hid) and A_h (B, Nh, hid) by chunk: (n, B, frames, hid) and
  (n, B, rows, hid), n = (Nt / frames)(Nh / rows), frame blocks outer; and each
  chunk's row-block index (n,) int32."""
  t_blocks, h_blocks = _split_blocks(a_t, frames), _split_blocks(a_h, rows)
  n_t, n_h = t_blocks.shape[0], h_blocks.shape[0]
  return (jnp.repeat(t_blocks, n_h, axis=0), jnp.tile(h_blocks, (n_t, 1, 1, 1)),
          jnp.tile(jnp.arange(n_h, dtype=jnp.int32), n_t))


def _split_grid(x, frames: int, rows: int):
  """(B, Nt, Nh, Nw, C) -> (n, B, frames * rows * Nw, C), chunks in `_axis_chunks` order."""
  b, t, h, w, c = x.shape
  x = x.reshape(b, t // frames, frames, h // rows, rows, w, c).transpose(1, 3, 0, 2, 4, 5, 6)
  return x.reshape(-1, b, frames * rows * w, c)


def _join_grid(x, shape, frames: int, rows: int):
  """(n, B, p, C) chunks -> `shape` (B, Nt, Nh, Nw, C); inverse of `_split_grid`."""
  b, t, h, w, c = shape
  x = x.reshape(t // frames, h // rows, b, frames, rows, w, c).transpose(2, 0, 3, 1, 4, 5, 6)
  return x.reshape(shape)


def _trunk_chunk(a_t_chunk, a_h_chunk, a_w, b0, layers):
  """One chunk: A_t (B, frames, hid), A_h (B, rows, hid) -> (output (B, p, C), hidden
  inputs of layers 1..L, each (B, p, hid)), p = frames * rows * Nw."""
  bsz, hid = a_t_chunk.shape[0], a_t_chunk.shape[-1]
  x = jax.nn.relu(_first_preactivation(a_t_chunk, a_h_chunk, a_w, b0)).reshape(bsz, -1, hid)
  inputs = [x]
  for layer, (w, b) in enumerate(layers):
    x = dot("bpi,boi->bpo", x, w) + b[:, None, :]
    if layer < len(layers) - 1:
      x = jax.nn.relu(x)
      inputs.append(x)
  return x, tuple(inputs)


def _trunk_out_shape(a_t, a_h, a_w, layers):
  return (a_t.shape[0], a_t.shape[1], a_h.shape[1], a_w.shape[1], layers[-1][0].shape[1])


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _relu_trunk(chunk, a_t, a_h, a_w, b0, layers):
  """ReLU(A_t + A_h + A_w + b0) through `layers` -> (B, Nt, Nh, Nw, C), by chunks of
  `chunk` = (frames, rows)."""
  return _relu_trunk_fwd(chunk, a_t, a_h, a_w, b0, layers)[0]


def _relu_trunk_fwd(chunk, a_t, a_h, a_w, b0, layers):
  def body(_, xs):
    a_t_chunk, a_h_chunk, _ = xs
    out, inputs = _trunk_chunk(a_t_chunk, a_h_chunk, a_w, b0, layers)
    return None, (out, inputs[1:])  # the first input is recomputed in the backward pass
  _, (out, saved) = jax.lax.scan(body, None, _axis_chunks(a_t, a_h, *chunk))
  out = _join_grid(out, _trunk_out_shape(a_t, a_h, a_w, layers), *chunk)
  return out, (a_t, a_h, a_w, b0, layers, saved)


def _backprop_chunk(carry, g, inputs, layers, xs):
  """Backprop one chunk's output gradient g (B, p, C) through `layers`, whose inputs were
  `inputs` (the first layer's ReLU output, then each hidden layer's, each (B, p, hid)).
  xs is the chunk's (A_t (B, frames, hid), A_h (B, rows, hid), row-block index). Adds the
  weight, A_h, A_w and b0 gradients to `carry` (f32 sums over chunks; A_h's by row block,
  (Nh / rows, B, rows, hid)) and returns (carry, the chunk's A_t gradient (B, frames, hid))."""
  d_layers, d_h, d_w, d_b0 = carry
  a_t_chunk, a_h_chunk, row_block = xs
  frames, rows = a_t_chunk.shape[1], a_h_chunk.shape[1]
  bsz, n_w, hid = d_w.shape[0], d_w.shape[1], d_w.shape[-1]
  new_layers = list(d_layers)
  for layer in reversed(range(len(layers))):
    x = inputs[layer]
    dw, db = d_layers[layer]
    new_layers[layer] = (dw + _weight_gradient(g, x), db + jnp.sum(g, axis=1, dtype=jnp.float32))
    g = jnp.where(x > 0, _input_gradient(g, layers[layer][0]), 0)
  g = g.reshape(bsz, frames, rows, n_w, hid)  # grad of the first pre-activation
  # Two passes over g give every first-layer gradient: its sums over the columns (B, frames,
  # rows, hid) and over frames and rows (B, Nw, hid). The barrier keeps XLA from folding
  # sum(by_row, rows) back into a third pass over g (each frame's sum over rows and columns,
  # which it ran as a slow 32 x 32 reduce-window: 38 ms of the paper step).
  by_row, by_col = jax.lax.optimization_barrier((jnp.sum(g, axis=3, dtype=jnp.float32),
                                                 jnp.sum(g, axis=(1, 2), dtype=jnp.float32)))
  d_h = d_h.at[row_block].add(jnp.sum(by_row, axis=1))
  carry = (tuple(new_layers), d_h, d_w + by_col, d_b0 + jnp.sum(by_col, axis=1))
  return carry, jnp.sum(by_row, axis=2)


# Layers with at most this many outputs (the RGB layer) take their input gradient as
# multiply-adds, not a matrix product (`_input_gradient`).
FEW_OUTPUTS = 4


def _input_gradient(g, w):
  """g (B, p, o) times w (B, o, i) -> (B, p, i), summed in f32, in g's dtype.

  For o <= FEW_OUTPUTS as o multiply-adds, which XLA fuses with the ReLU mask
  that follows into one pass (0.3 ms per 5,000-pixel chunk on a Zen 4): XLA's
  CPU dot with a 3-long contraction took 1.1-1.4 ms, and the mask one more
  pass (BENCHMARKS.md, "Half-frame chunks").
  """
  if w.shape[1] > FEW_OUTPUTS:
    return dot("bpo,boi->bpi", g, w)
  g32, w32 = g.astype(jnp.float32), w.astype(jnp.float32)
  out = g32[:, :, 0, None] * w32[:, None, 0, :]
  for o in range(1, w.shape[1]):
    out = out + g32[:, :, o, None] * w32[:, None, o, :]
  return out.astype(g.dtype)


# The weight gradient sum_p g x^T is taken as this many partial sums over pixel blocks, one
# matrix product each (a batched dot), then added: XLA's CPU dot runs the single product
# over a 5,000-pixel chunk at about 135 GFLOP/s and the two halves at about 160, and the
# paper step is 4% faster for it (Zen 4, 2 cores; BENCHMARKS.md, "Half-frame chunks").
WEIGHT_GRADIENT_BLOCKS = 2


def _pixel_blocks(pixels: int) -> int:
  """WEIGHT_GRADIENT_BLOCKS, or 1 where it does not divide the chunk's pixels."""
  return WEIGHT_GRADIENT_BLOCKS if pixels % WEIGHT_GRADIENT_BLOCKS == 0 else 1


def _weight_gradient(g, x):
  """g (B, p, o), x (B, p, i) -> sum over p of g x^T, (B, o, i) float32."""
  bsz, pixels = g.shape[:2]
  blocks = _pixel_blocks(pixels)
  split = lambda a: a.reshape(bsz, blocks, pixels // blocks, a.shape[-1])
  partial = jnp.einsum("bkpo,bkpi->bkoi", split(g), split(x), preferred_element_type=jnp.float32)
  return jnp.sum(partial, axis=1)


def _zero_gradients(a_h, a_w, b0, layers, rows: int):
  """The f32 carry of `_backprop_chunk`: zeros like (layers, A_h by blocks of `rows`,
  A_w, b0)."""
  zeros = lambda x: jnp.zeros_like(x, dtype=jnp.float32)  # sums over chunks in f32
  return (jax.tree.map(zeros, layers), zeros(_split_blocks(a_h, rows)), zeros(a_w), zeros(b0))


def _primal_dtypes(d_t, d_h, d_w, d_b0, d_layers, a_t, a_h, a_w, b0, layers):
  """The gradients in the primal dtypes, as custom_vjp wants: A_t's from its per-chunk
  parts d_t (n, B, frames, hid), summed over row blocks; A_h's joined from its row blocks."""
  like = lambda d, x: d.astype(x.dtype)
  n_h = d_h.shape[0]
  d_t = jnp.sum(d_t.reshape(-1, n_h, *d_t.shape[1:]), axis=1, dtype=jnp.float32)
  return (_join_blocks(d_t).astype(a_t.dtype), _join_blocks(d_h).astype(a_h.dtype),
          like(d_w, a_w), like(d_b0, b0), jax.tree.map(like, d_layers, layers))


def _relu_trunk_bwd(chunk, residuals, grad):
  """Per chunk: backprop through the layers, accumulate weight grads in the carry."""
  a_t, a_h, a_w, b0, layers, saved = residuals
  frames, rows = chunk

  def body(carry, xs):
    axis_xs, g, saved_chunk = xs
    a_t_chunk, a_h_chunk, _ = axis_xs
    bsz, hid = a_t_chunk.shape[0], a_t_chunk.shape[-1]
    first = jax.nn.relu(_first_preactivation(a_t_chunk, a_h_chunk, a_w, b0)).reshape(bsz, -1, hid)
    return _backprop_chunk(carry, g, (first,) + saved_chunk, layers, axis_xs)

  (d_layers, d_h, d_w, d_b0), d_t = jax.lax.scan(
      body, _zero_gradients(a_h, a_w, b0, layers, rows),
      (_axis_chunks(a_t, a_h, frames, rows), _split_grid(grad, frames, rows), saved))
  return _primal_dtypes(d_t, d_h, d_w, d_b0, d_layers, a_t, a_h, a_w, b0, layers)


_relu_trunk.defvjp(_relu_trunk_fwd, _relu_trunk_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _relu_trunk_loss(chunk, elementwise, a_t, a_h, a_w, b0, layers, targets):
  """(sum of elementwise(render, targets), render) of the ReLU trunk, by chunks of
  `chunk` = (frames, rows); the render's cotangent is ignored (grid_pixel_loss stops its
  gradient)."""
  total, render, _ = _relu_trunk_loss_pass(chunk, elementwise, a_t, a_h, a_w, b0, layers,
                                           targets)
  return total, render


def _relu_trunk_loss_pass(chunk, elementwise, a_t, a_h, a_w, b0, layers, targets):
  """Render each chunk, take its loss and loss gradient, backprop it at once:
  -> (loss sum, render (B, Nt, Nh, Nw, C), gradients in the primal dtypes)."""
  frames, rows = chunk

  def body(carry, xs):
    gradients, total = carry
    axis_xs, target = xs
    out, inputs = _trunk_chunk(axis_xs[0], axis_xs[1], a_w, b0, layers)  # (B, p, C)
    loss, g = jax.value_and_grad(
        lambda o: jnp.sum(elementwise(o.astype(jnp.float32), target)))(out)
    gradients, d_t_chunk = _backprop_chunk(gradients, g, inputs, layers, axis_xs)
    return (gradients, total + loss), (out, d_t_chunk)

  ((d_layers, d_h, d_w, d_b0), total), (out, d_t) = jax.lax.scan(
      body, (_zero_gradients(a_h, a_w, b0, layers, rows), jnp.zeros((), jnp.float32)),
      (_axis_chunks(a_t, a_h, frames, rows), _split_grid(targets, frames, rows)))
  render = _join_grid(out, _trunk_out_shape(a_t, a_h, a_w, layers), frames, rows)
  return total, render, _primal_dtypes(d_t, d_h, d_w, d_b0, d_layers, a_t, a_h, a_w, b0, layers)


def _relu_trunk_loss_fwd(chunk, elementwise, a_t, a_h, a_w, b0, layers, targets):
  total, render, gradients = _relu_trunk_loss_pass(chunk, elementwise, a_t, a_h, a_w, b0,
                                                   layers, targets)
  return (total, render), (gradients, targets)


def _relu_trunk_loss_bwd(chunk, elementwise, residuals, cotangents):
  del chunk, elementwise
  gradients, targets = residuals
  scale = cotangents[0]  # the loss sum's cotangent; the render's is ignored
  return (*jax.tree.map(lambda d: (d * scale).astype(d.dtype), gradients),
          jnp.zeros_like(targets))


_relu_trunk_loss.defvjp(_relu_trunk_loss_fwd, _relu_trunk_loss_bwd)
