"""--mode=fvd on a real workdir of 16-frame clips: the score, its files and the real-feature cache."""

import json
import math

import numpy as np
import pytest

from inrv_jax.data import cached_arrays
from inrv_jax import config_defaults
from inrv_jax import errors
from inrv_jax import main as main_lib
from inrv_jax.tasks import cli
from inrv_jax.evaluation import fvd_eval
from tiny_configs import tiny


@pytest.fixture(scope="module")
def workdir16(data_dir, tmp_path_factory):
  """The tiny model trained for a few steps on four 16-frame 16x16 bundled clips."""
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  c = tiny(config_defaults.base_config(), data_dir)
  c.data.num_frames, c.data.stride, c.data.max_clips = 16, 16, 4
  c.train.num_steps = 4
  workdir = tmp_path_factory.mktemp("fvd16")
  train.train_and_evaluate(c, workdir)
  return workdir


def test_fvd_mode_scores_samples_and_caches_the_real_features(workdir16):
  record = cli.fvd_command(workdir16, num=4, resolution=["24"], batch_size=4)
  out = workdir16 / "fvd"
  assert record["num_real"] == record["num_generated"] == 4
  assert record["resolution"] == [24, 24] and record["method"] == "slerp_random"
  assert math.isfinite(record["fvd"]) and record["fvd"] > 0
  assert json.loads((out / "fvd.json").read_text())["fvd"] == record["fvd"]
  assert sorted(p.name for p in out.glob("fvd_samples.*")) == [
      "fvd_samples.gif", "fvd_samples.mp4", "fvd_samples.png"]
  cache = out / "real_features_4x16.npy"
  real = np.load(cache)
  assert real.shape == (4, 400)
  # a second run must read these (checked against their checksum) instead of recomputing
  cached_arrays.save(cache, real + 100.0)
  again = main_lib.run_mode("fvd", None, str(workdir16), num=4, resolution=["24"], batch_size=4)
  assert again["fvd"] > record["fvd"] + 400 * 100.0 ** 2 * 0.5


@pytest.mark.parametrize("damage", ["nan", "overwritten", "truncated"])
def test_a_damaged_real_feature_cache_is_computed_again(workdir16, capfd, damage):
  cache = workdir16 / "fvd" / "real_features_4x16.npy"
  cache.unlink(missing_ok=True)  # another test of this workdir leaves a cache of its own
  record = cli.fvd_command(workdir16, num=4, resolution=["24"], batch_size=4)
  real = np.load(cache)
  if damage == "nan":
    broken = real.copy()
    broken[1, 7] = np.nan
    np.save(cache, broken)
  elif damage == "overwritten":
    np.save(cache, real * 0.5)
  else:
    cache.write_bytes(cache.read_bytes()[:300])
  capfd.readouterr()
  again = cli.fvd_command(workdir16, num=4, resolution=["24"], batch_size=4)
  err = capfd.readouterr().err
  assert err.count("failed their check") == 1 and str(cache) in err
  assert again["fvd"] == pytest.approx(record["fvd"], rel=1e-6)
  np.testing.assert_array_equal(np.load(cache), real)


def test_fvd_of_a_model_with_shorter_clips_is_refused(trained_workdir):
  with pytest.raises(errors.UserError, match="makes 4-frame videos; FVD over 16 frames"):
    cli.fvd_command(trained_workdir, num=2)
  assert not (trained_workdir / "fvd").exists()


def test_real_clips_are_spread_over_the_whole_dataset():
  assert fvd_eval.real_indices(10, 4).tolist() == [0, 2, 5, 7]
  assert fvd_eval.real_indices(3, 2048).tolist() == [0, 1, 2]
  assert len(set(fvd_eval.real_indices(10_000, 2048))) == 2048
