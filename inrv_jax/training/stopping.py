"""Why a training loop stops early: a stop signal, or a loss or gradient that is not finite.

StopSignals turns SIGTERM/SIGINT (a preemption notice, Ctrl-C) into a flag
that the loop reads after each step, so the step in flight finishes and a
checkpoint is written; in multi-process runs every process must stop at the
same step, so there the flag is agreed on (an all-gather of it at log steps,
and JAX's preemption sync point where its preemption service is on; this path
is not exercised by the tests, which run one process). Finiteness keeps, on
device, the first step at which each parameter group's gradient (or the
loss) was not finite, and is read only when the loop reads its metrics or is
about to save, so a bad state is never written over the last good checkpoint.
"""

import signal
import threading

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from inrv_jax import errors
from inrv_jax.runtime import parallel

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
  """Context manager: while inside, SIGTERM/SIGINT set `received` (the signal's name).

  A second signal restores the previous handlers and is handled by them
  (Ctrl-C twice raises KeyboardInterrupt). Outside the main thread, where
  Python can't install handlers, nothing is installed.
  """

  def __init__(self):
    self.received: str | None = None
    self._previous = {}

  def __enter__(self) -> "StopSignals":
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
    return self

  def __exit__(self, *exc) -> None:
    for number, handler in self._previous.items():
      signal.signal(number, handler)
    self._previous = {}

  def _handle(self, number, frame) -> None:
    if self.received is not None:
      self.__exit__()
      signal.raise_signal(number)
      return
    self.received = signal.Signals(number).name
    if parallel.is_main_process():
      print(f"\n{self.received}: stopping after this step and writing a checkpoint "
            "(send it again to stop at once)", flush=True)

  def requested(self, mngr: ocp.CheckpointManager, step: int, agree: bool) -> bool:
    """Whether the loop should stop after `step` (the number of steps done).

    Single process: whether a signal came. Several: JAX's preemption sync
    point (called every step, as it requires), or, on steps where `agree` is
    True on every process (log steps), whether any process got a signal.
    """
    if jax.process_count() == 1:
      return self.received is not None
    if mngr.reached_preemption(step):
      return True
    if not agree:
      return False
    flags = multihost_utils.process_allgather(np.int32(self.received is not None))
    return bool(np.any(flags))


def stopped(workdir, step: int, signal_name: str | None) -> errors.Stopped:
  """The errors.Stopped exception of a run stopped after `step` steps."""
  return errors.Stopped(f"{signal_name or 'preemption'}: stopped after step {step}; its checkpoint "
                 f"is in {workdir}/checkpoints. Rerun the same command to resume from it.")

# ------------------------------------------------------------------ finiteness


def nonfinite(loss: jax.Array, grads) -> jax.Array:
  """(1 + leaves,) bool, inside the jitted step: the loss, then each gradient leaf (in
  jax.tree.leaves order), True where it holds a NaN or an infinity."""
  leaves = [loss, *jax.tree.leaves(grads)]
  return jnp.stack([jnp.logical_not(jnp.all(jnp.isfinite(x))) for x in leaves])


def group_names(params) -> list[str]:
  """The names `nonfinite` reports: "loss", then each parameter's group: its dotted
  path up to its layers (e.g. "hypernet.heads.3", "latent_table")."""
  paths = [jax.tree_util.keystr(path, simple=True, separator=".")
           for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
  return ["loss", *(p.removesuffix(".value").split(".layers.")[0] for p in paths)]


class Finiteness:
  """The first step at which each of `nonfinite`'s groups went bad, kept on device."""

  def __init__(self, params):
    self._names = group_names(params)
    self._first = None  # (groups,) int32 on device: first bad step, or -1

  def add(self, flags: jax.Array, step: int) -> None:
    """flags: `nonfinite` of the step that made `step` steps done, or of the n steps
    up to it, stacked (n, groups). No host sync."""
    flags = flags.reshape(-1, flags.shape[-1])  # (n, groups)
    steps = step - flags.shape[0] + 1 + jnp.arange(flags.shape[0], dtype=jnp.int32)
    never = jnp.iinfo(jnp.int32).max
    first_here = jnp.min(jnp.where(flags, steps[:, None], never), axis=0)  # (groups,)
    first_here = jnp.where(first_here == never, -1, first_here)
    if self._first is None:
      self._first = jnp.full(first_here.shape, -1, jnp.int32)
    self._first = jnp.where(self._first < 0, first_here, self._first)

  def check(self, last_good: int | None, workdir) -> None:
    """Raise errors.TrainingDiverged naming the first bad step and its groups, if any.

    last_good: the step of the newest checkpoint written (None = none), for the message.
    """
    if self._first is None:
      return
    first = np.asarray(self._first)
    if first.max() < 0:
      return
    step = int(first[first >= 0].min())
    bad = list(dict.fromkeys(name for name, s in zip(self._names, first) if s == step))
    where = "the loss" if bad == ["loss"] else "the gradient of " + ", ".join(
        n for n in bad if n != "loss")
    kept = (f"the last good checkpoint (step {last_good}) in {workdir}/checkpoints is kept"
            if last_good is not None else "no checkpoint was written")
    raise errors.TrainingDiverged(
        f"training diverged: {where} was not finite at step {step}; {kept}. Lower "
        "--config.train.learning_rate, or check the data, and rerun to resume from it.")
