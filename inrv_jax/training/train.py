"""train_and_evaluate(config, workdir): the training program, read top to bottom.

One batch's path: data/pipeline.py yields this process's rows of global
batch s (videos (B, T, H, W, 3) float32 in [-1, 1] and their dataset
indices (B,) int32; or only the indices, when the training clips are held
in memory, `Resident`, and the step gathers the videos itself);
parallel.global_batch makes them global arrays sharded
on `data`; `train_step` looks up each video's latent (models/inrv.py), runs
the hypernetwork, renders the INR on the clip's grid or on random pixels of
it (models/inr.py), and takes one Adam step on the pixel loss (losses.py).

The file has three parts: the step (a pure jitted function), the setup
(model, optimizer and frozen networks for a number of videos), and
train_and_evaluate (data, restore, the loop over stages and steps, outputs).
"""

import contextlib
import dataclasses
import json
import pathlib
import time
from typing import Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tqdm
from flax import nnx

from inrv_jax.training import checkpoints
from inrv_jax.training import clip_features
from inrv_jax import config_check
from inrv_jax import errors
from inrv_jax.evaluation import snapshots
from inrv_jax import learned_prior
from inrv_jax.training import losses
from inrv_jax.training import metrics_log
from inrv_jax.evaluation import metrics as metrics_lib
from inrv_jax.runtime import parallel
from inrv_jax.training import pixel_sampling
from inrv_jax.training import resources
from inrv_jax.training import stages
from inrv_jax.training import stopping
from inrv_jax import trained_model
from inrv_jax.data import clips as clips_lib
from inrv_jax.data import datasets
from inrv_jax.data import identity
from inrv_jax.data import pipeline
from inrv_jax.models import inr as inr_lib
from inrv_jax.models import kernels
from inrv_jax.models import inrv as inrv_lib
from inrv_jax.models import lpips as lpips_lib


def _say(message: str) -> None:
  if parallel.is_main_process():
    print(message, flush=True)

# ------------------------------------------------------------------ the step


def predict_and_target(spec: inr_lib.INRSpec, weights: inr_lib.Weights, videos: jnp.ndarray,
                       fraction: float, key: jax.Array, compute_dtype=jnp.float32,
                       sampling: str = "uniform", mix: float = 1.0,
                       sampling_distribution: tuple[jnp.ndarray, jnp.ndarray] | None = None):
  """INR outputs (float32), the pixels they are compared with (both in [-1, 1]) and
  the pixels' loss weights.

  weights: INR tensors each (B, *shape); videos (B, T, H, W, 3). With
  fraction 1 the whole grid is rendered ((B, T, H, W, 3) both, weights None);
  otherwise each video gets round(fraction * T*H*W) pixels of its own ((B, P', 3)
  both), drawn by pixel_sampling.draw(sampling, ..., mix): weights None for
  uniform draws, else (B, P') float32 such that the weighted mean of a per-pixel
  loss estimates its mean over the whole clip without bias (`sampling_distribution`:
  the videos' pixel_sampling.distribution computed ahead, or None to compute it
  here). The INR runs in `compute_dtype` (bfloat16 on accelerators); the
  hypernetwork, its master weights and the loss stay f32.
  """
  weights = tuple(w.astype(compute_dtype) for w in weights)
  b, t, h, w, c = videos.shape
  if fraction >= 1.0:
    return inr_lib.grid_apply(spec, weights, t, h, w).astype(jnp.float32), videos, None
  num_pixels = t * h * w
  count = max(1, int(round(fraction * num_pixels)))
  pixels, loss_weights = pixel_sampling.draw(sampling, key, videos, count, mix,
                                             sampling_distribution)  # (B, P')
  pred = inr_lib.pixels_apply(spec, weights, (t, h, w), pixels)
  target = jnp.take_along_axis(videos.reshape(b, num_pixels, c), pixels[..., None], axis=1)
  return pred.astype(jnp.float32), target, loss_weights


def weighted_mean(elements: jnp.ndarray, loss_weights: jnp.ndarray | None) -> jnp.ndarray:
  """Mean of per-element values (B, P, C), each pixel weighted by loss_weights (B, P)
  (None = plain mean): the whole-clip mean that sampled pixels estimate."""
  if loss_weights is None:
    return jnp.mean(elements)
  return jnp.mean(loss_weights[..., None] * elements)


