"""Fast paths of the INR and the hypernetwork, each equal to a plain reference.

The readable model is in inr.py (one MLP forward, the separable render) and
hypernet.py (heads of nnx.Linear layers). The functions here compute the same
numbers faster or in less memory, and each docstring names the reference it
equals and the test that proves it:

  relu_trunk       the ReLU layers of a grid render, by chunks of pixels, with a
                   hand-written backward pass  == inr.axes_apply(tuning=REFERENCE)
  relu_trunk_loss  a pixel loss summed over the grid and its gradient, taken
                   chunk by chunk as the grid is rendered (no activation kept)
                   == autodiff of the loss of inr.grid_apply
  last_layer       a hypernetwork head's last layer with a hand-written backward
                   pass == nnx.Linear (z @ kernel + bias)

How they run (chunk sizes, and whether a fast path runs at all) is a `Tuning`,
chosen per JAX backend in one place, `for_backend`: on the CPU chunks of a few
thousand pixels whose activations stay in cache (BENCHMARKS.md); on GPU
and TPU whole frames within a memory budget and the reference hypernetwork
head. Every function that runs a fast path takes the tuning as an argument
(None: `for_backend()`), so tests set chunk sizes by argument.

Names: A_t (B, Nt, hid), A_h (B, Nh, hid), A_w (B, Nw, hid) are the first
layer's pre-activation split by grid axis and b0 (B, hid) its bias (inr.py
`_separable`); `layers` are the other layers' ((W_l (B, out, in), b_l (B, out)), ...).
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp

from inrv_jax.models.common import dot


@dataclasses.dataclass(frozen=True)
class Tuning:
  """How the fast paths run on one backend. Changes speed and memory, never the maths
  beyond float summation order.

  trunk: ReLU grid renders go through `relu_trunk` (else the reference MLP forward).
  fused_loss: inr.grid_pixel_loss of a ReLU INR goes through `relu_trunk_loss` (else
    autodiff of the rendered grid's loss).
  chunk_pixels: pixels per trunk chunk (`chunk_shape`), used when chunk_bytes is 0.
  chunk_bytes: if > 0, the chunk holds as many pixels as one layer's activations
    (batch x pixels x hidden) fit in this many bytes.
  whole_frames: chunks are whole frames only, never rows of one frame.
  few_outputs: layers with at most this many outputs take their input gradient as
    multiply-adds (`input_gradient`).
  weight_gradient_blocks: partial sums of a chunk's weight gradients (`weight_gradient`).
  vector_rows: the hypernetwork heads' last layer runs `last_layer` with this many
    rows of matrix-vector products at most; 0 = the reference nnx.Linear.
  """
  trunk: bool = True
  fused_loss: bool = True
  chunk_pixels: int = 5000
  chunk_bytes: int = 0
  whole_frames: bool = False
  few_outputs: int = 4
  weight_gradient_blocks: int = 2
  vector_rows: int = 8

  def pixels_per_chunk(self, batch: int, hidden: int, itemsize: int) -> int:
    """Pixels a trunk chunk aims at, for activations (batch, pixels, hidden) of itemsize bytes."""
    if self.chunk_bytes > 0:
      return max(1, self.chunk_bytes // max(batch * hidden * itemsize, 1))
    return self.chunk_pixels


# The CPU: chunks of about 5,000 pixels, whose (chunk, 256) f32 activations stay in cache
# instead of streaming the whole grid's through memory at every layer; on the paper grid
# (25 x 100 x 100) that is half frames. Matrix-vector products where XLA's CPU dot is slow
# on small shapes (few_outputs, vector_rows). The figures are in BENCHMARKS.md.
CPU = Tuning()
# GPUs and TPUs: whole frames, as many as keep one layer's activations within 1 GiB (one
# kernel launch per chunk, so large chunks); the reference hypernetwork head.
ACCELERATOR = Tuning(chunk_bytes=1 << 30, whole_frames=True, weight_gradient_blocks=1,
                     vector_rows=0)
# Every fast path off: the plain model of inr.py and hypernet.py (tests compare against it).
REFERENCE = Tuning(trunk=False, fused_loss=False, vector_rows=0)


def for_backend(backend: str | None = None) -> Tuning:
  """The tuning for a JAX backend ("cpu", "gpu", "tpu"; default: jax.default_backend())."""
  return CPU if (backend or jax.default_backend()) == "cpu" else ACCELERATOR


# ------------------------------------------------------------------ chunks of the grid


def _largest_divisor(n: int, at_most: int) -> int:
  """The largest divisor of n that is at most `at_most` (>= 1)."""
  d = max(1, min(n, at_most))
  while n % d:
    d -= 1
  return d


def chunk_shape(num_frames: int, height: int, width: int, chunk_pixels: int,
                whole_frames: bool = False) -> tuple[int, int]:
  """(frames, rows) of a trunk chunk of the (num_frames, height, width) grid.

  Whole frames (rows = height), as many as divide num_frames within
  chunk_pixels, while a frame holds at most chunk_pixels pixels, or always with
  `whole_frames`; else one frame and the most rows that divide height within
  chunk_pixels, unless they hold under half of it (a prime height such as 97 or
  101 would give one-row chunks, slow for their size), then one whole frame.
  """
  frame = height * width
  if frame <= chunk_pixels or whole_frames:
    return _largest_divisor(num_frames, chunk_pixels // max(frame, 1)), height
  rows = _largest_divisor(height, chunk_pixels // max(width, 1))
  return 1, (rows if 2 * rows * width >= chunk_pixels else height)


def _trunk_chunk_shape(a_t, a_h, a_w, tuning: Tuning) -> tuple[int, int]:
  pixels = tuning.pixels_per_chunk(a_t.shape[0], a_t.shape[-1], a_t.dtype.itemsize)
  return chunk_shape(a_t.shape[1], a_h.shape[1], a_w.shape[1], pixels, tuning.whole_frames)


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


def first_preactivation(a_t, a_h, a_w, b0):
  """The first layer's pre-activation on the grid from its per-axis parts:
  (B, nt, hid), (B, nh, hid), (B, Nw, hid), (B, hid) -> (B, nt, nh, Nw, hid)."""
  return (a_t[:, :, None, None, :] + a_h[:, None, :, None, :]
          + a_w[:, None, None, :, :] + b0[:, None, None, None, :])


def _trunk_chunk(a_t_chunk, a_h_chunk, a_w, b0, layers):
  """One chunk's ReLU MLP forward (inr.mlp_apply's, batched over videos): A_t (B, frames,
  hid), A_h (B, rows, hid) -> (output (B, p, C), hidden inputs of layers 1..L, each
  (B, p, hid)), p = frames * rows * Nw."""
  bsz, hid = a_t_chunk.shape[0], a_t_chunk.shape[-1]
  x = jax.nn.relu(first_preactivation(a_t_chunk, a_h_chunk, a_w, b0)).reshape(bsz, -1, hid)
  inputs = [x]
  for layer, (w, b) in enumerate(layers):
    x = dot("bpi,boi->bpo", x, w) + b[:, None, :]
    if layer < len(layers) - 1:
      x = jax.nn.relu(x)
      inputs.append(x)
  return x, tuple(inputs)


def _trunk_out_shape(a_t, a_h, a_w, layers):
  return (a_t.shape[0], a_t.shape[1], a_h.shape[1], a_w.shape[1], layers[-1][0].shape[1])


# ------------------------------------------------------------------ backward, per chunk


def input_gradient(g, w, few_outputs: int):
  """g (B, p, o) times w (B, o, i) -> (B, p, i), summed in f32, in g's dtype.

  Equals dot("bpo,boi->bpi", g, w). For o <= few_outputs (the RGB layer) it
  is o multiply-adds, which XLA fuses with the ReLU mask that follows into one
  pass, where XLA's CPU dot with so short a contraction is slow.
  """
  if w.shape[1] > few_outputs:
    return dot("bpo,boi->bpi", g, w)
  g32, w32 = g.astype(jnp.float32), w.astype(jnp.float32)
  out = g32[:, :, 0, None] * w32[:, None, 0, :]
  for o in range(1, w.shape[1]):
    out = out + g32[:, :, o, None] * w32[:, None, o, :]
  return out.astype(g.dtype)


def pixel_blocks(pixels: int, blocks: int) -> int:
  """`blocks`, or 1 where it does not divide the chunk's pixels."""
  return blocks if pixels % blocks == 0 else 1


