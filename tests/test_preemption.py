"""SIGTERM / Ctrl-C: the step in flight finishes, a checkpoint is written, the program
exits 0 saying how to resume, and the resumed run ends bit-identical to an uninterrupted one."""

import json
import os
import pathlib
import random
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import inrv_jax
from inrv_jax import config_defaults
from inrv_jax.training import train
from tiny_configs import preemptible

REPO = pathlib.Path(__file__).resolve().parents[1]
TESTS = pathlib.Path(__file__).resolve().parent

CONFIG_FILE = """
import pathlib, sys
sys.path.insert(0, {tests!r})
from tiny_configs import preemptible
from inrv_jax import config_defaults

def get_config():
  return preemptible(config_defaults.base_config(), pathlib.Path({data_dir!r}))
"""


def rows(workdir) -> list[dict]:
  path = pathlib.Path(workdir) / "metrics.jsonl"
  return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def uninterrupted(data_dir, tmp_path_factory):
  config = preemptible(config_defaults.base_config(), data_dir)
  return train.train_and_evaluate(config, tmp_path_factory.mktemp("uninterrupted"))


def start_training(data_dir, tmp_path, *flags) -> tuple[subprocess.Popen, pathlib.Path]:
  config_file = tmp_path / "preemptible.py"
  config_file.write_text(CONFIG_FILE.format(tests=str(TESTS), data_dir=str(data_dir)))
  workdir = tmp_path / "wd"
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  process = subprocess.Popen(
      [sys.executable, "-m", "inrv_jax.main", f"--config={config_file}", f"--workdir={workdir}",
       *flags], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  return process, workdir


def wait_for_step(process, workdir, step: int) -> None:
  """Until metrics.jsonl has a line of `step` (or the process ended)."""
  while process.poll() is None:
    done = [r["step"] for r in rows(workdir) if "loss" in r]
    if done and done[-1] >= step:
      return
    time.sleep(0.002)


@pytest.mark.parametrize("seed,signal_number", [(0, signal.SIGTERM), (1, signal.SIGTERM),
                                                (2, signal.SIGINT)])
def test_a_stopped_run_resumes_bit_identical(uninterrupted, data_dir, tmp_path, seed,
                                             signal_number):
  kill_at = random.Random(seed).randint(2, 40)
  process, workdir = start_training(data_dir, tmp_path)
  wait_for_step(process, workdir, kill_at)
  process.send_signal(signal_number)
  out, err = process.communicate(timeout=300)
  assert process.returncode == 0, err[-3000:]
  assert "Traceback" not in err
  stopped = int(re.search(r"stopped after step (\d+);", out).group(1))
  assert kill_at <= stopped < 100 and "Rerun the same command to resume" in out
  assert inrv_jax.load(workdir).step == stopped
  assert not (workdir / "samples.png").exists()  # a stopped run writes no final outputs

  resumed = train.train_and_evaluate(preemptible(config_defaults.base_config(), data_dir),
                                     workdir)
  assert resumed.step == 100
  for a, b in zip(jax.tree.leaves(uninterrupted.params), jax.tree.leaves(resumed.params),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  steps = [r["step"] for r in rows(workdir) if "loss" in r]
  assert steps == list(range(1, 101))
  assert [r["step"] for r in rows(workdir) if "final_psnr" in r] == [100]


def test_rerunning_a_finished_run_replaces_its_final_row(uninterrupted):
  workdir = pathlib.Path(uninterrupted.workdir)
  before = rows(workdir)
  train.train_and_evaluate(uninterrupted.config, workdir)
  after = rows(workdir)
  assert [r["step"] for r in after if "final_psnr" in r] == [100]
  assert [r for r in after if "loss" in r] == [r for r in before if "loss" in r]


def windowed(data_dir):
  """preemptible() with a metrics line every 10 steps: a stop falls inside a window."""
  config = preemptible(config_defaults.base_config(), data_dir)
  config.train.log_every = 10
  return config


def test_ctrl_c_inside_a_logging_window_keeps_the_whole_window_mean(data_dir, tmp_path):
  process, workdir = start_training(data_dir, tmp_path, "--config.train.log_every=10")
  wait_for_step(process, workdir, 10)
  process.send_signal(signal.SIGINT)
  out, err = process.communicate(timeout=300)
  assert process.returncode == 0, err[-3000:]
  assert re.search(r"SIGINT: stopped after step (\d+);", out)
  train.train_and_evaluate(windowed(data_dir), workdir)
  straight = tmp_path / "uninterrupted"
  train.train_and_evaluate(windowed(data_dir), straight)
  means = lambda w: [{k: v for k, v in r.items() if k != "steps_per_second"}
                     for r in rows(w) if "loss" in r]
  assert [r["step"] for r in means(straight)] == [1, *range(10, 101, 10)]
  assert means(workdir) == means(straight)  # every window's mean over all of its steps