# The step's key folded with this gives train.latent_noise's draws, apart from the pixel
# and dropout keys split from it.
LATENT_NOISE_STREAM = 0x6E6F6973


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Resident:
  """The training clips held in memory (data.resident_mib), replicated: each step's
  batch is then only the clips' dataset positions, and the step gathers the videos.

  clips: (N, T, H, W, 3) uint8, row i = the clip with dataset index i.
  probs, cdf: (N, T*H*W) float32 each, pixel_sampling.distribution of each clip in
  [-1, 1] (what importance sampling draws from; computed once instead of every step),
  or None without importance sampling.
  """
  clips: jax.Array
  probs: jax.Array | None = None
  cdf: jax.Array | None = None

  def batch(self, index: jax.Array) -> tuple[jnp.ndarray, tuple | None]:
    """Videos (B, T, H, W, 3) float32 in [-1, 1] of dataset positions index (B,) int32,
    and their (probs, cdf) rows, each (B, T*H*W) (None without)."""
    videos = unit_range(self.clips[index])
    return videos, None if self.probs is None else (self.probs[index], self.cdf[index])


# clips.to_unit_range of every uint8 level, as the readers compute it (NumPy): XLA turns
# the division into a product and rounds 205 of the 256 levels differently, so the step
# looks the levels up and sees the videos the readers would give, bit for bit.
_UNIT_RANGE_LEVELS = clips_lib.to_unit_range(np.arange(256, dtype=np.uint8))


def unit_range(clips: jnp.ndarray) -> jnp.ndarray:
  """clips_lib.to_unit_range inside a compiled program: uint8 -> float32 [-1, 1], exactly."""
  return jnp.asarray(_UNIT_RANGE_LEVELS)[clips.astype(jnp.int32)]


def samples_by_importance(config: ml_collections.ConfigDict) -> bool:
  """The step draws its pixels by importance (and Resident holds their distribution)."""
  return config.train.pixel_fraction < 1.0 and config.train.pixel_sampling == "importance"


def resident_bytes_per_pixel(config: ml_collections.ConfigDict) -> int:
  """Memory a resident clip takes per pixel: 3 (uint8 RGB), plus 2 x 4 (probs, cdf) when
  pixels are drawn by importance; what data.resident_mib budgets."""
  return 3 + (8 if samples_by_importance(config) else 0)


def make_resident(clips: np.ndarray, config: ml_collections.ConfigDict,
                  mesh: jax.sharding.Mesh, chunk: int = 256) -> Resident:
  """Resident of the training clips (N, T, H, W, 3) uint8 (data/pipeline.resident_clips),
  on every device of `mesh`, with their sampling distribution when the step draws pixels
  by importance. Every process passes the same clips (each reads the whole split) and
  computes the distribution of its own copy."""
  if not samples_by_importance(config):
    return Resident(parallel.replicate_local(clips, mesh))
  of = jax.jit(lambda c: pixel_sampling.distribution(unit_range(c),
                                                     config.train.importance_mix))
  parts = [jax.device_get(of(clips[i:i + chunk])) for i in range(0, len(clips), chunk)]
  probs, cdf = (np.concatenate([part[k] for part in parts]) for k in (0, 1))
  return Resident(*(parallel.replicate_local(x, mesh) for x in (clips, probs, cdf)))


