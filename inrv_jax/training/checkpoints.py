"""What a checkpoint holds, and the Orbax manager that writes and restores it.

The train state is a `TrainState` (params, opt_state, step, rng,
seen_latents); `build_state` builds it with the model's graphdef and frozen
state, concrete (a fresh run) or as shapes with shardings (the restore target
of training and trained_model.load), from the same code. On disk a
checkpoint at step s has four items (`TrainState.items` and
`TrainState.from_items` are the one place they are mapped to the typed state):
  params     the trainable model parameters (nnx.State)
  opt_state  the Optax state
  train      step (int32), RNG key data ((2,) uint32), and `seen_latents`
             (N, latent_dim) f32: the z each training video had the last
             time it was in a batch
  meta       JSON: number of videos, step, stage, anything a reader needs
and, in workdirs made by tools/import_official.py, `frozen` (the model's
non-trainable state, e.g. the authors' CLIP tower). The run's config is
stored beside them as `config.json` in the workdir.
"""

import contextlib
import json
import os
import pathlib
import shutil
import socket
import time
import warnings
from typing import Callable

import filelock
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx
from flax import struct
from jax.experimental import multihost_utils

from inrv_jax import config_defaults
from inrv_jax import errors
from inrv_jax.runtime import parallel
from inrv_jax.training import stages
from inrv_jax.models import inrv as inrv_lib

CONFIG_FILE = "config.json"
LOCK_FILE = ".writer.lock"  # held (flock) by the one process writing the workdir
OWNER_FILE = ".writer"      # "pid N on host H" of the process that last took the lock


@struct.dataclass
class TrainState:
  """What training changes: the model's trainable parameters and the loop's state.

  A pytree (jit donates and shards it whole). Fields that a partial restore
  leaves out (see `items`) are None.
  """
  params: nnx.State         # the model's trainable parameters
  opt_state: optax.OptState  # the optimizer's state (stages.make_optimizer)
  step: jax.Array           # () int32: optimiser steps done
  rng: jax.Array            # (2,) uint32: key data of the step RNG (folded with `step`)
  seen_latents: jax.Array   # (N, latent_dim) f32: each video's z the last time it was seen

  def items(self) -> dict:
    """The checkpoint items of the fields that are set: {"params", "opt_state", "train":
    {"step", "rng", "seen_latents"}} (the on-disk layout; `from_items` inverts it).
    Raises ValueError when only part of the "train" item is set."""
    train = {"step": self.step, "rng": self.rng, "seen_latents": self.seen_latents}
    if any(v is None for v in train.values()) and any(v is not None for v in train.values()):
      raise ValueError("step, rng and seen_latents are one checkpoint item: set all or none")
    items = {"params": self.params, "opt_state": self.opt_state,
             "train": None if self.step is None else train}
    return {name: tree for name, tree in items.items() if tree is not None}

  @classmethod
  def from_items(cls, items: dict) -> "TrainState":
    """The state of restored checkpoint items (`items`' layout); items not given (and
    any other, e.g. "frozen") leave their fields None."""
    train = items.get("train", {})
    return cls(params=items.get("params"), opt_state=items.get("opt_state"),
               step=train.get("step"), rng=train.get("rng"),
               seen_latents=train.get("seen_latents"))


def new_state(params: nnx.State, tx: optax.GradientTransformation, seed: int,
              seen_latents: jax.Array) -> TrainState:
  """The train state of a fresh run.

  params: the model's trainable nnx.State; tx: its optimizer
  (stages.make_optimizer); seed: config.seed (the step RNG is key(seed + 1));
  seen_latents: (N, latent_dim) f32, from `initial_latents`.
  """
  return TrainState(params=params, opt_state=tx.init(params), step=jnp.int32(0),
                    rng=jax.random.key_data(jax.random.key(seed + 1)),
                    seen_latents=seen_latents)


