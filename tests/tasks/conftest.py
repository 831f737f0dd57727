"""A tiny INR-V for task tests: freshly initialised, latents spread like trained ones."""

import numpy as np
import pytest
from flax import nnx

from inrv_jax import config_defaults
from inrv_jax import trained_model
from inrv_jax.models import inrv as inrv_lib


def tiny_task_config():
  c = config_defaults.base_config()
  c.model.inr.hidden = 32
  c.model.inr.hidden_layers = 2
  c.model.inr.num_frequencies = 4
  c.model.hn_in = 8
  c.model.hn_hidden = 32
  c.model.hn_hidden_layers = 1
  c.data.num_frames = 4
  c.data.height = 8
  c.data.width = 12
  c.eval.render_chunk = 4096
  return c


@pytest.fixture(scope="session")
def tiny_model() -> trained_model.TrainedModel:
  config = tiny_task_config()
  module = inrv_lib.INRV(config.model, 6, rngs=nnx.Rngs(0))
  latents = np.random.default_rng(0).normal(0.0, 1.0, (6, config.model.hn_in)).astype(np.float32)
  graphdef, params, rest = nnx.split(module, nnx.Param, ...)
  return trained_model.TrainedModel(config, graphdef, params, rest, latents)
