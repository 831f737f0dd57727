"""One writer per workdir: a second training on a workdir that a running training holds is
refused with one line naming the running process, and writes nothing; the lock goes when
its holder ends, however it ends."""

import os
import pathlib
import re
import signal
import socket
import subprocess
import sys

import pytest

import inrv_jax
from inrv_jax.training import checkpoints
from inrv_jax import errors
from test_preemption import rows, start_training, wait_for_step

REPO = pathlib.Path(__file__).resolve().parents[1]

HOLDER = """
import sys
from inrv_jax.training import checkpoints
with checkpoints.writer_lock(sys.argv[1]):
  print("locked", flush=True)
  sys.stdin.readline()
"""


def test_a_second_training_is_refused_while_the_first_runs(data_dir, tmp_path):
  first, workdir = start_training(data_dir, tmp_path, "--config.train.num_steps=1000000")
  try:  # the first runs until it is stopped
    wait_for_step(first, workdir, 2)  # inside its loop: it holds the lock
    assert first.poll() is None
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    second = subprocess.run(
        [sys.executable, "-m", "inrv_jax.main", f"--config={tmp_path / 'preemptible.py'}",
         f"--workdir={workdir}", "--config.train.learning_rate=1e-5"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 2, second.stderr[-3000:]
    lines = [l for l in second.stderr.splitlines() if "error" in l or "Traceback" in l]
    assert lines == [f"error: {workdir}: another run is writing this workdir (pid "
                     f"{first.pid} on host {socket.gethostname()}); wait for it to end or "
                     "stop it, or use another --workdir"], second.stderr[-3000:]
  finally:
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=300)
  assert first.returncode == 0, err[-3000:]
  logged = [l for l in (err + second.stderr).splitlines() if re.match(r"[IWEF]\d{4} ", l)]
  assert not logged, logged  # what a person reads is plain lines, not absl log lines
  stopped = int(re.search(r"stopped after step (\d+);", out).group(1))
  assert inrv_jax.load(workdir).step == stopped  # the first run's checkpoint, untouched
  steps = [r["step"] for r in rows(workdir) if "loss" in r]
  assert steps == list(range(1, stopped + 1))  # its metrics alone
  with checkpoints.writer_lock(workdir):  # released when it ended
    pass


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == "locked"
  with pytest.raises(errors.UserError, match=f"pid {holder.pid} on host"):
    with checkpoints.writer_lock(tmp_path):
      pass
  holder.kill()  # SIGKILL: no cleanup runs
  holder.wait()
  assert (tmp_path / checkpoints.LOCK_FILE).exists()  # the file stays, the lock does not
  with checkpoints.writer_lock(tmp_path):
    assert (tmp_path / checkpoints.OWNER_FILE).read_text() == (
        f"pid {os.getpid()} on host {socket.gethostname()}\n")
