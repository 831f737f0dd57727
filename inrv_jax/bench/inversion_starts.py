"""Experiment: where does an inversion land, from which start? (RESULTS.md, "What limits the figures")

  python -m inrv_jax.bench.inversion_starts --workdir=W --split=train [--videos=32]
  python -m inrv_jax.bench.inversion_starts --workdir=W --split=test
  python -m inrv_jax.bench.inversion_starts --workdir=W --split=test --starts=mean,regression \
    --mask=future --energy_weight=0.01

`--videos` clips spread over the split are inverted under `--mask` (default `full`)
with the default recipe of `inrv_jax.invert` (Adam, DEFAULT_STEPS steps,
DEFAULT_LEARNING_RATE, DEFAULT_PIXELS pixels a step; the learned prior's energy only
with `--energy_weight`), from each start of `--starts`:

  mean      the mean training latent (the default start of every inversion)
  stored    the clip's own latent from the table (training split only)
  noisy     the stored latent plus Gaussian noise of `--noise` training-latent standard
            deviations per dimension (training split only): how wide its basin is
  random    the best (lowest final loss) of `--random_starts` draws from the training
            latents' Gaussian
  nearest   the training latent whose render is nearest the clip (MSE over all pixels)
  regression  the latent predicted from the clip's observed pixels by ridge regression
            fitted on the training clips and their stored latents (`regression_latents`;
            on the training split, fitted without the clips inverted): an amortised
            start, what an encoder would give

It prints one JSON line per start: the mean PSNR (dB) of the inverted clips' renders
against the clips (under a partial mask: on the hidden pixels), and the seconds it
took. Under a partial mask a line "start": "baseline" comes first, the mean-frame
fill's PSNR on the hidden pixels; on the training split the stored latents' own renders
come next ("start": "none", no optimisation), the figure an inversion could reach.
"""

import json
import time

import numpy as np
from absl import app
from absl import flags
from absl import logging

from inrv_jax import errors
from inrv_jax.data import datasets
from inrv_jax.evaluation import metrics
from inrv_jax.runtime import cpu_runtime
from inrv_jax.tasks import inversion
from inrv_jax.tasks import masks as masks_lib
from inrv_jax.tasks import rendering

STARTS = ("mean", "stored", "noisy", "random", "nearest", "regression")
# Ridge penalty of `regression` on the centred grey pixels of 2,000 training clips
# (penalties 1e2 to 1e4 gave test inversions within 0.03 dB of each other: RESULTS.md).
REGRESSION_RIDGE = 1e3
FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("workdir", None, "Trained workdir.", required=True)
  flags.DEFINE_enum("split", "train", ["train", "test"], "Which clips to invert.")
  flags.DEFINE_integer("videos", 32, "Clips inverted, spread evenly over the split.")
  flags.DEFINE_list("starts", list(STARTS), f"Starts to try, of {STARTS}.")
  flags.DEFINE_float("noise", 1.0, "`noisy`: noise in training-latent stds per dimension.")
  flags.DEFINE_integer("random_starts", 4, "`random`: draws, the best kept.")
  flags.DEFINE_string("mask", "full", "Mask spec of the observed pixels (tasks/masks.py).")
  flags.DEFINE_float("energy_weight", 0.0, "Weight of the learned prior's energy (0 = none).")


def nearest_latents(model, clips: np.ndarray, chunk: int = 100) -> np.ndarray:
  """The training latent (n, D) whose render has the least MSE to each clip (n, T, H, W, 3)."""
  table = np.asarray(model.latents)
  best = np.full(len(clips), np.inf)
  rows = np.zeros(len(clips), int)
  for start in range(0, len(table), chunk):
    renders = rendering.render(model, table[start:start + chunk], progress=False)
    mse = ((renders[None] - clips[:, None]) ** 2).mean(axis=(2, 3, 4, 5))  # (n, chunk)
    better = mse.min(axis=1) < best
    best = np.where(better, mse.min(axis=1), best)
    rows = np.where(better, start + mse.argmin(axis=1), rows)
  return table[rows]


def regression_latents(model, train_clips: np.ndarray, clips: np.ndarray, mask: np.ndarray,
                       exclude: np.ndarray | None = None,
                       ridge: float = REGRESSION_RIDGE) -> np.ndarray:
  """Latents (n, D) float32 predicted from the observed pixels of `clips` (n, T, H, W, 3)
  in [0, 1] by linear ridge regression on the grey observed pixels, fitted on the
  training clips `train_clips` (N, T, H, W, 3) and the model's stored latents (N, D)
  (normalised per dimension), without the training rows `exclude`. mask: (T, H, W)
  bool, the same for every clip. Solved in the dual (N x N), exact."""
  keep = mask.reshape(-1)
  rows = np.setdiff1d(np.arange(len(train_clips)), [] if exclude is None else exclude)

  def features(videos):  # (n, observed pixels) float64, grey
    return videos.mean(axis=-1).reshape(len(videos), -1)[:, keep].astype(np.float64)

  x = features(train_clips[rows])
  centre = x.mean(axis=0)
  x -= centre
  table = np.asarray(model.latents, np.float64)[rows]
  mean, std = table.mean(axis=0), table.std(axis=0)
  coef = np.linalg.solve(x @ x.T + ridge * np.eye(len(x)), (table - mean) / std)  # (N, D)
  return (((features(clips) - centre) @ x.T) @ coef * std + mean).astype(np.float32)


