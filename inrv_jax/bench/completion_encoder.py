"""Experiment: an amortised completion encoder over a trained model (RESULTS.md, "What limits
the figures").

  python -m inrv_jax.bench.completion_encoder --workdir=W
  python -m inrv_jax.bench.completion_encoder --workdir=W --generated_videos=16000

The trained model stays frozen. A small MLP encoder learns to map a partly observed video
(its grey pixels, hidden ones set to 0, and the mask) to a latent whose render matches the
*whole* video: the MSE over every pixel (drawn as training draws them, config.train),
hidden ones included, so the encoder learns the completion on average rather than a fit
of the observed pixels (what inversion, paper Sec. 4, optimises). Each training video is
seen in full or, with equal probability, under one of `--masks`.

Training videos: the model's training split, or `--generated_videos` Moving MNIST videos
(the workdir's dataset with data.generated_videos set to it: the model's own training
videos first, then unseen ones; prepared on first use). Then the `--videos`
held-out test videos the eval inverts (spread over the test split as `--mode=eval` picks
them) are completed under each mask and scored on their hidden pixels against the
mean-frame baseline, beside the default inversion recipe of `inrv_jax.invert` and the
blends `a * encoder + (1 - a) * inversion` of their renders for each a of `--blend`.

It prints one JSON line every `--log_every` steps (training MSE, [-1, 1] space, and the
encoder's PSNR gains over the baseline on the test videos) and one per mask at the end
(PSNR in dB on the hidden pixels, on every pixel for `full`).
"""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app
from absl import flags
from absl import logging
from flax import nnx

from inrv_jax import errors
from inrv_jax.data import datasets
from inrv_jax.evaluation import fvd_eval
from inrv_jax.evaluation import metrics
from inrv_jax.runtime import cpu_runtime
from inrv_jax.tasks import inversion
from inrv_jax.tasks import masks as masks_lib
from inrv_jax.tasks import rendering
from inrv_jax.training import losses
from inrv_jax.training import train as train_lib

FLAGS = flags.FLAGS
EVAL_MASKS = ("future", "frame_interp", "inpaint_box")  # the eval's masks scored by the issue


def define_flags():
  flags.DEFINE_string("workdir", None, "Trained workdir (its model stays frozen).",
                      required=True)
  flags.DEFINE_integer("generated_videos", 0, "Moving MNIST videos to train the encoder on "
                       "(data.generated_videos); 0 = the model's training split.")
  flags.DEFINE_integer("steps", 3_000, "Adam steps of the encoder.")
  flags.DEFINE_float("learning_rate", 1e-3, "Peak Adam rate (100 warm-up steps, cosine to 0).")
  flags.DEFINE_integer("width", 512, "Width of the encoder's two hidden layers.")
  flags.DEFINE_integer("batch_size", 64, "Videos per step.")
  flags.DEFINE_list("masks", list(EVAL_MASKS), "Mask specs the encoder trains and is scored "
                    "under (tasks/masks.py); `full` is always added.")
  flags.DEFINE_integer("videos", 64, "Held-out test videos scored.")
  flags.DEFINE_list("blend", ["0.5", "0.75"], "Encoder weights a of the blends with the "
                    "default inversion; empty = no inversion.")
  flags.DEFINE_integer("log_every", 500, "Steps between progress lines.")
  flags.DEFINE_integer("seed", 0, "Seed of the encoder's initialisation and batches.")


class CompletionEncoder(nnx.Module):
  """Partly observed videos -> latents of a trained model's space.

  grey (B, T, H, W) float32 in [-1, 1] with the hidden pixels 0, observed (B, T, H, W)
  bool -> (B, latent_dim) float32 = mean + std * MLP(grey, observed): two GELU layers
  of `width`, the output scaled by the training latents' mean and std (D,) per
  dimension so that the untrained encoder starts near the mean latent.
  """

  def __init__(self, num_pixels: int, latent_dim: int, width: int, mean, std,
               rngs: nnx.Rngs):
    self.hidden1 = nnx.Linear(2 * num_pixels, width, rngs=rngs)
    self.hidden2 = nnx.Linear(width, width, rngs=rngs)
    self.out = nnx.Linear(width, latent_dim, rngs=rngs)
    self.mean = nnx.Variable(jnp.asarray(mean, jnp.float32))  # (D,), not trained
    self.std = nnx.Variable(jnp.asarray(std, jnp.float32))  # (D,), not trained

  def __call__(self, grey: jnp.ndarray, observed: jnp.ndarray) -> jnp.ndarray:
    b = grey.shape[0]
    x = jnp.concatenate([grey.reshape(b, -1), observed.reshape(b, -1).astype(jnp.float32)],
                        axis=-1)
    x = nnx.gelu(self.hidden2(nnx.gelu(self.hidden1(x))))
    return self.mean[...] + self.std[...] * self.out(x)


