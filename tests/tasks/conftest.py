"""Tiny INR-Vs for the task tests: one freshly initialised (latents spread like trained
ones), and two workdirs trained briefly on the bundled clips, one with a learned prior."""

import numpy as np
import pytest
from flax import nnx

from inrv_jax import trained_model
from inrv_jax.models import inrv as inrv_lib
from tiny_configs import tiny_task_config


@pytest.fixture(scope="session")
def tiny_model() -> trained_model.TrainedModel:
  config = tiny_task_config()
  module = inrv_lib.INRV(config.model, 6, rngs=nnx.Rngs(0))
  latents = np.random.default_rng(0).normal(0.0, 1.0, (6, config.model.latent_dim)).astype(np.float32)
  graphdef, params, frozen = nnx.split(module, nnx.Param, ...)
  return trained_model.TrainedModel(config, graphdef, params, frozen, latents)


@pytest.fixture(scope="session")
def trained_workdir(data_dir, tmp_path_factory):
  """A real workdir: the task model's architecture trained briefly on 6 bundled clips."""
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  config = tiny_task_config()
  config.data.dir = str(data_dir)
  config.data.stride = 8
  config.data.max_clips = 6
  config.train.num_steps = 20
  config.train.batch_size = 2
  config.train.learning_rate = 1e-3
  config.train.progress_bar = False
  config.eval.num_recon = config.eval.num_samples = config.eval.interp_steps = 2
  workdir = tmp_path_factory.mktemp("trained")
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope="session")
def guided_workdir(data_dir, tmp_path_factory):
  """The task model's architecture trained on 33 clips of the three bundled videos (4
  frames 8 x 12, one clip every 16 frames), with a 64-wide prior fitted at the end."""
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  config = tiny_task_config()
  config.data.dir = str(data_dir)
  config.data.stride = 16
  config.train.num_steps = 300
  config.train.batch_size = 2
  config.train.learning_rate = 1e-3
  config.train.checkpoint_every = 1000
  config.train.progress_bar = False
  config.eval.every = 0
  config.eval.num_recon = config.eval.num_samples = config.eval.interp_steps = 2
  config.prior.width, config.prior.depth = 64, 2
  config.prior.steps, config.prior.batch_size, config.prior.ema_decay = 600, 32, 0.99
  workdir = tmp_path_factory.mktemp("guided")
  train.train_and_evaluate(config, workdir)
  return workdir
