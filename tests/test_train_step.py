"""The train step's loss terms: L1 + w * LPIPS, weighted MSE, Gaussian prior; the loss
taken in the forward pass for whole frames."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from inrv_jax.runtime import parallel
from inrv_jax.training import checkpoints
from inrv_jax.training import losses
from inrv_jax.training import stages
from inrv_jax.training import train
from inrv_jax.models import inr
from inrv_jax.models import kernels
from inrv_jax.models import lpips
from inrv_jax.models import vgg16
from inrv_jax.data import clips as clips_lib
from tiny_configs import tiny_clip


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
  graphdef, frozen, state = checkpoints.build_state(c, 4, tx=tx)
  perceptual_graphdef, perceptual_state = nnx.split(small_lpips())
  mesh = parallel.make_mesh()
  step = train.make_train_step(c, graphdef, tx, mesh, perceptual_graphdef)
  videos = jax.random.uniform(jax.random.key(1), (2, 8, 16, 16, 3), minval=-1, maxval=1)
  batch = {"video": videos, "index": jnp.array([0, 3])}
  # the prediction the step makes, computed outside it
  module = nnx.merge(graphdef, state.params, frozen)
  pred = inr.grid_apply(module.inr_spec, module.inr_weights(module.latents(batch["index"])),
                        8, 16, 16)
  expected_l1 = losses.l1(pred, videos)
  perceptual = nnx.merge(perceptual_graphdef, perceptual_state)
  expected_lpips = jnp.mean(lpips.lpips_loss_per_frame(perceptual, videos, pred))
  _, metrics = step(frozen, perceptual_state, None, None, state, batch, jnp.int32(4))
  assert float(expected_lpips) > 0
  np.testing.assert_allclose(metrics["pixel_loss"], expected_l1, rtol=1e-5)
  np.testing.assert_allclose(metrics["lpips"], expected_lpips, rtol=1e-4)
  np.testing.assert_allclose(metrics["loss"], expected_l1 + 0.7 * expected_lpips, rtol=1e-4)


def test_latent_noise_decodes_perturbed_latents_and_records_the_clean_ones(tiny_config):
  """train.latent_noise: the step's loss is that of the latents plus noise (in units of the
  batch latents' spread per dimension); the state records the clean latents."""
  c = tiny_config
  c.data.height = c.data.width = 16
  c.train.latent_noise = 0.5
  assert c.train.loss == "l1" and c.train.pixel_fraction == 1.0
  tx = stages.make_optimizer(c, stages.plan((), 4, 2, 10))
  graphdef, frozen, state = checkpoints.build_state(c, 4, tx=tx)
  table_shape = (4, c.model.latent_dim)  # latents spread like a trained table's, not ~0
  state = state.replace(params=jax.tree.map(
      lambda x: 2 * jax.random.normal(jax.random.key(2), x.shape) if x.shape == table_shape
      else x, state.params))
  videos = jax.random.uniform(jax.random.key(1), (4, 8, 16, 16, 3), minval=-1, maxval=1)
  batch = {"video": videos, "index": jnp.array([0, 3, 1, 2])}
  module = nnx.merge(graphdef, state.params, frozen)
  clean = module.latents(batch["index"])
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  noise = jax.random.normal(jax.random.fold_in(key, train.LATENT_NOISE_STREAM), clean.shape)
  noisy = clean + 0.5 * jnp.std(clean, axis=0) * noise

  def l1_of(z):
    return losses.l1(inr.grid_apply(module.inr_spec, module.inr_weights(z), 8, 16, 16), videos)

  step = train.make_train_step(c, graphdef, tx, parallel.make_mesh())
  new_state, metrics = step(frozen, None, None, None, jax.tree.map(jnp.copy, state), batch,
                            jnp.int32(4))
  np.testing.assert_allclose(metrics["loss"], l1_of(noisy), rtol=1e-6)
  assert abs(float(l1_of(noisy)) / float(l1_of(clean)) - 1) > 1e-4  # the noise is not a no-op
  np.testing.assert_allclose(new_state.seen_latents[batch["index"]], clean, rtol=1e-6)


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
  graphdef, frozen, state = checkpoints.build_state(c, 4, tx=tx)
  videos = jax.random.uniform(jax.random.key(1), (3, 8, 16, 16, 3), minval=-1, maxval=1)
  batch = {"video": videos, "index": jnp.array([0, 3, 1])}

  results = []
  for tuning in (fused, through_the_render):
    step = train.make_train_step(c, graphdef, tx, parallel.make_mesh(), tuning=tuning)
    results.append(step(frozen, None, None, None, jax.tree.map(jnp.copy, state), batch, jnp.int32(4)))
  (fused, fused_metrics), (plain, plain_metrics) = results
  for name in ("loss", "psnr"):
    np.testing.assert_allclose(fused_metrics[name], plain_metrics[name], rtol=1e-6)
  for a, b in zip(jax.tree.leaves(fused.params), jax.tree.leaves(plain.params)):
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("clip", [False, True])
def test_the_abstract_state_is_the_fresh_state_as_shapes(tiny_config, clip):
  """build_state(abstract=True), every restore's target, has the graphdef, tree, shapes
  and dtypes of the state a fresh run trains, and carries the sharding asked for."""
  c = tiny_clip(tiny_config) if clip else tiny_config
  sharding = parallel.replicated(parallel.make_mesh())
  graphdef, frozen, state = checkpoints.build_state(c, 4, sharding)
  shapes_graphdef, shapes_frozen, shapes = checkpoints.build_state(c, 4, sharding,
                                                                   abstract=True)
  assert shapes_graphdef == graphdef
  assert isinstance(state, checkpoints.TrainState) and isinstance(shapes, checkpoints.TrainState)
  for concrete, abstract in ((state, shapes), (frozen, shapes_frozen)):
    assert jax.tree.structure(abstract) == jax.tree.structure(concrete)
    for a, b in zip(jax.tree.leaves(concrete), jax.tree.leaves(abstract)):
      assert isinstance(b, jax.ShapeDtypeStruct) and (a.shape, a.dtype) == (b.shape, b.dtype)
      assert a.sharding == b.sharding == sharding
  assert bool(jax.tree.leaves(frozen)) == clip
  assert int(state.step) == 0 and state.seen_latents.shape == (4, c.model.latent_dim)


