"""Two processes x 4 simulated CPU devices on loopback train like one process x 8.

Each process is `python -m inrv_jax.main --distributed` joining a real
jax.distributed cluster (coordinator bound to 127.0.0.1, gloo collectives
between the processes). The pair trains 4 steps and checkpoints, a fresh pair
resumes to 8; one process of 8 devices trains 8 steps straight. Losses,
checkpointed parameters and final PSNR must agree, and only process 0 may
print, log or write outputs.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

import inrv_jax

REPO = pathlib.Path(__file__).resolve().parents[1]


def free_loopback_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def train(processes, devices, data_dir, workdir, steps, logs) -> list[str]:
  """Run main.py's training in `processes` processes of `devices` CPU devices each,
  wait for all; returns each process's output (stdout and stderr)."""
  port = free_loopback_port()
  env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}",
         "JAX_NUM_CPU_DEVICES": str(devices), "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo",
         "JAX_COORDINATOR_BIND_ADDRESS": f"127.0.0.1:{port}"}
  command = [sys.executable, "-m", "inrv_jax.main", "--config=tests/multihost_config.py",
             f"--config.data.dir={data_dir}", f"--config.train.num_steps={steps}",
             f"--workdir={workdir}"]
  if processes > 1:
    command += ["--distributed", f"--coordinator_address=127.0.0.1:{port}",
                f"--num_processes={processes}"]
  procs, files = [], []
  for i in range(processes):
    files.append(open(logs / f"process{i}.txt", "w+"))
    procs.append(subprocess.Popen(command + ([f"--process_id={i}"] if processes > 1 else []),
                                  cwd=REPO, env=env, stdout=files[-1], stderr=subprocess.STDOUT))
  try:
    codes = [p.wait(timeout=300) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  texts = []
  for f in files:
    f.seek(0)
    texts.append(f.read())
    f.close()
  assert codes == [0] * processes, "\n".join(t[-3000:] for t in texts)
  return texts


def records(workdir):
  return [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]


def hostname_is_loopback() -> bool:
  """Whether this machine's hostname resolves into 127.0.0.0/8.

  JAX gives gloo no address: its TCP pairs bind to what the hostname resolves
  to. Only then does all of the test's traffic stay on the loopback interface.
  """
  try:
    return socket.gethostbyname(socket.gethostname()).startswith("127.")
  except OSError:
    return False


@pytest.mark.skipif(not hostname_is_loopback(),
                    reason="gloo would use this machine's non-loopback address")
def test_two_processes_resumed_equal_one_process_of_eight_devices(data_dir, tmp_path):
  for name in ("one", "first", "resumed"):
    (tmp_path / name).mkdir()
  # one process first: it prepares the data the pairs then share
  train(1, 8, data_dir, tmp_path / "wd_one", 8, tmp_path / "one")
  train(2, 4, data_dir, tmp_path / "wd_two", 4, tmp_path / "first")
  text0, text1 = train(2, 4, data_dir, tmp_path / "wd_two", 8, tmp_path / "resumed")

  assert "resuming" in text0 and "final mean reconstruction PSNR" in text0
  for silent in ("resuming", "final mean", "train:", "training clips"):
    assert silent not in text1, silent  # process 1 prints nothing of its own
  one, two = inrv_jax.load(tmp_path / "wd_one"), inrv_jax.load(tmp_path / "wd_two")
  assert one.step == two.step == 8
  for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(two.params), strict=True):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(two.latents, one.latents, rtol=1e-5, atol=1e-6)

  one_rows, two_rows = records(tmp_path / "wd_one"), records(tmp_path / "wd_two")
  assert [r["step"] for r in two_rows if "loss" in r] == list(range(1, 9))  # once each
  np.testing.assert_allclose([r["loss"] for r in two_rows if "loss" in r],
                             [r["loss"] for r in one_rows if "loss" in r], rtol=2e-5)
  assert [r["step"] for r in two_rows if "final_psnr" in r] == [8]  # the resume replaced 4's
  np.testing.assert_allclose(two_rows[-1]["final_psnr"], one_rows[-1]["final_psnr"],
                             rtol=1e-5)
  for name in ("reconstructions.png", "samples.mp4", "loss_curve.png", "config.json"):
    assert (tmp_path / "wd_two" / name).stat().st_size > 0, name
  assert len(list((tmp_path / "wd_two" / "tensorboard").iterdir())) == 2  # one per run
