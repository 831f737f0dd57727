"""`rainbow_jelly`: T-frame clips of the RainbowJelly video (paper: 34,526 clips).

Layout: <manual_dir>/RainbowJelly/*.mp4 — the long 640x360 video, whole or cut
into pieces (pieces decode in parallel; see README "Datasets"). Every
T-frame window `stride` frames apart (paper: stride = T, back to back) of
each file, columns 140:500 cropped before the anti-aliased resize.
"""

import pathlib

from inrv_jax.data import video_io
from inrv_jax.data.builders import base
from inrv_jax.data.builders import sharded_writer
from inrv_jax.data.builders import sources

FOLDER = "RainbowJelly"


class RainbowJelly(base.ClipBuilder):
  """RainbowJelly clips; configs HxWxT_strideS."""

  BUILDER_CONFIGS = [base.ClipConfig(name=base.clip_name(25, 100, 100, 25),
                                     num_frames=25, height=100, width=100, stride=25,
                                     description="The paper's 100x100, back-to-back 25 frames.")]
  CROP = (None, None, 140, 500)   # columns 140:500 of 640x360 frames
  JOBS_PER_SHARD = 4              # each piece of the long video gives many clips
  DESCRIPTION = "Back-to-back clips of the RainbowJelly video (as used by StyleGAN-V and INR-V)."
  HOMEPAGE = "https://www.youtube.com/watch?v=P8Bit37hlsQ"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Get the RainbowJelly video (https://www.youtube.com/watch?v=P8Bit37hlsQ, 640x360),
  cut it into pieces so that both cores decode (e.g.
    ffmpeg -i jelly.mp4 -c copy -f segment -segment_time 60 -reset_timestamps 1 <manual_dir>/RainbowJelly/%05d.mp4)
  or put the whole file there, so that the videos are at
    <manual_dir>/RainbowJelly/*.mp4
  then run: python -m inrv_jax.data.prepare --config=configs/jelly.py --config.data.manual_dir=<manual_dir>
  """

  def _jobs(self, manual_dir: pathlib.Path) -> list[sharded_writer.Job]:
    root = manual_dir / FOLDER
    if not root.is_dir():
      raise self.missing(manual_dir, f"no {FOLDER} folder")
    videos = sorted((p for p in root.iterdir()
                     if p.suffix.lower() in video_io.VIDEO_EXTENSIONS and p.is_file()),
                    key=sources.natural_key)
    if not videos:
      raise self.missing(manual_dir, f"no video files in {root}")
    spec = self.spec
    return [sharded_writer.Job(sources.video_file_clips, (str(p), spec), str(p)) for p in videos]
