"""The command line: clear messages, no tracebacks, for bad input."""

import os
import pathlib
import subprocess
import sys

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


def test_faces_without_its_dataset_says_what_it_needs(tmp_path, data_dir):
  result = run_main("--config=configs/faces.py", f"--workdir={tmp_path / 'wd'}",
                    f"--config.data.manual_dir={tmp_path / 'nothing_here'}",
                    data_dir=data_dir)
  assert result.returncode == 2, result.stderr[-2000:]
  assert "How2Sign" in result.stderr and "Traceback" not in result.stderr
  assert "--config.data.manual_dir" in result.stderr


def test_unknown_variant_is_refused(tmp_path, data_dir):
  result = run_main("--config=configs/faces.py:nope", f"--workdir={tmp_path}",
                    data_dir=data_dir)
  assert result.returncode != 0 and "unknown variant 'nope'" in result.stderr
