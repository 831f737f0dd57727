"""The learned prior of a workdir: fitted when training ends, resumable, refitted with
--mode=fit_prior (workdirs from before it existed too), refused on bad config fields."""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import inrv_jax
from inrv_jax.training import checkpoints
from inrv_jax import config_check
from inrv_jax import errors
from inrv_jax import learned_prior
from inrv_jax.training import train
from tiny_configs import shrink_prior

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "workdirs_ab34cfc"


def run_main(*args, data_dir=None, **popen):
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  if data_dir is not None:
    env["TFDS_DATA_DIR"] = str(data_dir)
  return subprocess.Popen([sys.executable, "-m", "inrv_jax.main", *args], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def leaves(prior) -> list[np.ndarray]:
  return [np.asarray(x) for x in jax.tree.leaves(prior.params)]


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
  """A tiny workdir trained with the prior fitted at its end."""
  from tiny_configs import tiny  # pylint: disable=import-outside-toplevel
  from inrv_jax import config_defaults  # pylint: disable=import-outside-toplevel
  config = tiny(config_defaults.base_config(), data_dir)
  config.train.num_steps = 10
  workdir = tmp_path_factory.mktemp("with_prior")
  model = train.train_and_evaluate(config, workdir)
  return workdir, model


def test_training_ends_with_a_prior_that_loads_and_samples_by_default(trained):
  workdir, model = trained
  assert model.prior is not None and (workdir / "prior").is_dir()
  loaded = inrv_jax.load(workdir)
  assert loaded.prior is not None
  for a, b in zip(leaves(model.prior), leaves(loaded.prior)):
    np.testing.assert_array_equal(a, b)
  videos, z = inrv_jax.sample(jax.random.key(0), 3, model=loaded, return_latents=True)
  again = inrv_jax.sample(jax.random.key(0), 3, model=loaded, method="prior")
  np.testing.assert_array_equal(videos, again)  # prior is the default; same key, same videos
  np.testing.assert_array_equal(z, loaded.prior.sample(jax.random.key(0), 3,
                                                       anchors=loaded.latents))
  gaussian = inrv_jax.sample(jax.random.key(0), 3, model=loaded, method="gaussian")
  assert not np.allclose(videos, gaussian)


def test_rerunning_a_finished_training_says_the_prior_is_fitted_and_keeps_it(
    trained, data_dir, capsys):
  from tiny_configs import tiny  # pylint: disable=import-outside-toplevel
  from inrv_jax import config_defaults  # pylint: disable=import-outside-toplevel
  workdir, model = trained
  config = tiny(config_defaults.base_config(), data_dir)
  config.train.num_steps = 10
  files = {p: p.stat().st_mtime_ns for p in (workdir / "prior").rglob("*") if p.is_file()}
  capsys.readouterr()
  again = train.train_and_evaluate(config, workdir)
  said = capsys.readouterr().out
  assert "the learned prior of these latents is already fitted" in said
  assert "fitting the prior on" not in said
  assert {p: p.stat().st_mtime_ns for p in (workdir / "prior").rglob("*")
          if p.is_file()} == files  # not refitted: no checkpoint written again
  for a, b in zip(leaves(model.prior), leaves(again.prior)):
    np.testing.assert_array_equal(a, b)


def test_a_stopped_fit_resumes_to_the_same_weights(trained, tmp_path):
  workdir, _ = trained
  config = checkpoints.read_config(workdir)
  config.prior.steps, config.prior.checkpoint_every = 4000, 1000
  checkpoints.write_config(workdir, config)  # --mode=fit_prior reads the workdir's config
  try:
    model = inrv_jax.load(workdir)
    uninterrupted = learned_prior.fit(model.latents, config.prior, tmp_path / "whole",
                                      config.seed, progress=False)
    shutil.rmtree(workdir / "prior")
    process = run_main(f"--workdir={workdir}", "--mode=fit_prior")
    while process.poll() is None and not any(
        p.name.isdigit() for p in (workdir / "prior").glob("*")):
      time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    assert "stopped after step" in out and "Traceback" not in err, out + err[-2000:]
    stopped_at = max(int(p.name) for p in (workdir / "prior").glob("*") if p.name.isdigit())
    assert 0 < stopped_at < 4000
    assert inrv_jax.load(workdir).prior is None  # an unfinished fit is no prior
    process = run_main(f"--workdir={workdir}", "--mode=fit_prior")
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0 and "prior fitted" in out, err[-3000:]
    resumed = inrv_jax.load(workdir).prior
    for a, b in zip(leaves(uninterrupted), leaves(resumed)):
      np.testing.assert_array_equal(a, b)
  finally:
    config.prior.steps, config.prior.checkpoint_every = 100, 50
    checkpoints.write_config(workdir, config)


def test_fit_prior_is_refused_while_another_run_writes_the_workdir(trained):
  workdir, _ = trained
  def stamps():
    return {str(p): p.stat().st_mtime_ns for p in (workdir / "prior").rglob("*")}
  before = stamps()
  with checkpoints.writer_lock(workdir):  # as a training run holds it
    process = run_main(f"--workdir={workdir}", "--mode=fit_prior")
    out, err = process.communicate(timeout=600)
  assert process.returncode == 2, out + err[-3000:]
  lines = [l for l in err.splitlines() if "error" in l or "Traceback" in l]
  assert lines == [f"error: {workdir}: another run is writing this workdir (pid "
                   f"{os.getpid()} on host {socket.gethostname()}); wait for it to end or "
                   "stop it, or use another --workdir"], err[-3000:]
  assert stamps() == before  # nothing refitted


@pytest.mark.parametrize("name", ["plain", "clip"])
def test_fit_prior_on_a_workdir_from_before_priors(name, tmp_path):
  workdir = tmp_path / name
  shutil.copytree(FIXTURES / name, workdir)
  before = inrv_jax.load(workdir)
  assert before.prior is None  # no prior: sampling falls back to gaussian, as before
  gaussian = inrv_jax.sample(jax.random.key(0), 2, model=before)
  np.testing.assert_array_equal(gaussian, inrv_jax.sample(jax.random.key(0), 2, model=before,
                                                          method="gaussian"))
  with pytest.raises(errors.UserError, match="no learned prior"):
    inrv_jax.sample(jax.random.key(0), 2, model=before, method="prior")
  config = checkpoints.read_config(workdir)
  shrink_prior(config)
  checkpoints.write_config(workdir, config)
  process = run_main(f"--workdir={workdir}", "--mode=fit_prior")
  out, err = process.communicate(timeout=600)
  assert process.returncode == 0, err[-3000:]
  assert f"prior fitted on {before.num_videos} latents" in out, out
  after = inrv_jax.load(workdir)
  assert after.prior is not None and after.prior.dim == 16
  samples = inrv_jax.sample(jax.random.key(0), 2, model=after)
  assert samples.shape == (2, 8, 16, 16, 3) and np.all(np.isfinite(samples))
  again = run_main(f"--workdir={workdir}", "--mode=fit_prior")  # nothing to do: says so
  out, err = again.communicate(timeout=600)
  assert again.returncode == 0, err[-3000:]
  assert "already fitted on these" in out and "kept" in out, out


BAD_FIELDS = [("solver", "rk4", "must be one of"), ("width", 0, "at least 1"),
              ("time_dim", 7, "even integer"), ("ema_decay", 1.0, "[0, 1)"),
              ("inversion_times", (0.5, 1.0), "each in (0, 1)"),
              ("learning_rate", -1.0, "above 0"), ("inversion_weight", -0.1, "at least 0"),
              ("time_sampling", "cosine", "must be one of"),
              ("sample_start", 1.0, "path time in [0, 1)")]


@pytest.mark.parametrize("field,value,message", BAD_FIELDS)
def test_bad_prior_fields_are_refused_before_any_work(tiny_config, tmp_path, field, value,
                                                      message):
  with tiny_config.unlocked():
    tiny_config.prior[field] = value
  workdir = tmp_path / "wd"
  with pytest.raises(errors.UserError, match=rf"--config\.prior\.{field}=") as err:
    train.train_and_evaluate(tiny_config, workdir)
  assert message in str(err.value) and len(str(err.value).splitlines()) == 1
  assert not workdir.exists()  # refused before anything was created
  with pytest.raises(errors.UserError, match=rf"--config\.prior\.{field}="):
    config_check.check_prior(tiny_config)


def test_a_bad_prior_field_on_the_command_line_is_one_line(tmp_path, data_dir):
  workdir = tmp_path / "wd"
  process = run_main("--config=configs/quickstart.py", f"--workdir={workdir}",
                     "--config.prior.depth=0", data_dir=data_dir)
  _, err = process.communicate(timeout=300)
  assert process.returncode == 2 and "Traceback" not in err, err[-2000:]
  lines = [line for line in err.splitlines() if line.startswith("error:")]
  assert lines == ["error: --config.prior.depth=0: must be an integer of at least 1"], err[-2000:]
  assert not workdir.exists()
