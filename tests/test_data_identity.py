"""A workdir records what it was trained on (training_data.json) and every later use
checks it: changed, added or removed videos are one line naming them and what to do;
training clips resolve through the record; a moved folder with the same videos is the
same data; a workdir inside the data folder is refused; old workdirs still work."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from inrv_jax import config_defaults
from inrv_jax import errors
from inrv_jax.data import datasets
from inrv_jax.data import identity
from inrv_jax.data.builders import video_folder
from inrv_jax.tasks import cli
from tiny_configs import tiny

REPO = pathlib.Path(__file__).resolve().parents[1]
NAMES = video_folder.BUNDLED_FILES  # bigbuckbunny, bikes, carphone_pristine


def linked(folder: pathlib.Path) -> pathlib.Path:
  folder.mkdir(parents=True)
  for name in NAMES:
    (folder / name).symlink_to(video_folder.bundled_dir() / name)
  return folder


def config_on(folder, data_dir, steps: int = 4):
  c = tiny(config_defaults.base_config(), data_dir)
  c.data.path, c.data.stride, c.data.max_clips = str(folder), 0, 0  # one clip per video
  c.train.num_steps = steps
  c.eval.num_recon = 1
  return c


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
  """(folder, workdir, clips) of a tiny model trained on the three bundled clips."""
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  root = tmp_path_factory.mktemp("identity")
  folder = linked(root / "videos")
  workdir = root / "workdir"
  c = config_on(folder, data_dir)
  train.train_and_evaluate(c, workdir)
  return folder, workdir, datasets.clips01(datasets.load(c.data), range(3))


@pytest.fixture
def copies(trained, tmp_path):
  """A fresh copy of the trained folder and workdir (the workdir names the original
  folder: tests change the copy and point at it)."""
  folder, workdir, clips = trained
  new_folder = pathlib.Path(shutil.copytree(folder, tmp_path / "videos", symlinks=True))
  new_workdir = pathlib.Path(shutil.copytree(workdir, tmp_path / "workdir"))
  config = json.loads((new_workdir / "config.json").read_text())
  config["data"]["path"] = str(new_folder)
  (new_workdir / "config.json").write_text(json.dumps(config))
  record = json.loads((new_workdir / identity.RECORD).read_text())
  record["directory"] = str(new_folder)
  (new_workdir / identity.RECORD).write_text(json.dumps(record))
  return new_folder, new_workdir, clips


def test_the_record_names_every_video_with_its_size_hash_and_clips(trained):
  folder, workdir, _ = trained
  record = json.loads((workdir / identity.RECORD).read_text())
  assert record["num_clips"] == 3 and record["directory"] == str(folder)
  assert [v["file"] for v in record["videos"]] == list(NAMES)
  for video in record["videos"]:
    target = video_folder.bundled_dir() / video["file"]
    assert video["bytes"] == target.stat().st_size and video["clips"] == 1
    assert len(video["sha256"]) == 64


def replace_one(folder):
  (folder / "bikes.mp4").unlink()
  shutil.copy(video_folder.bundled_dir() / "carphone_pristine.mp4", folder / "bikes.mp4")
  return "changed: bikes.mp4"


def add_one(folder):
  shutil.copy(video_folder.bundled_dir() / "bikes.mp4", folder / "a_new.mp4")
  return "added: a_new.mp4"


def remove_one(folder):
  (folder / "carphone_pristine.mp4").unlink()
  return "removed: carphone_pristine.mp4"


CHANGES = {"replaced": replace_one, "added": add_one, "removed": remove_one}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_changed_videos_stop_training_and_every_task_with_one_line(copies, data_dir, change):
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  folder, workdir, _ = copies
  named = CHANGES[change](folder)
  before = sorted(p.name for p in workdir.iterdir())
  with pytest.raises(errors.UserError) as caught:
    train.train_and_evaluate(config_on(folder, data_dir, steps=8), workdir)
  message = str(caught.value)
  assert named in message and "--accept_data_change" in message and "new --workdir" in message
  assert "\n" not in message
  for run in (lambda: cli.invert_command(workdir, indices=["0"], steps=1, masks=["full"]),
              lambda: cli.fvd_command(workdir, num=2, num_frames=4)):
    with pytest.raises(errors.UserError, match=named):
      run()
  assert sorted(p.name for p in workdir.iterdir()) == before  # nothing written


def test_a_replaced_video_trains_on_only_when_accepted(copies, data_dir):
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  folder, workdir, _ = copies
  replace_one(folder)
  model = train.train_and_evaluate(config_on(folder, data_dir, steps=8), workdir,
                                   accept_data_change=True)
  assert model.step == 8
  record = json.loads((workdir / identity.RECORD).read_text())
  replaced = (video_folder.bundled_dir() / "carphone_pristine.mp4").stat().st_size
  assert record["videos"][1]["file"] == "bikes.mp4" and record["videos"][1]["bytes"] == replaced
  model = train.train_and_evaluate(config_on(folder, data_dir, steps=10), workdir)  # adopted
  assert model.step == 10


def test_an_added_video_leaves_the_training_indices_on_their_clips(copies):
  folder, workdir, clips = copies
  shutil.copy(video_folder.bundled_dir() / "bikes.mp4", folder / "000_first.mp4")
  model = cli.rendering.model_from(workdir=workdir)
  with pytest.raises(errors.UserError, match="added: 000_first.mp4"):
    cli.training_clips(model, [0, 1, 2])
  accepted = cli.training_clips(model, [0, 1, 2], accept_data_change=True)
  np.testing.assert_array_equal(accepted, clips)  # not the new clip 0
  record = cli.invert_command(workdir, indices=["0"], steps=1, masks=["full"], accept_data_change=True)
  assert record["videos"] == ["training clip 0"]


def test_a_removed_video_is_named_not_a_record_key_error(copies):
  folder, workdir, clips = copies
  remove_one(folder)
  model = cli.rendering.model_from(workdir=workdir)
  with pytest.raises(errors.UserError, match="latent row 2 is no longer in"):
    cli.training_clips(model, [2], accept_data_change=True)
  np.testing.assert_array_equal(cli.training_clips(model, [0, 1], accept_data_change=True),
                                clips[:2])


def test_a_moved_folder_with_the_same_videos_is_the_same_data(copies, data_dir, tmp_path):
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  folder, workdir, clips = copies
  moved = tmp_path / "elsewhere"
  moved.mkdir()
  for name in NAMES:  # real copies: new times, the same bytes
    shutil.copy(video_folder.bundled_dir() / name, moved / name)
  shutil.rmtree(folder)
  model = cli.rendering.model_from(workdir=workdir)
  with pytest.raises(errors.UserError, match="--data_path=DIR") as caught:
    cli.training_clips(model, [0])
  assert "--config.data.path" not in str(caught.value)
  np.testing.assert_array_equal(cli.training_clips(model, [0, 1, 2], data_path=str(moved)), clips)
  resumed = train.train_and_evaluate(config_on(moved, data_dir, steps=8), workdir)
  assert resumed.step == 8
  assert json.loads((workdir / identity.RECORD).read_text())["directory"] == str(moved)


def test_task_modes_find_a_folder_by_the_record(copies):
  folder, workdir, clips = copies
  config = json.loads((workdir / "config.json").read_text())
  config["data"]["path"] = "relative/path/from/another/directory"
  (workdir / "config.json").write_text(json.dumps(config))
  model = cli.rendering.model_from(workdir=workdir)
  np.testing.assert_array_equal(cli.training_clips(model, [0, 1, 2]), clips)


def test_the_command_line_says_data_path_for_a_moved_folder(copies, data_dir):
  folder, workdir, _ = copies
  shutil.rmtree(folder)
  env = {**os.environ, "PYTHONPATH": str(REPO), "TFDS_DATA_DIR": str(data_dir)}
  (workdir / identity.RECORD).unlink()  # an older workdir: no record to find it by
  result = subprocess.run([sys.executable, "-m", "inrv_jax.main", f"--workdir={workdir}",
                           "--mode=invert", "--indices=0", "--inversion_steps=1"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 2, result.stderr[-2000:]
  [line] = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert "--data_path=DIR" in line and "--config.data.path" not in result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("where", ["the folder itself", "a folder inside it"])
def test_a_workdir_inside_the_data_folder_is_refused(tmp_path, data_dir, where):
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  folder = linked(tmp_path / "videos")
  workdir = folder if where == "the folder itself" else folder / "runs" / "one"
  before = sorted(p.name for p in folder.iterdir())
  with pytest.raises(errors.UserError, match="is inside the data folder"):
    train.train_and_evaluate(config_on(folder, data_dir), workdir)
  assert sorted(p.name for p in folder.iterdir()) == before