def make_train_step(config: ml_collections.ConfigDict, graphdef: nnx.GraphDef,
                    tx: optax.GradientTransformation, mesh: jax.sharding.Mesh,
                    lpips_graphdef: nnx.GraphDef | None = None, stacked: bool = False,
                    tuning: kernels.Tuning | None = None):
  """The jitted pure step (frozen, lpips, clip_features, resident, state, batch,
  num_active) -> (state, metrics).

  stacked: the function runs several steps in one call instead (a lax.scan of
  the same step): every batch leaf has a leading steps axis (n, B, ...), and
  every metric comes back per step, (n, ...). Small steps then do not pay
  Python dispatch per step; the result equals n calls of the plain step.

  frozen: the model's non-trainable state (frozen CLIP tower; empty without
  conditioning); lpips: LPIPS-VGG16 weights, or None without the LPIPS term;
  clip_features: every training video's CLIP frame features (N, T, D) f32
  (clip_features.py), or None to run the CLIP tower on the batch's frames;
  resident: the training clips held in memory (`Resident`), or None. All four
  are arguments, not constants baked into the program. state: a
  checkpoints.TrainState (donated). batch: {"video": (B, T, H, W, 3) in
  [-1, 1], "index": (B,) int32}, or {"index"} alone with `resident` (the step
  gathers the videos), sharded on `data`. num_active: how many
  latent rows the current progressive stage uses (the Gaussian prior's rows).
  metrics: scalars {"loss", "pixel_loss", "psnr" (dB, on the compared
  pixels), and "lpips" when used}, and "nonfinite": stopping.nonfinite of the
  loss and gradients ((1 + parameter leaves,) bool). tuning: how the whole-frame
  loss runs (kernels.Tuning; default kernels.for_backend()).
  """
  spec = inrv_lib.inr_spec_from_config(config.model)
  losses.pixel_loss(config.train.loss)  # refuses an unknown name
  fraction = config.train.pixel_fraction
  conditioning = config.model.conditioning
  compute_dtype = jnp.dtype(config.model.compute_dtype)
  # Whole frames and a pixel loss only (no LPIPS, which needs the rendered frames' own
  # gradient): the loss is backpropagated chunk by chunk as the frames are rendered, and
  # no activation is stored (inr.grid_pixel_loss; the paper's L1 step).
  loss_in_forward_pass = fraction >= 1.0 and lpips_graphdef is None
  elementwise = losses.ELEMENTWISE[config.train.loss]
  latent_noise = config.train.latent_noise

  def loss_fn(params, frozen, lpips, clip_features, batch, key, num_active, distribution):
    module = nnx.merge(graphdef, params, frozen)
    pixel_key, dropout_key = jax.random.split(key)
    latent_kwargs = {}
    if conditioning == "clip":
      latent_kwargs["dropout_key"] = dropout_key
      if clip_features is not None:
        latent_kwargs["features"] = clip_features[batch["index"]]  # (B, T, D)
    z = module.latents(batch["index"], batch["video"], **latent_kwargs)  # (B, latent_dim)
    clean_z = z
    if latent_noise > 0:
      # The decoder learns the neighbourhood of each latent, not the point only: noise
      # in units of the batch latents' spread per dimension (a denoising auto-decoder).
      spread = jax.lax.stop_gradient(jnp.std(z, axis=0))  # (latent_dim,)
      noise_key = jax.random.fold_in(key, LATENT_NOISE_STREAM)
      z = z + latent_noise * spread * jax.random.normal(noise_key, z.shape, z.dtype)
    if loss_in_forward_pass:
      weights = tuple(w.astype(compute_dtype) for w in module.inr_weights(z))
      pix, pred = inr_lib.grid_pixel_loss(spec, weights, batch["video"], elementwise, tuning)
      pred, target = pred.astype(jnp.float32), batch["video"]  # pred: no gradient (metrics)
      loss_weights = None
    else:
      pred, target, loss_weights = predict_and_target(
          spec, module.inr_weights(z), batch["video"], fraction, pixel_key, compute_dtype,
          config.train.pixel_sampling, config.train.importance_mix, distribution)
      pix = weighted_mean(elementwise(pred, target), loss_weights)
    loss, extra = pix, {}
    if lpips_graphdef is not None:
      perceptual = nnx.merge(lpips_graphdef, lpips)
      extra["lpips"] = jnp.mean(lpips_lib.lpips_loss_per_frame(perceptual, target, pred))
      loss = loss + config.train.lpips_weight * extra["lpips"]
    if conditioning == "gauss_prior":
      loss = loss + config.model.gauss_prior_weight * losses.gaussian_prior(
          module.latent_table[...], num_active)
    mse = weighted_mean(losses.mse_elements(pred, target), loss_weights)
    psnr = metrics_lib.psnr_from_mse(mse, data_range=2.0)
    return loss, {"pixel_loss": pix, "psnr": psnr, "z": clean_z, **extra}

  def step(frozen, lpips, clip_features, resident, state: checkpoints.TrainState, batch,
           num_active):
    key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    distribution = None
    if "video" not in batch:  # the clips are resident: gather this batch's
      video, distribution = resident.batch(batch["index"])
      batch = {**batch, "video": video}
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, frozen, lpips, clip_features, batch, key, num_active, distribution)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    seen = state.seen_latents.at[batch["index"]].set(jax.lax.stop_gradient(aux.pop("z")))
    state = state.replace(params=params, opt_state=opt_state, step=state.step + 1,
                          seen_latents=seen)
    return state, {"loss": loss, **aux, "nonfinite": stopping.nonfinite(loss, grads)}

  def steps(frozen, lpips, clip_features, resident, state, batches, num_active):
    return jax.lax.scan(
        lambda carry, batch: step(frozen, lpips, clip_features, resident, carry, batch,
                                  num_active),
        state, batches)

  replicated = parallel.replicated(mesh)
  return jax.jit(steps if stacked else step,
                 in_shardings=(replicated, replicated, replicated, replicated, replicated,
                               parallel.batch_sharded(mesh, stacked), replicated),
                 out_shardings=(replicated, replicated), donate_argnums=4)

