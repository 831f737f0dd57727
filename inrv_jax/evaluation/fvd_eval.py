"""FVD of a trained model against its training clips (paper Sec. 5, StyleGAN-V protocol).

Generated: `num_videos` latents sampled with `method` (default slerp_random,
the paper's FVD sampling), rendered at `resolution` in batches. Real:
min(num_videos, dataset size) training clips spread evenly over the dataset.
Both sides use their first `num_frames` frames; see inrv_jax/evaluation/fvd.py for the
features.
"""

import time

import jax
import numpy as np
import tqdm

from inrv_jax import errors
from inrv_jax.evaluation import fvd as fvd_lib
from inrv_jax.tasks import rendering
from inrv_jax.tasks import sampling


def _batches(total: int, size: int):
  for start in range(0, total, size):
    yield start, min(start + size, total)


def real_indices(num_clips: int, num_videos: int) -> np.ndarray:
  """min(num_videos, num_clips) clip indices spread evenly over the whole dataset (its order
  groups clips by source video, so its first clips would be a few videos only)."""
  return np.floor(np.arange(min(num_videos, num_clips)) * num_clips
                  / min(num_videos, num_clips)).astype(int)


def real_features(source, num_videos: int, extractor: fvd_lib.FeatureExtractor,
                  progress: bool = True) -> np.ndarray:
  """I3D features (n, 400) of n = min(num_videos, len(source)) clips spread over `source`."""
  indices = real_indices(len(source), num_videos)
  out = []
  for start, stop in tqdm.tqdm(list(_batches(len(indices), extractor.batch_size)),
                               desc="FVD real clips", unit="batch", disable=not progress,
                               leave=False):
    clips = np.stack([np.asarray(source[int(i)]["video"]) for i in indices[start:stop]])  # uint8
    out.append(extractor(clips))
  return np.concatenate(out)


def generated_features(model, num_videos: int, extractor: fvd_lib.FeatureExtractor,
                       method: str = "slerp_random", seed: int = 0,
                       resolution: tuple[int, int] | None = None, keep: int = 8,
                       progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
  """I3D features (num_videos, 400) of sampled videos and the first `keep` of those videos."""
  if model.config.data.num_frames < extractor.num_frames:
    raise errors.UserError(
        f"the model makes {model.config.data.num_frames}-frame videos; FVD over "
        f"{extractor.num_frames} frames needs at least that many (lower the FVD frame count)")
  z = sampling.sample_latents(jax.random.key(seed), num_videos, model.latents, method,
                             model.prior)
  out, kept = [], []
  for start, stop in tqdm.tqdm(list(_batches(num_videos, extractor.batch_size)),
                               desc="FVD samples", unit="batch", disable=not progress,
                               leave=False):
    # the model's own frame count (a smaller one would stretch time); FVD takes the first frames
    videos = rendering.render(model, z[start:stop], None, resolution, progress=False)
    out.append(extractor(videos))
    kept.extend(videos[:max(0, keep - len(kept))])
  return np.concatenate(out), np.stack(kept)


# I3D cost per 16-frame video on 2 CPU cores, the slower of the CPUs measured (AMD Zen 4:
# BENCHMARKS.md "FVD"); for the ETA a long FVD prints before it starts.
I3D_SECONDS_PER_VIDEO = 0.36


def eta_message(i3d_videos: int) -> str:
  """One line: how many videos go through the I3D and about how long that takes here."""
  minutes = i3d_videos * I3D_SECONDS_PER_VIDEO / 60
  return (f"FVD: {i3d_videos} videos through the I3D, about {minutes:.0f} min on 2 CPU cores"
          + (" (long: lower --fvd_videos, or run it on an accelerator)" if minutes > 10
             else ""))


def model_fvd(model, source, num_videos: int = fvd_lib.NUM_VIDEOS,
              num_frames: int = fvd_lib.NUM_FRAMES, resolution: tuple[int, int] | None = None,
              method: str = "slerp_random", seed: int = 0,
              extractor: fvd_lib.FeatureExtractor | None = None,
              real: np.ndarray | None = None, progress: bool = True) -> dict:
  """FVD of `num_videos` samples against the training clips of `source`.

  `real`: precomputed real features (from `real_features`) to reuse. Returns
  {"fvd", counts and settings, "seconds", "real_features", "samples" (first 8)}.
  """
  if num_videos < 2:
    raise errors.UserError(f"FVD needs at least 2 videos per side, got {num_videos}")
  extractor = extractor or fvd_lib.FeatureExtractor(num_frames=num_frames)
  start = time.perf_counter()
  generated, samples = generated_features(model, num_videos, extractor, method, seed,
                                          resolution, progress=progress)
  if real is None:
    real = real_features(source, num_videos, extractor, progress)
  data = model.config.data
  return {"fvd": fvd_lib.distance_between_features(real, generated),
          "num_real": len(real), "num_generated": len(generated), "num_frames": extractor.num_frames,
          "resolution": list(resolution or (data.height, data.width)), "method": method,
          "seed": seed, "seconds": time.perf_counter() - start,
          "real_features": real, "samples": samples}
