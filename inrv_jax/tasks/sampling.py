"""Novel videos from the learned latent space (paper Sec. 4).

  gaussian       a per-dimension Gaussian N(mean, std) fitted to the learned
                 latents, sampled independently per dimension
  slerp_random   the paper's FVD sampling: two distinct random training
                 latents, slerp between them on 50 evenly spaced points, one
                 point taken at random
  prior          the learned prior (models/prior.py): a random training latent
                 noised to path time config.prior.sample_start and carried to a
                 new latent by the flow the prior learned from the training
                 latents (from pure noise where sample_start is 0); the default
                 wherever the model has one (learned_prior.py fits it)
"""

import jax
import numpy as np

from inrv_jax.training import checkpoints
from inrv_jax import errors
from inrv_jax import learned_prior
from inrv_jax.models import prior as prior_lib
from inrv_jax.tasks import interpolation
from inrv_jax.tasks import rendering

METHODS = ("gaussian", "slerp_random", "prior")
SLERP_POINTS = 50  # evenly spaced points on each random path (paper)


def default_method(model) -> str:
  """"prior" where `model` has a learned prior, else "gaussian"."""
  return "prior" if getattr(model, "prior", None) is not None else "gaussian"


def sample_latents(key: jax.Array, n: int, latents: np.ndarray,
                   method: str = "gaussian",
                   prior: prior_lib.LatentPrior | None = None) -> np.ndarray:
  """n new latents (n, D) float32 drawn from the training latents (N, D); same key, same result.

  prior: the learned prior, needed by method="prior". Raises errors.UserError
  for n not an integer >= 1, an unknown method, too few latents, or "prior"
  without a prior.
  """
  latents = np.asarray(latents, np.float32)
  check_count(n)
  if method == "prior":
    if prior is None:
      raise errors.UserError("method 'prior': this model has no learned prior; fit one with "
                             "python -m inrv_jax.main --workdir=DIR --mode=fit_prior, or "
                             "choose gaussian or slerp_random")
    return prior.sample(key, n, anchors=latents)
  if method == "gaussian":
    mean, std = latents.mean(axis=0), latents.std(axis=0)
    noise = np.asarray(jax.random.normal(key, (n, latents.shape[1])))
    return (mean + std * noise).astype(np.float32)
  if method == "slerp_random":
    if len(latents) < 2:
      raise errors.UserError("slerp_random needs at least 2 training latents")
    pair_key, point_key = jax.random.split(key)
    pairs = np.asarray(jax.vmap(lambda k: jax.random.choice(k, len(latents), (2,),
                                                            replace=False))(
                                                                jax.random.split(pair_key, n)))
    points = np.asarray(jax.random.randint(point_key, (n,), 0, SLERP_POINTS))
    ts = points / (SLERP_POINTS - 1)
    return np.concatenate([interpolation.slerp(latents[a], latents[b], t)
                           for (a, b), t in zip(pairs, ts)])
  check_method(method)  # raises: no method above matched


def check_count(n) -> None:
  """Raises errors.UserError unless n, a number of samples, is an integer >= 1."""
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
    raise errors.UserError(f"number of samples must be an integer >= 1, got {n!r}")


def check_method(method: str) -> None:
  """Raises errors.UserError unless `method` is one of METHODS."""
  if method not in METHODS:
    raise errors.UserError(f"unknown sampling method {method!r}; choose one of {METHODS}")


def sample(key: jax.Array | int, n: int, model=None, workdir=None, method: str | None = None,
           num_frames: int | None = None, resolution: tuple[int, int] | None = None,
           return_latents: bool = False):
  """n novel videos (n, T, H, W, 3) float32 in [0, 1] (and their latents (n, latent_dim)).

  method: "prior" (the learned prior; the default where the model has one),
  "gaussian" (per-dimension Gaussian fitted to the training latents; the
  default otherwise) or "slerp_random" (the paper's FVD sampling, Sec. 4;
  see the module docstring). T and (H, W) default to the training clip size. With neither
  `model` nor `workdir`, uses the model most recently loaded or trained in
  this process, else $INRV_WORKDIR. An int key is a seed; the same key gives
  the same videos. Raises errors.UserError for n not an integer >= 1, an unknown method,
  slerp_random with fewer than 2 training videos, "prior" for a model without
  one, or no model to use (a bad `n` is reported first).
  """
  check_count(n)
  model = rendering.model_from(model, workdir)
  if isinstance(key, int):
    key = jax.random.key(key)
  z = sample_latents(key, n, model.latents, method or default_method(model), model.prior)
  videos = rendering.render(model, z, num_frames, resolution)
  return (videos, z) if return_latents else videos


def fit_prior(model=None, workdir=None, progress: bool = True) -> prior_lib.LatentPrior:
  """Fit (or refit) the learned prior on a trained model's latents; returns it.

  The model is `model`, else load(workdir), else the last model loaded or
  trained in this process (as for `sample`). The fit uses the model's
  config.prior, is saved in its workdir's prior/ (resumable; see
  learned_prior.py) and becomes `model.prior`, so that sampling and
  inversion use it from then on. Raises errors.UserError for a bad
  config.prior field, no model, or a workdir that another run is writing
  (checkpoints.writer_lock); errors.Stopped on SIGTERM/SIGINT once a
  checkpoint is written.
  """
  model = rendering.model_from(model, workdir)
  if model.workdir is None:
    return learned_prior.fit_workdir(model, progress)
  checkpoints.check_writable(model.workdir)
  with checkpoints.writer_lock(model.workdir):  # it writes prior/ as training writes its files
    return learned_prior.fit_workdir(model, progress)
