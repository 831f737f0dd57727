"""SkyTimelapse as in the paper: first 25 frames, center 360x360 crop, 100x100.

Raw frames go in <manual_dir>/sky_timelapse/sky_train/...: see docs/datasets.md.
"""

from inrv_jax import config_defaults


def get_config(arg: str | None = None):
  del arg
  c = config_defaults.base_config()
  c.data.name = "sky_timelapse"    # builder; crops columns 140:500 itself before resizing
  c.data.path = ""                 # unused (raw files come from data.manual_dir)
  c.data.num_frames = 25           # paper: first 25 frames of each clip folder
  c.data.height = 100              # paper: 100 x 100
  c.data.width = 100
  c.data.stride = 0                # first clip of every folder only
  c.model.hn_in = 64               # paper: 64 for 2000 or fewer videos (1,803 clips)
  c.train.batch_size = 1           # the release trains 1-2 videos per GPU
  c.train.num_steps = 1_000_000    # long run; stop and resume at will
  c.train.checkpoint_every = 2000  # steps between checkpoints
  c.train.log_every = 100          # steps between metric lines
  c.eval.fps = 25                  # frame rate of written videos
  return c
