"""A trained INR-V: config + parameters + the learned latent of every training video.

`load(workdir)` restores the newest checkpoint of a workdir onto this
machine's devices. The object is what every task takes: `model.latents`
(N, latent_dim) in dataset order and `model.inr_weights(z)` -> per-video INR
tensors, which tasks/rendering.py renders.
"""

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from inrv_jax.training import checkpoints
from inrv_jax import errors
from inrv_jax import learned_prior
from inrv_jax.data import datasets
from inrv_jax.data import identity
from inrv_jax.models import inr as inr_lib
from inrv_jax.models import inrv as inrv_lib
from inrv_jax.models import prior as prior_lib

_LAST_MODEL = []  # the model most recently loaded or trained in this process


@dataclasses.dataclass
class TrainedModel:
  """A trained INR-V model, as `load` and `train.train_and_evaluate` return it.

  The latent of training video i is `latents[i]`: its table row (paper's
  auto-decoder), or with conditioning="clip" the merged z it had the last
  time training saw it. New videos get latents from tasks/inversion.py.
  """
  config: ml_collections.ConfigDict  # the run's full config (config.json)
  graphdef: nnx.GraphDef      # structure of the INRV module
  params: nnx.State           # trainable parameters
  frozen: nnx.State           # non-trainable state (the frozen CLIP tower; empty without)
  latents: np.ndarray         # (num_videos, latent_dim) f32 hypernetwork inputs, dataset order
  workdir: str | None = None  # where it was loaded from or trained (None: built in memory)
  step: int = 0               # the training step of its checkpoint
  prior: prior_lib.LatentPrior | None = None  # the learned prior over `latents` (learned_prior.py)

  def __post_init__(self):
    graphdef = self.graphdef
    self._weights = jax.jit(
        lambda params, frozen, z: nnx.merge(graphdef, params, frozen).inr_weights(z))

  @property
  def inr_spec(self) -> inr_lib.INRSpec:
    return inrv_lib.inr_spec_from_config(self.config.model)

  @property
  def num_videos(self) -> int:
    return self.latents.shape[0]

  def inr_weights(self, z: jnp.ndarray) -> inr_lib.Weights:
    """z (B, latent_dim) float -> INR tensors, each (B, *shape) f32 (see inr_spec.shapes)."""
    return self._weights(self.params, self.frozen, jnp.asarray(z, jnp.float32))


def remember(model: TrainedModel) -> TrainedModel:
  """Make `model` the one tasks use when given neither model= nor workdir=; returns it."""
  _LAST_MODEL[:] = [model]
  return model


def last_model() -> TrainedModel | None:
  """The model most recently loaded or trained in this process, if any."""
  return _LAST_MODEL[0] if _LAST_MODEL else None


def from_module(config: ml_collections.ConfigDict, module: inrv_lib.INRV, seen_latents,
                workdir: str | None = None, step: int = 0) -> TrainedModel:
  """A TrainedModel of a live INRV module.

  seen_latents: (N, latent_dim), the checkpoint's `train.seen_latents`; used
  as the latents with conditioning="clip" only (else the table rows are).
  """
  graphdef, params, frozen = nnx.split(module, nnx.Param, ...)
  latents = seen_latents if config.model.conditioning == "clip" else module.all_latents()
  return TrainedModel(config, graphdef, params, frozen, np.asarray(latents), workdir, step)


def _restore_target(config: ml_collections.ConfigDict, meta: dict
                    ) -> tuple[nnx.GraphDef, dict]:
  """The model's graphdef and {item: ShapeDtypeStruct tree} of the items `load` restores
  (the state's params and train items, not the optimizer's), for the checkpoint's meta,
  from checkpoints.build_state.

  Imported checkpoints (tools/import_official.py) hold the frozen CLIP as item
  "frozen"; otherwise it is rebuilt from the config (pretrained file, or
  random from the seed).
  """
  graphdef, frozen, state = checkpoints.build_state(config, meta["num_videos"], abstract=True)
  target = state.replace(opt_state=None).items()
  if meta.get("frozen_in_checkpoint", False):
    target["frozen"] = frozen
  return graphdef, target


def load(workdir: str | pathlib.Path, step: int | None = None) -> TrainedModel:
  """The model of a trained workdir (newest checkpoint unless `step` is given).

  Restores onto this machine's first device, whatever devices trained it.
  Workdirs written by older versions load too (renamed config fields are
  upgraded, see config_defaults.RENAMED_FIELDS). A damaged newest checkpoint
  is skipped with a checkpoints.DamagedCheckpointWarning naming its step.
  Its learned prior (WORKDIR/prior/) comes with it as `prior`, None where
  none was fitted. Raises errors.UserError when `workdir` is not a directory, holds no
  config.json or no intact checkpoint (or `step` is missing or damaged).
  """
  workdir = pathlib.Path(workdir).expanduser()
  if not workdir.is_dir():
    raise errors.UserError(f"{workdir}: no such workdir")
  config = checkpoints.read_config(workdir)
  mngr = checkpoints.manager(workdir, keep=config.train.keep_checkpoints, writable=False)
  graphdefs = []  # the graphdef of each checkpoint tried, the restored one last

  def target(meta: dict) -> dict:
    graphdef, items = _restore_target(config, meta)
    graphdefs.append(graphdef)
    return items

  found = checkpoints.restore_newest_intact(mngr, target, only_step=step)
  if found is None:
    raise errors.UserError(f"{workdir}: no checkpoint in {workdir / 'checkpoints'}")
  step, restored, meta = found
  state = checkpoints.TrainState.from_items(restored)  # its opt_state is not read: None
  frozen = (restored["frozen"] if "frozen" in restored
            else inrv_lib.frozen_state(config.model, config.seed))
  module = nnx.merge(graphdefs[-1], state.params, frozen)
  model = from_module(config, module, state.seen_latents, str(workdir), step)
  model.prior = learned_prior.load(workdir, config.prior)  # None where none was fitted
  return remember(model)


def training_source(model, data_path: str | None = None, accept_data_change: bool = False):
  """The clips the model was trained on, record i = latent row i, once the videos are
  checked against the workdir's record (data/identity.py: raises errors.UserError, one
  line, when they changed; data_path: where they are now, --data_path)."""
  if model.workdir is None:
    return datasets.load(model.config.data)
  return identity.training_source(model.workdir, model.config.data, data_path,
                                  accept_data_change)