# ------------------------------------------------------------------ the setup


def load_lpips(config: ml_collections.ConfigDict) -> tuple[nnx.GraphDef, nnx.State] | None:
  """(graphdef, frozen weights) of LPIPS-VGG16 when train.lpips_weight > 0, else None.

  Raises ValueError when LPIPS is asked for on sampled pixels (it needs whole
  frames), pretrained.MissingWeightsError when its weight files can't be had.
  """
  if config.train.lpips_weight <= 0:
    return None
  if config.train.pixel_fraction < 1.0:
    raise ValueError("train.lpips_weight > 0 needs whole frames: set train.pixel_fraction=1")
  return nnx.split(lpips_lib.load_lpips(config.train.vgg16_weights, config.train.lpips_weights))


@dataclasses.dataclass
class TrainSetup:
  """What the loop needs for a number of videos, before any checkpoint is restored."""
  graphdef: nnx.GraphDef       # structure of the INRV module
  frozen: nnx.State            # the model's non-trainable state, replicated
  lpips: nnx.State | None      # LPIPS-VGG16 weights, replicated (None = no LPIPS term)
  clip_features: jax.Array | None  # (N, T, D) CLIP frame features, replicated (None = per step)
  resident: Resident | None    # the training clips held in memory (None = batches carry videos)
  state: checkpoints.TrainState  # of a fresh run, replicated (the step donates it)
  train_step: object           # make_train_step's jitted step
  train_steps: object          # the same, several steps per call (stacked=True)

  def step(self, state: checkpoints.TrainState, batch: dict, num_active: jax.Array
           ) -> tuple[checkpoints.TrainState, dict]:
    """One optimiser step with this setup's frozen inputs: (state, metrics)."""
    return self.train_step(self.frozen, self.lpips, self.clip_features, self.resident, state,
                           batch, num_active)

  def steps(self, state: checkpoints.TrainState, batches: dict, num_active: jax.Array
            ) -> tuple[checkpoints.TrainState, dict]:
    """len(batches["index"]) optimiser steps in one call: (state, metrics per step)."""
    return self.train_steps(self.frozen, self.lpips, self.clip_features, self.resident,
                            state, batches, num_active)


def setup(config: ml_collections.ConfigDict, num_videos: int, mesh: jax.sharding.Mesh,
          plan: list[stages.Stage] | None = None, source=None,
          lpips_module: lpips_lib.LPIPS | None = None) -> TrainSetup:
  """Model, optimizer, frozen networks, a fresh state (checkpoints.build_state, all
  replicated on `mesh`) and the compiled step for `num_videos` videos.

  With conditioning="clip" and the training `source` given, every video's CLIP
  frame features are computed once (or read from their cache) and the step
  looks them up; without a source the step runs the CLIP tower on each batch.
  With a source whose clips fit data.resident_mib, they are held in memory
  (`Resident`) and the loop's batches carry only their positions.
  lpips_module: the LPIPS network to use instead of loading the pretrained one
  (the bench's random weights: same speed, no weight file).
  """
  plan = plan or stages.plan_for(config, num_videos)
  lpips = nnx.split(lpips_module) if lpips_module is not None else load_lpips(config)
  tx = stages.make_optimizer(config, plan)
  graphdef, frozen, state = checkpoints.build_state(config, num_videos,
                                                    parallel.replicated(mesh), tx=tx)
  features = None
  if config.model.conditioning == "clip" and source is not None:
    module = nnx.merge(graphdef, state.params, frozen)
    features = parallel.replicate(
        jnp.asarray(clip_features.load_or_compute(config.data, module.conditioner, source)),
        mesh)
  clips = None if source is None else pipeline.resident_clips(
      source, config.data.resident_mib, resident_bytes_per_pixel(config))
  resident = None if clips is None else make_resident(clips, config, mesh)
  steps = [make_train_step(config, graphdef, tx, mesh, lpips[0] if lpips else None, stacked)
           for stacked in (False, True)]  # jitted lazily: only what is called compiles
  return TrainSetup(graphdef, frozen, parallel.replicate(lpips[1], mesh) if lpips else None,
                    features, resident, state, *steps)

