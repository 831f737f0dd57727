"""The train step's loss terms: L1 + w * LPIPS, weighted MSE, Gaussian prior; the loss
taken in the forward pass for whole frames."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from inrv_jax.training import losses
from inrv_jax.runtime import parallel
from inrv_jax.training import stages
from inrv_jax.training import train
from inrv_jax.models import inr
from inrv_jax.models import kernels
from inrv_jax.models import lpips
from inrv_jax.models import vgg16


def small_lpips():
  rng = np.random.default_rng(0)
  widths = (4, 8, 8, 8, 8)
  return lpips.LPIPS(vgg16.VGG16Features(vgg16.random_params(rng, widths)),
                     lpips.random_lin_params(rng, widths))


def test_step_adds_weighted_lpips_to_l1(tiny_config):
  c = tiny_config
  c.data.height = c.data.width = 16
  c.train.lpips_weight = 0.7
  plan = stages.plan((), 4, 2, 10)
  tx = stages.make_optimizer(c, plan)
  graphdef, frozen, state = train.init_state(c, 4, tx)
  perceptual_graphdef, perceptual_state = nnx.split(small_lpips())
  mesh = parallel.make_mesh()
  step = train.make_train_step(c, graphdef, tx, mesh, perceptual_graphdef)
  videos = jax.random.uniform(jax.random.key(1), (2, 8, 16, 16, 3), minval=-1, maxval=1)
  batch = {"video": videos, "index": jnp.array([0, 3])}
  # the prediction the step makes, computed outside it
  module = nnx.merge(graphdef, state["params"], frozen)
  pred = inr.grid_apply(module.inr_spec, module.inr_weights(module.latents(batch["index"])),
                        8, 16, 16)
  expected_l1 = losses.l1(pred, videos)
  perceptual = nnx.merge(perceptual_graphdef, perceptual_state)
  expected_lpips = jnp.mean(lpips.lpips_loss_per_frame(perceptual, videos, pred))
  _, metrics = step(frozen, perceptual_state, None, state, batch, jnp.int32(4))
  assert float(expected_lpips) > 0
  np.testing.assert_allclose(metrics["pixel_loss"], expected_l1, rtol=1e-5)
  np.testing.assert_allclose(metrics["lpips"], expected_lpips, rtol=1e-4)
  np.testing.assert_allclose(metrics["loss"], expected_l1 + 0.7 * expected_lpips, rtol=1e-4)


def test_weighted_mse_weights_digits_twice_background():
  gt = jnp.array([-1.0, 1.0])  # background, digit
  pred = gt + 0.5
  np.testing.assert_allclose(losses.weighted_mse(pred, gt), np.mean([2 * 0.25, 4 * 0.25]))


def test_gaussian_prior_uses_the_active_rows():
  table = jnp.concatenate([jnp.full((2, 3), 0.2), jnp.full((2, 3), 5.0)])
  # first two rows: mu = 0.2, std = 0 -> s = 1 -> 0.04 / 2
  np.testing.assert_allclose(losses.gaussian_prior(table, 2), 0.02, rtol=1e-6)
  mu, std = float(jnp.mean(table)), float(jnp.std(table))
  np.testing.assert_allclose(losses.gaussian_prior(table),
                             mu ** 2 / (2 * np.exp(0.5 * std) ** 2), rtol=1e-5)


@pytest.mark.parametrize("loss", ["l1", "weighted_mse"])
def test_whole_frame_step_equals_the_step_through_the_rendered_video(tiny_config, loss):
  """With whole frames and no LPIPS the step takes its loss in the forward pass
  (inr.grid_pixel_loss); one Adam step from it equals one from autodiff of the loss of
  the rendered video, over several chunks and a batch of 3."""
  c = tiny_config
  c.data.height = c.data.width = 16
  c.train.loss = loss
  assert c.train.pixel_fraction == 1.0 and c.train.lpips_weight == 0.0
  fused = dataclasses.replace(kernels.CPU, chunk_pixels=2 * 16 * 16)  # 4 chunks of 2 frames
  through_the_render = dataclasses.replace(fused, fused_loss=False)  # grid_apply, autodiff
  tx = stages.make_optimizer(c, stages.plan((), 4, 2, 10))
  graphdef, frozen, state = train.init_state(c, 4, tx)
  videos = jax.random.uniform(jax.random.key(1), (3, 8, 16, 16, 3), minval=-1, maxval=1)
  batch = {"video": videos, "index": jnp.array([0, 3, 1])}

  results = []
  for tuning in (fused, through_the_render):
    step = train.make_train_step(c, graphdef, tx, parallel.make_mesh(), tuning=tuning)
    results.append(step(frozen, None, None, jax.tree.map(jnp.copy, state), batch, jnp.int32(4)))
  (fused, fused_metrics), (plain, plain_metrics) = results
  for name in ("loss", "psnr"):
    np.testing.assert_allclose(fused_metrics[name], plain_metrics[name], rtol=1e-6)
  for a, b in zip(jax.tree.leaves(fused["params"]), jax.tree.leaves(plain["params"])):
    np.testing.assert_allclose(a, b, atol=1e-6)
