"""A config mistake is one errors.UserError naming the field and its allowed values,
raised before anything is created, prepared or compiled."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from inrv_jax import errors
from inrv_jax.training import train

REPO = pathlib.Path(__file__).resolve().parents[1]

MISTAKES = [
    ("train.loss", "l3", r"--config.train.loss='l3': must be one of 'l1', 'mse', 'weighted_mse'"),
    ("model.conditioning", "clipp", r"--config.model.conditioning='clipp': must be one of"),
    ("model.inr.activation", "tanh", r"--config.model.inr.activation='tanh': must be one of "
     r"'relu', 'sine'"),
    ("train.stages", ((4, 1), (8,)), r"--config.train.stages=.*entry 1 \(\(8,\)\) must be a pair"),
    ("train.stages", ((4, -1),), r"--config.train.stages=.*entry 0 .* epochs > 0"),
    ("train.batch_size", 0, r"--config.train.batch_size=0: must be a positive multiple of the "
     r"1 devices"),
    ("train.pixel_fraction", 0.5, r"--config.train.pixel_fraction=0.5: LPIPS"),
    ("train.latent_noise", -0.1, r"--config.train.latent_noise=-0.1: must be >= 0"),
    ("data.resident_mib", -1, r"--config.data.resident_mib=-1: must be >= 0"),
]


def set_field(config, field, value):
  *parents, leaf = field.split(".")
  for key in parents:
    config = config[key]
  config[leaf] = value


@pytest.mark.parametrize("field,value,message", MISTAKES)
def test_a_config_mistake_names_the_field_before_anything_is_created(tiny_config, tmp_path,
                                                                      field, value, message):
  tiny_config.data.dir = str(tmp_path / "data")  # nothing may be prepared either
  tiny_config.train.lpips_weight = 0.7 if field == "train.pixel_fraction" else 0.0
  set_field(tiny_config, field, value)
  with pytest.raises(errors.UserError, match=message):
    train.train_and_evaluate(tiny_config, tmp_path / "wd")
  assert sorted(tmp_path.iterdir()) == []


def run_main(*args, data_dir, devices=1):
  env = {**os.environ, "PYTHONPATH": str(REPO), "TFDS_DATA_DIR": str(data_dir),
         "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
  return subprocess.run([sys.executable, "-m", "inrv_jax.main", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("field,value,message", [
    MISTAKES[0],
    ("train.batch_size", 3, r"--config.train.batch_size=3: must be a positive multiple of the "
     r"2 devices")])
def test_a_config_mistake_is_one_line_on_the_cli(tmp_path, data_dir, field, value, message):
  workdir = tmp_path / "wd"
  result = run_main("--config=configs/quickstart.py", f"--workdir={workdir}",
                    f"--config.{field}={value}", data_dir=data_dir, devices=2)
  assert result.returncode == 2, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  errors_shown = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
  assert len(errors_shown) == 1 and any(
      re.search(message, l) for l in errors_shown), result.stderr[-2000:]
  assert not workdir.exists()
