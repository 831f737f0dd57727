import numpy as np
import pytest

import inrv_jax
from inrv_jax import errors
from inrv_jax.data import video_io
from inrv_jax.tasks import inversion
from inrv_jax.tasks import masks as masks_lib
from inrv_jax.tasks import rendering

FAST = dict(steps=40, learning_rate=0.05, progress=False)


@pytest.fixture(scope="module")
def targets(tiny_model):
  """Videos the model can make: renders of latents it was not told."""
  z = np.random.default_rng(5).normal(size=(3, tiny_model.latents.shape[1])).astype(np.float32)
  return rendering.render(tiny_model, z)


def test_inversion_error_falls_and_metrics_cover_both_parts(tiny_model, targets):
  result = inrv_jax.invert(targets, ["full", "inpaint_box", "future:k=2"], tiny_model, **FAST)
  assert result.latents.shape == (3, 8) and result.videos.shape == targets.shape
  assert result.losses.shape == (40, 3)
  first, last = result.losses[0], result.losses[-5:].mean(0)
  assert (last < 0.8 * first).all() and last.mean() < 0.5 * first.mean()
  assert np.isnan(result.metrics["psnr_unobserved"][0])  # full: nothing unobserved
  assert np.isfinite(result.metrics["psnr_unobserved"][1:]).all()
  start = rendering.render(tiny_model, np.tile(tiny_model.latents.mean(0), (3, 1)))
  from inrv_jax.evaluation import metrics
  assert (result.metrics["psnr_observed"] > metrics.psnr(start, targets, result.masks)).all()


def test_only_observed_pixels_matter(tiny_model, targets):
  mask = masks_lib.parse("sparse:fraction=0.3,seed=1").grid(4, 8, 12)
  noise = np.random.default_rng(0).uniform(size=targets.shape).astype(np.float32)
  scrambled = np.where(mask[..., None], targets, noise)
  kw = dict(model=tiny_model, pixels_per_step=64, **FAST)
  a = inrv_jax.invert(targets, mask, **kw)
  b = inrv_jax.invert(scrambled, mask, **kw)
  np.testing.assert_array_equal(a.latents, b.latents)


def test_videos_of_a_batch_are_inverted_independently(tiny_model, targets):
  """The same video beside two different companions, in batches of one shape (so XLA
  runs the same kernels), gets the same latent: nothing flows between the videos."""
  kw = dict(model=tiny_model, pixels_per_step=0, **FAST)
  beside_first = inrv_jax.invert(targets[[0, 1]], ["full", "superres:factor=2"], **kw)
  beside_third = inrv_jax.invert(targets[[2, 1]], ["sparse:fraction=0.5",
                                                   "superres:factor=2"], **kw)
  assert not np.allclose(beside_first.latents[0], beside_third.latents[0], atol=1e-2)
  np.testing.assert_allclose(beside_first.latents[1], beside_third.latents[1], atol=1e-6)


def test_mean_frame_baseline_fills_only_unobserved_pixels():
  videos = np.random.default_rng(0).uniform(size=(1, 4, 3, 5, 3)).astype(np.float32)
  mask = masks_lib.parse("future:k=2").grid(4, 3, 5)[None]
  filled = inversion.mean_frame_fill(videos, mask)
  np.testing.assert_array_equal(filled[:, :2], videos[:, :2])
  np.testing.assert_allclose(filled[0, 3], videos[0, :2].mean(0), rtol=1e-6)


def test_wrong_sizes_are_resized_with_a_warning_or_refused(tiny_model, targets):
  big = np.repeat(np.repeat(targets[:1], 2, axis=2), 2, axis=3)  # 16 x 24 frames
  with pytest.warns(UserWarning, match="resizing them to the model's 8x12"):
    result = inrv_jax.invert(big, "full", tiny_model, steps=2, progress=False)
  assert result.videos.shape == (1, 4, 8, 12, 3)
  with pytest.raises(errors.UserError, match="have 2 frames; inversion needs at least 4"):
    inrv_jax.invert(targets[:, :2], "full", tiny_model, steps=2, progress=False)
  with pytest.raises(errors.UserError, match="observes no pixel"):
    inrv_jax.invert(targets[:1], np.zeros((4, 8, 12), bool), tiny_model, steps=2)


