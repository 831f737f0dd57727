"""Reconstruction PSNR, a reconstruction grid and samples: during training
(`snapshot`, every eval.every steps) and after it (`write_outputs`)."""

import pathlib

import numpy as np

from inrv_jax import media
from inrv_jax.evaluation import metrics
from inrv_jax.data import datasets
from inrv_jax.data import video_io
from inrv_jax.tasks import interpolation
from inrv_jax.tasks import rendering
from inrv_jax.training import metrics_log


def reconstruction_psnr(model, source, batch: int = 8, count: int | None = None) -> np.ndarray:
  """PSNR (dB, [0, 1] range) of the reconstructions of the first `count` training clips
  (default all), (count,) float32."""
  count = len(source) if count is None else min(count, len(source))
  values = []
  for start in range(0, count, batch):
    indices = np.arange(start, min(start + batch, count))
    truth = datasets.clips01(source, indices)
    recon = rendering.render(model, model.latents[indices])
    values.append(metrics.psnr(recon, truth))
  return np.concatenate(values)


def reconstruction_grid(model, source, count: int) -> tuple[np.ndarray, np.ndarray]:
  """Ground truth (left) beside the model (right) for the first `count` clips.

  Returns (video (T, H', W', 3) uint8, still image (H'', W'', 3) uint8: one row
  per clip and per side, evenly spaced frames).
  """
  indices = np.arange(min(count, len(source)))
  truth = datasets.clips01(source, indices)
  recon = rendering.render(model, model.latents[indices])
  pairs = np.stack([truth, recon], axis=1)  # (n, 2, T, H, W, 3)
  return media.video_grid(pairs), media.frame_grid(pairs.reshape(-1, *pairs.shape[2:]))


def sample_grid(model, count: int, steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """`count` rows, each a slerp path of `steps` videos between two random training
  latents (the same pairs for the same seed).

  Returns (video (T, H', W', 3) uint8, still image (H'', W'', 3) uint8: the first
  frame of every path point).
  """
  rng = np.random.default_rng(seed)
  rows = []
  for _ in range(count):
    a, b = rng.choice(model.num_videos, size=2, replace=model.num_videos < 2)
    path = interpolation.slerp_path(model.latents[a], model.latents[b], steps)
    rows.append(rendering.render(model, path))
  rows = np.stack(rows)  # (count, steps, T, H, W, 3)
  return media.video_grid(rows), media.video_grid(rows[:, :, :1])[0]


def write_reconstructions(model, source, directory: pathlib.Path, count: int, fps: int):
  """reconstructions.{mp4,gif,png} of `reconstruction_grid` in directory."""
  return media.write_video_set(directory, "reconstructions",
                               *reconstruction_grid(model, source, count), fps)


def write_samples(model, directory: pathlib.Path, count: int, steps: int, fps: int,
                  seed: int = 0):
  """samples.{mp4,gif,png} of `sample_grid` in directory."""
  return media.write_video_set(directory, "samples", *sample_grid(model, count, steps, seed), fps)


def snapshot(model, source, directory: pathlib.Path) -> tuple[dict, dict]:
  """Feedback during training, from the model at its current step.

  Writes directory/step_<N>_reconstructions.png and step_<N>_samples.png (the
  still images of `reconstruction_grid` and `sample_grid` with the run's eval
  settings). Returns ({"recon_psnr": mean PSNR in dB of the first
  eval.num_recon clips, as reconstruction_psnr computes it}, {name: image
  (H, W, 3) uint8}) for the metric and image logs.
  """
  cfg = model.config.eval
  recon_psnr = reconstruction_psnr(model, source, count=cfg.num_recon)
  images = {"reconstructions": reconstruction_grid(model, source, cfg.num_recon)[1],
            "samples": sample_grid(model, cfg.num_samples, cfg.interp_steps,
                                   model.config.seed)[1]}
  directory = pathlib.Path(directory)
  for name, image in images.items():
    video_io.write_png(directory / f"step_{model.step}_{name}.png", image)
  return {"recon_psnr": float(np.mean(recon_psnr))}, images


def read_losses(workdir: pathlib.Path):
  """(steps, losses) of the loss rows in workdir/metrics.jsonl ([] and [] without one)."""
  rows = [row for row in metrics_log.read_rows(workdir / metrics_log.FILE_NAME) if "loss" in row]
  return [row["step"] for row in rows], [row["loss"] for row in rows]


def write_outputs(model, source, workdir: pathlib.Path) -> dict:
  """Everything a finished run leaves in workdir; returns the final metrics."""
  cfg = model.config.eval
  psnr = reconstruction_psnr(model, source)
  write_reconstructions(model, source, workdir, cfg.num_recon, cfg.fps)
  write_samples(model, workdir, cfg.num_samples, cfg.interp_steps, cfg.fps, model.config.seed)
  steps, values = read_losses(workdir)
  if steps:
    media.loss_curve(workdir / "loss_curve.png", steps, values)
  final = {"final_psnr": float(np.mean(psnr)), "final_psnr_min": float(np.min(psnr)),
           "recon_psnr": float(np.mean(psnr[:cfg.num_recon]))}  # snapshot's clips
  print(f"final mean reconstruction PSNR over {len(psnr)} clips: {final['final_psnr']:.2f} dB")
  print(f"-> {workdir} (reconstructions.*, samples.*, loss_curve.png, metrics.jsonl, "
        "checkpoints/)")
  return final
