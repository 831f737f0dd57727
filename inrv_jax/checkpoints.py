"""What a checkpoint holds, and the Orbax manager that writes and restores it.

A checkpoint at step s has four items:
  params     the trainable model parameters (nnx.State)
  opt_state  the Optax state
  train      step, RNG key data, and `seen_latents` (the z each training
             video had the last time it was in a batch)
  meta       JSON: number of videos, step, stage, anything a reader needs
The run's config is stored beside them as `config.json` in the workdir.
"""

import json
import pathlib

import jax
import ml_collections
import orbax.checkpoint as ocp

from inrv_jax import config_defaults
from inrv_jax import errors

CONFIG_FILE = "config.json"
STATE_ITEMS = ("params", "opt_state", "train")


def manager(workdir: str | pathlib.Path, keep: int = 3) -> ocp.CheckpointManager:
  directory = pathlib.Path(workdir).expanduser().resolve() / "checkpoints"
  return ocp.CheckpointManager(
      directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))


def save(mngr: ocp.CheckpointManager, step: int, state: dict, meta: dict) -> None:
  items = {k: ocp.args.StandardSave(state[k]) for k in STATE_ITEMS}
  mngr.save(step, args=ocp.args.Composite(meta=ocp.args.JsonSave(meta), **items))


def abstract(tree):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def restore(mngr: ocp.CheckpointManager, step: int, like: dict,
            items=STATE_ITEMS) -> tuple[dict, dict]:
  """Restore `items` of the checkpoint at `step` onto the structure of `like`."""
  args = {k: ocp.args.StandardRestore(abstract(like[k])) for k in items}
  restored = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore(), **args))
  return {k: restored[k] for k in items}, dict(restored["meta"])


def read_meta(mngr: ocp.CheckpointManager, step: int) -> dict:
  return dict(mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"])


def write_config(workdir: str | pathlib.Path, config: ml_collections.ConfigDict) -> None:
  path = pathlib.Path(workdir) / CONFIG_FILE
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(config.to_json_best_effort(indent=1))


def read_config(workdir: str | pathlib.Path) -> ml_collections.ConfigDict:
  path = pathlib.Path(workdir).expanduser() / CONFIG_FILE
  if not path.is_file():
    raise errors.UserError(
        f"{workdir}: not a trained inrv_jax workdir (no {CONFIG_FILE}); train one with "
        "python -m inrv_jax.main --config=configs/quickstart.py --workdir=DIR")
  try:
    stored = json.loads(path.read_text())
  except json.JSONDecodeError as err:
    raise errors.UserError(f"{path}: unreadable config ({err})") from err
  # Fields added to the code after this workdir was written keep their defaults.
  config = config_defaults.base_config()
  _merge(config, stored)
  return config


# Config sections that decide the shapes and meaning of what a checkpoint holds,
# less the fields that only say where files are or how fast to read them.
RESUME_MUST_MATCH = ("model", "data")
RESUME_MAY_CHANGE = ("data.dir", "data.manual_dir", "data.prepare_workers",
                     "data.read_workers", "model.clip_weights")


def _flat(config: ml_collections.ConfigDict, prefix: str = "") -> dict:
  out = {}
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = tuple(value) if isinstance(value, list) else value
  return out


def check_resumable(workdir, config: ml_collections.ConfigDict, meta: dict,
                    num_videos: int) -> None:
  """Refuse, before anything is written, to resume a workdir with another model or data."""
  if meta["num_videos"] != num_videos:
    raise errors.UserError(
        f"{workdir}: its checkpoints were trained on {meta['num_videos']} videos, this "
        f"dataset has {num_videos}; use a new --workdir")
  stored = read_config(workdir)
  changed = []
  for section in RESUME_MUST_MATCH:
    before, now = _flat(stored[section], f"{section}."), _flat(config[section], f"{section}.")
    changed += [f"  --config.{k}: {before.get(k)!r} in the workdir, {now.get(k)!r} now"
                for k in sorted(set(before) | set(now))
                if k not in RESUME_MAY_CHANGE and before.get(k) != now.get(k)]
  if changed:
    raise errors.UserError(
        f"{workdir}: was trained with another model or data config; resume it with the "
        "same one, or use a new --workdir:\n" + "\n".join(changed))


def _merge(config: ml_collections.ConfigDict, stored: dict) -> None:
  """Write `stored` values into `config`, recursing into sub-configs; new keys are added."""
  with config.unlocked():
    for key, value in stored.items():
      if isinstance(value, dict) and isinstance(config.get(key), ml_collections.ConfigDict):
        _merge(config[key], value)
      else:
        config[key] = value