def resume_target(config: ml_collections.ConfigDict, workdir: pathlib.Path, meta: dict,
                  num_videos: int, mesh: jax.sharding.Mesh, data_checked: bool = False
                  ) -> checkpoints.TrainState:
  """The restore target of a checkpoint with `meta` (checkpoints.build_state's state as
  shapes), replicated on `mesh`; raises
  errors.UserError when it was trained on another model or dataset. data_checked: the
  videos were checked against the workdir's record (data/identity.py), so the folder
  may have moved (data.path may differ)."""
  checkpoints.check_resumable(workdir, config, meta, num_videos,
                              ("data.path",) if data_checked else ())
  return checkpoints.build_state(config, num_videos, parallel.replicated(mesh),
                                 abstract=True)[2]

# ------------------------------------------------------------------ logging


class MetricWriter:
  """metrics.jsonl lines plus TensorBoard scalars in workdir/tensorboard (process 0 only).

  Opening it drops the lines a stopped run wrote past `step` (the step it
  resumes from) and the final-metrics line of an earlier finish, so that the
  file holds each step once, in order.
  """

  def __init__(self, workdir: pathlib.Path, step: int):
    from tensorboardX import SummaryWriter
    self._main, self._workdir = parallel.is_main_process(), workdir
    self._path = workdir / metrics_log.FILE_NAME
    if self._main:
      metrics_log.keep_rows_up_to(self._path, step)
    self._jsonl = open(self._path, "a") if self._main else None
    self._tb = SummaryWriter(str(workdir / "tensorboard")) if self._main else None

  def write(self, step: int, metrics: dict) -> None:
    if not self._main:
      return
    with self._writing(self._path):
      self._jsonl.write(json.dumps({"step": step, **metrics}) + "\n")
      self._jsonl.flush()
    for name, value in metrics.items():
      if isinstance(value, (int, float)):
        self._tb.add_scalar(name, value, step)

  @contextlib.contextmanager
  def _writing(self, path: pathlib.Path):
    """OSError (a full disk, a read-only directory) -> errors.UserError naming `path`."""
    try:
      yield
    except OSError as err:
      raise errors.UserError(
          f"{path}: cannot write ({err.strerror or err}); the disk may be full or the "
          "directory read-only. The checkpoints already written are intact; rerun to resume "
          "from the newest once the directory is writable") from err

  def write_images(self, step: int, images: dict) -> None:
    """TensorBoard images {name: (H, W, 3) uint8}."""
    for name, image in images.items() if self._main else ():
      self._tb.add_image(name, image, step, dataformats="HWC")

  def close(self):
    if self._main:
      with self._writing(self._path):
        self._jsonl.close()
      try:
        with self._writing(self._workdir / "tensorboard"):
          self._tb.close()
      except errors.UserError:
        _abandon(self._tb)
        raise


def _abandon(summary_writer) -> None:
  """Stop a tensorboardX SummaryWriter whose close failed (a full disk) without writing.

  tensorboardX has no public way to do this: its exit handler would retry the close and
  print a traceback after our one error line, and its writer thread would fail at exit.
  So its event writers' threads are stopped and the writers marked closed (attributes of
  tensorboardX.event_file_writer.EventFileWriter), each step allowed to fail.
  """
  for file_writer in (getattr(summary_writer, "all_writers", None) or {}).values():
    event_writer = getattr(file_writer, "event_writer", None)
    with contextlib.suppress(Exception):
      event_writer._worker.stop()  # pylint: disable=protected-access
    with contextlib.suppress(Exception):
      event_writer._closed = True  # pylint: disable=protected-access


