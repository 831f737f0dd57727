"""Shared fixtures: a tiny INR-V config on the real bundled clips."""

import pathlib

import pytest

from inrv_jax import config_defaults
from tiny_configs import tiny


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> pathlib.Path:
  """One prepared-data cache for the whole session (prepared clips are reused)."""
  return tmp_path_factory.mktemp("prepared")


@pytest.fixture
def tiny_config(data_dir):
  return tiny(config_defaults.base_config(), data_dir)