def test_video_files_are_inverted_like_their_frames(tiny_model, targets, tmp_path):
  frames = np.round(targets[0] * 255).astype(np.uint8)
  path = video_io.write_mp4(tmp_path / "clip.mp4", frames)  # lossy: compare with what it holds
  from_file = inrv_jax.invert(str(path), "full", tiny_model, **FAST)
  from_list = inrv_jax.invert([path], "full", tiny_model, **FAST)
  from_frames = inrv_jax.invert(video_io.read_video(path)[None], "full", tiny_model, **FAST)
  np.testing.assert_array_equal(from_file.latents, from_frames.latents)
  np.testing.assert_array_equal(from_list.latents, from_frames.latents)
  with pytest.raises(errors.UserError, match="absent.mp4: no such video file"):
    inrv_jax.invert(str(tmp_path / "absent.mp4"), "full", tiny_model, **FAST)


def test_latent_prior_whitens_the_training_latents():
  rng = np.random.default_rng(3)
  rotation = np.linalg.qr(rng.normal(size=(8, 8)))[0]
  mixing = np.diag([0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]) @ rotation  # correlated dims
  latents = (rng.normal(size=(20000, 8)) @ mixing + 0.3).astype(np.float32)
  mean, whiten = inversion.latent_prior(latents)
  white = (latents - mean) @ whiten
  np.testing.assert_allclose(mean, latents.mean(0), atol=1e-5)
  np.testing.assert_allclose(np.cov(white, rowvar=False), np.eye(8), atol=1e-2)


def test_prior_keeps_a_partly_observed_inversion_near_the_training_latents(tiny_model, targets):
  mean, whiten = inversion.latent_prior(tiny_model.latents)
  distance = lambda z: np.mean(np.square((z - mean) @ whiten), axis=1)
  kw = dict(model=tiny_model, **FAST)
  free = inrv_jax.invert(targets, "future:k=1", **kw)
  held = inrv_jax.invert(targets, "future:k=1", prior_weight=1.0, **kw)
  assert (distance(held.latents) < 0.5 * distance(free.latents)).all()
  assert (held.losses[-1] < held.losses[0]).all()  # still fits what it observes


def test_starting_latents_spread_like_the_training_latents():
  rng = np.random.default_rng(4)
  mixing = np.linalg.qr(rng.normal(size=(8, 8)))[0] * np.linspace(0.2, 0.9, 8)[:, None]
  latents = (rng.normal(size=(20000, 8)) @ mixing - 0.4).astype(np.float32)
  import jax
  starts = inversion.starting_latents(latents, 6000, 3, scale=0.5, key=jax.random.key(1))
  assert starts.shape == (18000, 8) and starts.dtype == np.float32
  np.testing.assert_allclose(starts[:6000], np.tile(latents.mean(0), (6000, 1)), atol=1e-5)
  drawn = starts[6000:]
  np.testing.assert_allclose(drawn.mean(0), latents.mean(0), atol=0.02)
  np.testing.assert_allclose(np.cov(drawn, rowvar=False), 0.25 * np.cov(latents, rowvar=False),
                             atol=0.01)
  again = inversion.starting_latents(latents, 6000, 3, scale=0.5, key=jax.random.key(1))
  other = inversion.starting_latents(latents, 6000, 3, scale=0.5, key=jax.random.key(2))
  np.testing.assert_array_equal(starts, again)
  assert not np.allclose(starts[6000:], other[6000:])