class MetricWindow:
  """Step metrics summed on device between log lines (no host sync per step)."""

  def __init__(self, step: int):
    self._sums, self._step, self._time = None, step, time.perf_counter()

  def add(self, metrics: dict, skip: int = 0) -> None:
    """One call's per-step metrics, each (n, ...); its first `skip` steps are left out
    (the caller logs them on their own, see `first_step_line`). Their time is not: the
    window's steps_per_second then counts the skipped steps' time (and a compile) too."""
    sums = jax.tree.map(lambda x: jnp.sum(x[skip:], axis=0), metrics)
    self._sums = sums if self._sums is None else jax.tree.map(jnp.add, self._sums, sums)
    self._step += skip

  @property
  def step(self) -> int:
    """The step after which the window's sums begin."""
    return self._step

  def saved(self) -> dict:
    """{"metric_window": the sums since the last line, as JSON} for a checkpoint's meta,
    so that a run resumed from it logs the whole window's mean; {} when there are none."""
    if self._sums is None:
      return {}
    return {"metric_window": {"after_step": self._step,
                              "sums": {k: float(v) for k, v in self._sums.items()},
                              "seconds": time.perf_counter() - self._time}}

  def resume(self, saved: dict | None) -> None:
    """Go on with a window that `saved` (a checkpoint meta's "metric_window") holds."""
    if saved:
      self._sums = {k: jnp.float32(v) for k, v in saved["sums"].items()}
      self._step = int(saved["after_step"])
      self._time = time.perf_counter() - float(saved["seconds"])

  def lines(self, call: "Call", metrics: dict) -> list[tuple[int, dict]]:
    """Add one call's per-step metrics (each (n, ...)); returns the (step, values) log
    lines due after it: the stage's first step on its own when the call ran it
    (`first_step_line`), then the means since the last line when call.log (none when
    that first step is the only one since)."""
    lines = [(call.start + 1, first_step_line(metrics))] if call.opens_stage else []
    self.add(metrics, skip=len(lines))
    if call.log and call.end > self.step:
      lines.append((call.end, self.means(call.end)))
    return lines

  def means(self, step: int) -> dict:
    """Means over the steps since the last call, plus steps_per_second; resets."""
    count, now = step - self._step, time.perf_counter()
    values = {k: float(v) / count for k, v in self._sums.items()}
    values["steps_per_second"] = count / max(now - self._time, 1e-9)
    self._sums, self._step, self._time = None, step, now
    return values


def first_step_line(metrics: dict) -> dict:
  """The first step's values of one call's per-step metrics (each (n, ...)): a
  stage's first step has a log line of its own, taken from the call that ran
  it, so that the call is as long as the others (one compiled program)."""
  return {name: float(values[0]) for name, values in metrics.items()}

# ------------------------------------------------------------------ models of the state


def current_model(config: ml_collections.ConfigDict, trainer: TrainSetup,
                  state: checkpoints.TrainState, workdir: pathlib.Path
                  ) -> trained_model.TrainedModel:
  """The model of train state `state`, as copies on this process's first device.

  Rendering it needs no other process (parallel.local_copy), and the copies
  survive the next train step, which donates `state`.
  """
  params, frozen, seen = parallel.local_copy(
      (state.params, trainer.frozen, state.seen_latents))
  return trained_model.from_module(config, nnx.merge(trainer.graphdef, params, frozen), seen,
                                   str(workdir), int(state.step))


def write_snapshot(config: ml_collections.ConfigDict, trainer: TrainSetup,
                   state: checkpoints.TrainState, source, workdir: pathlib.Path,
                   writer: MetricWriter) -> None:
  """Process 0: snapshots.snapshot of the current model to workdir/snapshots, its
  recon_psnr to metrics.jsonl/TensorBoard and its images to TensorBoard."""
  if parallel.is_main_process():
    model = current_model(config, trainer, state, workdir)
    metrics, images = snapshots.snapshot(model, source, workdir / "snapshots")
    writer.write(model.step, metrics)
    writer.write_images(model.step, images)

# ------------------------------------------------------------------ the loop's clock


@dataclasses.dataclass(frozen=True)
class Call:
  """One compiled call of a stage's loop (steps start + 1 .. end) and what follows it."""
  start: int         # steps done before the call
  end: int           # steps done after it
  opens_stage: bool  # it runs the stage's first step, which has a log line of its own
  log: bool          # a line of the metric window's means at `end`
  checkpoint: bool   # a checkpoint at `end` (a stop request writes one too)
  snapshot: bool     # an evaluation snapshot at `end`

  @property
  def count(self) -> int:
    """Steps the call runs."""
    return self.end - self.start

  @property
  def writes(self) -> bool:
    """A log line or a checkpoint follows it: the state must be finite."""
    return self.opens_stage or self.log or self.checkpoint


