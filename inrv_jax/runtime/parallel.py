"""The device mesh and shardings: batches split on `data`, parameters replicated."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_mesh() -> jax.sharding.Mesh:
  """A 1-D mesh over every device of every process, axis `data`."""
  return jax.make_mesh((jax.device_count(),), (DATA_AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh) -> NamedSharding:
  """Sharding that puts a whole array on every device of `mesh`."""
  return NamedSharding(mesh, P())


def batch_sharded(mesh, stacked: bool = False) -> NamedSharding:
  """Sharding that splits an array's batch axis over the `data` axis: its first axis,
  or its second when `stacked` (batches of several steps, (steps, B, ...))."""
  return NamedSharding(mesh, P(None, DATA_AXIS) if stacked else P(DATA_AXIS))


def check_batch_size(global_batch: int, mesh) -> None:
  """Raise ValueError unless the global batch splits evenly over the mesh's devices."""
  devices = mesh.devices.size
  if global_batch % devices:
    raise ValueError(
        f"train.batch_size={global_batch} must be a multiple of the {devices} devices "
        f"on the '{DATA_AXIS}' axis")


def replicate(tree, mesh):
  """Put every leaf of `tree` on all devices."""
  return jax.device_put(tree, replicated(mesh))


def replicate_local(array: np.ndarray, mesh) -> jax.Array:
  """A host array that every process holds the same copy of (e.g. training clips it read
  itself), on all devices. Unlike `replicate`, no process checks the others' copies:
  jax.device_put would gather every process's whole array onto each device to compare."""
  return jax.make_array_from_callback(array.shape, replicated(mesh), lambda index: array[index])


def global_batch(local: dict[str, np.ndarray], mesh, stacked: bool = False
                 ) -> dict[str, jax.Array]:
  """This process's slice of a batch -> global arrays sharded on `data` (on the second
  axis when `stacked`: (steps, B_local, ...) -> (steps, B, ...))."""
  sharding = batch_sharded(mesh, stacked)
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}


def process_slice(global_size: int) -> slice:
  """The rows of a global batch that this process loads."""
  per_process = global_size // jax.process_count()
  start = jax.process_index() * per_process
  return slice(start, start + per_process)


def is_main_process() -> bool:
  """True in process 0, the one process that prints, logs and writes files."""
  return jax.process_index() == 0


def sync(name: str) -> None:
  """Wait until every process has reached the point called `name` (no-op with one)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def local_copy(tree):
  """A copy of `tree`'s fully replicated arrays on this process's first device.

  The copies are ordinary single-device arrays: code run on them (rendering,
  evaluation) needs no other process, and they outlive the originals (which a
  train step may donate). Raises ValueError for an array that is not fully
  replicated (e.g. a batch sharded on `data`).
  """
  def one(x):
    if not x.is_fully_replicated:
      raise ValueError(f"local_copy needs fully replicated arrays, got {x.sharding}")
    return jnp.array(x.addressable_data(0), copy=True)
  return jax.tree.map(one, tree)
