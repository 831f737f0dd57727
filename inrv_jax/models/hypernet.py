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
from inrv_jax.models import kernels
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

  def __call__(self, z: jnp.ndarray, tuning: kernels.Tuning | None = None) -> jnp.ndarray:
    """z: (..., in_size) -> (..., out_size).

    The last layer runs as kernels.last_layer (the same product, a faster
    backward pass on small batches) where `tuning.vector_rows` > 0 (default
    tuning: kernels.for_backend()), else as the plain nnx.Linear.
    """
    tuning = kernels.for_backend() if tuning is None else tuning
    for layer in self.layers[:-1]:
      z = jax.nn.relu(layer(z))
    last = self.layers[-1]
    if tuning.vector_rows <= 0:
      return last(z)
    rows = z.reshape(-1, z.shape[-1])  # leading axes as one batch axis, as nnx.Linear takes them
    return kernels.last_layer(rows, last.kernel[...], last.bias[...],
                              tuning.vector_rows).reshape(*z.shape[:-1], -1)


class HyperNetwork(nnx.Module):
  """Ten heads (for the paper INR), head i emitting INR tensor i."""

  def __init__(self, inr_spec: inr_lib.INRSpec, latent_dim: int, hidden: int,
               hidden_layers: int, last_layer_scale: float, *, rngs: nnx.Rngs):
    self.inr_spec = inr_spec
    self.heads = nnx.List([
        Head(latent_dim, hidden, hidden_layers, math.prod(shape),
             last_layer_scale, rngs=rngs) for shape in inr_spec.shapes])

  def __call__(self, z: jnp.ndarray, tuning: kernels.Tuning | None = None) -> inr_lib.Weights:
    """z: (B, latent_dim) -> INR tensors, each (B, *shape). tuning: see `Head`."""
    return tuple(head(z, tuning).reshape(z.shape[0], *shape)
                 for head, shape in zip(self.heads, self.inr_spec.shapes))


def latent_table_init(std: float):
  """Init of the latent table rows: N(0, std^2) (the release's std 0.01)."""
  def init(key, shape, dtype=jnp.float32):
    return std * jax.random.normal(key, shape, dtype)
  return init