@dataclasses.dataclass(frozen=True)
class LoopClock:
  """When a stage's loop logs, checkpoints and takes snapshots, and so how many steps
  each compiled call runs (steps are counted from 0 over the whole plan)."""
  stage: stages.Stage
  steps_per_call: int    # train.steps_per_call: the most steps in one call
  log_every: int         # train.log_every (and the stage's last step)
  checkpoint_every: int  # train.checkpoint_every (and the stage's last step)
  snapshot_every: int    # eval.every; 0: no snapshots

  @classmethod
  def of(cls, stage: stages.Stage, config: ml_collections.ConfigDict) -> "LoopClock":
    return cls(stage, config.train.steps_per_call, config.train.log_every,
               config.train.checkpoint_every, config.eval.every)

  def calls(self, done: int) -> Iterator[Call]:
    """The stage's calls from `done` steps to its end, in order."""
    while done < self.stage.end_step:
      call = self.next_call(done)
      yield call
      done = call.end

  def next_call(self, done: int) -> Call:
    """The call from `done` steps: steps_per_call steps, cut short so that a call
    ends on every step where the loop logs, checkpoints, takes a snapshot or ends
    the stage."""
    last = self.stage.end_step
    events = [last] + [(done // every + 1) * every for every in
                       (self.log_every, self.checkpoint_every, self.snapshot_every) if every]
    end = done + max(1, min([self.steps_per_call] + [e - done for e in events if e > done]))
    return Call(done, end, opens_stage=done == self.stage.first_step,
                log=end % self.log_every == 0 or end == last,
                checkpoint=end % self.checkpoint_every == 0 or end == last,
                snapshot=bool(self.snapshot_every) and end % self.snapshot_every == 0)


def stack(batches: list[dict]) -> dict:
  """Per-step batches {name: (B, ...)} -> one {name: (steps, B, ...)}."""
  return {name: np.stack([b[name] for b in batches]) for name in batches[0]}

# ------------------------------------------------------------------ train_and_evaluate


@contextlib.contextmanager
def _closing(mngr):
  """Close the checkpoint manager however the block ends (waiting for the checkpoint
  being written); a failed write is errors.UserError (checkpoints.close), unless an
  error is already on its way out, which then is the one reported."""
  try:
    yield mngr
  except BaseException:
    with contextlib.suppress(Exception):
      mngr.close()
    raise
  checkpoints.close(mngr)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path,
                       accept_data_change: bool = False) -> trained_model.TrainedModel:
  """Train (resuming from the newest checkpoint in workdir), then write the outputs.

  Returns the trained model (also remembered as the process's last model).
  Raises errors.UserError before anything is written when a config field can't
  work (config_check), weights or data are missing, the workdir lies inside the
  video folder, holds a run of another model or dataset, or was trained on other
  videos than the folder holds now (data/identity.py; accept_data_change=True,
  --accept_data_change, trains on them as they are); errors.TrainingDiverged when a
  loss or gradient stops being finite; errors.Stopped after SIGTERM/SIGINT and a
  checkpoint.
  """
  workdir = pathlib.Path(workdir).expanduser().resolve()
  mesh = parallel.make_mesh()
  config_check.check(config, mesh.devices.size)
  resources.check(config, lambda: datasets.missing_data(config.data))
  identity.refuse_workdir_inside_data(workdir, config.data)
  checkpoints.check_writable(workdir)  # creates it
  with checkpoints.writer_lock(workdir):  # one writer per workdir
    recorded = identity.check(workdir, config.data, accept_data_change) is not None
    return _train(config, workdir, mesh, recorded)


