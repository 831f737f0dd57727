"""A multi-layer bidirectional GRU with torch.nn.GRU's equations and init.

For each layer and direction, with gates ordered (r, z, n) as in torch:
  r = sigmoid(x W_ir + b_ir + h W_hr + b_hr)
  z = sigmoid(x W_iz + b_iz + h W_hz + b_hz)
  n = tanh(x W_in + b_in + r * (h W_hn + b_hn))
  h' = (1 - z) * n + z * h,   h_0 = 0
Layer k > 0 reads the concatenated (forward, backward) outputs of layer k-1,
with dropout between layers (never after the last) when a PRNG key is given.
Kernels are stored (in, 3H), i.e. torch's weight_ih_l{k} transposed.
"""

import math

import jax
import jax.numpy as jnp
from flax import nnx


def _torch_uniform(hidden: int):
  """torch.nn.GRU's init for every weight and bias: U(-1/sqrt(H), 1/sqrt(H))."""
  bound = 1.0 / math.sqrt(hidden)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


class GRUDirection(nnx.Module):
  """One direction of one layer."""

  def __init__(self, in_size: int, hidden: int, *, rngs: nnx.Rngs):
    init = _torch_uniform(hidden)
    self.hidden = hidden
    self.ih_kernel = nnx.Param(init(rngs.params(), (in_size, 3 * hidden)))
    self.hh_kernel = nnx.Param(init(rngs.params(), (hidden, 3 * hidden)))
    self.ih_bias = nnx.Param(init(rngs.params(), (3 * hidden,)))
    self.hh_bias = nnx.Param(init(rngs.params(), (3 * hidden,)))

  def __call__(self, x: jnp.ndarray, reverse: bool = False) -> jnp.ndarray:
    """x: (B, T, in) -> hidden states (B, T, H), in input time order."""
    gates_x = x @ self.ih_kernel[...] + self.ih_bias[...]      # (B, T, 3H), all steps at once
    hh_kernel, hh_bias = self.hh_kernel[...], self.hh_bias[...]

    def step(h, gx):                                            # h (B, H), gx (B, 3H)
      gh = h @ hh_kernel + hh_bias
      xr, xz, xn = jnp.split(gx, 3, axis=-1)
      hr, hz, hn = jnp.split(gh, 3, axis=-1)
      r = jax.nn.sigmoid(xr + hr)
      z = jax.nn.sigmoid(xz + hz)
      n = jnp.tanh(xn + r * hn)
      h = (1.0 - z) * n + z * h
      return h, h

    h0 = jnp.zeros((x.shape[0], self.hidden), gates_x.dtype)
    _, hs = jax.lax.scan(step, h0, jnp.swapaxes(gates_x, 0, 1), reverse=reverse)
    return jnp.swapaxes(hs, 0, 1)


class GRULayer(nnx.Module):
  def __init__(self, in_size: int, hidden: int, bidirectional: bool, *, rngs: nnx.Rngs):
    self.forward = GRUDirection(in_size, hidden, rngs=rngs)
    self.backward = GRUDirection(in_size, hidden, rngs=rngs) if bidirectional else None

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """x: (B, T, in) -> (B, T, H * directions)."""
    out = self.forward(x)
    if self.backward is None:
      return out
    return jnp.concatenate([out, self.backward(x, reverse=True)], axis=-1)


def dropout(x: jnp.ndarray, rate: float, key: jax.Array | None) -> jnp.ndarray:
  """Inverted dropout; identity when key is None or rate is 0."""
  if key is None or rate == 0.0:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0.0)


class GRU(nnx.Module):
  """Batch-first GRU: (B, T, in_size) -> outputs of the last layer (B, T, H * directions)."""

  def __init__(self, in_size: int, hidden: int, num_layers: int = 1,
               bidirectional: bool = True, dropout_rate: float = 0.0, *, rngs: nnx.Rngs):
    directions = 2 if bidirectional else 1
    sizes = [in_size] + [hidden * directions] * (num_layers - 1)
    self.layers = nnx.List([GRULayer(size, hidden, bidirectional, rngs=rngs)
                            for size in sizes])
    self.dropout_rate = dropout_rate

  def __call__(self, x: jnp.ndarray, dropout_key: jax.Array | None = None) -> jnp.ndarray:
    keys = ([None] * len(self.layers) if dropout_key is None
            else list(jax.random.split(dropout_key, len(self.layers))))
    for i, layer in enumerate(self.layers):
      if i > 0:
        x = dropout(x, self.dropout_rate, keys[i])
      x = layer(x)
    return x
