"""Configs small enough to train in seconds on 2 cores (shared by the conftest files)."""

import pathlib

from inrv_jax import config_defaults


def shrink_prior(c):
  """A learned prior of one 32-wide block fitted in 100 steps (seconds on 2 cores)."""
  c.prior.update(dict(width=32, depth=1, time_dim=16, steps=100, batch_size=16,
                      checkpoint_every=50, ema_decay=0.9, sample_steps=4))
  return c


def shrink_model(c):
  """An INR of 32-wide layers on 4 frequencies, hypernetwork heads of one 32-wide layer,
  and a small learned prior (shrink_prior)."""
  shrink_prior(c)
  c.model.inr.hidden = 32
  c.model.inr.hidden_layers = 2
  c.model.inr.num_frequencies = 4
  c.model.hypernet_hidden = 32
  c.model.hypernet_hidden_layers = 1
  return c


def tiny(config, data_dir: pathlib.Path):
  """Shrink a config to a model and clip size that trains in seconds on 2 cores."""
  c = shrink_model(config)
  c.model.latent_dim = 16
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


def tiny_clip(c):
  """CLIP conditioning with a tiny random CLIP tower (no weight file), GRU and merge MLP."""
  c.model.conditioning = "clip"
  c.model.clip.pretrained = False  # a tiny random CLIP: no download
  c.model.clip.image_size, c.model.clip.patch_size = 32, 16
  c.model.clip.width, c.model.clip.layers, c.model.clip.heads = 16, 1, 2
  c.model.clip.output_dim, c.model.clip.table_dim = 8, 8
  c.model.clip.gru_hidden, c.model.clip.merge_hidden = 4, 16
  return c


def tiny_task_config():
  """The task tests' model: latent_dim 8, 4-frame 8 x 12 clips, 4,096-pixel render chunks."""
  c = shrink_model(config_defaults.base_config())
  c.model.latent_dim = 8
  c.data.num_frames = 4
  c.data.height = 8
  c.data.width = 12
  c.eval.render_chunk = 4096
  return c


def preemptible(config, data_dir: pathlib.Path):
  """tiny() for the stop-and-resume tests: 100 steps, a metrics line every step, and no
  periodic checkpoint before the end (the one written on stopping is what counts)."""
  c = tiny(config, data_dir)
  c.train.num_steps = 100
  c.train.log_every = 1
  c.train.checkpoint_every = 1000
  return c
