"""Inversion: find the latent of a video from the pixels one observes of it.

The hypernetwork is frozen; each video's latent starts at the mean training
latent and takes Adam steps on the MSE between the INR and the video at the
video's observed coordinates only (an observation mask, see masks.py). One
jitted function runs `steps_per_call` steps for a whole batch of videos at
once: the per-video step is `jax.vmap`ped over (latent, Adam state, video,
mask), so every video follows exactly its own optimisation. Afterwards the
whole grid is rendered, and PSNR/SSIM are reported on the observed and on
the unobserved pixels, next to a baseline that fills the unobserved pixels
with the video's mean observed frame.

A partly observed video has many latents that fit what is seen. With
`starts=K` each video is inverted K times from different starting latents,
and the video returned is the mean of the K renders: a Monte-Carlo estimate
of the posterior mean, the estimate with the least expected squared error on
the hidden pixels (RESULTS.md). It is no single latent's
render; `latents` then holds the optimised latent that fits the observed pixels
best, and `latents_per_start` every start's optimised latent.

Where the model has a learned prior (models/prior.py, `model.prior`), that is
the default recipe: the K = config.prior.inversion_starts starts are drawn
from the prior (videos like the training ones, rather than the mean latent
and its Gaussian spread), and the prior's denoising energy, weighted by
config.prior.inversion_weight, is added to the pixel loss, so that the hidden
pixels come from a latent the prior finds likely (docs/prior.md).
"""

import dataclasses
import functools
import os
import pathlib
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm
from flax import nnx

from inrv_jax import errors
from inrv_jax import media
from inrv_jax.evaluation import metrics
from inrv_jax.data import video_io
from inrv_jax.models import inr as inr_lib
from inrv_jax.models import prior as prior_lib
from inrv_jax.tasks import masks as masks_lib
from inrv_jax.tasks import rendering

DEFAULT_STEPS = 100
DEFAULT_LEARNING_RATE = 3e-2
DEFAULT_PIXELS = 2048  # observed pixels sampled per video per step (0 = all of them)
DEFAULT_PRIOR_WEIGHT = 0.0  # weight of the pull towards the training latents (latent_prior)
DEFAULT_STARTS = 1  # inversions per video, averaged (posterior mean; see `starting_latents`)
START_SCALE = 0.5  # spread of the extra starts, in standard deviations of the training latents
DEFAULT_SCHEDULE = "constant"  # learning rate over the steps (SCHEDULES)
# constant: the rate at every step; cosine: from the rate down to 0 over the run
# (optax.cosine_decay_schedule), which fits more closely in long runs (RESULTS.md).
SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass
class InversionResult:
  """What `invert` returns: float32 arrays in [0, 1] unless noted; metrics are
  psnr_/ssim_{observed,unobserved} and baseline_*_unobserved, each (B,) (dB for PSNR)."""
  latents: np.ndarray      # (B, latent_dim) the optimised latents
  videos: np.ndarray       # (B, T, H, W, 3) renders on the inversion grid, [0, 1]: of
                           # `latents`, or with several starts the mean of their renders
  targets: np.ndarray      # (B, T, H, W, 3) the inverted videos, [0, 1]
  masks: np.ndarray        # (B, T, H, W) bool, True = observed
  baseline: np.ndarray     # (B, T, H, W, 3) unobserved pixels filled with the mean frame
  losses: np.ndarray       # (steps, B) masked MSE ([-1, 1] space) of every step (best start)
  metrics: dict            # name -> (B,) float; *_unobserved is NaN where all is observed
  latents_per_start: np.ndarray  # (B, K, latent_dim) the optimised latent of each start:
                                 # the best-fitting first (= latents), then the others
                                 # in start order