def initial_latents(model_config: ml_collections.ConfigDict, module: inrv_lib.INRV) -> jax.Array:
  """(N, latent_dim) f32: the z recorded for each video before it is first seen.

  Its table row, or zeros with conditioning="clip" (where z needs the frames).
  """
  if model_config.conditioning == "clip":
    return jnp.zeros((module.latent_table.shape[0], model_config.latent_dim), jnp.float32)
  return jnp.array(module.all_latents(), copy=True)  # a copy: donated separately


def build_state(config: ml_collections.ConfigDict, num_videos: int,
                sharding: jax.sharding.Sharding | None = None, abstract: bool = False,
                tx: optax.GradientTransformation | None = None
                ) -> tuple[nnx.GraphDef, nnx.State, TrainState]:
  """(graphdef, frozen, state) of `config`'s model for num_videos: the INRV module's
  structure, its non-trainable state (the frozen CLIP tower; empty without
  conditioning) and the `TrainState` of a fresh run.

  The one builder of the model and its state: training's fresh state and every
  restore target (training's resume, trained_model.load) come from here.
  abstract=False: the arrays, placed with `sharding` (None: where JAX puts them, the
  first local device). abstract=True: the same trees with jax.ShapeDtypeStruct
  leaves, each carrying `sharding` (default: the first local device), so that a
  restore lands on this machine's devices whatever the machine that wrote the
  checkpoint had; nothing is allocated and no weight file is read. tx: the
  optimizer (default: stages.make_optimizer for the run's stage plan).
  """
  model_config = config.model
  if abstract:
    model_config = config.model.copy_and_resolve_references()
    model_config.clip.pretrained = False  # the same shapes, without reading CLIP weights
  tx = tx or stages.make_optimizer(config, stages.plan_for(config, num_videos))
  graphdefs = []  # the module's structure: not an array, so kept aside under eval_shape

  def fresh() -> tuple[nnx.State, TrainState]:
    module = inrv_lib.INRV(model_config, num_videos, rngs=nnx.Rngs(config.seed))
    graphdef, params, frozen = nnx.split(module, nnx.Param, ...)
    graphdefs.append(graphdef)
    return frozen, new_state(params, tx, config.seed, initial_latents(model_config, module))

  if not abstract:
    frozen, state = fresh()
    if sharding is not None:
      frozen, state = jax.device_put((frozen, state), sharding)
    return graphdefs[0], frozen, state
  sharding = sharding or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  frozen, state = jax.eval_shape(fresh)
  placed = lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)
  return graphdefs[0], jax.tree.map(placed, frozen), jax.tree.map(placed, state)


def manager(workdir: str | pathlib.Path, keep: int = 3,
            writable: bool = True) -> ocp.CheckpointManager:
  """The Orbax manager of workdir/checkpoints, keeping the newest `keep` checkpoints.

  writable: create the directory and remove temporary directories that an
  interrupted save left (`*.orbax-checkpoint-tmp-*`); False for readers
  (trained_model.load), which change nothing on disk.
  """
  directory = pathlib.Path(workdir).expanduser().resolve() / "checkpoints"
  return ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
      max_to_keep=keep, create=writable, cleanup_tmp_directories=writable))


# How a full disk or a read-only directory reaches us from tensorstore's C++ (a ValueError)
# rather than as an OSError.
_WRITE_FAILURES = ("RESOURCE_EXHAUSTED", "No space left", "Read-only file system",
                   "Permission denied", "Disk quota exceeded")


def _write_failure(err: BaseException) -> bool:
  return isinstance(err, OSError) or (isinstance(err, ValueError) and any(
      text in str(err) for text in _WRITE_FAILURES))


