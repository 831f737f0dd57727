"""`sky_timelapse`: SkyTimelapse training clips, folders of 640x360 frames (paper: 1,803).

Layout: <manual_dir>/sky_timelapse/sky_train/<video>/<clip>/*.jpg (any folder
under sky_train that holds images is one clip). Columns 140:500 (a 360x360
square) are cropped before the anti-aliased resize.
"""

import pathlib

from inrv_jax.data.builders import base
from inrv_jax.data.builders import sharded_writer
from inrv_jax.data.builders import sources

LAYOUT = ("sky_timelapse", "sky_train")


def clip_folders(root: pathlib.Path) -> list[pathlib.Path]:
  """Every folder under `root` that directly holds frame images, naturally sorted."""
  folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
  return sorted((f for f in folders if sources.image_files(f)), key=sources.natural_key)


class SkyTimelapse(base.ClipBuilder):
  """SkyTimelapse clips; configs HxWxT[_strideS]."""

  BUILDER_CONFIGS = [base.ClipConfig(name=base.clip_name(25, 100, 100, 0),
                                     num_frames=25, height=100, width=100, stride=0,
                                     description="The paper's 100x100, first 25 frames.")]
  CROP = (None, None, 140, 500)   # columns 140:500 of 640x360 frames
  JOBS_PER_SHARD = 128
  DESCRIPTION = "SkyTimelapse (Xiong et al., CVPR 2018) training clips, center 360x360 crop."
  HOMEPAGE = "https://github.com/weixiong-ur/mdgan"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download SkyTimelapse (sky_timelapse.zip, linked from
  https://github.com/weixiong-ur/mdgan) and extract it into the manual
  directory so that its training frames are at
    <manual_dir>/sky_timelapse/sky_train/<video>/<clip>/<frame>.jpg
  then run: python -m inrv_jax.data.prepare --config=configs/sky.py --config.data.manual_dir=<manual_dir>
  """

  def _jobs(self, manual_dir: pathlib.Path) -> list[sharded_writer.Job]:
    root = manual_dir.joinpath(*LAYOUT)
    if not root.is_dir():
      raise self.missing(manual_dir, f"no {'/'.join(LAYOUT)} folder")
    folders = clip_folders(root)
    if not folders:
      raise self.missing(manual_dir, f"no folders of frame images under {root}")
    spec = self.spec
    return [sharded_writer.Job(sources.frame_folder_clips, (str(f), spec), str(f))
            for f in folders]