def _train(config: ml_collections.ConfigDict, workdir: pathlib.Path, mesh: jax.sharding.Mesh,
           recorded: bool) -> trained_model.TrainedModel:
  """train_and_evaluate's work, once the config is checked and the workdir locked.
  recorded: the workdir's record of its videos was checked (data/identity.py)."""
  # ---- data: the prepared clips (prepared by process 0 alone) and the plan over them
  if parallel.is_main_process():
    datasets.load(config.data)
  parallel.sync("data prepared")
  source = datasets.load(config.data)
  num_videos = len(source)
  _say(f"{num_videos} training clips of {config.data.num_frames}x{config.data.height}"
       f"x{config.data.width} frames")
  plan = stages.plan_for(config, num_videos)
  if len(plan) > 1:
    _say("progressive stages: " + ", ".join(
        f"{s.num_videos} videos for steps {s.first_step}-{s.end_step}" for s in plan))

  # ---- model, optimizer, step; then the newest checkpoint, if any
  trainer = setup(config, num_videos, mesh, plan, source)
  mngr = checkpoints.manager(workdir, config.train.keep_checkpoints)
  found = checkpoints.restore_newest_intact(
      mngr, lambda meta: resume_target(config, workdir, meta, num_videos, mesh,
                                       recorded).items(),
      put_aside=workdir / "damaged_checkpoints")
  window_saved = None  # the metric sums of a stopped run's unfinished logging window
  if found is None:
    state = trainer.state
  else:
    latest, items, meta = found
    state = checkpoints.TrainState.from_items(items)
    window_saved = meta.get("metric_window")
    _say(f"resuming {workdir} from step {latest} (stage {meta.get('stage', 0)})")
  if parallel.is_main_process():
    checkpoints.write_config(workdir, config)
    identity.write(workdir, config.data, num_videos)
  start = int(state.step)
  writer = MetricWriter(workdir, start)
  end = stages.total_steps(plan)
  bar = tqdm.tqdm(total=end, initial=min(start, end), desc="train",
                  disable=not config.train.progress_bar or not parallel.is_main_process())

  # ---- the loop: each stage's steps not done yet
  # (closing the manager waits for the checkpoint being written, however the loop ends)
  with stopping.StopSignals() as signals, bar, _closing(mngr):
    for stage in plan:
      first = int(state.step)
      if first >= stage.end_step:
        continue
      # The stage's batches: a pure function of (seed, stage, step within the stage);
      # only their positions when the clips are resident (the same rows, in order).
      stage_source = datasets.first_n(source, stage.num_videos)
      seed, skip = config.seed + stage.index, first - stage.first_step
      batches = (pipeline.IndexBatches(len(stage_source), config.train.batch_size, seed, skip)
                 if trainer.resident is not None else
                 pipeline.Batches(stage_source, config.train.batch_size, seed, skip,
                                  workers=config.data.read_workers))
      num_active = jnp.int32(stage.num_videos)
      meta = {"num_videos": num_videos, "stage": stage.index, "stage_videos": stage.num_videos}
      clock = LoopClock.of(stage, config)
      window, finiteness = MetricWindow(first), stopping.Finiteness(state.params)
      if window_saved and window_saved["after_step"] >= stage.first_step:
        window.resume(window_saved)
      window_saved = None
      try:
        for call in clock.calls(first):
          batch = parallel.global_batch(stack([next(batches) for _ in range(call.count)]),
                                        mesh, stacked=True)
          state, metrics = trainer.steps(state, batch, num_active)
          done = call.end
          finiteness.add(metrics.pop("nonfinite"), done)
          bar.update(call.count)
          stop = signals.requested(mngr, done, agree=call.log)  # (agreed on log steps)
          if call.writes or stop:
            finiteness.check(mngr.latest_step(), workdir)  # never log or save a bad state
          for step, values in window.lines(call, metrics):
            writer.write(step, {**values, "stage": stage.index})
            bar.set_postfix(stage=stage.index, loss=f"{values['loss']:.4f}",
                            psnr=f"{values['psnr']:.1f}")
          if call.snapshot:
            write_snapshot(config, trainer, state, source, workdir, writer)
          if call.checkpoint or stop:
            checkpoints.save(mngr, done, state, {**meta, "step": done, **window.saved()})
          if stop:
            checkpoints.finish(mngr)
            raise stopping.stopped(workdir, done, signals.received)
      finally:
        batches.close()
    if mngr.latest_step() is None:  # nothing to train (num_steps 0): keep the init
      checkpoints.save(mngr, 0, state, {"num_videos": num_videos, "stage": 0, "step": 0})
    checkpoints.finish(mngr)

  # ---- outputs (process 0): reconstructions, samples, loss curve, final PSNR
  model = trained_model.remember(current_model(config, trainer, state, workdir))
  if parallel.is_main_process():
    writer.write(model.step, snapshots.write_outputs(model, source, workdir))
    if config.prior.enabled:  # the learned prior over the latents (learned_prior.py)
      fitted = learned_prior.is_fitted(model.latents, config.prior,
                                       learned_prior.prior_dir(workdir), config.seed)
      _say("the learned prior of these latents is already fitted" if fitted else
           f"fitting the prior on {model.num_videos} latents ({config.prior.steps} steps)")
      learned_prior.fit_workdir(model, progress=config.train.progress_bar)
      _say(f"-> {learned_prior.prior_dir(workdir)} (the learned prior; docs/prior.md)")
  writer.close()
  return model