def _remove_temporaries(directory: pathlib.Path) -> None:
  """Remove what a failed save left: Orbax's `*.orbax-checkpoint-tmp-*` directories."""
  for tmp in directory.glob("*.orbax-checkpoint-tmp*"):
    shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def writer_lock(workdir: str | pathlib.Path):
  """Hold the workdir's writer lock for the block: one run at a time writes its
  checkpoints, config and metrics (readers take no lock).

  Process 0 takes it (multi-host: the others learn whether it did). The
  operating system drops it when the holding process ends, however it ends
  (kill -9 too), so a lock left by a dead process never blocks; OWNER_FILE
  names the holder's pid and host for the message. Raises errors.UserError
  naming the holder when another process holds it.
  """
  workdir = pathlib.Path(workdir)
  lock, refused = filelock.FileLock(workdir / LOCK_FILE, timeout=0), ""
  if parallel.is_main_process():
    try:
      lock.acquire()
    except filelock.Timeout:
      try:
        owner = (workdir / OWNER_FILE).read_text().strip()
      except OSError:
        owner = "a process whose pid was not recorded"
      refused = (f"{workdir}: another run is writing this workdir ({owner}); wait for it to "
                 "end or stop it, or use another --workdir")
  if jax.process_count() > 1 and not multihost_utils.broadcast_one_to_all(
      np.int32(not refused)):
    refused = refused or f"{workdir}: another run is writing this workdir (see process 0)"
  if refused:
    raise errors.UserError(refused)
  try:
    if lock.is_locked:
      (workdir / OWNER_FILE).write_text(f"pid {os.getpid()} on host {socket.gethostname()}\n")
    yield
  finally:
    if lock.is_locked:
      lock.release()


@contextlib.contextmanager
def _writing(mngr: ocp.CheckpointManager, step: int):
  """A failed write (OSError, or tensorstore's ValueError for a full disk) ->
  errors.UserError naming the directory and the checkpoint kept; the failed save's
  temporary files are removed."""
  try:
    yield
  except (OSError, ValueError) as err:
    if not _write_failure(err):
      raise
    directory = pathlib.Path(str(mngr.directory))
    if parallel.is_main_process():
      # Orbax's other writer threads may still be failing into the temporary directory:
      # let them end before removing it, and remove it again if one re-created it.
      with contextlib.suppress(Exception):
        mngr.wait_until_finished()
      for _ in range(TEMPORARY_REMOVAL_TRIES):
        _remove_temporaries(directory)
        if not any(directory.glob("*.orbax-checkpoint-tmp*")):
          break
        time.sleep(0.2)
    kept = [s for s in _intact_steps(directory) if s != step]
    reason = " ".join(str(err).split())[:200]
    raise errors.UserError(
        f"{directory}: cannot write the checkpoint of step {step} ({reason}); the disk "
        "may be full or the directory read-only. "
        + (f"The checkpoint of step {max(kept)} is intact; rerun to resume from it once the "
           "directory is writable." if kept else "No checkpoint was kept.")
    ) from err


TEMPORARY_REMOVAL_TRIES = 25  # 5 s at most for a failed save's threads to stop writing


def _intact_steps(directory: pathlib.Path) -> list[int]:
  """Steps of the finished checkpoints in `directory` (Orbax writes into a temporary
  directory and renames it to the step when the save is complete)."""
  if not directory.is_dir():
    return []
  return [int(p.name) for p in directory.iterdir() if p.name.isdigit() and p.is_dir()]


def save(mngr: ocp.CheckpointManager, step: int, state: TrainState, meta: dict,
         frozen: nnx.State | None = None) -> None:
  """Start writing `state` (its `items`) and `meta` (JSON) as the checkpoint at `step`;
  with `frozen` (the model's non-trainable state), item "frozen" too (imported
  workdirs, which hold the authors' CLIP tower).

  Raises errors.UserError when the directory can't be written (the
  previous checkpoints stay as they were).
  """
  items = {k: ocp.args.StandardSave(tree) for k, tree in state.items().items()}
  if frozen is not None:
    items["frozen"] = ocp.args.StandardSave(frozen)
  with _writing(mngr, step):
    _probe(pathlib.Path(str(mngr.directory)))
    mngr.save(step, args=ocp.args.Composite(meta=ocp.args.JsonSave(meta), **items))


