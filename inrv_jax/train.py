"""train_and_evaluate(config, workdir): state, the jitted step, the loop, outputs.

One batch's path: data/pipeline.py yields the local rows of global batch s
(videos (B, T, H, W, 3) in [-1, 1] and their dataset indices); they become
global arrays sharded on `data`; `train_step` looks up each video's latent,
runs the hypernetwork, renders the INR on the clip's grid (or on a random
subset of its pixels) and takes one Adam step on the pixel loss.
"""

import dataclasses
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx
import tqdm

from inrv_jax import checkpoints
from inrv_jax import evaluation
from inrv_jax import losses
from inrv_jax import parallel
from inrv_jax import resources
from inrv_jax import stages
from inrv_jax import trained_model
from inrv_jax.data import datasets
from inrv_jax.data import pipeline
from inrv_jax.models import coords as coords_lib
from inrv_jax.models import inr as inr_lib
from inrv_jax.models import inrv as inrv_lib
from inrv_jax.models import lpips as lpips_lib


def _say(message: str) -> None:
  if jax.process_index() == 0:
    print(message, flush=True)


def make_optimizer(config: ml_collections.ConfigDict,
                   plan: list[stages.Stage] | None = None) -> optax.GradientTransformation:
  """Adam over everything trainable, no decay, no clipping (paper).

  The learning rate is constant (paper) unless train.stage_lr_scales sets one
  per progressive stage of `plan`.
  """
  plan = plan or [stages.Stage(0, 0, 0, 0)]  # one stage: a constant schedule
  return optax.adam(stages.learning_rate(plan, config.train.learning_rate,
                                         config.train.stage_lr_scales))


def init_state(config, num_videos: int, tx) -> tuple[nnx.GraphDef, nnx.State, dict]:
  """(graphdef, non-trainable state, train state) for a fresh run."""
  module = inrv_lib.INRV(config.model, num_videos, rngs=nnx.Rngs(config.seed))
  graphdef, params, rest = nnx.split(module, nnx.Param, ...)
  state = {
      "params": params,
      "opt_state": tx.init(params),
      "train": {
          "step": jnp.int32(0),
          "rng": jax.random.key_data(jax.random.key(config.seed + 1)),
          "seen_latents": initial_latents(config, module, num_videos),  # (N, hn_in)
      },
  }
  return graphdef, rest, state


def initial_latents(config, module, num_videos: int) -> jnp.ndarray:
  """The z recorded for each video before it is first seen: its table row, or
  zeros with conditioning (where z needs the video's frames)."""
  if config.model.conditioning == "clip":
    return jnp.zeros((num_videos, config.model.hn_in), jnp.float32)
  return jnp.array(module.all_latents(), copy=True)  # a copy: donated separately


def predict_and_target(spec: inr_lib.INRSpec, weights, videos, fraction: float, key,
                       compute_dtype=jnp.float32):
  """INR outputs (float32) and the pixels they are compared with.

  videos (B, T, H, W, 3). With fraction 1 the whole grid is rendered
  ((B, T, H, W, 3) both); otherwise each video gets its own random pixels
  ((B, P', 3) both). The INR runs in `compute_dtype` (bfloat16 on
  accelerators); the hypernetwork, its master weights and the loss stay f32.
  """
  weights = tuple(w.astype(compute_dtype) for w in weights)
  pred, target = _predict(spec, weights, videos, fraction, key)
  return pred.astype(jnp.float32), target


def _predict(spec, weights, videos, fraction, key):
  b, t, h, w, c = videos.shape
  if fraction >= 1.0:
    return inr_lib.grid_apply(spec, weights, t, h, w), videos
  num_pixels = t * h * w
  count = max(1, int(round(fraction * num_pixels)))
  pixels = jax.random.randint(key, (b, count), 0, num_pixels)  # (B, P')
  grid = jnp.asarray(coords_lib.grid(t, h, w))  # (THW, 3)
  pred = jax.vmap(lambda wt, idx: inr_lib.inr_apply(spec, wt, grid[idx]))(weights, pixels)
  target = jnp.take_along_axis(videos.reshape(b, num_pixels, c), pixels[..., None], axis=1)
  return pred, target


def load_perceptual(config):
  """(graphdef, frozen state) of LPIPS-VGG16 when train.lpips_weight > 0, else None."""
  if config.train.lpips_weight <= 0:
    return None
  if config.train.pixel_fraction < 1.0:
    raise ValueError("train.lpips_weight > 0 needs whole frames: set train.pixel_fraction=1")
  from inrv_jax.models import lpips
  return nnx.split(lpips.load_lpips(config.train.vgg16_weights, config.train.lpips_weights))


