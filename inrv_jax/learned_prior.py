"""Fitting the learned prior (models/prior.py) on a workdir's latents, and keeping it there.

The prior of a workdir lives in WORKDIR/prior/: an Orbax checkpoint per
`prior.checkpoint_every` fitting steps (items `state`: weights, EMA weights,
Adam state, step; and `meta`: JSON with the architecture, the normalisation,
the fitting settings and a fingerprint of the latents it was fitted on). The
fit is a pure function of (latents, config.prior, seed): step s draws its
batch and noise from the step number alone, so a fit stopped by SIGTERM or
Ctrl-C (a checkpoint is written first) and run again ends with the same
weights as one that never stopped. A checkpoint fitted on other latents or
settings is not resumed but replaced.

`load(workdir)` gives the fitted prior (its EMA weights) or None when the
workdir has none, or only an unfinished fit; such a workdir samples and
inverts as before the prior existed.
"""

import hashlib
import json
import pathlib
import shutil
import tempfile
import warnings

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import tqdm

from inrv_jax import config_check
from inrv_jax import errors
from inrv_jax.training import stopping
from inrv_jax.models import prior as prior_lib

PRIOR_DIR = "prior"
KEEP = 2  # prior checkpoints kept
CALL_STEPS = 250  # fitting steps per compiled call at most (signals are read between calls)
ARCHITECTURE = ("width", "depth", "time_dim")
FITTING = ("learning_rate", "steps", "batch_size", "ema_decay", "time_sampling")


def prior_dir(workdir: str | pathlib.Path) -> pathlib.Path:
  """WORKDIR/prior/, where the workdir's prior is fitted and kept."""
  return pathlib.Path(workdir).expanduser().resolve() / PRIOR_DIR


def fingerprint(latents: np.ndarray, prior_config: ml_collections.ConfigDict, seed: int) -> str:
  """sha256 (hex) of the latents' float32 bytes, their shape, the fitting settings and seed:
  a checkpoint is resumed only when it matches."""
  h = hashlib.sha256(np.ascontiguousarray(latents, np.float32).tobytes())
  settings = {k: prior_config[k] for k in ARCHITECTURE + FITTING}
  h.update(json.dumps([list(latents.shape), settings, seed], sort_keys=True).encode())
  return h.hexdigest()


def _manager(directory: pathlib.Path, writable: bool) -> ocp.CheckpointManager:
  # This process alone: in a multi-process run only process 0 fits the prior, so Orbax
  # must not wait at barriers for processes that never call it.
  # (Orbax then leaves creating the directory to us.)
  this = jax.process_index()
  if writable:
    directory.mkdir(parents=True, exist_ok=True)
  return ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
      max_to_keep=KEEP, create=False, cleanup_tmp_directories=writable,
      multiprocessing_options=ocp.options.MultiprocessingOptions(
          primary_host=this, active_processes={this}, barrier_sync_key_prefix="prior")))


def _restore(mngr: ocp.CheckpointManager, step: int, target: dict) -> dict:
  # As NumPy arrays, saved and restored (see _save), then placed on this process's device.
  args = ocp.args.StandardRestore(jax.device_get(target))
  return jax.tree.map(jnp.asarray, mngr.restore(step, args=ocp.args.Composite(state=args))["state"])


def _save(mngr: ocp.CheckpointManager, step: int, state: dict, meta: dict) -> None:
  # NumPy arrays: Orbax refuses this process's own jax.Arrays in a multi-process run.
  mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(jax.device_get(state)),
                                          meta=ocp.args.JsonSave(meta)))