def masked_grey(videos: jnp.ndarray, observed: jnp.ndarray) -> jnp.ndarray:
  """Videos (B, T, H, W, 3) in [-1, 1] -> grey (B, T, H, W), hidden pixels 0."""
  return jnp.where(observed, videos.mean(axis=-1), 0.0)


def mask_bank(model, specs) -> np.ndarray:
  """(1 + len(specs), T, H, W) bool: all observed, then each spec on the model's grid.
  Raises errors.UserError for a malformed spec or one off the grid."""
  data = model.config.data
  shape = (data.num_frames, data.height, data.width)
  try:
    parsed = masks_lib.on_grid([s for s in specs if s != "full"], *shape)
  except masks_lib.MaskError as e:
    raise errors.UserError(f"--masks: {e}") from e
  return np.stack([np.ones(shape, bool)] +
                  [np.asarray(masks_lib.as_arrays(s, 1, *shape), bool)[0] for s in parsed])


def train_encoder(model, clips: np.ndarray, masks: np.ndarray, steps: int,
                  learning_rate: float = 1e-3, width: int = 512, batch_size: int = 64,
                  seed: int = 0, log_every: int = 0, on_log=None) -> tuple:
  """Fit a CompletionEncoder to `model`'s frozen hypernetwork (see the module docstring).

  clips: (N, T, H, W, 3) uint8 training videos; masks: (M, T, H, W) bool, each batch
  video drawn under one of them uniformly. Adam, 100 warm-up steps (or steps // 2),
  cosine decay to 0. Every `log_every` steps (0 = never) on_log(step, encoder, mse)
  is called, mse the mean of those steps' losses. Returns (encoder, losses (steps,)
  float32: each step's weighted MSE in [-1, 1] space).
  """
  config = model.config
  spec = model.inr_spec
  n, t, h, w, _ = clips.shape
  table = np.asarray(model.latents)
  encoder = CompletionEncoder(t * h * w, table.shape[1], width, table.mean(axis=0),
                              table.std(axis=0), nnx.Rngs(seed))
  graphdef, params, constants = nnx.split(encoder, nnx.Param, ...)
  schedule = optax.warmup_cosine_decay_schedule(0.0, learning_rate, min(100, steps // 2),
                                                steps, 0.0)
  tx = optax.adam(schedule)
  opt_state = tx.init(params)
  resident = jnp.asarray(clips)
  bank = jnp.asarray(masks)
  sampling = config.train.pixel_sampling if config.train.pixel_fraction < 1 else "uniform"

  def loss_fn(params, videos, key):
    encoder = nnx.merge(graphdef, params, constants)
    observed = bank[jax.random.randint(jax.random.fold_in(key, 1), (len(videos),), 0,
                                       len(bank))]
    latents = encoder(masked_grey(videos, observed), observed)
    pred, target, weights = train_lib.predict_and_target(
        spec, model.inr_weights(latents), videos, config.train.pixel_fraction, key,
        sampling=sampling, mix=config.train.importance_mix)
    return train_lib.weighted_mean(losses.mse_elements(pred, target), weights)

  def step(carry, key):
    params, opt_state = carry
    pick, draw = jax.random.split(key)
    videos = train_lib.unit_range(resident[jax.random.randint(pick, (batch_size,), 0, n)])
    mse, grads = jax.value_and_grad(loss_fn)(params, videos, draw)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), mse

  chunk = log_every or steps

  @jax.jit
  def run(params, opt_state, keys):  # len(keys) steps in one compiled call
    (params, opt_state), mses = jax.lax.scan(step, (params, opt_state), keys)
    return params, opt_state, mses

  key = jax.random.key(seed)
  out = []
  for start in range(0, steps, chunk):
    keys = jax.random.split(jax.random.fold_in(key, start), min(chunk, steps - start))
    params, opt_state, mses = run(params, opt_state, keys)
    out.append(np.asarray(mses))
    if log_every and on_log is not None:
      on_log(start + len(keys), nnx.merge(graphdef, params, constants), float(mses.mean()))
  return nnx.merge(graphdef, params, constants), np.concatenate(out)