def weight_gradient(g, x, blocks: int):
  """g (B, p, o), x (B, p, i) -> sum over p of g x^T, (B, o, i) float32.

  Taken as `pixel_blocks(p, blocks)` partial sums over blocks of pixels, one
  matrix product each (a batched dot), then added: XLA's CPU dot runs two
  half-chunk products faster than the one over the whole chunk.
  """
  bsz, pixels = g.shape[:2]
  blocks = pixel_blocks(pixels, blocks)
  split = lambda a: a.reshape(bsz, blocks, pixels // blocks, a.shape[-1])
  partial = jnp.einsum("bkpo,bkpi->bkoi", split(g), split(x), preferred_element_type=jnp.float32)
  return jnp.sum(partial, axis=1)


def _backprop_chunk(tuning: Tuning, carry, g, inputs, layers, xs):
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
    new_layers[layer] = (dw + weight_gradient(g, x, tuning.weight_gradient_blocks),
                         db + jnp.sum(g, axis=1, dtype=jnp.float32))
    g = jnp.where(x > 0, input_gradient(g, layers[layer][0], tuning.few_outputs), 0)
  g = g.reshape(bsz, frames, rows, n_w, hid)  # grad of the first pre-activation
  # Two passes over g give every first-layer gradient: its sums over the columns (B, frames,
  # rows, hid) and over frames and rows (B, Nw, hid). The barrier keeps XLA from folding
  # sum(by_row, rows) back into a third pass over g (each frame's sum over rows and columns,
  # which XLA's CPU backend runs as a slow reduce-window).
  by_row, by_col = jax.lax.optimization_barrier((jnp.sum(g, axis=3, dtype=jnp.float32),
                                                 jnp.sum(g, axis=(1, 2), dtype=jnp.float32)))
  d_h = d_h.at[row_block].add(jnp.sum(by_row, axis=1))
  carry = (tuple(new_layers), d_h, d_w + by_col, d_b0 + jnp.sum(by_col, axis=1))
  return carry, jnp.sum(by_row, axis=2)


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


# ------------------------------------------------------------------ the render


def relu_trunk(a_t, a_h, a_w, b0, layers, tuning: Tuning | None = None):
  """ReLU(A_t + A_h + A_w + b0) through `layers` -> (B, Nt, Nh, Nw, C).

  Equals the reference, inr.axes_apply with tuning=REFERENCE (the separable
  first layer, then inr's MLP forward), and its gradients equal autodiff's,
  within float summation order (tests/models/test_fast_path.py,
  test_render_equals_plain_path and test_training_gradients_equal_plain_path).
  Runs a chunk of pixels at a time (`chunk_shape` from `tuning`) with a
  hand-written backward pass that keeps each chunk's layer inputs and
  recomputes its first layer, so activations stay in cache.
  """
  tuning = for_backend() if tuning is None else tuning
  return _relu_trunk((_trunk_chunk_shape(a_t, a_h, a_w, tuning), tuning),
                     a_t, a_h, a_w, b0, layers)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _relu_trunk(plan, a_t, a_h, a_w, b0, layers):
  """`relu_trunk` by chunks; plan = ((frames, rows), tuning)."""
  return _relu_trunk_fwd(plan, a_t, a_h, a_w, b0, layers)[0]


def _relu_trunk_fwd(plan, a_t, a_h, a_w, b0, layers):
  chunk, _ = plan

  def body(_, xs):
    a_t_chunk, a_h_chunk, _ = xs
    out, inputs = _trunk_chunk(a_t_chunk, a_h_chunk, a_w, b0, layers)
    return None, (out, inputs[1:])  # the first input is recomputed in the backward pass

  _, (out, saved) = jax.lax.scan(body, None, _axis_chunks(a_t, a_h, *chunk))
  out = _join_grid(out, _trunk_out_shape(a_t, a_h, a_w, layers), *chunk)
  return out, (a_t, a_h, a_w, b0, layers, saved)


def _relu_trunk_bwd(plan, residuals, grad):
  """Per chunk: backprop through the layers, accumulate weight grads in the carry."""
  (frames, rows), tuning = plan
  a_t, a_h, a_w, b0, layers, saved = residuals

  def body(carry, xs):
    axis_xs, g, saved_chunk = xs
    a_t_chunk, a_h_chunk, _ = axis_xs
    bsz, hid = a_t_chunk.shape[0], a_t_chunk.shape[-1]
    first = jax.nn.relu(first_preactivation(a_t_chunk, a_h_chunk, a_w, b0)).reshape(bsz, -1, hid)
    return _backprop_chunk(tuning, carry, g, (first,) + saved_chunk, layers, axis_xs)

  (d_layers, d_h, d_w, d_b0), d_t = jax.lax.scan(
      body, _zero_gradients(a_h, a_w, b0, layers, rows),
      (_axis_chunks(a_t, a_h, frames, rows), _split_grid(grad, frames, rows), saved))
  return _primal_dtypes(d_t, d_h, d_w, d_b0, d_layers, a_t, a_h, a_w, b0, layers)


_relu_trunk.defvjp(_relu_trunk_fwd, _relu_trunk_bwd)


# ------------------------------------------------------------------ the loss in the forward pass


def relu_trunk_loss(elementwise, a_t, a_h, a_w, b0, layers, targets,
                    tuning: Tuning | None = None):
  """(sum of elementwise(render, targets) over the grid () f32, render (B, Nt, Nh, Nw, C)).

  Equals the reference, autodiff of the loss of the rendered grid
  (inr.grid_pixel_loss with fused_loss off), in loss, render and gradients
  within float summation order (tests/models/test_fast_path.py,
  test_loss_taken_in_the_forward_pass_equals_autodiff_of_the_render and
  test_an_odd_grid_gives_the_plain_gradients; tests/test_train_step.py for a
  whole training step). Each chunk of pixels is rendered, its loss gradient
  backpropagated through the layers at once and only the weight gradients kept,
  so no layer's activations are stored for a backward pass. The render's
  cotangent is ignored (its callers stop its gradient); none flows to targets.
  """
  tuning = for_backend() if tuning is None else tuning
  return _relu_trunk_loss((_trunk_chunk_shape(a_t, a_h, a_w, tuning), tuning), elementwise,
                          a_t, a_h, a_w, b0, layers, targets)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _relu_trunk_loss(plan, elementwise, a_t, a_h, a_w, b0, layers, targets):
  """`relu_trunk_loss` by chunks; plan = ((frames, rows), tuning)."""
  total, render, _ = _relu_trunk_loss_pass(plan, elementwise, a_t, a_h, a_w, b0, layers,
                                           targets)
  return total, render


def _relu_trunk_loss_pass(plan, elementwise, a_t, a_h, a_w, b0, layers, targets):
  """Render each chunk, take its loss and loss gradient, backprop it at once:
  -> (loss sum, render (B, Nt, Nh, Nw, C), gradients in the primal dtypes)."""
  (frames, rows), tuning = plan

  def body(carry, xs):
    gradients, total = carry
    axis_xs, target = xs
    out, inputs = _trunk_chunk(axis_xs[0], axis_xs[1], a_w, b0, layers)  # (B, p, C)
    loss, g = jax.value_and_grad(
        lambda o: jnp.sum(elementwise(o.astype(jnp.float32), target)))(out)
    gradients, d_t_chunk = _backprop_chunk(tuning, gradients, g, inputs, layers, axis_xs)
    return (gradients, total + loss), (out, d_t_chunk)

  ((d_layers, d_h, d_w, d_b0), total), (out, d_t) = jax.lax.scan(
      body, (_zero_gradients(a_h, a_w, b0, layers, rows), jnp.zeros((), jnp.float32)),
      (_axis_chunks(a_t, a_h, frames, rows), _split_grid(targets, frames, rows)))
  render = _join_grid(out, _trunk_out_shape(a_t, a_h, a_w, layers), frames, rows)
  return total, render, _primal_dtypes(d_t, d_h, d_w, d_b0, d_layers, a_t, a_h, a_w, b0, layers)


def _relu_trunk_loss_fwd(plan, elementwise, a_t, a_h, a_w, b0, layers, targets):
  total, render, gradients = _relu_trunk_loss_pass(plan, elementwise, a_t, a_h, a_w, b0,
                                                   layers, targets)
  return (total, render), (gradients, targets)


def _relu_trunk_loss_bwd(plan, elementwise, residuals, cotangents):
  del plan, elementwise
  gradients, targets = residuals
  scale = cotangents[0]  # the loss sum's cotangent; the render's is ignored
  return (*jax.tree.map(lambda d: (d * scale).astype(d.dtype), gradients),
          jnp.zeros_like(targets))


_relu_trunk_loss.defvjp(_relu_trunk_loss_fwd, _relu_trunk_loss_bwd)


# ------------------------------------------------------------------ the hypernetwork's last layer


def last_layer(z: jnp.ndarray, kernel: jnp.ndarray, bias: jnp.ndarray,
               vector_rows: int) -> jnp.ndarray:
  """A head's last layer, z @ kernel + bias: (B, in), (in, out), (out,) -> (B, out), in
  the inputs' dtype (float32 in this package). z must be 2-D (hypernet.Head flattens others).

  Equals the reference nnx.Linear product and its autodiff gradients up to float
  summation order (tests/models/test_hypernet.py,
  test_last_layer_gradients_equal_autodiff_of_the_product). The backward pass
  takes the input gradient of a batch of at most `vector_rows` latents as one
  matrix-vector product per latent, where XLA's CPU backend runs the one
  (B, out) x (out, in) product of a small batch slowly.
  """
  return _last_layer(vector_rows, z, kernel, bias)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _last_layer(vector_rows, z, kernel, bias):
  return z @ kernel + bias


def _last_layer_fwd(vector_rows, z, kernel, bias):
  del vector_rows
  return z @ kernel + bias, (z, kernel)


def _last_layer_bwd(vector_rows, residuals, g):
  z, kernel = residuals
  if z.shape[0] <= vector_rows:
    dz = jnp.stack([kernel @ row for row in g])  # B x ((in, out) @ (out,))
  else:
    dz = g @ kernel.T
  return dz, z.T @ g, jnp.sum(g, axis=0)


_last_layer.defvjp(_last_layer_fwd, _last_layer_bwd)