def make_train_step(config, graphdef, tx, mesh, perceptual_graphdef=None):
  """The jitted pure step: (frozen, state, batch, num_active) -> (state, metrics).

  frozen: {"model": the model's non-trainable state, "lpips": LPIPS weights or
  None}; frozen weights are arguments, not constants baked into the program.
  num_active: how many latent rows the current progressive stage uses.
  """
  spec = inrv_lib.inr_spec_from_config(config.model)
  pixel_loss = losses.pixel_loss(config.train.loss)
  fraction = config.train.pixel_fraction
  conditioning = config.model.conditioning
  compute_dtype = jnp.dtype(config.model.compute_dtype)

  def loss_fn(params, frozen, batch, key, num_active):
    module = nnx.merge(graphdef, params, frozen["model"])
    pixel_key, dropout_key = jax.random.split(key)
    latent_kwargs = {"dropout_key": dropout_key} if conditioning == "clip" else {}
    z = module.latents(batch["index"], batch["video"], **latent_kwargs)  # (B, hn_in)
    weights = module.inr_weights(z)
    pred, target = predict_and_target(spec, weights, batch["video"], fraction, pixel_key,
                                      compute_dtype)
    pix = pixel_loss(pred, target)
    loss, extra = pix, {}
    if perceptual_graphdef is not None:
      perceptual = nnx.merge(perceptual_graphdef, frozen["lpips"])
      extra["lpips"] = jnp.mean(lpips_lib.lpips_loss_per_frame(perceptual, target, pred))
      loss = loss + config.train.lpips_weight * extra["lpips"]
    if conditioning == "gauss_prior":
      loss = loss + config.model.gauss_prior_weight * losses.gaussian_prior(
          module.latent_table[...], num_active)
    mse = jnp.mean(jnp.square(pred - target))
    return loss, {"pixel_loss": pix, "psnr": 10.0 * jnp.log10(4.0 / mse), "z": z, **extra}

  def step(frozen, state, batch, num_active):
    train = state["train"]
    key = jax.random.fold_in(jax.random.wrap_key_data(train["rng"]), train["step"])
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state["params"], frozen, batch, key, num_active)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    seen = train["seen_latents"].at[batch["index"]].set(jax.lax.stop_gradient(aux.pop("z")))
    new_state = {"params": params, "opt_state": opt_state,
                 "train": {"step": train["step"] + 1, "rng": train["rng"], "seen_latents": seen}}
    return new_state, {"loss": loss, **aux}

  replicated = parallel.replicated(mesh)
  batch_sharding = parallel.batch_sharded(mesh)
  return jax.jit(step, in_shardings=(replicated, replicated, batch_sharding, replicated),
                 out_shardings=(replicated, replicated), donate_argnums=1)


@dataclasses.dataclass
class Setup:
  """What a training loop needs, before any checkpoint is restored."""
  graphdef: nnx.GraphDef          # structure of the INRV module
  frozen: dict                    # replicated non-trainable state (model rest, LPIPS)
  state: dict                     # fresh train state (params, opt_state, train); not yet placed
  train_step: object              # the jitted step (frozen, state, batch, num_active)


def setup(config: ml_collections.ConfigDict, num_videos: int, mesh,
          plan: list[stages.Stage] | None = None) -> Setup:
  """Model, optimizer, frozen networks and the compiled step for `num_videos` videos."""
  plan = plan or stages.plan((), num_videos, config.train.batch_size, config.train.num_steps)
  perceptual = load_perceptual(config)
  tx = make_optimizer(config, plan)
  graphdef, rest, state = init_state(config, num_videos, tx)
  frozen = parallel.replicate({"model": rest, "lpips": perceptual[1] if perceptual else None},
                              mesh)
  step = make_train_step(config, graphdef, tx, mesh, perceptual[0] if perceptual else None)
  return Setup(graphdef, frozen, state, step)


class MetricWriter:
  """metrics.jsonl lines plus TensorBoard scalars in workdir/tensorboard."""

  def __init__(self, workdir: pathlib.Path):
    from tensorboardX import SummaryWriter
    self._jsonl = open(workdir / "metrics.jsonl", "a")
    self._tb = SummaryWriter(str(workdir / "tensorboard")) if jax.process_index() == 0 else None

  def write(self, step: int, metrics: dict) -> None:
    if jax.process_index() != 0:
      return
    self._jsonl.write(json.dumps({"step": step, **metrics}) + "\n")
    self._jsonl.flush()
    for name, value in metrics.items():
      if isinstance(value, (int, float)):
        self._tb.add_scalar(name, value, step)

  def close(self):
    self._jsonl.close()
    if self._tb is not None:
      self._tb.close()


