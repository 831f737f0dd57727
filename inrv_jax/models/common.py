"""Module helpers shared by the models: frozen weights and PyTorch-default inits.

  FrozenParam          a pretrained weight that is never trained
  kaiming_normal       He-normal (fan_in, ReLU gain), torch.nn.init.kaiming_normal_
  torch_bias_init(n)   nn.Linear's default bias init U(+-1/sqrt(n))
  scaled(init, f)      an init multiplied by f
  torch_linear(i, o)   nn.Linear with PyTorch's default init (weight and bias)
  dot(eq, a, b)        einsum accumulated in float32, returned in a's dtype
"""

import math

import jax
import jax.numpy as jnp
from flax import nnx

kaiming_normal = jax.nn.initializers.variance_scaling(2.0, "fan_in", "normal")


class FrozenParam(nnx.Variable):
  """A pretrained weight that is never trained.

  Not an `nnx.Param`, so `nnx.state(model, nnx.Param)`, optimizers and
  `nnx.grad` (which default to `nnx.Param`) leave it alone.
  """


def torch_bias_init(fan_in: int):
  """PyTorch nn.Linear's default bias init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def scaled(init, factor: float):
  """`init` with its draws multiplied by `factor` (the hypernetwork's last layer, /10)."""
  def scaled_init(key, shape, dtype=jnp.float32):
    return init(key, shape, dtype) * factor
  return scaled_init


def torch_linear(fan_in: int, fan_out: int, *, rngs: nnx.Rngs) -> nnx.Linear:
  """nn.Linear with PyTorch's default init (weight and bias U(+-1/sqrt(fan_in)))."""
  init = torch_bias_init(fan_in)
  return nnx.Linear(fan_in, fan_out, kernel_init=init, bias_init=init, rngs=rngs)


def dot(equation: str, a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
  """einsum accumulated in float32, returned in a's dtype.

  For float32 this is the plain einsum. For bfloat16 the sums are f32 (the
  better number); on CPUs with bf16 matrix units (Intel AMX) it is also the
  form XLA's CPU backend runs on them fastest (BENCHMARKS.md
  has the figures).
  """
  return jnp.einsum(equation, a, b, preferred_element_type=jnp.float32).astype(a.dtype)
