"""XLA CPU defaults: chosen per CPU family, never overriding the user's XLA_FLAGS."""

import subprocess
import sys

from inrv_jax import xla_cpu


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


def test_importing_the_package_sets_them_before_jax_starts():
  code = ("import os, inrv_jax, jax; jax.numpy.ones(2).block_until_ready(); "
          "print(os.environ.get('XLA_FLAGS', ''))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True).stdout.strip()
  for flag in xla_cpu.FLAGS_BY_FAMILY.get(xla_cpu.cpu_family(), ()):
    assert flag in out.split()
