"""Every config is locked: a typo or a renamed field set from Python fails at once with
one line naming the field and the one meant; config.json holds only today's names."""

import json
import pathlib
import runpy
import shutil

import pytest

import inrv_jax
from inrv_jax.training import checkpoints
from inrv_jax import config_defaults

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "workdirs_ab34cfc"
CONFIGS = [(path.name, variant) for path in sorted((REPO / "configs").glob("*.py"))
           for variant in runpy.run_path(str(path)).get("VARIANTS", ()) if variant]
CONFIGS += [(path.name, None) for path in sorted((REPO / "configs").glob("*.py"))]


@pytest.mark.parametrize("name,variant", CONFIGS)
def test_every_get_config_is_locked(name, variant):
  config = runpy.run_path(str(REPO / "configs" / name))["get_config"](variant)
  assert config.is_locked and config.model.is_locked and config.model.inr.is_locked
  with pytest.raises(AttributeError, match=r"^--config.train.num_step: no such config field; "
                                           r"did you mean --config.train.num_steps\?$"):
    config.train.num_step = 10


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.py")), ids=lambda p: p.name)
def test_every_config_refuses_a_variant_it_does_not_have(path):
  with pytest.raises(ValueError, match=rf"^configs/{path.name}: unknown variant 'nope'; "):
    runpy.run_path(str(path))["get_config"]("nope")


@pytest.mark.parametrize("old,new", sorted(config_defaults.RENAMED_FIELDS.items()))
def test_an_old_name_set_from_python_names_the_new_one(old, new):
  config = config_defaults.base_config()
  *parents, leaf = old.split(".")
  holder = config
  for key in parents:
    holder = holder[key]
  with pytest.raises(AttributeError, match=f"^--config.{old}: no such config field; it was "
                                           f"renamed --config.{new}$"):
    setattr(holder, leaf, 16)


def test_a_misspelt_section_and_a_read_name_the_field():
  config = config_defaults.base_config()
  with pytest.raises(AttributeError, match=r"--config.trian: .* did you mean --config.train\?"):
    config.trian.num_steps = 1
  with pytest.raises(AttributeError, match=r"--config.model.hn_in: .* renamed "
                                           r"--config.model.latent_dim"):
    _ = config.model.hn_in
  copied = config.copy_and_resolve_references()  # copies keep their names and lock
  with pytest.raises(AttributeError, match=r"--config.model.inr.hiden: .* did you mean "
                                           r"--config.model.inr.hidden\?"):
    copied.model.inr.hiden = 3


def test_upgrade_never_lets_an_old_name_override_the_new_one():
  both = {"model": {"hn_in": 16, "latent_dim": 64, "clip_table_dim": 8,
                    "clip": {"table_dim": 512}}}
  assert config_defaults.upgrade(both) == {"model": {"latent_dim": 64, "clip": {"table_dim": 512}}}
  assert config_defaults.upgrade({"model": {"hn_in": 16}}) == {"model": {"latent_dim": 16}}


def test_a_workdir_config_is_locked_and_written_with_todays_names(tmp_path):
  workdir = tmp_path / "plain"
  shutil.copytree(FIXTURES / "plain", workdir)
  stored = json.loads((workdir / "config.json").read_text())
  stored["model"]["latent_dim"] = 16  # both names, as an unlocked config once wrote them
  stored["model"]["hn_in"] = 64
  (workdir / "config.json").write_text(json.dumps(stored))
  config = checkpoints.read_config(workdir)
  assert config.is_locked and config.model.latent_dim == 16
  with pytest.raises(AttributeError, match="renamed --config.model.hypernet_hidden"):
    config.model.hn_hidden = 32
  assert inrv_jax.load(workdir).config.model.latent_dim == 16  # not "damaged"
  checkpoints.write_config(tmp_path / "rewritten", config)
  model = json.loads((tmp_path / "rewritten" / "config.json").read_text())["model"]
  assert not set(model) & {old.split(".")[1] for old in config_defaults.RENAMED_FIELDS}
  assert model["latent_dim"] == 16 and model["clip"]["table_dim"] == 512
