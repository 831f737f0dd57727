"""tests/test_multihost.py's config file for the command line: the tiny config, batch 8.

Set --config.data.dir on the command line (the prepared data's directory).
"""

import pathlib

from inrv_jax import config_defaults
from tiny_configs import tiny  # tests/ is on PYTHONPATH in the test's processes


def get_config(arg: str | None = None):
  del arg
  c = tiny(config_defaults.base_config(), pathlib.Path("."))
  c.train.batch_size = 8        # one clip per device of 8
  c.train.log_every = 1
  c.train.checkpoint_every = 2
  c.train.pixel_fraction = 0.5
  c.train.progress_bar = True   # shown by process 0 only: the test checks the others show none
  return c