def complete(model, encoder: CompletionEncoder, videos: np.ndarray,
             masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Videos (B, T, H, W, 3) in [0, 1] seen through masks (B, T, H, W) bool -> the encoder's
  latents (B, D) float32 and their renders (B, T, H, W, 3) float32 in [0, 1]."""
  latents = np.asarray(jax.jit(encoder)(
      masked_grey(jnp.asarray(videos) * 2.0 - 1.0, jnp.asarray(masks)), jnp.asarray(masks)))
  return latents, rendering.render(model, latents, progress=False)


def training_videos(model, generated_videos: int) -> np.ndarray:
  """(N, T, H, W, 3) uint8: the model's training split, or `generated_videos` Moving MNIST
  videos of its dataset (see the module docstring). Raises errors.UserError for
  generated videos of a dataset that is not generated."""
  data = model.config.data.copy_and_resolve_references()
  if generated_videos:
    if data.name != "moving_mnist":
      raise errors.UserError(f"--generated_videos needs a generated dataset (moving_mnist); "
                             f"this model's is {data.name!r}: pass --generated_videos=0")
    data.generated_videos = generated_videos
  source = datasets.load(data, split="train")
  return np.stack([np.asarray(source[i]["video"]) for i in range(len(source))])


def measure(model, generated_videos: int = 0, steps: int = 3_000,
            learning_rate: float = 1e-3, width: int = 512, batch_size: int = 64,
            mask_specs=EVAL_MASKS, num_videos: int = 64, blend=(0.5, 0.75), seed: int = 0,
            log_every: int = 500, emit=print) -> CompletionEncoder:
  """Train an encoder on `model` and score it (the module docstring); emit(line) is called
  with each line as it comes: {"step", "mse", "seconds", "gain"} while training, then per
  mask {"mask", "encoder", "baseline", "inversion", "seconds_inversion", "blend_<a>"} (PSNR
  dB; no baseline for `full`; `inversion` and blends only with `blend`). Returns the
  trained encoder. Raises errors.UserError for a bad mask spec or generated videos of a
  dataset that is not generated, before any work."""
  bank = mask_bank(model, mask_specs)  # checked before any work
  names = ["full"] + [s for s in mask_specs if s != "full"]
  began = time.perf_counter()
  clips = training_videos(model, generated_videos)
  test = datasets.load(model.config.data, split="test")
  targets = datasets.clips01(test, fvd_eval.real_indices(len(test), num_videos))

  def gains(encoder) -> dict:  # "full": PSNR; the masks: PSNR gain over the baseline
    out = {}
    for name, mask in zip(names, bank):
      masks = np.broadcast_to(mask, targets.shape[:4])
      renders = complete(model, encoder, targets, masks)[1]
      if name == "full":
        out["full_psnr"] = float(metrics.psnr(renders, targets).mean())
      else:
        baseline = inversion.mean_frame_fill(targets, masks)
        out[name] = float((metrics.psnr(renders, targets, ~masks)
                           - metrics.psnr(baseline, targets, ~masks)).mean())
    return out

  def on_log(step, encoder, mse):
    emit({"step": step, "mse": mse, "seconds": time.perf_counter() - began,
          "gain": gains(encoder)})

  encoder, _ = train_encoder(model, clips, bank, steps, learning_rate, width, batch_size,
                             seed, log_every, on_log)
  for name, mask in zip(names, bank):
    masks = np.broadcast_to(mask, targets.shape[:4]).copy()
    scored = None if name == "full" else ~masks
    score = lambda videos: float(metrics.psnr(videos, targets, scored).mean())
    renders = complete(model, encoder, targets, masks)[1]
    line = {"mask": name, "encoder": score(renders)}
    if scored is not None:
      line["baseline"] = score(inversion.mean_frame_fill(targets, masks))
    if blend:
      t0 = time.perf_counter()
      inverted = inversion.invert(targets, masks, model, key=seed, progress=False).videos
      line["inversion"] = score(inverted)
      line["seconds_inversion"] = time.perf_counter() - t0
      for a in blend:
        line[f"blend_{a}"] = score(a * renders + (1.0 - a) * inverted)
    emit(line)
  return encoder


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax is chatty at INFO
  with errors.exit_on_user_error():
    try:
      blend = tuple(float(a) for a in FLAGS.blend)
    except ValueError as e:
      raise errors.UserError(f"--blend: {e}") from e
    model = rendering.model_from(workdir=FLAGS.workdir)
    measure(model, FLAGS.generated_videos, FLAGS.steps, FLAGS.learning_rate, FLAGS.width,
            FLAGS.batch_size, FLAGS.masks, FLAGS.videos, blend, FLAGS.seed, FLAGS.log_every,
            emit=lambda line: print(json.dumps(line), flush=True))


if __name__ == "__main__":
  cpu_runtime.use_cpu_settings()  # before JAX starts; may restart with huge pages
  define_flags()
  app.run(main, flags_parser=errors.parse_flags)
