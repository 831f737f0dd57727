"""Hypernetwork sizes and the release's initialisation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from inrv_jax import config_defaults
from inrv_jax.models import hypernet
from inrv_jax.models import inr
from inrv_jax.models import inrv
from inrv_jax.models import kernels


def count(tree):
  return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def test_paper_hypernetwork_has_57438467_parameters():
  config = config_defaults.base_config()  # paper sizes, latent_dim 128
  model = nnx.eval_shape(lambda: inrv.INRV(config.model, 10, rngs=nnx.Rngs(0)))
  assert count(nnx.state(model.hypernet, nnx.Param)) == 57_438_467
  assert model.latent_table.shape == (10, 128)
  assert len(model.hypernet.heads) == 10  # one head per INR tensor


def test_init_statistics_follow_the_release():
  spec = inr.INRSpec(hidden=64, hidden_layers=1, num_frequencies=2)  # W0 (64, 15)
  net = hypernet.HyperNetwork(spec, latent_dim=128, hidden=256, hidden_layers=4,
                              last_layer_scale=0.1, rngs=nnx.Rngs(0))
  head = net.heads[2]  # emits W1 (64, 64): 4096 outputs
  first, last = head.layers[0], head.layers[-1]
  # Kaiming normal (fan_in, ReLU gain): std = sqrt(2 / fan_in)
  np.testing.assert_allclose(np.std(first.kernel[...]), math.sqrt(2 / 128), rtol=0.05)
  # ... and the last layer divided by 10
  np.testing.assert_allclose(np.std(last.kernel[...]), 0.1 * math.sqrt(2 / 256), rtol=0.05)
  # PyTorch default biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
  bias = np.asarray(last.bias[...])
  assert np.abs(bias).max() <= 1 / 16 and np.abs(bias).max() > 0.9 / 16
  assert abs(np.mean(bias)) < 0.01


def test_latent_table_starts_at_one_hundredth():
  config = config_defaults.base_config()
  config.model.latent_dim = 64
  config.model.hypernet_hidden = 8
  config.model.inr.hidden = 8
  model = inrv.INRV(config.model, 500, rngs=nnx.Rngs(0))
  np.testing.assert_allclose(np.std(model.latent_table[...]), 0.01, rtol=0.05)


def test_emitted_weights_have_inr_shapes():
  config = config_defaults.base_config()
  config.model.latent_dim, config.model.hypernet_hidden = 8, 16
  config.model.inr.hidden = 16
  model = inrv.INRV(config.model, 3, rngs=nnx.Rngs(0))
  weights = model.inr_weights(model.latents(np.array([0, 2])))
  assert [w.shape[1:] for w in weights] == list(model.inr_spec.shapes)
  assert all(w.shape[0] == 2 for w in weights)
  head = model.hypernet.heads[0]  # leading axes pass through a head, as through nnx.Linear
  z = np.random.default_rng(0).normal(size=(2, 3, 8)).astype(np.float32)
  np.testing.assert_allclose(head(z), head(z.reshape(6, 8)).reshape(2, 3, -1), rtol=1e-6)


@pytest.mark.parametrize("batch", [2, kernels.CPU.vector_rows + 3])
def test_last_layer_gradients_equal_autodiff_of_the_product(batch):
  # both backward forms: one matrix-vector product per latent, and one matrix product
  keys = jax.random.split(jax.random.key(0), 4)
  z = jax.random.normal(keys[0], (batch, 16))
  kernel = jax.random.normal(keys[1], (16, 300)) / 4
  bias = jax.random.normal(keys[2], (300,))
  target = jax.random.normal(keys[3], (batch, 300))
  loss = lambda f: lambda *a: jnp.sum(jnp.sin(f(*a) - target))
  last_layer = lambda z, k, b: kernels.last_layer(z, k, b, kernels.CPU.vector_rows)
  ours = jax.grad(loss(last_layer), argnums=(0, 1, 2))(z, kernel, bias)
  plain = jax.grad(loss(lambda z, k, b: z @ k + b), argnums=(0, 1, 2))(z, kernel, bias)
  for a, b in zip(ours, plain):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(last_layer(z, kernel, bias), z @ kernel + bias, rtol=1e-6)


@pytest.mark.parametrize("batch", [2, kernels.CPU.vector_rows + 3])
def test_head_with_the_fast_last_layer_equals_the_reference_head(batch):
  """A head on the CPU tuning (kernels.last_layer) and on the reference (nnx.Linear, as on
  GPU/TPU): the same outputs and parameter gradients."""
  head = hypernet.Head(16, 32, 2, 300, 0.1, rngs=nnx.Rngs(0))
  z = jax.random.normal(jax.random.key(1), (batch, 16))
  target = jax.random.normal(jax.random.key(2), (batch, 300))
  graphdef, params = nnx.split(head)

  def loss(params, tuning):
    out = nnx.merge(graphdef, params)(z, tuning)
    return jnp.sum(jnp.sin(out - target)), out

  (fast_loss, fast_out), fast_grads = jax.value_and_grad(loss, has_aux=True)(params, kernels.CPU)
  (ref_loss, ref_out), ref_grads = jax.value_and_grad(loss, has_aux=True)(params,
                                                                          kernels.REFERENCE)
  np.testing.assert_allclose(fast_out, ref_out, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(fast_loss, ref_loss, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(fast_grads), jax.tree.leaves(ref_grads)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
