"""XLA CPU defaults: chosen per CPU family, never overriding the user's XLA_FLAGS, applied by
the commands and `inrv_jax.use_cpu_settings()`, never by importing the package."""

import json
import os
import subprocess
import sys

from inrv_jax.runtime import cpu_runtime
from inrv_jax.runtime import xla_cpu


def test_families_from_model_names():
  assert xla_cpu.cpu_family("Intel(R) Xeon(R) Platinum 8480+") == "intel"
  assert xla_cpu.cpu_family("AMD EPYC 9B14 96-Core Processor") == "amd"
  assert xla_cpu.cpu_family("Apple M2") == "other"


def test_apply_adds_the_family_flags_once_and_keeps_the_users():
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
  added = xla_cpu.apply(env, model="Intel(R) Xeon(R) Processor")
  assert added == list(xla_cpu.FLAGS_BY_FAMILY["intel"])
  assert env["XLA_FLAGS"].startswith("--xla_force_host_platform_device_count=2 ")
  assert xla_cpu.apply(env, model="Intel(R) Xeon(R) Processor") == []  # already there
  name = added[0].split("=")[0]
  mine = {"XLA_FLAGS": f"{name}=mine"}
  assert xla_cpu.apply(mine, model="Intel(R) Xeon(R) Processor") == []
  assert mine["XLA_FLAGS"] == f"{name}=mine"
  off = {xla_cpu.OFF_SWITCH: "0"}
  assert xla_cpu.apply(off, model="AMD EPYC") == [] and "XLA_FLAGS" not in off
  assert xla_cpu.apply({}, model="Apple M2") == []


def test_importing_the_package_changes_nothing_in_the_process():
  """`import inrv_jax` and its public API leave os.environ and the process (no restart: the
  same pid, the code after the import runs) as they were; JAX then starts without XLA_FLAGS.
  JAX is imported first: its own import sets variables of its own (TF_CPP_MIN_LOG_LEVEL)."""
  code = ("import os, json, jax; before = dict(os.environ); pid = os.getpid(); import inrv_jax; "
          "inrv_jax.load, inrv_jax.render, inrv_jax.sample, inrv_jax.invert; "
          "unchanged = before == dict(os.environ); "
          "jax.numpy.ones(2).block_until_ready(); "
          "print(json.dumps([unchanged, pid == os.getpid(), os.environ.get('XLA_FLAGS')]))")
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", xla_cpu.OFF_SWITCH)}
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       check=True, timeout=300).stdout.strip().splitlines()[-1]
  assert json.loads(out) == [True, True, None]


def test_cpu_settings_apply_only_where_jax_will_run_on_the_cpu():
  assert cpu_runtime.cpu_backend_expected({"JAX_PLATFORMS": "cpu"}, plugins=["cuda"])
  assert not cpu_runtime.cpu_backend_expected({"JAX_PLATFORMS": "cuda,cpu"}, plugins=[])
  assert not cpu_runtime.cpu_backend_expected({"JAX_PLATFORMS": "tpu"}, plugins=[])
  assert not cpu_runtime.cpu_backend_expected({}, plugins=["cuda"])  # a GPU build installed
  assert cpu_runtime.cpu_backend_expected({}, plugins=[])
  not_a_command = ["python", "-c", "pass"]  # never restarted
  gpu = {"JAX_PLATFORMS": "cuda"}
  assert cpu_runtime.use_cpu_settings(gpu, not_a_command) == [] and gpu == {"JAX_PLATFORMS": "cuda"}
  cpu = {"JAX_PLATFORMS": "cpu"}
  added = cpu_runtime.use_cpu_settings(cpu, not_a_command)
  assert added == list(xla_cpu.FLAGS_BY_FAMILY.get(xla_cpu.cpu_family(), ()))
  assert cpu.get("XLA_FLAGS", "").split() == added


def test_a_command_applies_them_before_jax_starts():
  """`python -m inrv_jax.tools.cpu_settings`, like every command, applies the settings itself."""
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", xla_cpu.OFF_SWITCH)}
  env["JAX_PLATFORMS"] = "cpu"
  out = subprocess.run([sys.executable, "-m", "inrv_jax.tools.cpu_settings"], env=env,
                       capture_output=True, text=True, check=True, timeout=120).stdout
  flags = next(line for line in out.splitlines() if line.startswith("XLA_FLAGS="))
  assert flags.split("=", 1)[1].split() == list(
      xla_cpu.FLAGS_BY_FAMILY.get(xla_cpu.cpu_family(), ()))
