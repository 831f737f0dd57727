"""Training on the real bundled clips: loss falls, resume is exact, devices agree."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import inrv_jax
from inrv_jax import errors
from inrv_jax.training import train
from tiny_configs import tiny_clip

REPO = pathlib.Path(__file__).resolve().parents[1]


def losses(workdir):
  lines = (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines()
  return [json.loads(l)["loss"] for l in lines if "loss" in json.loads(l)]


def test_loss_falls_and_outputs_are_written(tiny_config, tmp_path):
  tiny_config.train.num_steps = 60
  model = train.train_and_evaluate(tiny_config, tmp_path)
  history = losses(tmp_path)
  assert len(history) == 13  # step 1 (stage start), then every 5 steps
  assert np.mean(history[-3:]) < 0.6 * np.mean(history[:2])
  for name in ["reconstructions.mp4", "reconstructions.gif", "reconstructions.png",
               "samples.mp4", "samples.gif", "samples.png", "loss_curve.png", "config.json"]:
    assert (tmp_path / name).stat().st_size > 0, name
  final = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
  assert 10 < final["final_psnr"] < 60
  assert model.latents.shape == (8, 16)


def test_load_and_render_any_grid(tiny_config, tmp_path):
  tiny_config.train.num_steps = 10
  trained = train.train_and_evaluate(tiny_config, tmp_path)
  model = inrv_jax.load(tmp_path)
  np.testing.assert_array_equal(model.latents, trained.latents)
  videos = inrv_jax.render(model, model.latents[:3], num_frames=5, resolution=(24, 20))
  assert videos.shape == (3, 5, 24, 20, 3) and videos.dtype == np.float32
  assert videos.min() >= 0.0 and videos.max() <= 1.0
  same = inrv_jax.render(trained, trained.latents[:3], num_frames=5, resolution=(24, 20))
  np.testing.assert_array_equal(videos, same)


def test_stopped_and_resumed_equals_uninterrupted(tiny_config, tmp_path):
  tiny_config.train.num_steps = 20
  straight = train.train_and_evaluate(tiny_config, tmp_path / "straight")
  tiny_config.train.num_steps = 10
  train.train_and_evaluate(tiny_config, tmp_path / "resumed")
  tiny_config.train.num_steps = 20
  resumed = train.train_and_evaluate(tiny_config, tmp_path / "resumed")
  assert resumed.step == 20
  for a, b in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert losses(tmp_path / "straight")[-1] == losses(tmp_path / "resumed")[-1]


def test_resident_clips_train_as_read_ones(tiny_config, tmp_path):
  """Clips held in memory (data.resident_mib, each step gathering its batch and the
  importance sampler's precomputed distribution) train as the run that reads every batch
  through grain, across progressive stages: the same batches (tests/data/
  test_pipeline.py) and the same step (tests/test_train_step.py), up to float rounding,
  which XLA's differently fused sums introduce and a pixel drawn near a boundary of the
  sampler's distribution can grow to 1e-3 of a step's loss."""
  c = tiny_config
  c.train.stages, c.train.num_steps = ((4, 2), (0, 2)), 0  # 4 + 8 steps
  c.train.pixel_fraction, c.train.pixel_sampling = 0.25, "importance"
  runs = []
  for mib in (0, 1):
    c.data.resident_mib = mib
    runs.append(train.train_and_evaluate(c, tmp_path / str(mib)))
  assert runs[0].step == runs[1].step == 12
  assert losses(tmp_path / "1") == pytest.approx(losses(tmp_path / "0"), rel=3e-3)


MULTI_DEVICE_RUN = textwrap.dedent("""
    import json, sys
    import jax
    jax.config.update("jax_num_cpu_devices", int(sys.argv[1]))
    sys.path.insert(0, sys.argv[4])
    from tiny_configs import tiny
    from inrv_jax import config_defaults
    from inrv_jax.training import train
    import pathlib
    c = tiny(config_defaults.base_config(), pathlib.Path(sys.argv[2]))
    c.train.batch_size = 8
    c.train.num_steps = 6
    c.train.log_every = 1
    c.train.pixel_fraction = 0.5
    train.train_and_evaluate(c, sys.argv[3])
    assert jax.device_count() == int(sys.argv[1])
""")


def run_on_devices(count, data_dir, workdir):
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  subprocess.run([sys.executable, "-c", MULTI_DEVICE_RUN, str(count), str(data_dir),
                  str(workdir), str(REPO / "tests")], check=True, env=env,
                 capture_output=True)
  return losses(workdir)


def test_eight_devices_give_the_losses_of_one(data_dir, tmp_path):
  one = run_on_devices(1, data_dir, tmp_path / "one")
  eight = run_on_devices(8, data_dir, tmp_path / "eight")
  assert len(one) == len(eight) == 6
  np.testing.assert_allclose(eight, one, rtol=2e-5)
  assert eight[-1] < eight[0]


def test_clip_conditioned_training_records_post_merge_latents(tiny_config, tmp_path):
  c = tiny_clip(tiny_config)
  c.data.max_clips = 4
  c.train.num_steps = 6
  model = train.train_and_evaluate(c, tmp_path)
  # every clip was seen (6 steps x batch 2 > 4 clips): its z is the merged latent
  assert model.latents.shape == (4, 16) and np.all(np.abs(model.latents).sum(1) > 0)
  loaded = inrv_jax.load(tmp_path)
  np.testing.assert_array_equal(loaded.latents, model.latents)
  assert inrv_jax.render(loaded, loaded.latents[:1]).shape == (1, 8, 16, 16, 3)


def test_resuming_with_another_model_is_refused_and_nothing_is_overwritten(tiny_config, tmp_path):
  tiny_config.train.num_steps = 5
  train.train_and_evaluate(tiny_config, tmp_path)
  config_before = (tmp_path / "config.json").read_text()
  tiny_config.model.inr.hidden = 48
  tiny_config.train.num_steps = 10
  with pytest.raises(errors.UserError, match=r"model.inr.hidden: 32 in the workdir, 48 now"):
    train.train_and_evaluate(tiny_config, tmp_path)
  assert (tmp_path / "config.json").read_text() == config_before
  assert inrv_jax.load(tmp_path).step == 5
