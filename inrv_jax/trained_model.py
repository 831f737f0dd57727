"""A trained INR-V: config + parameters + the learned latent of every training video.

`load(workdir)` restores the newest checkpoint of a workdir. The object is
what every task takes: `model.latents` (N, hn_in) in dataset order and
`model.inr_weights(z)` -> per-video INR tensors.
"""

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from inrv_jax import checkpoints
from inrv_jax import errors
from inrv_jax.models import inr as inr_lib
from inrv_jax.models import inrv as inrv_lib

_LAST_MODEL = []  # the model most recently loaded or trained in this process


@dataclasses.dataclass
class TrainedModel:
  config: ml_collections.ConfigDict
  graphdef: nnx.GraphDef
  params: nnx.State           # trainable parameters
  rest: nnx.State             # everything else (e.g. frozen encoders)
  latents: np.ndarray         # (num_videos, hn_in) hypernetwork inputs, dataset order
  workdir: str | None = None
  step: int = 0

  def __post_init__(self):
    graphdef = self.graphdef
    self._weights = jax.jit(
        lambda params, rest, z: nnx.merge(graphdef, params, rest).inr_weights(z))

  @property
  def inr_spec(self) -> inr_lib.INRSpec:
    return inrv_lib.inr_spec_from_config(self.config.model)

  @property
  def num_videos(self) -> int:
    return self.latents.shape[0]

  def inr_weights(self, z: jnp.ndarray) -> inr_lib.Weights:
    """z (B, hn_in) -> INR tensors, each (B, *shape)."""
    return self._weights(self.params, self.rest, jnp.asarray(z, jnp.float32))


def remember(model: TrainedModel) -> TrainedModel:
  _LAST_MODEL[:] = [model]
  return model


def last_model() -> TrainedModel | None:
  return _LAST_MODEL[0] if _LAST_MODEL else None


def abstract_module(config: ml_collections.ConfigDict, num_videos: int):
  return nnx.eval_shape(lambda: inrv_lib.INRV(config.model, num_videos, rngs=nnx.Rngs(config.seed)))


def from_module(config, module: inrv_lib.INRV, seen_latents, workdir=None, step=0) -> TrainedModel:
  graphdef, params, rest = nnx.split(module, nnx.Param, ...)
  latents = seen_latents if config.model.conditioning == "clip" else module.all_latents()
  return TrainedModel(config, graphdef, params, rest, np.asarray(latents), workdir, step)


def load(workdir: str | pathlib.Path, step: int | None = None) -> TrainedModel:
  """The model of a trained workdir (newest checkpoint unless `step` is given)."""
  workdir = pathlib.Path(workdir).expanduser()
  if not workdir.is_dir():
    raise errors.UserError(f"{workdir}: no such workdir")
  config = checkpoints.read_config(workdir)
  mngr = checkpoints.manager(workdir, keep=config.train.keep_checkpoints)
  step = mngr.latest_step() if step is None else step
  if step is None:
    raise errors.UserError(f"{workdir}: no checkpoint in {workdir / 'checkpoints'}")
  meta = checkpoints.read_meta(mngr, step)
  # Imported checkpoints (tools/import_official.py) store frozen weights (CLIP) as item "frozen".
  frozen = meta.get("frozen_in_checkpoint", False)
  build = config.copy_and_resolve_references()
  build.model.clip_pretrained = build.model.clip_pretrained and not frozen
  module = abstract_module(build, meta["num_videos"])
  graphdef, params, rest = nnx.split(module, nnx.Param, ...)
  train_like = {"step": jnp.int32(0), "rng": jnp.zeros((2,), jnp.uint32),
                "seen_latents": jnp.zeros((meta["num_videos"], config.model.hn_in))}
  restored, _ = checkpoints.restore(
      mngr, step, {"params": params, "train": train_like, "frozen": rest},
      items=("params", "train", "frozen") if frozen else ("params", "train"))
  real_rest = restored["frozen"] if frozen else inrv_lib.frozen_state(build.model, config.seed)
  module = nnx.merge(graphdef, restored["params"], real_rest)
  return remember(from_module(config, module, restored["train"]["seen_latents"],
                              str(workdir), step))
