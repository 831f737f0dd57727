"""A code-executing pickle planted where weights, latents, caches, configs or
checkpoints are read: every reader refuses it with a message naming the file,
and the code never runs. (The torch checkpoint reader behind VGG16, LPIPS, CLIP
and import_official: tests/tools/test_torch_pickle.py::test_code_execution_is_refused.)
"""

import os
import pathlib
import pickle
import shlex
import shutil

import numpy as np
import pytest

import inrv_jax

from inrv_jax import errors
from inrv_jax.models import i3d
from inrv_jax.tasks import cli


class _RunsCode:
  """Unpickling this runs `touch marker` (pickled as posix.system)."""

  def __init__(self, marker: pathlib.Path):
    self.marker = marker

  def __reduce__(self):
    return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def _plant_npy(path: pathlib.Path, marker: pathlib.Path) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  np.save(path, np.array([_RunsCode(marker)], dtype=object), allow_pickle=True)


def _i3d_weights(workdir, marker):
  path = workdir / "evil.ckpt"
  path.write_bytes(pickle.dumps({"params": _RunsCode(marker), "batch_stats": {}}))
  return path, lambda: i3d.read_variables(path)


def _render_latents(workdir, marker):
  path = workdir / "evil_latents.npy"
  _plant_npy(path, marker)
  return path, lambda: cli.render_command(workdir, latents=str(path))


def _fvd_real_feature_cache(workdir, marker):
  # what cli.fvd_command(num=2, num_frames=4) reads
  path = workdir / "fvd" / "real_features_2x4.npy"
  _plant_npy(path, marker)
  return path, lambda: cli.fvd_command(workdir, num=2, num_frames=4)


def _config_json(workdir, marker):
  path = workdir / "config.json"
  path.write_bytes(pickle.dumps(_RunsCode(marker)))
  return path, lambda: inrv_jax.load(workdir)


def _every_checkpoint(workdir, marker):
  """Every file of every checkpoint item replaced by the pickle: nothing intact is left."""
  for item_file in (workdir / "checkpoints").glob("*/*/*"):
    if item_file.is_file():
      item_file.write_bytes(pickle.dumps(_RunsCode(marker)))
  return workdir / "checkpoints", lambda: inrv_jax.load(workdir)


READERS = {"i3d weights": _i3d_weights, "render --latents": _render_latents,
           "fvd real-feature cache": _fvd_real_feature_cache, "config.json": _config_json,
           "orbax checkpoints": _every_checkpoint}


@pytest.fixture
def workdir(trained_workdir, tmp_path):
  return pathlib.Path(shutil.copytree(trained_workdir, tmp_path / "workdir"))


def test_the_payload_really_runs_code_when_unpickled(tmp_path):
  marker = tmp_path / "ran"
  pickle.loads(pickle.dumps(_RunsCode(marker)))
  assert marker.exists()


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.filterwarnings("ignore::UserWarning")  # each damaged checkpoint is named
def test_a_planted_pickle_is_refused_and_runs_nothing(workdir, tmp_path, reader):
  marker = tmp_path / "ran"
  path, read = READERS[reader](workdir, marker)
  with pytest.raises(errors.UserError, match=str(path)):
    read()
  assert not marker.exists()
