"""The command line: clear messages, no tracebacks, for bad input."""

import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "workdirs_ab34cfc"


def run_module(module, *args, data_dir):
  env = {**os.environ, "PYTHONPATH": str(REPO), "TFDS_DATA_DIR": str(data_dir)}
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)


def run_main(*args, data_dir):
  return run_module("inrv_jax.main", *args, data_dir=data_dir)


def test_directory_without_videos_is_named(tmp_path, data_dir):
  empty = tmp_path / "empty"
  empty.mkdir()
  result = run_main("--config=configs/quickstart.py", f"--workdir={tmp_path / 'wd'}",
                    f"--config.data.path={empty}", data_dir=data_dir)
  assert result.returncode == 2
  assert f"error: {empty}: no video files found" in result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("config", ["configs/faces.py", "configs/faces.py:plain"])
def test_faces_without_its_dataset_says_what_it_needs(tmp_path, data_dir, config):
  result = run_main(f"--config={config}", f"--workdir={tmp_path / 'wd'}",
                    f"--config.data.manual_dir={tmp_path / 'nothing_here'}",
                    data_dir=data_dir)
  assert result.returncode == 2, result.stderr[-2000:]
  assert "How2Sign" in result.stderr and "Traceback" not in result.stderr
  assert "--config.data.manual_dir" in result.stderr


def test_unknown_variant_is_refused(tmp_path, data_dir):
  result = run_main("--config=configs/faces.py:nope", f"--workdir={tmp_path}",
                    data_dir=data_dir)
  _one_line_error(result, "unknown variant 'nope'", "plain")


def _one_line_error(result, *parts):
  assert result.returncode == 2, result.stderr[-2000:]
  lines = [line for line in result.stderr.splitlines() if "error:" in line or "Traceback" in line]
  assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
  assert all(part in lines[0] for part in parts), lines[0]


@pytest.mark.parametrize("module,args,parts", [
    ("inrv_jax.data.prepare", ["--config=configs/quickstrat.py"],
     ["configs/quickstrat.py", "no such config file"]),
    ("inrv_jax.data.prepare", ["--config=configs/quickstart.py", "--config.data.nope=1"],
     ["--config.data.nope", "no such config field"]),
    ("inrv_jax.bench.prior_sampling", ["--workdir=W", "--novelty_videos=0"],
     ["--novelty_videos=0", "not a positive integer"]),
    ("inrv_jax.bench.quality_curve", ["--seconds_per_step=fast"], ["--seconds_per_step=fast"]),
    ("inrv_jax.tools.fetch_weights", ["--weigths=vgg16"], ["Unknown command line flag 'weigths'"]),
    ("inrv_jax.data.prepare", [], ["--config is required"]),
    ("inrv_jax.main", ["--mode=sample"], ["--workdir is required"]),
])
def test_every_entry_point_refuses_a_bad_flag_in_one_line(tmp_path, data_dir, module, args,
                                                         parts):
  result = run_module(module, *args, data_dir=data_dir)
  _one_line_error(result, *parts)
  assert "FATAL" not in result.stderr


def test_a_mistyped_config_is_one_line_and_creates_nothing(tmp_path, data_dir):
  workdir = tmp_path / "wd"
  result = run_main("--config=configs/quickstrat.py", f"--workdir={workdir}", data_dir=data_dir)
  _one_line_error(result, "configs/quickstrat.py", "no such config file")
  assert not workdir.exists()


@pytest.mark.parametrize("mode", ["train", "sample", "render"])
@pytest.mark.parametrize("under", [False, True])
def test_a_workdir_that_is_a_file_is_one_line_and_creates_nothing(tmp_path, data_dir, mode,
                                                                  under):
  a_file = tmp_path / "notes.txt"
  a_file.write_text("not a directory")
  workdir = a_file / "run" if under else a_file
  config = ["--config=configs/quickstart.py"] if mode == "train" else []
  result = run_main(*config, f"--workdir={workdir}", f"--mode={mode}", data_dir=data_dir)
  _one_line_error(result, str(workdir), f"{a_file} is a file, not a directory")
  assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("flag,parts", [
    ("--config.train.num_step=10", ["--config.train.num_step: no such config field",
                                    "did you mean --config.train.num_steps?"]),
    ("--config.model.hn_in=16", ["--config.model.hn_in: no such config field",
                                 "renamed --config.model.latent_dim"]),
])
def test_a_config_typo_or_old_name_is_one_line(tmp_path, data_dir, flag, parts):
  workdir = tmp_path / "wd"
  result = run_main("--config=configs/quickstart.py", f"--workdir={workdir}", flag,
                    data_dir=data_dir)
  _one_line_error(result, *parts)
  assert not workdir.exists()


