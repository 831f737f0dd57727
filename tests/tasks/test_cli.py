"""Every --mode on a real (briefly trained) workdir; outputs and JSON."""

import json
import pathlib
import shutil

import numpy as np
import pytest

from inrv_jax import errors
from inrv_jax import main as main_lib
from inrv_jax.data import video_io
from inrv_jax.tasks import cli
from inrv_jax.tasks import rendering


@pytest.fixture
def workdir(trained_workdir, tmp_path):
  """A fresh copy of the trained workdir, so each test sees only its own outputs."""
  return pathlib.Path(shutil.copytree(trained_workdir, tmp_path / "workdir"))


def outputs(directory, name):
  return sorted(p.name for p in directory.glob(f"{name}.*"))


def test_sample_mode(workdir):
  record = cli.sample_command(workdir, num=3, method="slerp_random", resolution=["10"])
  assert outputs(workdir / "sample", "samples") == [
      "samples.gif", "samples.json", "samples.mp4", "samples.png"]
  assert record["video_shape"] == [4, 10, 10]
  assert np.load(workdir / "sample" / "latents.npy").shape == (3, 8)


def test_interpolate_mode_with_indices_and_a_video_file(workdir):
  clip = np.zeros((4, 8, 12, 3), np.uint8) + 128
  video_io.write_mp4(workdir / "clip.mp4", clip)
  record = main_lib.run_mode("interpolate", None, str(workdir), pairs=["0:2", f"{workdir}/clip.mp4:1"],
                        steps=3)
  assert record["pairs"][0] == "0:2"
  assert outputs(workdir / "interpolate", "interpolation")[0] == "interpolation.gif"
  with pytest.raises(errors.UserError, match="index 9 is out of range"):
    cli.interpolate_command(workdir, pairs=["0:9"])
  with pytest.raises(errors.UserError, match="expected A:B"):
    cli.interpolate_command(workdir, pairs=["3"])


def test_invert_mode_writes_panels_and_metrics(workdir):
  video = np.random.default_rng(0).integers(0, 255, (6, 16, 24, 3), np.uint8)  # wrong size
  video_io.write_mp4(workdir / "in.mp4", video)
  with pytest.warns(UserWarning, match="resizing"):
    record = cli.invert_command(workdir, masks=["full", "future:k=2"],
                                videos=[str(workdir / "in.mp4")], steps=5,
                                resolution=["16", "16"])
  metrics = json.loads((workdir / "invert" / "metrics.json").read_text())
  assert metrics == record and set(record["masks"]) == {"full", "future_k2"}
  assert record["masks"]["full"]["mean"]["psnr_unobserved"] is None
  assert record["masks"]["future_k2"]["mean"]["psnr_unobserved"] > 0
  assert record["masks"]["future_k2"]["observed_fraction"] == 0.5
  for name in ("full", "future_k2", "future_k2_render"):
    assert (workdir / "invert" / f"{name}.png").is_file()
  assert np.load(workdir / "invert" / "latents.npy").shape == (2, 8)
  with pytest.raises(errors.UserError, match="no such video file"):
    cli.invert_command(workdir, videos=[str(workdir / "missing.mp4")])


def test_invert_mode_with_several_starts_keeps_every_start(workdir):
  record = main_lib.run_mode("invert", None, str(workdir), masks=["future:k=2"],
                             indices=["0", "3"], steps=5, starts=3, resolution=["16", "16"])
  assert record["starts"] == 3
  every = np.load(workdir / "invert" / "latents_per_start.npy")
  assert every.shape == (2, 3, 8)
  np.testing.assert_array_equal(np.load(workdir / "invert" / "latents.npy"), every[:, 0])
  assert (workdir / "invert" / "future_k2_render.png").is_file()  # the 16x16 mean render
  for bad in (0, -1):  # refused before the last run's outputs are touched
    with pytest.raises(errors.UserError, match=f"at least 1, got {bad}"):
      main_lib.run_mode("invert", None, str(workdir), starts=bad)
    assert (workdir / "invert" / "latents_per_start.npy").is_file()
    with pytest.raises(errors.UserError, match=f"inversion steps must be an integer of at "
                                               f"least 1, got {bad} \\(--inversion_steps\\)"):
      main_lib.run_mode("invert", None, str(workdir), steps=bad)
    assert (workdir / "invert" / "latents_per_start.npy").is_file()


def test_render_mode_reports_memory(workdir):
  np.save(workdir / "z.npy", np.zeros((2, 8), np.float32))
  record = cli.render_command(workdir, latents=str(workdir / "z.npy"), num_frames=3)
  assert record["shape"] == [3, 32, 48]  # default: 4x the training resolution
  assert 0 < record["peak_rss_gib"] < 64
  with pytest.raises(errors.UserError, match="no such latents file"):
    cli.render_command(workdir, latents=str(workdir / "nope.npy"))


def test_missing_workdir_is_a_user_error(tmp_path):
  with pytest.raises(errors.UserError, match="no such workdir"):
    main_lib.run_mode("render", None, str(tmp_path / "absent"))


def test_rerunning_a_mode_replaces_its_old_files(workdir):
  cli.invert_command(workdir, masks=["full", "inpaint_box"], indices=["0"], steps=2)
  assert (workdir / "invert" / "inpaint_box.png").exists()
  cli.invert_command(workdir, masks=["full"], indices=["0"], steps=2)
  assert sorted(p.name for p in (workdir / "invert").iterdir()) == [
      "full.gif", "full.mp4", "full.png", "latents.npy", "metrics.json"]


def test_a_bad_mode_input_creates_no_output_folder(workdir):
  with pytest.raises(errors.UserError, match="unknown sampling method"):
    cli.sample_command(workdir, method="gausian")
  with pytest.raises(errors.UserError, match="no such video file"):
    cli.invert_command(workdir, videos=[str(workdir / "absent.mp4")])
  with pytest.raises(errors.UserError, match="--pairs: expected A:B"):
    cli.interpolate_command(workdir, pairs=["3"])
  assert not any((workdir / mode).exists() for mode in ("sample", "invert", "interpolate"))


def test_a_mask_off_the_grid_leaves_the_last_inversion_in_place(workdir):
  cli.invert_command(workdir, masks=["full"], indices=["0"], steps=2)
  before = sorted(p.name for p in (workdir / "invert").iterdir())
  frames = rendering.model_from(workdir=workdir).config.data.num_frames
  for spec in (f"future:k={frames + 4}", "inpaint_box:top=40", "sparse:fraction=2"):
    with pytest.raises(errors.UserError, match=f"mask {spec.split(':')[0]}"):
      cli.invert_command(workdir, masks=[spec], indices=["0"], steps=2)
  assert sorted(p.name for p in (workdir / "invert").iterdir()) == before
