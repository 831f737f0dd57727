"""RainbowJelly as in the paper: back-to-back 25-frame clips, center 360x360 crop, 100x100.

Raw video(s) go in <manual_dir>/RainbowJelly/*.mp4: see docs/datasets.md.
"""

from inrv_jax import config_defaults


def get_config(arg: str | None = None):
  del arg
  c = config_defaults.base_config()
  c.data.name = "rainbow_jelly"    # builder; crops columns 140:500 itself before resizing
  c.data.path = ""                 # unused (raw files come from data.manual_dir)
  c.data.num_frames = 25           # paper: 25-frame clips
  c.data.height = 100              # paper: 100 x 100
  c.data.width = 100
  c.data.stride = 25               # back-to-back windows (paper: 34,526 clips of one video)
  c.model.hn_in = 128              # paper: 128 above 2000 training videos
  c.train.batch_size = 1           # the release trains 1-2 videos per GPU
  c.train.num_steps = 1_000_000    # long run; stop and resume at will
  c.train.checkpoint_every = 2000  # steps between checkpoints
  c.train.log_every = 100          # steps between metric lines
  c.eval.fps = 25                  # frame rate of written videos
  return c
