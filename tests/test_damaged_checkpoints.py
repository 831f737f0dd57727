"""A damaged newest checkpoint (deleted, truncated or garbage files in any item) is
skipped with a warning naming its step, by `load` and by resumed training alike."""

import json
import pathlib
import shutil
import warnings

import numpy as np
import pytest

import inrv_jax
from inrv_jax.training import checkpoints
from inrv_jax import errors
from inrv_jax.training import train
from inrv_jax import trained_model
from tiny_configs import shrink_prior

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "workdirs_ab34cfc"


def data_files(item_dir: pathlib.Path) -> list[pathlib.Path]:
  return sorted(p for p in item_dir.rglob("*") if p.is_file() and p.name != "commit_success.txt")


def delete_files(item_dir):
  for path in data_files(item_dir):
    path.unlink()


def truncate_files(item_dir):
  for path in data_files(item_dir):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garbage_files(item_dir):
  rng = np.random.default_rng(0)
  for path in data_files(item_dir):
    path.write_bytes(rng.integers(0, 256, path.stat().st_size, dtype=np.uint8).tobytes())


DAMAGES = {"deleted": delete_files, "truncated": truncate_files, "garbage": garbage_files}


@pytest.fixture
def workdir(tmp_path) -> pathlib.Path:
  """A copy of a small trained workdir with checkpoints at steps 10 and 20."""
  shutil.copytree(FIXTURES / "plain", tmp_path / "plain")
  return tmp_path / "plain"


@pytest.mark.parametrize("item", ["params", "train", "meta"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_load_and_resume_skip_a_damaged_newest_checkpoint(workdir, data_dir, item, damage):
  DAMAGES[damage](workdir / "checkpoints" / "20" / item)
  with pytest.warns(checkpoints.DamagedCheckpointWarning, match="checkpoint of step 20 "):
    model = inrv_jax.load(workdir)
  assert model.step == 10
  intact = inrv_jax.load(workdir, step=10)
  np.testing.assert_array_equal(model.latents, intact.latents)

  config = checkpoints.read_config(workdir)
  config.data.dir = str(data_dir)
  config.train.num_steps = 20
  shrink_prior(config)  # the fixture's config has the default prior: fit a small one
  with pytest.warns(checkpoints.DamagedCheckpointWarning, match="checkpoint of step 20 "):
    trained = train.train_and_evaluate(config, workdir)
  assert trained.step == 20
  assert (workdir / "damaged_checkpoints" / "20" / item).is_dir()  # kept aside, not lost
  assert inrv_jax.load(workdir).step == 20  # rewritten by the resumed run
  steps = [json.loads(l)["step"] for l in (workdir / "metrics.jsonl").read_text().splitlines()
           if "loss" in json.loads(l)]
  assert steps == sorted(set(steps)) and steps[-1] == 20


def test_a_damaged_opt_state_is_skipped_by_training(workdir, data_dir):
  garbage_files(workdir / "checkpoints" / "20" / "opt_state")
  config = checkpoints.read_config(workdir)
  config.data.dir = str(data_dir)
  config.train.num_steps = 20
  shrink_prior(config)  # the fixture's config has the default prior: fit a small one
  with pytest.warns(checkpoints.DamagedCheckpointWarning, match="checkpoint of step 20 "):
    assert train.train_and_evaluate(config, workdir).step == 20


def test_every_checkpoint_damaged_is_one_user_error(workdir):
  for step in ("10", "20"):
    delete_files(workdir / "checkpoints" / step / "params")
  with pytest.warns(checkpoints.DamagedCheckpointWarning):
    with pytest.raises(errors.UserError, match="no intact checkpoint"):
      inrv_jax.load(workdir)


def test_leftover_temporary_checkpoint_directories_are_removed(workdir, data_dir):
  leftover = workdir / "checkpoints" / "30.orbax-checkpoint-tmp-1234567"
  shutil.copytree(workdir / "checkpoints" / "20", leftover)
  assert inrv_jax.load(workdir).step == 20 and leftover.is_dir()  # readers change nothing
  config = checkpoints.read_config(workdir)
  config.data.dir = str(data_dir)
  config.train.num_steps = 20
  shrink_prior(config)  # the fixture's config has the default prior: fit a small one
  train.train_and_evaluate(config, workdir)
  assert not leftover.exists()


def test_a_config_json_of_binary_garbage_is_a_user_error(workdir):
  (workdir / "config.json").write_bytes(bytes(range(256)))
  with pytest.raises(errors.UserError, match="config.json: unreadable config"):
    inrv_jax.load(workdir)


def test_an_edited_config_is_a_config_error_and_moves_nothing(workdir, data_dir):
  stored = json.loads((workdir / "config.json").read_text())
  stored["model"]["hn_in"] = 8  # the fixture's old name for latent_dim, trained at 16
  (workdir / "config.json").write_text(json.dumps(stored))
  message = (r"the checkpoint of step 20 is intact but holds another model than the config "
             r"builds \(params.hypernet.heads.0.layers.0.kernel: \(16, 32\) float32 in the "
             r"checkpoint, \(8, 32\) float32 in the model of the config;.*config.json edited")
  with warnings.catch_warnings():
    warnings.simplefilter("error", checkpoints.DamagedCheckpointWarning)
    with pytest.raises(errors.UserError, match=message):
      inrv_jax.load(workdir)
    config = checkpoints.read_config(workdir)
    config.data.dir = str(data_dir)
    config.train.num_steps = 30
    with pytest.raises(errors.UserError, match=message):
      train.train_and_evaluate(config, workdir)
  assert not (workdir / "damaged_checkpoints").exists()
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["10", "20"]
  stored["model"]["hn_in"] = 16  # set back: both checkpoints are still there
  (workdir / "config.json").write_text(json.dumps(stored))
  assert inrv_jax.load(workdir).step == 20


def test_a_checkpoint_rotated_away_while_read_is_not_damage(workdir):
  """A reader beside a training run: the run saves step 30 and removes step 20 (it keeps
  its newest) just as the reader restores 20; the reader takes 30, warning of nothing."""
  config, directory = checkpoints.read_config(workdir), workdir / "checkpoints"
  read = []

  def target(meta):
    if not read:
      shutil.copytree(directory / "20", directory / "30")
      shutil.rmtree(directory / "20")
    read.append(meta["step"])
    return trained_model._restore_target(config, meta)[1]  # pylint: disable=protected-access

  with warnings.catch_warnings():
    warnings.simplefilter("error", checkpoints.DamagedCheckpointWarning)
    step, restored, _ = checkpoints.restore_newest_intact(
        checkpoints.manager(workdir, writable=False), target)
  assert step == 30 and read == [20, 20] and restored["params"]
  assert sorted(p.name for p in directory.iterdir()) == ["10", "30"]


  def rotate_away(meta):
    shutil.rmtree(directory / "30")
    return trained_model._restore_target(config, meta)[1]  # pylint: disable=protected-access

  with pytest.raises(errors.UserError, match="the checkpoint of step 30 was removed while it "
                                             "was read: another run is training"):
    checkpoints.restore_newest_intact(checkpoints.manager(workdir, writable=False),
                                      rotate_away, only_step=30)
