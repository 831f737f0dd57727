"""The Flax hypernetwork (one MLP head per INR tensor) and the latent table.

Head i maps a latent z (latent_dim,) to the flat values of INR tensor i, reshaped
row-major to that tensor's (out, in) or (out,) shape. Init follows the
authors' release: Kaiming-normal (fan_in, ReLU gain) weights, the last layer's
weight divided by 10, PyTorch-default biases U(+-1/sqrt(fan_in)).
"""

import math

import jax
import jax.numpy as jnp
from flax import nnx

from inrv_jax.models import inr as inr_lib
from inrv_jax.models.common import kaiming_normal, scaled, torch_bias_init


class Head(nnx.Module):
  """latent_dim -> hidden (ReLU) x hidden_layers -> out_size (linear)."""

  def __init__(self, in_size: int, hidden: int, hidden_layers: int,
               out_size: int, last_layer_scale: float, *, rngs: nnx.Rngs):
    dims = [in_size] + [hidden] * hidden_layers + [out_size]
    layers = []
    for j, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
      last = j == len(dims) - 2
      kernel_init = scaled(kaiming_normal, last_layer_scale) if last else kaiming_normal
      layers.append(nnx.Linear(fan_in, fan_out, kernel_init=kernel_init,
                               bias_init=torch_bias_init(fan_in), rngs=rngs))
    self.layers = nnx.List(layers)

  def __call__(self, z: jnp.ndarray) -> jnp.ndarray:
    """z: (..., in_size) -> (..., out_size)."""
    for layer in self.layers[:-1]:
      z = jax.nn.relu(layer(z))
    last = self.layers[-1]
    rows = z.reshape(-1, z.shape[-1])  # leading axes as one batch axis, as nnx.Linear takes them
    return last_layer(rows, last.kernel[...], last.bias[...]).reshape(*z.shape[:-1], -1)


# Batches of up to this many latents take the last layer's input gradient as one
# matrix-vector product per latent. Measured in the quickstart's step on 2 Zen 4
# cores: XLA's CPU backend ran the (2, 16384) x (16384, 128) product of a batch of
# 2 in 2.9 ms, the two matrix-vector products in 0.3 (BENCHMARKS.md, "Where the
# quickstart step goes"); the digits step (batch 8) is 9% faster with them. Larger
# batches keep the one matrix product, which is faster there. (Inversion runs the
# hypernetwork per video under vmap, batch 1: its per-latent products become one
# batched product again.)
VECTOR_ROWS = 8


@jax.custom_vjp
def last_layer(z: jnp.ndarray, kernel: jnp.ndarray, bias: jnp.ndarray) -> jnp.ndarray:
  """A head's last layer, z @ kernel + bias: (B, in), (in, out), (out,) -> (B, out), in
  the inputs' dtype (float32 in this package). z must be 2-D (Head flattens others).

  The nnx.Linear product with a hand-written backward pass (`VECTOR_ROWS`);
  gradients equal autodiff's up to float summation order.
  """
  return z @ kernel + bias


def _last_layer_fwd(z, kernel, bias):
  return z @ kernel + bias, (z, kernel)


def _last_layer_bwd(residuals, g):
  z, kernel = residuals
  if z.shape[0] <= VECTOR_ROWS:
    dz = jnp.stack([kernel @ row for row in g])  # B x ((in, out) @ (out,))
  else:
    dz = g @ kernel.T
  return dz, z.T @ g, jnp.sum(g, axis=0)


last_layer.defvjp(_last_layer_fwd, _last_layer_bwd)


class HyperNetwork(nnx.Module):
  """Ten heads (for the paper INR), head i emitting INR tensor i."""

  def __init__(self, inr_spec: inr_lib.INRSpec, latent_dim: int, hidden: int,
               hidden_layers: int, last_layer_scale: float, *, rngs: nnx.Rngs):
    self.inr_spec = inr_spec
    self.heads = nnx.List([
        Head(latent_dim, hidden, hidden_layers, math.prod(shape),
             last_layer_scale, rngs=rngs) for shape in inr_spec.shapes])

  def __call__(self, z: jnp.ndarray) -> inr_lib.Weights:
    """z: (B, latent_dim) -> INR tensors, each (B, *shape)."""
    return tuple(head(z).reshape(z.shape[0], *shape)
                 for head, shape in zip(self.heads, self.inr_spec.shapes))


def latent_table_init(std: float):
  """Init of the latent table rows: N(0, std^2) (the release's std 0.01)."""
  def init(key, shape, dtype=jnp.float32):
    return std * jax.random.normal(key, shape, dtype)
  return init