def test_a_new_workdir_without_config_is_one_line_not_the_help(tmp_path, data_dir):
  workdir = tmp_path / "new"
  result = run_main(f"--workdir={workdir}", data_dir=data_dir)
  _one_line_error(result, "--mode=train needs --config=configs/NAME.py")
  assert "--num_processes" not in result.stdout + result.stderr  # no flag help
  assert not workdir.exists()


def test_a_config_override_without_config_says_it_needs_one(tmp_path, data_dir):
  workdir = tmp_path / "wd"
  result = run_main(f"--workdir={workdir}", "--mode=sample", "--config.train.batch_size=8",
                    data_dir=data_dir)
  _one_line_error(result, "--config.train.batch_size: a config override needs "
                  "--config=configs/NAME.py", "W/config.json")
  assert not workdir.exists()


@pytest.mark.parametrize("mode,flag,parts", [
    ("sample", "--resolution=abc", ["--resolution=abc: needs H,W"]),
    ("render", "--resolution=0,4", ["--resolution=0,4: needs H,W"]),
    ("invert", "--indices=abc", ["--indices: 'abc' is not a training clip index", "0..3"]),
    ("invert", "--indices=-1", ["--indices: '-1' is not a training clip index"]),
    ("render", "--indices=4", ["--indices: '4' is not a training clip index"]),
])
def test_a_bad_task_flag_is_one_line(tmp_path, data_dir, mode, flag, parts):
  workdir = tmp_path / "plain"
  shutil.copytree(FIXTURES / "plain", workdir)  # a trained workdir of 4 clips
  result = run_main(f"--workdir={workdir}", f"--mode={mode}", flag, data_dir=data_dir)
  _one_line_error(result, *parts)
  assert not (workdir / mode).exists()


@pytest.mark.parametrize("mode", ["invert", "render"])
def test_a_bad_indices_flag_is_reported_before_a_missing_model(tmp_path, data_dir, mode):
  workdir = tmp_path / "untrained"
  workdir.mkdir()
  result = run_main(f"--workdir={workdir}", f"--mode={mode}", "--indices=abc", data_dir=data_dir)
  _one_line_error(result, "--indices: 'abc' is not a training clip index")
  assert list(workdir.iterdir()) == []


def test_a_damaged_checkpoint_is_one_plain_warning_line(tmp_path, data_dir):
  workdir = tmp_path / "plain"
  shutil.copytree(FIXTURES / "plain", workdir)
  shutil.rmtree(workdir / "checkpoints" / "20" / "params" / "d")  # the arrays' data
  result = run_main(f"--workdir={workdir}", "--mode=sample", "--num=2", data_dir=data_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "2 samples (gaussian)" in result.stdout
  lines = result.stderr.splitlines()
  warned = [l for l in lines if "damaged" in l]
  assert len(warned) == 1 and warned[0].startswith(
      f"warning: checkpoint of step 20 in {workdir}/checkpoints is damaged"), lines[-20:]
  assert warned[0].endswith("trying the one before it (step 10)")
  assert not [l for l in lines if re.match(r"[IWEF]\d{4} ", l) or "Traceback" in l], lines[-20:]


def test_only_orbax_leftover_task_errors_are_dropped_from_the_log():
  from inrv_jax import main as main_module
  keep = main_module.DropUnretrievedTaskErrors().filter

  def record(msg):
    return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, None, None)

  orbax_read = ("exception was never retrieved\nfuture: <Task finished exception=ValueError("
                "'NOT_FOUND: Error opening \"zarr3\" driver [tensorstore_spec=...]')>")
  assert not keep(record("Task " + orbax_read))
  assert not keep(record("_GatheringFuture " + orbax_read))
  assert keep(record("Task exception was never retrieved\nfuture: <Task exception="
                     "ZeroDivisionError('division by zero')>"))   # the user's own tasks
  assert keep(record("Unclosed client session"))
