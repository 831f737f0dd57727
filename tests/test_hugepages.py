"""Huge pages for XLA's CPU buffers: when the restart is wanted, and for which commands."""

import os
import subprocess
import sys

from inrv_jax.runtime import hugepages

GLIBC = (2, 36)


def test_wanted_only_where_the_kernel_advises_and_glibc_has_the_tunable():
  assert hugepages.tunables_wanted({}, "madvise", GLIBC) == hugepages.TUNABLE
  assert hugepages.tunables_wanted({}, "always", GLIBC) is None   # huge pages already
  assert hugepages.tunables_wanted({}, "never", GLIBC) is None    # forbidden
  assert hugepages.tunables_wanted({}, "", GLIBC) is None         # no THP file
  assert hugepages.tunables_wanted({}, "madvise", (2, 34)) is None
  assert hugepages.tunables_wanted({}, "madvise", None) is None   # not glibc


def test_wanted_keeps_the_users_tunables_and_switch():
  mine = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
  assert (hugepages.tunables_wanted(mine, "madvise", GLIBC)
          == "glibc.malloc.arena_max=2:" + hugepages.TUNABLE)
  chosen = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
  assert hugepages.tunables_wanted(chosen, "madvise", GLIBC) is None  # the user's choice
  assert hugepages.tunables_wanted({hugepages.OFF_SWITCH: "0"}, "madvise", GLIBC) is None


def test_thp_mode_reads_the_bracketed_word(tmp_path):
  path = tmp_path / "enabled"
  path.write_text("always [madvise] never\n")
  assert hugepages.thp_mode(str(path)) == "madvise"
  path.write_text("[always] madvise never\n")
  assert hugepages.thp_mode(str(path)) == "always"
  assert hugepages.thp_mode(str(tmp_path / "missing")) == ""


def test_only_inrv_jax_modules_are_commands():
  assert hugepages.inrv_command(["python", "-m", "inrv_jax.main", "--workdir=W"]) == "inrv_jax.main"
  assert hugepages.inrv_command(["python", "-u", "-X", "dev", "-m", "inrv_jax.bench.speed"]) == "inrv_jax.bench.speed"
  assert hugepages.inrv_command(["python", "-m", "pytest", "tests"]) is None
  assert hugepages.inrv_command(["python", "-c", "import inrv_jax", "-m", "inrv_jax.main"]) is None
  assert hugepages.inrv_command(["python", "script.py", "-m", "inrv_jax.main"]) is None
  assert hugepages.inrv_command(["python"]) is None


def test_reexec_leaves_other_processes_alone():
  """Not an inrv_jax command, or nothing wanted: reexec returns and the process goes on."""
  assert hugepages.reexec({}, ["python", "-c", "pass"]) is None
  assert hugepages.reexec({hugepages.OFF_SWITCH: "0"}, ["python", "-m", "inrv_jax.main"]) is None


def test_a_command_sees_the_tunable_after_its_restart():
  """A real `python -m inrv_jax.tools.cpu_settings`: the restarted process holds the tunable wherever
  this machine wants it, after the user's own tunables."""
  env = {k: v for k, v in os.environ.items() if k != hugepages.OFF_SWITCH}
  env["GLIBC_TUNABLES"] = "glibc.malloc.arena_max=4"
  out = subprocess.run([sys.executable, "-m", "inrv_jax.tools.cpu_settings"], env=env, capture_output=True,
                       text=True, check=True, timeout=120).stdout
  wanted = hugepages.tunables_wanted(env)
  assert f"GLIBC_TUNABLES={wanted or env['GLIBC_TUNABLES']}\n" in out
  assert f"transparent huge pages: {hugepages.thp_mode() or 'unknown'}" in out