def mean_frame_fill(videos: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """The baseline: every unobserved pixel gets the mean of the observed values at its
  (h, w) over time, or the video's mean observed colour where (h, w) is never observed."""
  m = masks[..., None].astype(np.float64)  # (B, T, H, W, 1)
  sums = (videos * m).sum(axis=1)  # (B, H, W, 3)
  counts = m.sum(axis=1)
  overall = (videos * m).sum(axis=(1, 2, 3)) / m.sum(axis=(1, 2, 3))  # (B, 3)
  frame = np.where(counts > 0, sums / np.maximum(counts, 1), overall[:, None, None])
  return np.where(m > 0, videos, frame[:, None]).astype(np.float32)


def score(videos, targets, masks) -> dict[str, np.ndarray]:
  """PSNR/SSIM (B,) of `videos` against `targets` on observed and unobserved pixels."""
  out = {}
  for part, mask in (("observed", masks), ("unobserved", ~masks)):
    out[f"psnr_{part}"] = metrics.psnr(videos, targets, mask)
    out[f"ssim_{part}"] = metrics.ssim(videos, targets, mask)
  return out


def fit_size(videos, num_frames: int, height: int, width: int) -> np.ndarray:
  """Videos (B, T', H', W', 3), uint8 or float in [0, 1] -> float32 (B, T, H, W, 3).

  Other frame sizes are resized (anti-aliased), longer videos cut to their
  first T frames, each with a warning; shorter videos and values that are not
  finite (NaN, infinity) raise errors.UserError.
  """
  videos = np.asarray(videos)
  if videos.ndim == 4:
    videos = videos[None]
  if videos.ndim != 5 or videos.shape[-1] != 3:
    raise errors.UserError(f"videos must be (B, T, H, W, 3) RGB, got shape {videos.shape}")
  videos = videos.astype(np.float32) / 255.0 if videos.dtype == np.uint8 else (
      videos.astype(np.float32))
  bad = ~np.isfinite(videos)
  if bad.any():
    b, t, y, x, _ = np.argwhere(bad)[0]
    raise errors.UserError(
        f"videos hold {int(bad.sum())} values that are not finite (NaN or infinity), the "
        f"first in video {b}, frame {t}, row {y}, column {x}; inversion needs finite pixels")
  if videos.shape[1] < num_frames:
    raise errors.UserError(f"videos have {videos.shape[1]} frames; inversion needs at least "
                           f"{num_frames} (the model's clip length)")
  if videos.shape[1] > num_frames:
    warnings.warn(f"videos have {videos.shape[1]} frames; inverting the first {num_frames}")
    videos = videos[:, :num_frames]
  if videos.shape[2:4] != (height, width):
    warnings.warn(f"videos are {videos.shape[2]}x{videos.shape[3]}; resizing them to the "
                  f"model's {height}x{width}")
    videos = np.asarray(jax.image.resize(videos, (*videos.shape[:2], height, width, 3),
                                         "linear", antialias=True))
  return np.clip(videos, 0.0, 1.0)


def read_video_files(paths, num_frames: int, height: int, width: int) -> np.ndarray:
  """Video files -> (n, T', H', W', 3) uint8, the first `num_frames` frames of each.

  Files of different frame sizes are resized to (height, width) with a warning,
  so they stack. Raises errors.UserError naming the file when it is missing or
  shorter than num_frames (video_io.VideoReadError when it can't be decoded).
  """
  frames = []
  for path in paths:
    if not pathlib.Path(path).is_file():
      raise errors.UserError(f"{path}: no such video file")
    video = video_io.read_video(path, max_frames=num_frames)
    if len(video) < num_frames:
      raise errors.UserError(f"{path}: has {len(video)} frames, the model needs {num_frames}")
    frames.append(video)
  if len({f.shape for f in frames}) > 1:
    frames = [fit_size(f, num_frames, height, width)[0] for f in frames]
  return np.stack(frames)


def _is_paths(videos) -> bool:
  """A file path, or a list/tuple of them (as opposed to arrays of pixels)."""
  one = lambda v: isinstance(v, (str, os.PathLike))
  return one(videos) or (isinstance(videos, (list, tuple)) and bool(videos)
                         and all(one(v) for v in videos))


def _observed_indices(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(B, T, H, W) bool -> flat observed indices (B, Pmax) padded with their first, counts (B,)."""
  flat = masks.reshape(len(masks), -1)
  counts = flat.sum(axis=1)
  out = np.zeros((len(masks), counts.max()), np.int32)
  for i, row in enumerate(flat):
    idx = np.flatnonzero(row)
    out[i] = np.pad(idx, (0, out.shape[1] - len(idx)), mode="edge")
  return out, counts.astype(np.int32)


def latent_prior(latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The Gaussian fitted to the training latents (N, D): mean (D,) and a whitening
  matrix W (D, D), float32, such that (z - mean) @ W has identity covariance.

  The sample covariance is shrunk towards its mean variance times I by
  D / (N + D), so that W exists and stays tame when there are few latents for
  their dimension (a plain formula rather than scikit-learn's Ledoit-Wolf,
  which is not a dependency): with N = 2,000 and D = 64 the shrinkage is 3%.
  """
  latents = np.asarray(latents, np.float64)
  n, d = latents.shape
  mean = latents.mean(axis=0)
  centred = latents - mean
  cov = centred.T @ centred / max(n - 1, 1)
  isotropic = max(float(np.trace(cov)) / d, 1e-12)
  shrink = d / (n + d)
  cov = (1.0 - shrink) * cov + shrink * isotropic * np.eye(d)
  whiten = np.linalg.inv(np.linalg.cholesky(cov)).T
  return mean.astype(np.float32), whiten.astype(np.float32)


def _count(value, default: int, what: str, flag: str) -> int:
  """`value`, or `default` for None, as an int; errors.UserError unless an integer >= 1."""
  value = default if value is None else value
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise errors.UserError(f"inversion {what} must be an integer of at least 1, got {value!r} "
                           f"({flag})")
  return int(value)


def check_starts(starts: int | None) -> int:
  """The number of starts: `starts`, or DEFAULT_STARTS for None. Raises
  errors.UserError unless it is an integer >= 1 (before any work: the CLI checks first)."""
  return _count(starts, DEFAULT_STARTS, "starts", "--inversion_starts")


def check_steps(steps: int | None) -> int:
  """The number of Adam steps: `steps`, or DEFAULT_STEPS for None. Raises
  errors.UserError unless it is an integer >= 1 (before any work: the CLI checks first)."""
  return _count(steps, DEFAULT_STEPS, "steps", "--inversion_steps")


def resolve_recipe(model, use_prior: bool | None = None, starts: int | None = None,
                   energy_weight: float | None = None) -> tuple[bool, int, float]:
  """(use_prior, starts, energy_weight) of an inversion of `model`: the learned prior's
  recipe where the model has a prior (or use_prior=True), config.prior.inversion_starts
  starts and config.prior.inversion_weight; else DEFAULT_STARTS and no energy. Values
  given are kept (and checked). Raises errors.UserError for use_prior=True or
  energy_weight > 0 without a prior, a negative energy_weight, or bad starts."""
  has_prior = getattr(model, "prior", None) is not None
  use_prior = has_prior if use_prior is None else bool(use_prior)
  if use_prior and not has_prior:
    raise errors.UserError("this model has no learned prior to guide the inversion; fit one "
                           "with python -m inrv_jax.main --workdir=DIR --mode=fit_prior")
  settings = model.config.prior
  starts = check_starts(settings.inversion_starts if use_prior and starts is None else starts)
  if energy_weight is None:
    energy_weight = settings.inversion_weight if use_prior else 0.0
  if not energy_weight >= 0:
    raise errors.UserError(f"the prior's energy weight must be >= 0, got {energy_weight}")
  if energy_weight and not has_prior:
    raise errors.UserError("the prior's energy needs a model with a learned prior; fit one "
                           "with python -m inrv_jax.main --workdir=DIR --mode=fit_prior")
  return use_prior, starts, float(energy_weight)


def check_schedule(schedule: str | None) -> str:
  """`schedule` (None = DEFAULT_SCHEDULE), checked; raises errors.UserError if it is not
  one of SCHEDULES."""
  schedule = DEFAULT_SCHEDULE if schedule is None else schedule
  if schedule not in SCHEDULES:
    raise errors.UserError(f"inversion schedule must be one of {', '.join(SCHEDULES)}, "
                           f"got {schedule!r}")
  return schedule


def learning_rate_at(learning_rate: float, decay_steps: int = 0):
  """The Adam learning rate of an inversion: the float `learning_rate` for decay_steps 0
  (the "constant" schedule), else an optax schedule (step -> rate) falling on a cosine
  from learning_rate at step 0 to 0 at step decay_steps ("cosine" over the whole run)."""
  return optax.cosine_decay_schedule(learning_rate, decay_steps) if decay_steps else learning_rate


def starting_latents(latents: np.ndarray, num_videos: int, starts: int,
                     scale: float = START_SCALE, key: jax.Array | None = None) -> np.ndarray:
  """Where the K = `starts` inversions of each video begin: (starts * num_videos, D)
  float32, start-major (the first num_videos rows are start 0 of every video, then
  start 1, ...).

  Start 0 is the mean of the training latents (N, D), the single-start default;
  start k > 0 is drawn from the Gaussian fitted to them (`latent_prior`) with its
  standard deviations scaled by `scale`, so that the starts spread over the
  learned space without leaving it. Reproducible for a fixed key (default key 0).
  """
  mean, whiten = latent_prior(latents)
  d = mean.shape[0]
  key = jax.random.key(0) if key is None else key
  eps = np.asarray(jax.random.normal(key, ((starts - 1) * num_videos, d)), np.float64)
  spread = mean + scale * eps @ np.linalg.inv(whiten)  # inverse whitening: covariance scale^2 C
  return np.concatenate([np.broadcast_to(mean, (num_videos, d)), spread]).astype(np.float32)


def prior_starts(prior: prior_lib.LatentPrior, num_videos: int, starts: int,
                 key: jax.Array) -> np.ndarray:
  """Where the K = `starts` inversions of each video begin when a learned prior guides them:
  (starts * num_videos, D) float32 drawn from `prior` from noise (start 0: not near a
  random training latent, which says nothing of the video inverted), start-major like
  `starting_latents`; the same key gives the same starts."""
  return prior.sample(key, starts * num_videos, start=0.0)


def mean_of_starts(renders: np.ndarray, targets: np.ndarray, masks: np.ndarray, starts: int):
  """Renders (K * B, T, H, W, 3) of K starts (start-major) -> their mean (B, T, H, W, 3)
  and the best start of each video (B,) int, the one with the least MSE on its observed
  pixels (`masks` (B, T, H, W) bool, `targets` (B, T, H, W, 3) in [0, 1])."""
  per_start = renders.reshape(starts, len(targets), *renders.shape[1:])
  mse = np.stack([metrics.mse(render, targets, masks) for render in per_start])  # (K, B)
  return per_start.mean(axis=0), mse.argmin(axis=0)


def render_mean(model, latents_per_start: np.ndarray, num_frames: int | None = None,
                resolution: tuple[int, int] | None = None) -> np.ndarray:
  """Latents (B, K, D), K per video -> the mean of each video's K renders (B, T, H, W, 3)
  in [0, 1], on any grid (`rendering.render`'s num_frames and resolution); K = 1 is a
  plain render. The video `invert` returns for `InversionResult.latents_per_start`."""
  b, k, d = latents_per_start.shape
  renders = rendering.render(model, latents_per_start.reshape(b * k, d), num_frames,
                             resolution)
  return renders.reshape(b, k, *renders.shape[1:]).mean(axis=1)


@functools.lru_cache(maxsize=16)
def make_inverter(graphdef, spec: inr_lib.INRSpec, grid_shape: tuple[int, int, int],
                  learning_rate: float, pixels_per_step: int, steps_per_call: int,
                  prior_weight: float = 0.0, decay_steps: int = 0,
                  energy_graphdef=None, energy_weight: float = 0.0,
                  energy_times: tuple[float, ...] = (), energy_draws: int = 1):
  """The jitted multi-step inversion of a batch of videos (Adam at `learning_rate`,
  on a cosine to 0 over `decay_steps` steps unless that is 0; see learning_rate_at).

  Returns run(params, frozen, latents (B, D), opt_state, targets (B, THW, 3) in [-1, 1],
  observed (B, Pmax) flat indices, counts (B,), key, first_step, prior_mean (D,),
  prior_whiten (D, D), energy (the learned prior's (params, mean (D,), std (D,)), or None))
  -> (latents, opt_state, losses (steps_per_call, B)). The loss is the masked MSE plus
  prior_weight * mean(((z - prior_mean) @ prior_whiten) ** 2), the squared Mahalanobis
  distance to the training latents per dimension (`latent_prior`), plus, with an
  `energy_graphdef` (the learned prior's Denoiser), energy_weight times its denoising
  energy (models/prior.py `energy`) at `energy_times`, each with `energy_draws` fresh
  noise draws per step.
  """
  tx = optax.adam(learning_rate_at(learning_rate, decay_steps))

  def video_loss(z, params, frozen, target, observed, count, key, prior_mean, prior_whiten,
                 energy):
    weights = nnx.merge(graphdef, params, frozen).inr_weights(z[None])  # each (1, *shape)
    if pixels_per_step and pixels_per_step < observed.shape[0]:
      picks = jax.random.randint(key, (pixels_per_step,), 0, count)  # uniform over observed
      idx, valid = observed[picks], jnp.ones((pixels_per_step,))
    else:
      idx, valid = observed, (jnp.arange(observed.shape[0]) < count).astype(jnp.float32)
    pred = inr_lib.pixels_apply(spec, weights, grid_shape, idx[None])[0]  # (P, 3)
    err = jnp.mean(jnp.square(pred - target[idx]), axis=-1)  # (P,)
    loss = jnp.sum(err * valid) / jnp.sum(valid)
    if prior_weight:
      loss = loss + prior_weight * jnp.mean(jnp.square((z - prior_mean) @ prior_whiten))
    if energy_weight and energy_graphdef is not None:
      energy_params, energy_mean, energy_std = energy
      times = jnp.repeat(jnp.asarray(energy_times, jnp.float32), energy_draws)  # (K,)
      noise = jax.random.normal(jax.random.fold_in(key, 1), (times.shape[0], z.shape[0]))
      denoiser = nnx.merge(energy_graphdef, energy_params)
      loss = loss + energy_weight * prior_lib.energy(
          denoiser, ((z - energy_mean) / energy_std)[None], noise, times)[0]
    return loss

  def video_step(z, opt_state, *args):
    loss, grad = jax.value_and_grad(video_loss)(z, *args)
    updates, opt_state = tx.update(grad, opt_state, z)
    return optax.apply_updates(z, updates), opt_state, loss

  batch_step = jax.vmap(video_step, in_axes=(0, 0, None, None, 0, 0, 0, 0, None, None, None))

  def run(params, frozen, latents, opt_state, targets, observed, counts, key, first_step,
          prior_mean, prior_whiten, energy=None):
    def body(carry, step):
      z, state = carry
      keys = jax.random.split(jax.random.fold_in(key, step), z.shape[0])
      z, state, loss = batch_step(z, state, params, frozen, targets, observed, counts, keys,
                                  prior_mean, prior_whiten, energy)
      return (z, state), loss
    (latents, opt_state), losses = jax.lax.scan(
        body, (latents, opt_state), first_step + jnp.arange(steps_per_call))
    return latents, opt_state, losses

  return jax.jit(run), jax.vmap(tx.init)


def optimise(model, targets: np.ndarray, masks: np.ndarray, steps: int = DEFAULT_STEPS,
             learning_rate: float = DEFAULT_LEARNING_RATE,
             pixels_per_step: int = DEFAULT_PIXELS, key: jax.Array | None = None,
             init: np.ndarray | None = None, steps_per_call: int = 25,
             progress: bool = True,
             prior_weight: float = DEFAULT_PRIOR_WEIGHT,
             schedule: str = DEFAULT_SCHEDULE,
             energy_weight: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
  """The latents of videos `targets` (B, T, H, W, 3) in [0, 1] seen through `masks`.

  energy_weight > 0 adds the learned prior's denoising energy (model.prior,
  at config.prior.inversion_times and inversion_draws) to the loss.
  Returns latents (B, D) and the loss of every step (steps, B). Raises
  errors.UserError for steps < 1, a schedule not in SCHEDULES, or
  energy_weight > 0 for a model without a learned prior.
  """
  steps = check_steps(steps)
  decay_steps = steps if check_schedule(schedule) == "cosine" else 0
  b, t, h, w, _ = targets.shape
  steps_per_call = max(1, min(steps_per_call, steps))

  prior = getattr(model, "prior", None)
  if energy_weight and prior is None:
    raise errors.UserError("the learned prior's energy needs a model with a prior (fit one "
                           "with --mode=fit_prior)")
  use_energy = bool(energy_weight)
  energy = (prior.params, jnp.asarray(prior.mean), jnp.asarray(prior.std)) if use_energy else None
  settings = model.config.prior

  def inverter(calls_steps: int):  # the last call runs what is left: exactly `steps` in all
    return make_inverter(model.graphdef, model.inr_spec, (t, h, w), float(learning_rate),
                         int(pixels_per_step), calls_steps, float(prior_weight), decay_steps,
                         prior.graphdef if use_energy else None, float(energy_weight),
                         tuple(float(x) for x in settings.inversion_times),
                         int(settings.inversion_draws))

  init_opt = inverter(steps_per_call)[1]
  prior_mean, prior_whiten = latent_prior(model.latents)
  observed, counts = _observed_indices(masks)
  z0 = model.latents.mean(axis=0) if init is None else init
  latents = jnp.broadcast_to(jnp.asarray(z0, jnp.float32), (b, model.latents.shape[1]))
  opt_state = init_opt(latents)
  flat_targets = jnp.asarray(targets.reshape(b, -1, 3) * 2.0 - 1.0)
  key = jax.random.key(0) if key is None else key
  losses = []
  with tqdm.tqdm(total=steps, desc=f"optimise {b} latents", unit="step",
                 disable=not progress, leave=False) as bar:
    for first in range(0, steps, steps_per_call):
      run = inverter(min(steps_per_call, steps - first))[0]
      latents, opt_state, loss = run(model.params, model.frozen, latents, opt_state, flat_targets,
                                     jnp.asarray(observed), jnp.asarray(counts), key,
                                     jnp.int32(first), prior_mean, prior_whiten, energy)
      losses.append(np.asarray(loss))
      bar.update(len(loss))
      bar.set_postfix(loss=f"{float(losses[-1][-1].mean()):.4f}")  # MSE + the prior's terms
  return np.asarray(latents), np.concatenate(losses)


def invert(videos, mask="full", model=None, workdir=None, steps: int = DEFAULT_STEPS,
           learning_rate: float = DEFAULT_LEARNING_RATE, pixels_per_step: int = DEFAULT_PIXELS,
           key: jax.Array | int | None = None, batch_size: int = 64,
           progress: bool = True,
           prior_weight: float = DEFAULT_PRIOR_WEIGHT, starts: int | None = None,
           start_scale: float = START_SCALE,
           schedule: str = DEFAULT_SCHEDULE, use_prior: bool | None = None,
           energy_weight: float | None = None) -> InversionResult:
  """Invert videos (B, T, H, W, 3) (uint8 0-255, or float in [0, 1]) seen through `mask`;
  `videos` may also be a video file path or a list of them, as on the command line.

  Paper Sec. 4 (inversion, inpainting, future prediction, frame
  interpolation, super-resolution): the hypernetwork is frozen and each
  video's latent takes `steps` Adam steps from the mean training latent on
  the MSE over its observed pixels (`pixels_per_step` of them per step; 0 =
  all), plus prior_weight times the squared Mahalanobis distance per
  dimension of the latent to the Gaussian of the training latents
  (`latent_prior`; 0 = none), which keeps partly observed videos on the
  learned space instead of overfitting their observed pixels. mask: a
  MaskSpec or spec string (e.g. "sparse:fraction=0.25") for every video, or
  one per video, or bool arrays (T, H, W) / (B, T, H, W).
  starts: inversions per video; with K > 1, start 0 is the mean latent and
  the others are drawn by `starting_latents` (spread `start_scale`), the
  returned `videos` are the mean of the K renders (the posterior-mean
  estimate), `latents` and `losses` are those of the start that fits the
  observed pixels best, and `latents_per_start` holds every start's optimised
  latent. It costs K times the optimisation and the rendering.
  schedule: the learning rate over the steps, "constant" or "cosine" (from
  learning_rate towards 0 over the run; closer fits in long runs: RESULTS.md).
  use_prior: whether the learned prior guides the inversion (default: where
  `model.prior` exists); then starts defaults to config.prior.inversion_starts
  (else DEFAULT_STARTS), the starts are drawn from the prior (`prior_starts`;
  with config.prior.starts_from_prior) and the prior's energy is added to the
  loss with `energy_weight` (default config.prior.inversion_weight; 0 without
  the prior). See `resolve_recipe`.
  Videos of another frame size than the model's clips are resized and longer
  ones cut to T frames (with a warning). Videos are inverted `batch_size` at
  a time, each batch (with its K starts: K * batch_size optimisations, so K
  times the memory) in one vmapped call.

  Returns an InversionResult: latents (B, latent_dim), renders, targets,
  masks, the mean-frame baseline, losses (steps, B) and PSNR/SSIM (B,) on the
  observed and unobserved pixels. Raises errors.UserError for no videos, videos that are
  not RGB (B, T, H, W, 3), shorter than T frames, a malformed mask spec, or
  starts or steps that are not integers >= 1, a schedule not in SCHEDULES, or
  use_prior=True (or energy_weight > 0) for a model without a learned prior.
  """
  if starts is not None:
    check_starts(starts)  # before the model is loaded
  steps, schedule = check_steps(steps), check_schedule(schedule)
  if (isinstance(videos, (list, tuple)) and not videos) or getattr(videos, "shape", (None,))[:1] == (0,):
    raise errors.UserError("no videos to invert: pass pixels (B, T, H, W, 3) with B >= 1, "
                           "or one or more video files")
  model = rendering.model_from(model, workdir)
  use_prior, starts, energy_weight = resolve_recipe(model, use_prior, starts, energy_weight)
  data = model.config.data
  shape = (data.num_frames, data.height, data.width)
  if _is_paths(videos):
    videos = read_video_files([videos] if isinstance(videos, (str, os.PathLike)) else videos,
                              *shape)
  targets = fit_size(videos, *shape)
  observed = masks_lib.as_arrays(mask, len(targets), *shape)
  key = jax.random.key(0 if key is None else key) if not isinstance(key, jax.Array) else key
  losses, recon, every_start = [], [], []
  for first in range(0, len(targets), batch_size):
    part = slice(first, first + batch_size)
    b = len(targets[part])
    batch_key = jax.random.fold_in(key, first)  # as with one start, so its results stay put
    start_key = jax.random.split(batch_key)[1]
    init = (prior_starts(model.prior, b, starts, start_key)
            if use_prior and model.config.prior.starts_from_prior
            else starting_latents(model.latents, b, starts, start_scale, start_key))
    z, loss = optimise(model, np.concatenate([targets[part]] * starts),
                       np.concatenate([observed[part]] * starts), steps, learning_rate,
                       pixels_per_step, batch_key, init=init,
                       progress=progress, prior_weight=prior_weight, schedule=schedule,
                       energy_weight=energy_weight)
    mean_render, best = mean_of_starts(rendering.render(model, z), targets[part],
                                       observed[part], starts)  # K = 1: the render itself
    z = z.reshape(starts, b, -1).swapaxes(0, 1)  # (b, K, D)
    order = np.argsort(np.arange(starts)[None] != best[:, None], axis=1, kind="stable")
    every_start.append(np.take_along_axis(z, order[..., None], axis=1))  # best first
    losses.append(loss.reshape(len(loss), starts, b)[:, best, np.arange(b)])
    recon.append(mean_render)
  every_start, recon = np.concatenate(every_start), np.concatenate(recon)
  baseline = mean_frame_fill(targets, observed)
  scores = score(recon, targets, observed)
  scores.update({f"baseline_{k}": v for k, v in score(baseline, targets, observed).items()
                 if k.endswith("unobserved")})
  return InversionResult(every_start[:, 0], recon, targets, observed, baseline,
                         np.concatenate(losses, axis=1), scores, every_start)


def read_videos(paths, model) -> np.ndarray:
  """Video files -> (n, T', H', W', 3) uint8, the first T frames (read_video_files)."""
  data = model.config.data
  return read_video_files(paths, data.num_frames, data.height, data.width)


UNOBSERVED_GRAY = 0.5  # how unobserved pixels are drawn in the "observed" panels


def _observed_view(videos: np.ndarray, masks: np.ndarray) -> np.ndarray:
  return np.where(masks[..., None], videos, UNOBSERVED_GRAY).astype(np.float32)


def invert_clips(model, out: pathlib.Path, names: list[str], clips: np.ndarray, masks=None,
                 steps: int | None = None, learning_rate: float | None = None,
                 pixels: int | None = None, seed: int = 0, num_frames: int | None = None,
                 resolution=None, prior_weight: float | None = None,
                 panel_videos: int | None = None, starts: int | None = None,
                 schedule: str | None = None) -> dict:
  """Invert `clips` (n, T', H', W', 3) (uint8 or [0, 1]) under every mask spec of `masks`
  (default: one of each kind) in one vmapped batch, `starts` times each (averaged; see
  invert), guided by the model's learned prior where it has one (resolve_recipe); write out/latents.npy (with several starts: the best-fitting one's,
  and every start's optimised latent in out/latents_per_start.npy (n, K, D), best-fitting
  first) and, per mask,
  out/<mask>.{mp4,gif,png} panels of the first `panel_videos` clips (None = all of
  them; the metrics always cover all). Returns the record (per-mask mean and per-video
  PSNR/SSIM, observed and unobserved, beside the mean-frame baseline).
  Raises errors.UserError for a bad mask spec, starts, steps or schedule, or clips shorter than
  the model's."""
  specs = [masks_lib.parse(m) for m in masks] if masks else masks_lib.default_specs()
  data = model.config.data
  clips = fit_size(clips, data.num_frames, data.height, data.width)
  n = len(clips)
  learning_rate = learning_rate or DEFAULT_LEARNING_RATE
  prior_weight = DEFAULT_PRIOR_WEIGHT if prior_weight is None else prior_weight
  use_prior, starts, energy_weight = resolve_recipe(model, None, starts)
  schedule = check_schedule(schedule)
  start = time.perf_counter()
  result = invert(
      np.concatenate([clips] * len(specs)), [s for s in specs for _ in range(n)], model,
      steps=steps,
      learning_rate=learning_rate,
      pixels_per_step=DEFAULT_PIXELS if pixels is None else pixels, key=seed,
      prior_weight=prior_weight, starts=starts, schedule=schedule, use_prior=use_prior,
      energy_weight=energy_weight)
  seconds = time.perf_counter() - start
  np.save(out / "latents.npy", result.latents)
  if starts > 1:
    np.save(out / "latents_per_start.npy", result.latents_per_start)
  size = rendering.parse_resolution(resolution)
  renders = result.videos if num_frames is None and size is None else render_mean(
      model, result.latents_per_start, num_frames, size)
  record = {"videos": names, "steps": int(result.losses.shape[0]), "seconds": seconds,
            "learning_rate": learning_rate, "schedule": schedule,
            "prior_weight": prior_weight, "starts": starts, "learned_prior": use_prior,
            "learned_prior_weight": energy_weight,
            "latents_file": str(out / "latents.npy"), "masks": {}}
  fps = model.config.eval.fps
  for k, spec in enumerate(specs):
    part = slice(k * n, (k + 1) * n)
    shown = slice(k * n, k * n + min(n, panel_videos or n))
    panels = np.stack([result.targets[shown], _observed_view(result.targets[shown],
                                                             result.masks[shown]),
                       result.baseline[shown], result.videos[shown]], axis=1)  # (rows, 4, ...)
    media.write_video_set(out, spec.name, media.video_grid(panels),
                          media.frame_grid(panels.reshape(-1, *panels.shape[2:])), fps)
    if renders is not result.videos:
      media.write_video_set(out, f"{spec.name}_render", media.video_grid(renders[shown, None]),
                            media.frame_grid(renders[shown]), fps)
    per_video = {name: values[part] for name, values in result.metrics.items()}
    mean = {name: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
            for name, v in per_video.items()}
    record["masks"][spec.name] = {
        "spec": str(spec), "observed_fraction": float(result.masks[part].mean()),
        "first_loss": float(result.losses[0, part].mean()),
        "final_loss": float(result.losses[-1, part].mean()),
        "mean": mean, "per_video": per_video, "latent_rows": [k * n, (k + 1) * n]}
    unobs = (f", unobserved {mean['psnr_unobserved']:.2f} dB (mean-frame baseline "
             f"{mean['baseline_psnr_unobserved']:.2f} dB)"
             if np.isfinite(mean["psnr_unobserved"]) else "")
    print(f"{spec}: observed {mean['psnr_observed']:.2f} dB{unobs}")
  count = n * len(specs)
  print(f"{count} inversion{'' if count == 1 else 's'}"
        + (f" of {starts} starts each" if starts > 1 else "")
        + f" in {seconds:.1f} s -> {out}")
  record["panels"] = ("per video: input | observed (gray = unobserved) | mean-frame baseline | "
                      "inversion, side by side in the mp4/gif, one under the other in the png")
  return record
