"""The bench runs end to end on a tiny config and prints one valid JSON line per measurement."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from inrv_jax.bench import speed
from inrv_jax import config_defaults
from inrv_jax.runtime import hugepages

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMMON = ("name", "seconds_per_step", "pixels_per_second", "gflops_per_second",
          "fraction_of_matmul_peak", "device_kind", "jax_version", "batch_size")


def test_paper_flop_count_matches_the_issue():
  """Paper config: 213,504 MACs/pixel x 250,000 pixels x 2 x 3 (+ the hypernetwork)."""
  config = config_defaults.base_config()
  config.data.num_frames, config.data.height, config.data.width = 25, 100, 100
  config.train.batch_size, config.train.pixel_fraction = 1, 1.0
  inr_flops = 3 * 2 * 213_504 * 250_000
  heads = 57_438_467  # the paper's hypernetwork parameters (INRV_SPEC.md)
  assert speed.train_flops(config) == pytest.approx(inr_flops + 3 * 2 * heads, rel=1e-3)


@pytest.fixture(scope="module")
def lines():
  cmd = [sys.executable, "-m", "inrv_jax.bench.speed", "--config=configs/quickstart.py",
         "--config.data.num_frames=2", "--config.data.height=8", "--config.data.width=8",
         "--config.train.batch_size=2", "--config.model.inr.hidden=32",
         "--config.model.hypernet_hidden=32", "--measure=matmul,train,render,render_memory,fvd",
         "--warmup=0", "--repeats=2", "--profile_ops=4", "--matmul_size=128",
         "--render_shape=3,16,16",
         "--fvd_batch=1"]
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
  return {line["name"]: line for line in out if line["name"] != "train_step_op"} | {
      "train_step_op": [line for line in out if line["name"] == "train_step_op"]}


def test_every_measurement_prints_the_common_fields(lines):
  assert set(lines) == {"matmul_ceiling", "train_step", "render", "render_memory",
                        "fvd_features", "train_step_op"}
  for name, line in lines.items():
    if name == "train_step_op":  # op rows (test_profile_ranks_the_train_steps_xla_ops)
      continue
    assert all(key in line for key in COMMON), line
    assert line["seconds_per_step"] > 0 and line["gflops_per_second"] > 0


def test_train_line_is_consistent(lines):
  train = lines["train_step"]
  assert train["batch_size"] == 2 and train["clip"] == [2, 8, 8]
  assert train["loss"] == "l1" and train["lpips_weight"] == 0.0
  assert train["pixels_per_second"] == pytest.approx(
      2 * 2 * 8 * 8 * 0.25 / train["seconds_per_step"])  # quickstart samples a quarter
  ceiling = lines["matmul_ceiling"]["ceiling_gflops_per_second"]
  assert train["fraction_of_matmul_peak"] == pytest.approx(train["gflops_per_second"] / ceiling)


def test_render_memory_is_measured_in_a_subprocess(lines):
  memory = lines["render_memory"]
  assert memory["render_shape"] == [3, 16, 16]
  assert 0.05 < memory["peak_rss_gib"] < memory["max_rss_gib"] and memory["within_limit"]


def test_speedup_bound_is_single_time_over_time_at_the_ceiling():
  """One video costing 1 s single, whose 2e9 FLOPs take 0.2 s at 10 GFLOP/s: at most 5x."""
  result = {"single_seconds_per_video": 1.0}
  assert speed.speedup_bound(result, 2e9, 10.0) == pytest.approx(5.0)
  assert speed.speedup_bound(result, 2e9, None) is None


def test_commands_restart_with_huge_pages_where_the_machine_wants_them(lines):
  """`python -m inrv_jax.bench.speed` restarted itself once with glibc's huge-page tunable
  where this machine's kernel and glibc call for it (hugepages.py), and says so."""
  line = lines["matmul_ceiling"]
  assert line["transparent_hugepages"] == hugepages.thp_mode()
  wanted = hugepages.tunables_wanted(os.environ)
  assert line["glibc_tunables"] == (wanted if wanted is not None
                                    else os.environ.get("GLIBC_TUNABLES", ""))


def test_profile_ranks_the_train_steps_xla_ops(lines):
  ops = lines["train_step_op"]
  assert len(ops) == 4
  assert all(op["ms_per_call"] > 0 and 0 < op["share"] <= 1 and 0 < op["of_wall"] for op in ops)
  assert [op["ms_per_call"] for op in ops] == sorted((op["ms_per_call"] for op in ops),
                                                     reverse=True)
  assert sum(op["share"] for op in ops) <= 1 + 1e-9
  assert all(op["shape"] and op["op"] for op in ops)  # instructions of the compiled step
  steps = ops[0]["steps_per_call"]  # the stacked program training runs
  assert steps == 25 and all(op["ms_per_step"] == pytest.approx(op["ms_per_call"] / steps)
                             for op in ops)
