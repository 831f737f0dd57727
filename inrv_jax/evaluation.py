"""After training: reconstruction PSNR, a reconstruction grid, samples, loss curve."""

import json
import pathlib

import numpy as np

from inrv_jax import media
from inrv_jax import metrics
from inrv_jax.data import datasets
from inrv_jax.tasks import interpolation
from inrv_jax.tasks import rendering


def reconstruction_psnr(model, source, batch: int = 8) -> np.ndarray:
  """PSNR (dB, [0, 1] range) of every training clip's reconstruction, (N,)."""
  values = []
  for start in range(0, len(source), batch):
    indices = np.arange(start, min(start + batch, len(source)))
    truth = datasets.clips01(source, indices)
    recon = rendering.render(model, model.latents[indices])
    values.append(metrics.psnr(recon, truth))
  return np.concatenate(values)


def write_reconstructions(model, source, directory: pathlib.Path, count: int, fps: int):
  """Ground truth (left) beside the model (right) for the first `count` clips."""
  indices = np.arange(min(count, len(source)))
  truth = datasets.clips01(source, indices)
  recon = rendering.render(model, model.latents[indices])
  pairs = np.stack([truth, recon], axis=1)  # (n, 2, T, H, W, 3)
  still = media.frame_grid(pairs.reshape(-1, *pairs.shape[2:]))
  return media.write_video_set(directory, "reconstructions", media.video_grid(pairs), still, fps)


def write_samples(model, directory: pathlib.Path, count: int, steps: int, fps: int,
                  seed: int = 0):
  """`count` rows, each a slerp path between two random training latents."""
  rng = np.random.default_rng(seed)
  rows = []
  for _ in range(count):
    a, b = rng.choice(model.num_videos, size=2, replace=model.num_videos < 2)
    path = interpolation.slerp_path(model.latents[a], model.latents[b], steps)
    rows.append(rendering.render(model, path))
  rows = np.stack(rows)  # (count, steps, T, H, W, 3)
  still = media.video_grid(rows[:, :, :1])[0]  # first frame of every path point
  return media.write_video_set(directory, "samples", media.video_grid(rows), still, fps)


def read_losses(workdir: pathlib.Path):
  """(steps, losses) of the loss rows in workdir/metrics.jsonl ([] and [] without one)."""
  steps, values = [], []
  path = workdir / "metrics.jsonl"
  for line in path.read_text().splitlines() if path.exists() else []:
    record = json.loads(line)
    if "loss" in record:
      steps.append(record["step"])
      values.append(record["loss"])
  return steps, values


def write_outputs(model, source, workdir: pathlib.Path) -> dict:
  """Everything a finished run leaves in workdir; returns the final metrics."""
  cfg = model.config.eval
  psnr = reconstruction_psnr(model, source)
  write_reconstructions(model, source, workdir, cfg.num_recon, cfg.fps)
  write_samples(model, workdir, cfg.num_samples, cfg.interp_steps, cfg.fps, model.config.seed)
  steps, values = read_losses(workdir)
  if steps:
    media.loss_curve(workdir / "loss_curve.png", steps, values)
  final = {"final_psnr": float(np.mean(psnr)), "final_psnr_min": float(np.min(psnr))}
  print(f"final mean reconstruction PSNR over {len(psnr)} clips: {final['final_psnr']:.2f} dB")
  return final