def test_the_state_maps_to_the_checkpoint_items_and_back(tiny_config):
  """The on-disk layout: items params, opt_state and train {step, rng, seen_latents}; a
  state without opt_state (trained_model.load's partial restore) has no opt_state item."""
  _, _, state = checkpoints.build_state(tiny_config, 4, abstract=True)
  items = state.items()
  assert sorted(items) == ["opt_state", "params", "train"]
  assert sorted(items["train"]) == ["rng", "seen_latents", "step"]
  assert items["train"]["seen_latents"] is state.seen_latents
  assert items["params"] is state.params and items["opt_state"] is state.opt_state
  assert checkpoints.TrainState.from_items(items) == state
  partial = state.replace(opt_state=None)
  assert sorted(partial.items()) == ["params", "train"]
  assert checkpoints.TrainState.from_items(partial.items()) == partial
  with pytest.raises(ValueError, match="one checkpoint item"):
    state.replace(rng=None).items()


def test_a_step_on_resident_clips_is_the_step_on_their_videos(tiny_config):
  """A batch of positions into resident clips (train.Resident) steps as the batch of the
  clips' videos: the same loss and update, up to float rounding."""
  c = tiny_config
  c.train.pixel_fraction, c.train.pixel_sampling = 0.25, "importance"
  mesh = parallel.make_mesh()
  tx = stages.make_optimizer(c, stages.plan((), 4, 2, 10))
  graphdef, frozen, state = checkpoints.build_state(c, 4, tx=tx)
  clips = np.random.default_rng(0).integers(0, 256, (4, 8, 16, 16, 3), np.uint8)
  index = jnp.array([3, 1])
  resident = train.make_resident(clips, c, mesh)
  step = train.make_train_step(c, graphdef, tx, mesh)
  video = {"video": jnp.asarray(clips_lib.to_unit_range(clips[np.asarray(index)])),
           "index": index}
  results = [step(frozen, None, None, held, jax.tree.map(jnp.copy, state), batch,
                  jnp.int32(4))
             for held, batch in ((None, video), (resident, {"index": index}))]
  (read, read_metrics), (gathered, gathered_metrics) = results
  np.testing.assert_allclose(gathered_metrics["loss"], read_metrics["loss"], rtol=1e-5)
  for a, b in zip(jax.tree.leaves(read.params), jax.tree.leaves(gathered.params)):
    np.testing.assert_allclose(b, a, atol=1e-6)
