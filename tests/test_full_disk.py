"""A full disk or a read-only workdir: one error naming the path and the checkpoint kept,
no temporaries left, the previous checkpoint intact. The disk is a real small tmpfs
(mounting one needs root; skipped otherwise), so the real save path fails as it would."""

import errno
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import inrv_jax
from inrv_jax import config_defaults
from inrv_jax import errors
from tiny_configs import tiny

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def small_disk(tmp_path):
  """A 32 MiB tmpfs, unmounted afterwards."""
  mount = tmp_path / "disk"
  mount.mkdir()
  result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
  if result.returncode != 0:
    pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()})")
  yield mount
  subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: pathlib.Path, leave: int) -> pathlib.Path:
  """Fill `disk` to within `leave` bytes of full; returns the filler file."""
  filler = disk / "filler"
  # Unbuffered: a buffered file keeps the bytes the full disk refused and raises ENOSPC
  # again when it is closed, after a partial last write.
  with open(filler, "wb", buffering=0) as file:
    try:
      while True:
        file.write(b"\0" * 65536)
    except OSError as err:
      assert err.errno == errno.ENOSPC
  os.truncate(filler, max(0, filler.stat().st_size - leave))
  return filler


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory) -> pathlib.Path:
  """A tiny workdir trained to its checkpoint of step 10 (copied onto each test's disk)."""
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  workdir = tmp_path_factory.mktemp("full_disk") / "workdir"
  train.train_and_evaluate(config(data_dir, 10), workdir)
  return workdir


def on_disk(trained: pathlib.Path, disk: pathlib.Path) -> pathlib.Path:
  return pathlib.Path(shutil.copytree(trained, disk / "workdir"))


def config(data_dir, steps: int):
  c = tiny(config_defaults.base_config(), data_dir)
  c.train.num_steps, c.train.checkpoint_every = steps, 10
  return c


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(small_disk, data_dir, trained):
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  workdir = on_disk(trained, small_disk)
  size = sum(f.stat().st_size for f in (workdir / "checkpoints" / "10").rglob("*") if f.is_file())
  filler = fill(small_disk, size // 4)  # room for the logs, not for a checkpoint
  with pytest.raises(errors.UserError) as caught:
    train.train_and_evaluate(config(data_dir, 30), workdir)
  message = str(caught.value)
  assert str(workdir) in message and "\n" not in message
  assert "step 10 is intact" in message or "(step 10) is intact" in message, message
  assert not [p for p in (workdir / "checkpoints").iterdir() if "tmp" in p.name]
  filler.unlink()
  assert inrv_jax.load(workdir).step == 10


def test_a_full_disk_at_the_command_line_is_one_error_line(small_disk, data_dir, trained):
  workdir = on_disk(trained, small_disk)
  fill(small_disk, 0)
  env = {**os.environ, "PYTHONPATH": str(REPO), "TFDS_DATA_DIR": str(data_dir)}
  result = subprocess.run([sys.executable, "-m", "inrv_jax.main", f"--workdir={workdir}",
                           "--mode=sample", "--num=2"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 2, result.stderr[-2000:]
  [line] = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert str(workdir) in line and "step 10" in line and "Traceback" not in result.stderr
  assert not (workdir / "sample").exists()


def test_a_read_only_workdir_is_refused_before_any_work(small_disk, data_dir, trained):
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  workdir = on_disk(trained, small_disk)
  remount = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True)
  if remount.returncode != 0:
    pytest.skip("cannot remount the tmpfs read-only")
  try:
    with pytest.raises(errors.UserError, match=r"cannot write there .*step 10\) is intact"):
      train.train_and_evaluate(config(data_dir, 20), workdir)
    from inrv_jax import main as main_lib  # pylint: disable=import-outside-toplevel
    with pytest.raises(errors.UserError, match="Read-only file system"):
      main_lib.run_mode("render", None, str(workdir), indices=["0"])
  finally:
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=False)


def test_a_full_data_disk_leaves_no_partial_shard(small_disk):
  from inrv_jax.data.builders import video_folder  # pylint: disable=import-outside-toplevel
  folder = small_disk.parent / "videos"
  folder.mkdir()
  for name in video_folder.BUNDLED_FILES:
    (folder / name).symlink_to(video_folder.bundled_dir() / name)
  fill(small_disk, 96 * 1024)  # the shard of 64x64 clips needs more
  with pytest.raises(errors.DataError, match="disk is full") as caught:
    video_folder.prepare(str(folder), (), str(small_disk / "data"), 8, 64, 64, 4, (),
                         workers=1)
  assert "\n" not in str(caught.value)
  assert not list((small_disk / "data").rglob("*.tmp"))


def test_a_full_disk_at_the_tensorboard_close_is_one_error_line(tmp_path, data_dir):
  workdir = tmp_path / "workdir"
  tensorboard = workdir / "tensorboard"
  tensorboard.mkdir(parents=True)
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(tensorboard)],
                           capture_output=True, text=True)
  if mounted.returncode != 0:
    pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
  try:
    fill(tensorboard, 0)  # the events have no room; the checkpoints' disk has
    env = {**os.environ, "PYTHONPATH": str(REPO), "TFDS_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "inrv_jax.main", "--config=configs/quickstart.py",
         f"--workdir={workdir}", "--config.train.num_steps=10",
         "--config.train.progress_bar=False", "--config.prior.enabled=False"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  finally:
    subprocess.run(["umount", "-l", str(tensorboard)], check=False)
  assert result.returncode == 2, result.stderr[-2000:]
  [line] = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert f"{tensorboard}: cannot write (No space left on device)" in line
  assert "Traceback" not in result.stderr and "Exception" not in result.stderr, result.stderr
  assert inrv_jax.load(workdir).step == 10  # the checkpoint was written before the close
