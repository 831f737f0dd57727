"""Failures at training time are one clear error, and the last good checkpoint survives."""

import contextlib
import os
import pathlib
import re
import subprocess

import jax
import numpy as np
import pytest

import inrv_jax
from inrv_jax import errors
from inrv_jax.training import train


def test_a_diverging_run_names_the_step_and_the_parameters_and_keeps_the_good_checkpoint(
    tiny_config, tmp_path):
  tiny_config.train.learning_rate = 1e38  # the first Adam step puts weights near float32's max
  tiny_config.train.num_steps = 20
  tiny_config.train.checkpoint_every = 1
  with pytest.raises(errors.TrainingDiverged,
                     match=r"not finite at step (\d+); the last good checkpoint") as failure:
    train.train_and_evaluate(tiny_config, tmp_path)
  message = str(failure.value)
  assert re.search(r"the gradient of (hypernet\.heads\.\d+|latent_table)", message), message
  bad_step = int(message.split("at step ")[1].split(";")[0])
  model = inrv_jax.load(tmp_path)
  assert model.step == bad_step - 1
  assert all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree.leaves(model.params))



@contextlib.contextmanager
def read_only(directory: pathlib.Path):
  """`directory` can't be written to inside: chmod for a normal user; as root, whom modes
  don't stop, the immutable attribute (chattr +i), skipping when the filesystem or the
  container doesn't allow it."""
  if os.geteuid() != 0:
    directory.chmod(0o555)
    undo = lambda: directory.chmod(0o755)
  else:
    made = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, text=True)
    if made.returncode != 0:
      pytest.skip(f"can't make {directory} read-only as root: chattr +i: {made.stderr.strip()}")
    undo = lambda: subprocess.run(["chattr", "-i", str(directory)], check=True)
  try:
    yield
  finally:
    undo()


def test_a_checkpoint_that_cannot_be_written_is_one_error_and_the_previous_one_survives(
    tiny_config, tmp_path):
  tiny_config.train.num_steps = 10
  train.train_and_evaluate(tiny_config, tmp_path)
  tiny_config.train.num_steps = 20
  with read_only(tmp_path / "checkpoints"):
    with pytest.raises(errors.UserError, match=r"cannot write the checkpoint of step 20"):
      train.train_and_evaluate(tiny_config, tmp_path)
  assert inrv_jax.load(tmp_path).step == 10
