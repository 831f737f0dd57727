"""The command line: clear messages, no tracebacks, for bad input."""

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def run_main(*args, data_dir):
  env = {**os.environ, "PYTHONPATH": str(REPO), "TFDS_DATA_DIR": str(data_dir)}
  return subprocess.run([sys.executable, "-m", "inrv_jax.main", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)


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