def check_writable(workdir: str | pathlib.Path) -> None:
  """errors.UserError, naming the workdir and its newest checkpoint, when a file can't be
  written in it (a read-only directory or file system, a full disk)."""
  workdir = pathlib.Path(workdir).expanduser()
  try:
    workdir.mkdir(parents=True, exist_ok=True)
    _probe(workdir)
  except OSError as err:
    kept = _intact_steps(workdir / "checkpoints")
    raise errors.UserError(
        f"{workdir}: cannot write there ({err.strerror or err}); the directory or its file "
        "system is read-only or full. "
        + (f"Its newest checkpoint (step {max(kept)}) is intact." if kept
           else "Nothing was written.")) from err


def _probe(directory: pathlib.Path) -> None:
  """Write and remove one byte in `directory`: OSError now when it is read-only or the disk
  is full, rather than in Orbax's background threads (which then wait minutes to exit)."""
  probe = directory / f".write_probe_{jax.process_index()}_{os.getpid()}"
  with open(probe, "wb") as file:
    file.write(b"\0")
    file.flush()
    os.fsync(file.fileno())
  probe.unlink()


def finish(mngr: ocp.CheckpointManager) -> None:
  """Wait for the checkpoints being written; errors.UserError when one could not be."""
  with _writing(mngr, mngr.latest_step()):
    mngr.wait_until_finished()


def close(mngr: ocp.CheckpointManager) -> None:
  """Wait for the checkpoints being written and close the manager (errors.UserError as
  `finish`)."""
  with _writing(mngr, mngr.latest_step()):
    mngr.close()


def restore(mngr: ocp.CheckpointManager, step: int, target: dict) -> tuple[dict, dict]:
  """({item: tree}, meta) of the checkpoint at `step`: the items `target` names.

  target: {item: tree of jax.ShapeDtypeStruct (or arrays)}, e.g. the `items` of
  build_state(..., abstract=True)'s state (TrainState.from_items makes the
  restored items a state again); leaves land with their sharding.
  """
  args = {k: ocp.args.StandardRestore(jax.tree.map(ocp.utils.to_shape_dtype_struct, tree))
          for k, tree in target.items()}
  restored = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore(), **args))
  return {k: restored[k] for k in target}, dict(restored["meta"])


