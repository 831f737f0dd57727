"""Values that are not finite are refused with a message before any work: a video with
a NaN pixel to invert, NaN latents to render (exit 2 from the command line)."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import inrv_jax
from inrv_jax import errors

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_video_with_one_pixel_that_is_not_finite_is_not_inverted(tiny_model, bad):
  videos = np.random.default_rng(0).uniform(0, 1, (2, 4, 8, 12, 3)).astype(np.float32)
  videos[1, 2, 3, 4, 0] = bad
  with pytest.raises(errors.UserError, match="video 1, frame 2, row 3, column 4"):
    inrv_jax.invert(videos, model=tiny_model, steps=2, progress=False)


def test_nan_latents_are_not_rendered(tiny_model):
  z = np.array(tiny_model.latents[:3])
  z[2, 0] = np.nan
  with pytest.raises(errors.UserError, match=r"1 of the 3 rows hold values that are not finite \(NaN or infinity\), the first row 2"):
    inrv_jax.render(tiny_model, z, progress=False)


def test_render_mode_refuses_nan_latents_in_one_line(trained_workdir, tmp_path, data_dir):
  z = np.zeros((2, 8), np.float32)
  z[0, 3] = np.nan
  np.save(tmp_path / "nan.npy", z)
  env = {**os.environ, "PYTHONPATH": str(REPO), "TFDS_DATA_DIR": str(data_dir)}
  result = subprocess.run(
      [sys.executable, "-m", "inrv_jax.main", f"--workdir={trained_workdir}", "--mode=render",
       f"--latents={tmp_path / 'nan.npy'}"], cwd=REPO, env=env, capture_output=True, text=True,
      timeout=600)
  assert result.returncode == 2, result.stderr[-2000:]
  errors_lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(errors_lines) == 1 and "not finite" in errors_lines[0]
  assert "Traceback" not in result.stderr
  assert not (trained_workdir / "render").exists()
