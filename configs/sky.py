"""SkyTimelapse as in the paper: first 25 frames, center 360x360 crop, 100x100.

Raw frames go in <manual_dir>/sky_timelapse/sky_train/...: see README "Datasets".
"""

from inrv_jax import config_defaults


def get_config(arg: str | None = None):
  config_defaults.check_variant("configs/sky.py", arg)
  # builder crops columns 140:500 itself; paper: first 25 frames of each clip folder at
  # 100 x 100; latent_dim 64 for 2000 or fewer videos (1,803 clips)
  c = config_defaults.paper_dataset_config("sky_timelapse", latent_dim=64)
  return c
