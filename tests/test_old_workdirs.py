"""Workdirs written before the config renames (tests/fixtures/workdirs_ab34cfc, made by
the code at commit ab34cfc) still load, render the same, sample and resume."""

import json
import pathlib
import shutil

import jax
import numpy as np
import pytest

import inrv_jax
from inrv_jax.training import checkpoints
from inrv_jax.training import train
from tiny_configs import shrink_prior

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "workdirs_ab34cfc"


@pytest.fixture(params=["plain", "clip"])
def old_workdir(request, tmp_path) -> pathlib.Path:
  workdir = tmp_path / request.param
  shutil.copytree(FIXTURES / request.param, workdir)
  return workdir


def test_the_fixtures_use_the_old_field_names(old_workdir):
  stored = json.loads((old_workdir / "config.json").read_text())["model"]
  assert "hn_in" in stored and "clip_table_dim" in stored and "latent_dim" not in stored


def test_old_workdir_loads_renders_the_same_and_samples(old_workdir):
  model = inrv_jax.load(old_workdir)
  assert model.step == 20 and model.config.model.latent_dim == 16
  if model.config.model.conditioning == "clip":
    assert model.config.model.clip.table_dim == 8 and not model.config.model.clip.pretrained
  expected = np.load(FIXTURES / f"{old_workdir.name}_render_at_ab34cfc.npy")
  np.testing.assert_allclose(inrv_jax.render(model, model.latents[:2], progress=False),
                             expected, atol=1e-6)
  samples = inrv_jax.sample(jax.random.key(0), 2, model=model)
  assert samples.shape == (2, 8, 16, 16, 3) and np.all(np.isfinite(samples))


def test_old_workdir_resumes(old_workdir, data_dir):
  config = checkpoints.read_config(old_workdir)
  config.data.dir = str(data_dir)  # the fixture was prepared elsewhere
  config.train.num_steps = 30
  shrink_prior(config)  # the fixtures' config has the default prior: fit a small one
  model = train.train_and_evaluate(config, old_workdir)
  assert model.step == 30
  lines = [json.loads(l) for l in (old_workdir / "metrics.jsonl").read_text().splitlines()]
  assert [l["step"] for l in lines if "loss" in l][-1] == 30
  assert "latent_dim" in json.loads((old_workdir / "config.json").read_text())["model"]
