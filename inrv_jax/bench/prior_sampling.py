"""Experiment: which latents decode to videos like the data? (RESULTS.md, "The learned prior")

  python -m inrv_jax.bench.prior_sampling --workdir=W
  python -m inrv_jax.bench.prior_sampling --workdir=W --kinds=prior@0,prior@0.7,kernel@0.3

`--videos` latents of each kind of `--kinds` are rendered and compared with as many
videos of the dataset's test split (spread over it) by FVD (I3D features, 16 frames,
the eval's protocol, one run), and the first `--novelty_videos` (64) with the render of
their nearest training latent (PSNR, evaluate.nearest_training_psnr; above 30 dB a copy;
more than `--videos` draws that many, the FVD taking the first `--videos`). Kinds:

  reconstructions  training latents spread over the table (the decoder's own quality)
  slerp_random, gaussian  the sampling methods of tasks/sampling.py
  prior@S          the learned prior started at path time S (models/prior.py:
                   0 = from noise, S in (0, 1) = from a training latent noised to S)
  kernel@B         a training latent plus Gaussian noise of B training-latent standard
                   deviations per dimension (a kernel density estimate; no prior)

It prints one JSON line per kind: FVD, the mean distance to the nearest training latent
and the mean norm (both in per-dimension standardised units, where the training latents
have norm about sqrt(D)), the nearest-training PSNR (mean, max, fraction of copies),
and the seconds it took.
"""

import json
import time

import jax
import numpy as np
from absl import app
from absl import flags
from absl import logging

from inrv_jax import errors
from inrv_jax.evaluation import evaluate
from inrv_jax.evaluation import fvd as fvd_lib
from inrv_jax.evaluation import fvd_eval
from inrv_jax.runtime import cpu_runtime
from inrv_jax.tasks import rendering
from inrv_jax.tasks import sampling

FLAGS = flags.FLAGS
NOVELTY_VIDEOS = 64  # samples of each kind searched for their nearest training video


def define_flags():
  flags.DEFINE_string("workdir", None, "Trained workdir (with a learned prior for prior@S).",
                      required=True)
  flags.DEFINE_list("kinds", ["reconstructions", "slerp_random", "prior@0", "prior@0.5",
                              "prior@0.7", "prior@0.8"], "Kinds of latents to compare.")
  flags.DEFINE_integer("videos", 256, "Videos a side for the FVD.")
  flags.DEFINE_integer("seed", 1, "Seed of every kind's draw.")
  flags.DEFINE_integer("novelty_videos", NOVELTY_VIDEOS,
                       "Samples of each kind searched for their nearest training video "
                       "(the copy rate's sample).", lower_bound=1)


def draw(model, kind: str, n: int, key: jax.Array) -> np.ndarray:
  """n latents (n, D) float32 of `kind` (the module docstring). Raises errors.UserError for
  an unknown kind, or prior@S for a workdir without a prior."""
  latents = np.asarray(model.latents, np.float32)
  name, _, value = kind.partition("@")
  if kind == "reconstructions":
    return latents[fvd_eval.real_indices(len(latents), n)]
  if kind in ("slerp_random", "gaussian"):
    return sampling.sample_latents(key, n, latents, kind)
  try:
    number = float(value)
  except ValueError:
    number = None
  if name == "prior" and number is not None:
    if model.prior is None:
      raise errors.UserError(f"{kind}: this workdir has no learned prior (--mode=fit_prior)")
    return model.prior.sample(key, n, anchors=latents, start=number)
  if name == "kernel" and number is not None:
    pick, noise = jax.random.split(key)
    rows = np.asarray(jax.random.randint(pick, (n,), 0, len(latents)))
    eps = np.asarray(jax.random.normal(noise, (n, latents.shape[1])))
    return (latents[rows] + number * latents.std(axis=0) * eps).astype(np.float32)
  raise errors.UserError(f"unknown kind {kind!r}: reconstructions, slerp_random, gaussian, "
                         "prior@S or kernel@B")


def measure(model, kinds, videos: int, seed: int, novelty_videos: int | None = None):
  """Yields one dict per kind (the module docstring): FVD over `videos` latents of the
  kind, the copy rate over the first `novelty_videos` (None: min(videos, 64)); drawn
  together, max(videos, novelty_videos) latents from `seed`."""
  novelty_videos = min(videos, NOVELTY_VIDEOS) if novelty_videos is None else novelty_videos
  extractor = fvd_lib.FeatureExtractor()
  _, _, held_out = evaluate.held_out_videos(model, None)
  real = extractor(evaluate.spread(held_out, videos))
  latents = np.asarray(model.latents, np.float32)
  centre, scale = latents.mean(axis=0), latents.std(axis=0)
  standard = (latents - centre) / scale
  for kind in kinds:
    start = time.perf_counter()
    drawn = draw(model, kind, max(videos, novelty_videos), jax.random.key(seed))
    z = drawn[:videos]
    features = np.concatenate([
        extractor(rendering.render(model, z[i:i + 32], progress=False))
        for i in range(0, len(z), 32)])
    zs = (z - centre) / scale
    to_nearest = np.sqrt(((zs[:, None] - standard[None]) ** 2).sum(-1)).min(axis=1)
    psnr = evaluate.nearest_training_psnr(model, drawn[:novelty_videos])
    yield {"kind": kind, "fvd": round(float(fvd_lib.distance_between_features(real, features)), 1),
           "to_nearest_latent": round(float(to_nearest.mean()), 2),
           "norm": round(float(np.linalg.norm(zs, axis=1).mean()), 2),
           "nearest_psnr_mean": round(float(psnr.mean()), 2),
           "nearest_psnr_max": round(float(psnr.max()), 2),
           "copies": float((psnr > evaluate.COPY_PSNR).mean()),
           "videos": videos, "novelty_videos": len(psnr),
           "seconds": round(time.perf_counter() - start, 1)}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax is chatty at INFO
  with errors.exit_on_user_error():
    model = rendering.model_from(workdir=FLAGS.workdir)
    for kind in FLAGS.kinds:  # a bad kind fails before the I3D work
      draw(model, kind, 2, jax.random.key(0))
    for line in measure(model, FLAGS.kinds, FLAGS.videos, FLAGS.seed, FLAGS.novelty_videos):
      print(json.dumps(line), flush=True)


if __name__ == "__main__":
  cpu_runtime.use_cpu_settings()  # before JAX starts; may restart with huge pages
  define_flags()
  app.run(main, flags_parser=errors.parse_flags)
