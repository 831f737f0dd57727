"""Shared fixtures: a tiny INR-V config on the real bundled clips."""

import pathlib

import pytest

from inrv_jax import config_defaults


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> pathlib.Path:
  """One prepared-data cache for the whole session (prepared clips are reused)."""
  return tmp_path_factory.mktemp("prepared")


def tiny(config, data_dir: pathlib.Path):
  """Shrink a config to a model and clip size that trains in seconds on 2 cores."""
  c = config
  c.model.inr.hidden = 32
  c.model.inr.hidden_layers = 2
  c.model.inr.num_frequencies = 4
  c.model.hn_in = 16
  c.model.hn_hidden = 32
  c.model.hn_hidden_layers = 1
  c.data.path = "bundled"
  c.data.dir = str(data_dir)
  c.data.num_frames = 8
  c.data.height = 16
  c.data.width = 16
  c.data.stride = 8
  c.data.max_clips = 8
  c.train.batch_size = 2
  c.train.learning_rate = 1e-3
  c.train.log_every = 5
  c.train.checkpoint_every = 10
  c.train.progress_bar = False
  c.eval.num_recon = 2
  c.eval.num_samples = 1
  c.eval.interp_steps = 2
  return c


@pytest.fixture
def tiny_config(data_dir):
  return tiny(config_defaults.base_config(), data_dir)