def train_stage(stage, ctx, state):
  """Run the steps of one stage that are not done yet; returns the new state."""
  config, mngr, writer, bar = ctx["config"], ctx["mngr"], ctx["writer"], ctx["bar"]
  first = int(state["train"]["step"])
  if first >= stage.end_step:
    return state
  # The stage's batches: a pure function of (seed, stage, step within the stage).
  batches = pipeline.Batches(datasets.first_n(ctx["source"], stage.num_videos),
                             config.train.batch_size, config.seed + stage.index,
                             first - stage.first_step, workers=config.data.read_workers)
  num_active = jnp.int32(stage.num_videos)
  meta = {**ctx["meta"], "stage": stage.index, "stage_videos": stage.num_videos}
  tick, tick_step = time.perf_counter(), first
  window = None  # metrics summed on device since the last log line (no sync per step)
  try:
    for step in range(first, stage.end_step):
      batch = parallel.global_batch(next(batches), ctx["mesh"])
      state, metrics = ctx["run"].train_step(ctx["run"].frozen, state, batch, num_active)
      window = metrics if window is None else jax.tree.map(jnp.add, window, metrics)
      done = step + 1
      bar.update(1)
      if done % config.train.log_every == 0 or done in (stage.first_step + 1, stage.end_step):
        # means over the steps since the last line
        values = {k: float(v) / (done - tick_step) for k, v in window.items()}
        window = None
        now = time.perf_counter()
        values["steps_per_second"] = (done - tick_step) / max(now - tick, 1e-9)
        values["stage"] = stage.index
        tick, tick_step = now, done
        writer.write(done, values)
        bar.set_postfix(stage=stage.index, loss=f"{values['loss']:.4f}",
                        psnr=f"{values['psnr']:.1f}")
      if done % config.train.checkpoint_every == 0 or done == stage.end_step:
        checkpoints.save(mngr, done, state, {**meta, "step": done})
  finally:
    batches.close()
  return state


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str | pathlib.Path) -> trained_model.TrainedModel:
  """Train (resuming from the newest checkpoint in workdir), then write outputs."""
  workdir = pathlib.Path(workdir).expanduser().resolve()
  workdir.mkdir(parents=True, exist_ok=True)
  mesh = parallel.make_mesh()
  parallel.check_batch_size(config.train.batch_size, mesh)
  resources.check(config, lambda: datasets.missing_data(config.data))
  source = datasets.load(config.data)
  num_videos = len(source)
  _say(f"{num_videos} training clips of {config.data.num_frames}x{config.data.height}"
       f"x{config.data.width} frames")
  plan = stages.plan(config.train.stages, num_videos, config.train.batch_size,
                     config.train.num_steps)
  if len(plan) > 1:
    _say("progressive stages: " + ", ".join(
        f"{s.num_videos} videos for steps {s.first_step}-{s.end_step}" for s in plan))

  run = setup(config, num_videos, mesh, plan)
  state = run.state
  mngr = checkpoints.manager(workdir, config.train.keep_checkpoints)
  latest = mngr.latest_step()
  if latest is not None:
    checkpoints.check_resumable(workdir, config, checkpoints.read_meta(mngr, latest),
                                num_videos)
    state, meta = checkpoints.restore(mngr, latest, state)
    _say(f"resuming {workdir} from step {latest} (stage {meta.get('stage', 0)})")
  checkpoints.write_config(workdir, config)
  ctx = {"config": config, "mngr": mngr, "mesh": mesh, "source": source,
         "run": run,
         "meta": {"num_videos": num_videos}, "writer": MetricWriter(workdir)}
  state = parallel.replicate(state, mesh)
  end = stages.total_steps(plan)
  ctx["bar"] = tqdm.tqdm(total=end, initial=min(int(state["train"]["step"]), end),
                         desc="train",
                         disable=not config.train.progress_bar or jax.process_index() != 0)
  try:
    for stage in plan:
      state = train_stage(stage, ctx, state)
    if mngr.latest_step() is None:  # nothing to train (num_steps 0): keep the init
      checkpoints.save(mngr, 0, state, {**ctx["meta"], "stage": 0, "step": 0})
    mngr.wait_until_finished()
  finally:
    ctx["bar"].close()
  step = int(state["train"]["step"])
  module = nnx.merge(run.graphdef, state["params"], run.frozen["model"])
  model = trained_model.remember(trained_model.from_module(
      config, module, state["train"]["seen_latents"], str(workdir), step))
  final = evaluation.write_outputs(model, source, workdir)
  ctx["writer"].write(step, final)
  ctx["writer"].close()
  return model