def measure(model, split: str, num_videos: int, starts, noise: float = 1.0,
            random_starts: int = 4, seed: int = 0, mask: str = "full",
            energy_weight: float = 0.0):
  """Yields {"split", "start", "psnr", "seconds", ...} for each start (see the module
  docstring); under a partial `mask` "psnr" is on the hidden pixels, and the first line
  ("start": "baseline") the mean-frame fill's. Raises errors.UserError for an unknown
  start, `stored`/`noisy` on the test split, a malformed mask spec or one off the
  model's grid, or a negative energy_weight (or a positive one without a learned prior)."""
  unknown = sorted(set(starts) - set(STARTS))
  if unknown:
    raise errors.UserError(f"--starts: unknown {unknown}; choose from {STARTS}")
  if split != "train" and {"stored", "noisy"} & set(starts):
    raise errors.UserError("--starts: `stored` and `noisy` need --split=train (test clips "
                           "have no stored latent)")
  data = model.config.data
  try:
    spec, = masks_lib.on_grid([mask], data.num_frames, data.height, data.width)
  except masks_lib.MaskError as e:
    raise errors.UserError(f"--mask: {e}") from e
  try:  # >= 0, and a learned prior for a weight above 0
    inversion.resolve_recipe(model, use_prior=False, energy_weight=energy_weight)
  except errors.UserError as e:
    raise errors.UserError(f"--energy_weight={energy_weight}: {e}") from e
  source = datasets.load(data, split=split)
  rows = np.linspace(0, len(source) - 1, min(num_videos, len(source))).astype(int)
  clips = datasets.clips01(source, rows)
  masks = masks_lib.as_arrays(spec, len(clips), data.num_frames, data.height, data.width)
  hidden = None if masks.all() else ~masks
  table = np.asarray(model.latents)
  mean, std = table.mean(axis=0), table.std(axis=0)
  rng = np.random.default_rng(seed)

  def psnr(latents) -> float:
    return float(metrics.psnr(rendering.render(model, latents, progress=False), clips,
                              hidden).mean())

  def invert(init):  # -> (latents, final loss per clip)
    latents, losses = inversion.optimise(model, clips, masks, init=init, progress=False,
                                         energy_weight=energy_weight)
    return latents, losses[-10:].mean(axis=0)

  def regression():
    training = datasets.load(data, split="train")
    return regression_latents(model, datasets.clips01(training, np.arange(len(training))),
                              clips, masks[0], exclude=rows if split == "train" else None)

  if hidden is not None:
    yield {"split": split, "start": "baseline", "mask": str(spec), "psnr": float(
        metrics.psnr(inversion.mean_frame_fill(clips, masks), clips, hidden).mean())}
  if split == "train":
    yield {"split": split, "start": "none", "psnr": psnr(table[rows]), "seconds": 0.0}
  for start in starts:
    began = time.perf_counter()
    if start == "random":
      best, best_loss = None, np.full(len(rows), np.inf)
      for _ in range(random_starts):
        latents, loss = invert(mean + std * rng.standard_normal((len(rows), len(mean))))
        best = latents if best is None else np.where((loss < best_loss)[:, None], latents, best)
        best_loss = np.minimum(loss, best_loss)
      latents = best
    else:
      init = {"mean": lambda: None, "stored": lambda: table[rows],
              "noisy": lambda: table[rows] + noise * std * rng.standard_normal(
                  (len(rows), len(mean))),
              "nearest": lambda: nearest_latents(model, clips),
              "regression": regression}[start]()
      latents = invert(init)[0]
    line = {"split": split, "start": start, "psnr": psnr(latents),
            "seconds": time.perf_counter() - began}
    if start == "noisy":
      line["noise"] = noise
    if start == "random":
      line["random_starts"] = random_starts
    yield line


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax is chatty at INFO
  with errors.exit_on_user_error():
    model = rendering.model_from(workdir=FLAGS.workdir)
    for line in measure(model, FLAGS.split, FLAGS.videos, FLAGS.starts, FLAGS.noise,
                        FLAGS.random_starts, mask=FLAGS.mask,
                        energy_weight=FLAGS.energy_weight):
      print(json.dumps(line), flush=True)


if __name__ == "__main__":
  cpu_runtime.use_cpu_settings()  # before JAX starts; may restart with huge pages
  define_flags()
  app.run(main, flags_parser=errors.parse_flags)