def test_several_starts_give_the_mean_of_their_renders_and_the_best_fitting_latent(
    tiny_model, targets):
  masks = ["inpaint_box", "future:k=2", "sparse:fraction=0.3"]
  result = inrv_jax.invert(targets, masks, tiny_model, starts=3, **FAST)
  every = result.latents_per_start
  assert every.shape == (3, 3, 8) and result.latents.shape == (3, 8)
  np.testing.assert_array_equal(result.latents, every[:, 0])
  np.testing.assert_allclose(result.videos, inversion.render_mean(tiny_model, every), atol=1e-6)
  assert not np.allclose(every[:, 0], every[:, 1], atol=1e-3)  # not one start
  each = inversion.render_mean(tiny_model, every.reshape(9, 1, 8)).reshape(
      3, 3, *targets.shape[1:])  # (video, start, T, H, W, 3)
  m = result.masks[:, None, ..., None]
  observed_mse = (np.square(each - targets[:, None]) * m).sum((2, 3, 4, 5)) / m.sum((2, 3, 4, 5))
  assert (observed_mse[:, 0] <= observed_mse.min(axis=1) + 1e-7).all()  # best fit comes first
  single = inrv_jax.invert(targets, masks, tiny_model, **FAST)
  assert single.latents_per_start.shape == (3, 1, 8)
  np.testing.assert_array_equal(single.latents, inrv_jax.invert(
      targets, masks, tiny_model, starts=1, **FAST).latents)
  for bad in (0, -2, 1.5):
    with pytest.raises(errors.UserError, match=f"starts must be an integer of at least 1, "
                                               f"got {bad}"):
      inrv_jax.invert(targets, masks, tiny_model, starts=bad, **FAST)


def test_a_run_takes_exactly_its_steps_whatever_the_steps_per_call(tiny_model, targets):
  """30 steps at 25 a call run 25 + 5 steps, the same as 30 in one call (not 50)."""
  masks = masks_lib.as_arrays("inpaint_box", 3, *targets.shape[1:4])
  for schedule in inversion.SCHEDULES:
    kw = dict(steps=30, learning_rate=0.05, progress=False, schedule=schedule)
    split, split_losses = inversion.optimise(tiny_model, targets, masks, steps_per_call=25, **kw)
    whole, whole_losses = inversion.optimise(tiny_model, targets, masks, steps_per_call=30, **kw)
    assert split_losses.shape == whole_losses.shape == (30, 3)
    np.testing.assert_allclose(split_losses, whole_losses, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(split, whole, rtol=1e-5, atol=1e-6)


def test_cosine_schedule_comes_to_rest_at_its_last_step(tiny_model, targets):
  """The cosine schedule's rate falls to 0 at the last step, so the loss stops moving
  there; at the constant rate Adam is still taking full-size steps. (That it fits
  unseen digits closer in long runs is measured in RESULTS.md.)"""
  kw = dict(model=tiny_model, steps=60, learning_rate=0.1, pixels_per_step=0, progress=False)

  def end_to_start_motion(result):  # loss change per step: the last 5 over the first 5
    moves = np.abs(np.diff(result.losses, axis=0))
    return moves[-5:].mean() / moves[:5].mean()

  constant = end_to_start_motion(inrv_jax.invert(targets, "full", schedule="constant", **kw))
  cosine = end_to_start_motion(inrv_jax.invert(targets, "full", schedule="cosine", **kw))
  assert cosine < 0.005 and cosine < 0.1 * constant, (cosine, constant)
  with pytest.raises(errors.UserError, match="schedule must be one of constant, cosine, "
                                             "got 'linear'"):
    inrv_jax.invert(targets, "full", schedule="linear", **kw)
  for bad in (0, -3):  # not 100 steps, nor a traceback from deep inside
    with pytest.raises(errors.UserError, match=f"steps must be an integer of at least 1, "
                                               f"got {bad}"):
      inrv_jax.invert(targets, "full", **{**kw, "steps": bad})


@pytest.mark.parametrize("empty", [[], (), np.zeros((0, 4, 8, 12, 3), np.uint8)],
                         ids=["list", "tuple", "array"])
def test_no_videos_is_refused_with_a_message(tiny_model, empty):
  with pytest.raises(errors.UserError, match=r"no videos to invert: pass pixels \(B, T, H, W, "
                                             r"3\) with B >= 1, or one or more video files"):
    inrv_jax.invert(empty, model=tiny_model)
