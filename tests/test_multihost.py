"""Two processes x 4 simulated CPU devices on loopback train like one process x 8.

Each process is a real jax.distributed member (coordinator on 127.0.0.1, gloo
collectives); tests/multihost_run.py is one process of a run. The pair trains
4 steps, checkpoints, and a fresh pair resumes to 8; one process with 8
devices trains 8 steps straight. Losses and parameters must agree, and only
process 0 may print, log or write outputs.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
RUN = REPO / "tests" / "multihost_run.py"


def free_loopback_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def run(processes, devices, data_dir, workdir, steps, out_dir):
  """Start `processes` processes of one run, wait; [(stdout+stderr, npz)] per process."""
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  port = free_loopback_port()
  procs, logs = [], []
  for i in range(processes):
    log = open(out_dir / f"log{i}.txt", "w+")
    procs.append(subprocess.Popen(
        [sys.executable, str(RUN), str(processes), str(i), str(port), str(devices),
         str(data_dir), str(workdir), str(steps), str(out_dir / f"out{i}.npz")],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    logs.append(log)
  try:
    codes = [p.wait(timeout=300) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  texts = []
  for log in logs:
    log.seek(0)
    texts.append(log.read())
    log.close()
  assert codes == [0] * processes, "\n".join(t[-3000:] for t in texts)
  return [(t, np.load(out_dir / f"out{i}.npz")) for i, t in enumerate(texts)]


def records(workdir):
  return [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_resumed_equal_one_process_of_eight_devices(data_dir, tmp_path):
  for name in ("one", "first", "resumed"):
    (tmp_path / name).mkdir()
  # one process first: it prepares the data the pairs then share
  [(_, one)] = run(1, 8, data_dir, tmp_path / "wd_one", 8, tmp_path / "one")
  run(2, 4, data_dir, tmp_path / "wd_two", 4, tmp_path / "first")
  resumed = run(2, 4, data_dir, tmp_path / "wd_two", 8, tmp_path / "resumed")

  (text0, two0), (text1, two1) = resumed
  assert "resuming" in text0 and "final mean reconstruction PSNR" in text0
  for silent in ("resuming", "final mean", "train:", "training clips"):
    assert silent not in text1, silent  # process 1 prints nothing of its own
  for key in one.files:  # every process ends with the same model, that of one process
    np.testing.assert_array_equal(two0[key], two1[key])
    np.testing.assert_allclose(two0[key], one[key], rtol=1e-5, atol=1e-6, err_msg=key)

  one_rows, two_rows = records(tmp_path / "wd_one"), records(tmp_path / "wd_two")
  loss_steps = [r["step"] for r in two_rows if "loss" in r]
  assert loss_steps == list(range(1, 9))  # each step logged once (process 0 only)
  np.testing.assert_allclose([r["loss"] for r in two_rows if "loss" in r],
                             [r["loss"] for r in one_rows if "loss" in r], rtol=2e-5)
  assert [r["step"] for r in two_rows if "final_psnr" in r] == [4, 8]
  np.testing.assert_allclose(two_rows[-1]["final_psnr"], one_rows[-1]["final_psnr"],
                             rtol=1e-5)
  steps = sorted(int(p.name) for p in (tmp_path / "wd_two" / "checkpoints").iterdir()
                 if p.name.isdigit())
  assert steps[-1] == 8
  for name in ("reconstructions.png", "samples.mp4", "loss_curve.png", "config.json"):
    assert (tmp_path / "wd_two" / name).stat().st_size > 0, name
  assert len(list((tmp_path / "wd_two" / "tensorboard").iterdir())) == 2  # one per run