def read_meta(mngr: ocp.CheckpointManager, step: int) -> dict:
  """The JSON `meta` item of the checkpoint at `step`."""
  return dict(mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"])


def restore_newest_intact(mngr: ocp.CheckpointManager, target: Callable[[dict], dict],
                          only_step: int | None = None, put_aside: pathlib.Path | None = None
                          ) -> tuple[int, dict, dict] | None:
  """(step, {item: tree}, meta) of the newest checkpoint whose items all restore.

  target: meta -> {item: tree of jax.ShapeDtypeStruct} for the items to
  restore (see `restore`); it may raise errors.UserError (e.g.
  check_resumable), which is passed on. A checkpoint whose files are intact but
  hold arrays of other shapes or names than `target` (an edited config.json,
  a changed model field) raises errors.UserError naming them, and nothing is
  moved. A damaged checkpoint (missing,
  truncated or garbage files in any of its items, meta included) is skipped
  with a DamagedCheckpointWarning naming its step; with `put_aside`, it is
  moved to put_aside/<step> so that training can write that step again.
  A checkpoint removed while it is read (a training run in the workdir keeps
  only its newest ones) is no damage: the pass starts again from the newest.
  only_step: restore that step or fail. Returns None when there is no
  checkpoint; raises errors.UserError when every one (or only_step) is damaged,
  only_step is not there or was removed while read.
  """
  for _ in range(READ_ATTEMPTS):
    steps = sorted(mngr.all_steps(), reverse=True)
    if only_step is not None:
      if only_step not in steps:
        raise errors.UserError(f"{mngr.directory}: no checkpoint of step {only_step} "
                               f"(there are {sorted(steps)})")
      steps = [only_step]
    found = _newest_intact(mngr, steps, target, put_aside)
    if not isinstance(found, _Removed):
      return found
    mngr.reload()  # a writer rotated it away while it was read: start again from the newest
    if only_step is not None:
      raise errors.UserError(
          f"{mngr.directory}: the checkpoint of step {only_step} was removed while it was "
          "read: another run is training in this workdir and keeps only its newest "
          f"checkpoints (there are now {sorted(mngr.all_steps())})")
  raise errors.UserError(f"{mngr.directory}: checkpoints were removed {READ_ATTEMPTS} times "
                         "while they were read: another run is training in this workdir and "
                         "rotating them; retry, or read it once that run has ended")


READ_ATTEMPTS = 5  # passes over the checkpoints when a writer keeps rotating them


class _Removed(int):
  """The step of a checkpoint whose directory vanished while it was read."""


def _newest_intact(mngr: ocp.CheckpointManager, steps: list[int], target, put_aside
                   ) -> tuple[int, dict, dict] | None | _Removed:
  """restore_newest_intact's pass over `steps` (newest first); _Removed(step) when a
  checkpoint disappeared under it (not damage: a writer's rotation)."""
  removed = lambda step: not (pathlib.Path(str(mngr.directory)) / str(step)).is_dir()
  damaged = []
  for step in steps:
    try:
      meta = read_meta(mngr, step)
    except Exception as err:  # any way a file can be damaged: Orbax, tensorstore, JSON, OS
      if removed(step):
        return _Removed(step)
      damaged.append(_damaged(mngr, step, err, put_aside))
      continue
    wanted = target(meta)
    try:
      return (step, *restore(mngr, step, wanted))
    except Exception as err:  # likewise
      if removed(step):
        return _Removed(step)
      differences = stored_differences(mngr, step, wanted)
      if differences:  # intact files of another model: the config is what is wrong
        raise errors.UserError(_mismatch_text(mngr, step, differences)) from err
      damaged.append(_damaged(mngr, step, err, put_aside))
  if damaged:
    raise errors.UserError(f"{mngr.directory}: no intact checkpoint:\n" + "\n".join(damaged))
  return None


def stored_differences(mngr: ocp.CheckpointManager, step: int, target: dict) -> list[str]:
  """How the arrays the checkpoint at `step` says it holds differ from `target` ({item:
  tree of jax.ShapeDtypeStruct}): one 'item.path: ...' text per array whose shape or dtype
  differs or that only one side has. Empty when they agree, or when an item's own record
  of its arrays can't be read (then its files are what is damaged)."""
  out = []
  for item in sorted(target, key=lambda k: (k != "params", k)):  # the model's own first
    tree = target[item]
    try:
      stored = ocp.StandardCheckpointHandler().metadata(
          pathlib.Path(str(mngr.directory)) / str(step) / item)
    except Exception:  # pylint: disable=broad-except  # a damaged record: not a config error
      return []
    flat = lambda t: {jax.tree_util.keystr(path, simple=True, separator="."): leaf
                      for path, leaf in jax.tree_util.tree_flatten_with_path(t)[0]}
    have, want = flat(stored), flat(jax.tree.map(ocp.utils.to_shape_dtype_struct, tree))
    for name in sorted(set(have) | set(want)):
      a, b = have.get(name), want.get(name)
      where = f"{item}.{name.removesuffix('.value')}"
      if a is None or b is None:
        out.append(f"{where}: {'not in the checkpoint' if a is None else 'not in the model'}")
      elif tuple(a.shape) != tuple(b.shape) or (
          getattr(a, "dtype", None) is not None and jax.numpy.dtype(a.dtype) != b.dtype):
        out.append(f"{where}: {tuple(a.shape)} {getattr(a, 'dtype', '')} in the checkpoint, "
                   f"{tuple(b.shape)} {b.dtype} in the model of the config")
  return out


def _mismatch_text(mngr: ocp.CheckpointManager, step: int, differences: list[str]) -> str:
  workdir = pathlib.Path(str(mngr.directory)).parent
  shown = "; ".join(differences[:2]) + (f"; and {len(differences) - 2} more"
                                         if len(differences) > 2 else "")
  return (f"{workdir}: the checkpoint of step {step} is intact but holds another model than "
          f"the config builds ({shown}). Was {workdir / CONFIG_FILE} edited, or a model "
          "field changed? Set it back to what the run was trained with, or use a new "
          "--workdir; no checkpoint was moved")


def _damaged(mngr: ocp.CheckpointManager, step: int, err: Exception,
             put_aside: pathlib.Path | None) -> str:
  """Warn that the checkpoint at `step` is damaged (moving it to put_aside/<step> when
  given); returns the warning's text."""
  reason = " ".join(str(err).split())[:300]
  text = f"checkpoint of step {step} in {mngr.directory} is damaged ({type(err).__name__}: {reason})"
  if put_aside is not None:
    if parallel.is_main_process():  # one process moves it (multi-host: a shared directory)
      put_aside.mkdir(parents=True, exist_ok=True)
      shutil.move(str(pathlib.Path(mngr.directory) / str(step)), str(put_aside / str(step)))
    mngr.reload()
    text += f"; moved to {put_aside / str(step)}"
  older = [s for s in mngr.all_steps() if s < step]
  warnings.warn(text + (f"; trying the one before it (step {max(older)})" if older else ""),
                DamagedCheckpointWarning, stacklevel=3)
  return text


class DamagedCheckpointWarning(UserWarning):
  """A checkpoint that could not be read was skipped."""


def write_config(workdir: str | pathlib.Path, config: ml_collections.ConfigDict) -> None:
  """workdir/config.json, replaced at once (a reader never sees half of it)."""
  path = pathlib.Path(workdir) / CONFIG_FILE
  path.parent.mkdir(parents=True, exist_ok=True)
  partial = path.with_suffix(".json.partial")
  partial.write_text(config.to_json_best_effort(indent=1))
  partial.replace(path)


def read_config(workdir: str | pathlib.Path) -> ml_collections.ConfigDict:
  path = pathlib.Path(workdir).expanduser() / CONFIG_FILE
  if not path.is_file():
    raise errors.UserError(
        f"{workdir}: not a trained inrv_jax workdir (no {CONFIG_FILE}); train one with "
        "python -m inrv_jax.main --config=configs/quickstart.py --workdir=DIR")
  try:
    stored = json.loads(path.read_text())
  except (json.JSONDecodeError, UnicodeDecodeError) as err:
    raise errors.UserError(f"{path}: unreadable config ({err})") from err
  if not isinstance(stored, dict):
    raise errors.UserError(f"{path}: unreadable config (a JSON object was expected)")
  # Renamed fields get today's names; fields added since keep their defaults.
  config = config_defaults.base_config()
  _merge(config, config_defaults.upgrade(stored))
  return config


# Config sections that decide the shapes and meaning of what a checkpoint holds,
# less the fields that only say where files are or how fast to read them.
RESUME_MUST_MATCH = ("model", "data")
RESUME_MAY_CHANGE = ("data.dir", "data.manual_dir", "data.prepare_workers",
                     "data.read_workers", "data.resident_mib", "model.clip.weights")


def _flat(config: ml_collections.ConfigDict, prefix: str = "") -> dict:
  out = {}
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = tuple(value) if isinstance(value, list) else value
  return out


def check_resumable(workdir, config: ml_collections.ConfigDict, meta: dict,
                    num_videos: int, may_change: tuple[str, ...] = ()) -> None:
  """Refuse, before anything is written, to resume a workdir with another model or data.

  may_change: more fields (e.g. "data.path") that may differ from the stored config.
  """
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
                if k not in RESUME_MAY_CHANGE + tuple(may_change)
                and before.get(k) != now.get(k)]
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