def _read_meta(mngr: ocp.CheckpointManager, step: int) -> dict:
  return dict(mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"])


def _step_fitted_for(mngr: ocp.CheckpointManager, wanted: str) -> int | None:
  # The newest checkpoint's step when it was written for fingerprint `wanted` (these
  # latents, settings and seed); None for no checkpoint, another fit's, or a damaged one.
  try:
    latest = mngr.latest_step()
    if latest is not None and _read_meta(mngr, latest).get("fingerprint") == wanted:
      return latest
  except Exception:  # any damage: nothing to resume or reuse
    pass
  return None


def _prior_from(graphdef, state: dict, meta: dict, prior_config=None) -> prior_lib.LatentPrior:
  solver = prior_config.solver if prior_config is not None else meta["solver"]
  steps = prior_config.sample_steps if prior_config is not None else meta["sample_steps"]
  start = (prior_config.sample_start if prior_config is not None
           else meta.get("sample_start", 0.0))  # no config: the fit's record (older fits: noise)
  return prior_lib.LatentPrior(graphdef, state["ema"], np.asarray(meta["mean"], np.float32),
                               np.asarray(meta["std"], np.float32), solver, int(steps),
                               float(start))


def _fresh(meta: dict, seed: int) -> tuple:
  return prior_lib.init_state(meta["dim"], meta["width"], meta["depth"], meta["time_dim"],
                              seed, meta["learning_rate"])


def is_fitted(latents: np.ndarray, prior_config: ml_collections.ConfigDict, directory,
              seed: int = 0) -> bool:
  """Whether `directory` holds a finished fit of these latents (N, D) with these settings
  and seed (`fit` would then return it without a step); False for none or a damaged one."""
  directory = pathlib.Path(directory)
  if not directory.is_dir():
    return False
  mngr = _manager(directory, writable=False)
  try:
    step = _step_fitted_for(mngr, fingerprint(np.asarray(latents, np.float32), prior_config,
                                              seed))
  finally:
    mngr.close()
  return step is not None and step >= prior_config.steps


def fit(latents: np.ndarray, prior_config: ml_collections.ConfigDict, directory,
        seed: int = 0, progress: bool = True) -> prior_lib.LatentPrior:
  """Fit the prior on latents (N, D) float32, checkpointed in `directory` (resumed from
  there when a stopped fit of the same latents and settings left one); returns it.

  Raises errors.UserError for a bad config.prior field (before any work) or fewer
  than 2 latents; errors.Stopped after SIGTERM/SIGINT, once a checkpoint of the
  steps done is written (run it again to resume).
  """
  config_check.check_prior(ml_collections.ConfigDict({"prior": prior_config}))
  latents = np.asarray(latents, np.float32)
  if latents.ndim != 2 or len(latents) < 2:
    raise errors.UserError(f"the prior needs at least 2 latents (N, D), got shape "
                           f"{latents.shape}")
  directory = pathlib.Path(directory)
  mean, std = prior_lib.normalisation(latents)
  meta = {"dim": latents.shape[1], "num_latents": len(latents), "seed": seed,
          "mean": mean.tolist(), "std": std.tolist(),
          "solver": prior_config.solver, "sample_steps": prior_config.sample_steps,
          "sample_start": prior_config.sample_start,
          "fingerprint": fingerprint(latents, prior_config, seed),
          **{k: prior_config[k] for k in ARCHITECTURE + FITTING}}
  total = prior_config.steps
  graphdef, state = _fresh(meta, seed)
  mngr = _manager(directory, writable=True)
  resumable = _step_fitted_for(mngr, meta["fingerprint"])
  if resumable is not None:
    state = _restore(mngr, resumable, state)
  elif mngr.latest_step() is not None:  # another fit's, or damaged: fit again from the start
    mngr.close()
    shutil.rmtree(directory)
    mngr = _manager(directory, writable=True)
  data = jnp.asarray((latents - mean) / std)
  key = jax.random.key(seed)
  done = int(state["step"])
  bar = tqdm.tqdm(total=total, initial=min(done, total), desc="fit prior",
                  disable=not progress, leave=False)
  with stopping.StopSignals() as signals, bar:
    while done < total:
      every = prior_config.checkpoint_every
      count = min(CALL_STEPS, total - done, (done // every + 1) * every - done)
      run = prior_lib.make_train_steps(graphdef, float(prior_config.learning_rate),
                                       int(prior_config.batch_size),
                                       float(prior_config.ema_decay),
                                       prior_config.time_sampling, count)
      state, losses = run(state, data, key)
      done += count
      bar.update(count)
      bar.set_postfix(loss=f"{float(losses.mean()):.4f}")
      stop = signals.received is not None
      if stop or done % every == 0 or done == total:
        _save(mngr, done, state, {**meta, "step": done, "loss": float(losses.mean())})
      if stop and done < total:
        mngr.wait_until_finished()
        mngr.close()
        raise errors.Stopped(
            f"{signals.received}: the prior's fit stopped after step {done} of {total}; its "
            f"checkpoint is in {directory}. Rerun the same command to resume from it.")
  mngr.wait_until_finished()
  mngr.close()
  return _prior_from(graphdef, state, meta, prior_config)


def load(workdir: str | pathlib.Path,
         prior_config: ml_collections.ConfigDict | None = None) -> prior_lib.LatentPrior | None:
  """The fitted prior of `workdir` (its newest finished fit), or None when it has none.

  prior_config: the run's config.prior, whose solver, sample_steps and sample_start the
  prior samples with (default: those it was fitted with). An unfinished fit
  counts as none; a damaged one is warned about and counts as none.
  """
  directory = prior_dir(workdir)
  if not directory.is_dir():
    return None
  mngr = _manager(directory, writable=False)
  try:
    latest = mngr.latest_step()
    if latest is None:
      return None
    meta = _read_meta(mngr, latest)
    if latest < meta["steps"]:
      return None
    graphdef, state = _fresh(meta, meta["seed"])
    return _prior_from(graphdef, _restore(mngr, latest, state), meta, prior_config)
  except Exception as err:  # a damaged prior must not stop the model from loading
    warnings.warn(f"{directory}: the prior could not be read ({type(err).__name__}: "
                  f"{' '.join(str(err).split())[:300]}); refit it with --mode=fit_prior",
                  stacklevel=2)
    return None
  finally:
    mngr.close()


def fit_workdir(model, progress: bool = True) -> prior_lib.LatentPrior:
  """Fit the prior of a trained model (trained_model.TrainedModel) on its latents (the ones
  sampling uses), in model.workdir/prior/ (or a temporary directory for a model that
  has no workdir), set it as model.prior and return it. Raises as `fit` does."""
  config = model.config
  if model.workdir is not None:
    prior = fit(model.latents, config.prior, prior_dir(model.workdir), config.seed, progress)
  else:
    with tempfile.TemporaryDirectory() as scratch:
      prior = fit(model.latents, config.prior, scratch, config.seed, progress)
  model.prior = prior
  return prior
