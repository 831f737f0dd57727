"""RainbowJelly as in the paper: back-to-back 25-frame clips, center 360x360 crop, 100x100.

Raw video(s) go in <manual_dir>/RainbowJelly/*.mp4: see README "Datasets".
"""

from inrv_jax import config_defaults


def get_config(arg: str | None = None):
  config_defaults.check_variant("configs/jelly.py", arg)
  # builder crops columns 140:500 itself; back-to-back 25-frame windows of 100 x 100
  # (paper: 34,526 clips of one video)
  c = config_defaults.paper_dataset_config("rainbow_jelly", stride=25)
  return c
