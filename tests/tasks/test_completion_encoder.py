"""The completion-encoder experiment (bench/completion_encoder.py) on a tiny trained model:
its loss falls, it completes the hidden pixels of the clips it trained on far better
than the mean latent and the mean-frame baseline do, and bad input is refused before any
work."""

import subprocess
import sys

import numpy as np
import pytest

import inrv_jax
from inrv_jax import errors
from inrv_jax.bench import completion_encoder
from inrv_jax.data import datasets
from inrv_jax.evaluation import metrics
from inrv_jax.tasks import inversion
from inrv_jax.tasks import rendering


def test_encoder_learns_to_complete_the_hidden_pixels(guided_workdir):
  model = inrv_jax.load(guided_workdir)
  clips01 = datasets.clips01(datasets.load(model.config.data), range(model.num_videos))
  clips = np.round(clips01 * 255).astype(np.uint8)
  bank = completion_encoder.mask_bank(model, ["inpaint_box"])
  assert bank.shape == (2, *clips.shape[1:4]) and bank[0].all() and not bank[1].all()
  encoder, losses = completion_encoder.train_encoder(
      model, clips, bank, steps=300, learning_rate=3e-3, width=64, batch_size=8)
  assert losses.shape == (300,) and np.isfinite(losses).all()
  assert losses[-50:].mean() < 0.7 * losses[:50].mean(), (losses[:50].mean(),
                                                           losses[-50:].mean())
  masks = np.broadcast_to(bank[1], clips01.shape[:4]).copy()
  latents, renders = completion_encoder.complete(model, encoder, clips01, masks)
  assert latents.shape == (len(clips), model.latents.shape[1])
  mean_render = rendering.render(model, np.broadcast_to(
      model.latents.mean(axis=0), latents.shape), progress=False)
  hidden = lambda videos: float(metrics.psnr(videos, clips01, ~masks).mean())
  baseline = inversion.mean_frame_fill(clips01, masks)
  assert hidden(renders) > hidden(mean_render) + 2.0, (hidden(renders), hidden(mean_render))
  assert hidden(renders) > hidden(baseline) + 2.0, (hidden(renders), hidden(baseline))


def test_bad_masks_and_generated_videos_of_real_clips_are_refused(guided_workdir):
  model = inrv_jax.load(guided_workdir)
  with pytest.raises(errors.UserError, match="--masks"):
    completion_encoder.measure(model, mask_specs=["inpaint_box", "no_such_mask"])
  with pytest.raises(errors.UserError, match="--generated_videos"):
    completion_encoder.measure(model, generated_videos=100)  # real clips, not generated
  proc = subprocess.run([sys.executable, "-m", "inrv_jax.bench.completion_encoder",
                         f"--workdir={guided_workdir}", "--masks=no_such_mask"],
                        capture_output=True, text=True, timeout=120, check=False)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert "--masks" in proc.stderr and proc.stdout == ""
