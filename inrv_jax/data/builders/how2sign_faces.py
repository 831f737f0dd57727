"""`how2sign_faces`: the authors' two-second How2Sign face clips (paper: 10,000 clips).

Layout: <manual_dir>/How2Sign-Blobs/train/faces_intervals_2s/<video>/cut-<k>.mp4.
Each clip's first T frames, resized with anti-aliasing (paper: 100x100x25).
"""

import pathlib

from inrv_jax.data.builders import base
from inrv_jax.data.builders import sharded_writer
from inrv_jax.data.builders import sources

LAYOUT = ("How2Sign-Blobs", "train", "faces_intervals_2s")


class How2signFaces(base.ClipBuilder):
  """How2Sign-Faces clips; configs HxWxT[_strideS]."""

  BUILDER_CONFIGS = [base.ClipConfig(name=base.clip_name(25, 100, 100, 0),
                                     num_frames=25, height=100, width=100, stride=0,
                                     description="The paper's 100x100, first 25 frames.")]
  JOBS_PER_SHARD = 256
  DESCRIPTION = "Two-second face clips cut from How2Sign (INR-V, Sen et al., TMLR 2022)."
  HOMEPAGE = "https://github.com/bipashasen/INR-V-VideoGenerationSpace"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Get the How2Sign-Faces archive the INR-V authors publish (linked from
  https://github.com/bipashasen/INR-V-VideoGenerationSpace, "Datasets"), extract
  it into the manual directory so that its clips are at
    <manual_dir>/How2Sign-Blobs/train/faces_intervals_2s/<video>/cut-<k>.mp4
  then run: python -m inrv_jax.data.prepare --config=configs/faces.py --config.data.manual_dir=<manual_dir>
  """

  def _jobs(self, manual_dir: pathlib.Path) -> list[sharded_writer.Job]:
    root = manual_dir.joinpath(*LAYOUT)
    if not root.is_dir():
      raise self.missing(manual_dir, f"no {'/'.join(LAYOUT)} folder")
    clips = sorted(root.glob("*/cut-*.mp4"), key=sources.natural_key)
    if not clips:
      raise self.missing(manual_dir, f"no */cut-*.mp4 clips under {root}")
    spec = self.spec
    return [sharded_writer.Job(sources.video_file_clips, (str(p), spec), str(p)) for p in clips]
