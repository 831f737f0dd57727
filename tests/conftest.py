"""Shared fixtures: a tiny INR-V config on the real bundled clips."""

import pathlib

import pytest

from inrv_jax import config_defaults
from inrv_jax.runtime import xla_cpu
from tiny_configs import tiny

# The XLA flags the entry points (python -m inrv_jax.*) apply, so that a run in this
# process computes what a command-line run does (tests compare the two bit for bit).
xla_cpu.apply()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> pathlib.Path:
  """One prepared-data cache for the whole session (prepared clips are reused)."""
  return tmp_path_factory.mktemp("prepared")


@pytest.fixture
def tiny_config(data_dir):
  return tiny(config_defaults.base_config(), data_dir)
