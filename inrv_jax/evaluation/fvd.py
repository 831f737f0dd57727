"""Fréchet Video Distance, as StyleGAN-V's `fvd2048_16f` (the paper's FVD) computes it.

Each video's first 16 frames are quantised to uint8, resized to 224x224
(bilinear, half-pixel centres, no anti-aliasing: torch's F.interpolate),
scaled to [-1, 1] and fed to the Kinetics-400 I3D; its 400 logits are the
features. Between the Gaussians fitted to two sets of features,

  FVD = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))

with the real part of the matrix square root. The paper compares 2048
generated videos with up to 2048 real clips (`tasks/fvd_eval.py`).

  extractor = fvd.FeatureExtractor()
  score = fvd.fvd(real_videos, generated_videos, extractor)
"""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from inrv_jax import errors
from inrv_jax.models import i3d as i3d_lib

NUM_FRAMES = 16    # frames per video (the "16f")
NUM_VIDEOS = 2048  # videos per side (the "2048")


def check_videos(videos) -> np.ndarray:
  """Videos (B, T, H, W, 3) as an array, if they are uint8 or values in [0, 1].

  Raises errors.UserError naming the shape, or the dtype and the range found:
  anything but uint8 must lie in [0, 1] (a float copy of uint8 frames, in
  [0, 255], would otherwise be clipped to white without a word).
  """
  videos = np.asarray(videos)
  if videos.ndim != 5 or videos.shape[-1] != 3:
    raise errors.UserError(f"FVD takes videos (B, T, H, W, 3), got shape {videos.shape}")
  if videos.dtype != np.uint8 and videos.size:
    low, high = float(np.nanmin(videos)), float(np.nanmax(videos))
    has_nan = bool(np.isnan(videos).any())
    if has_nan or low < 0.0 or high > 1.0:
      hint = " (uint8 frames as floats? divide by 255)" if 1.0 < high <= 255.0 else ""
      raise errors.UserError(
          f"FVD takes uint8 videos or videos with values in [0, 1]; got {videos.dtype} "
          f"values in [{low:g}, {high:g}]{' and NaN' if has_nan else ''}{hint}")
  return videos


def i3d_inputs(videos) -> jnp.ndarray:
  """Videos (B, T, H, W, 3), uint8 or float in [0, 1] -> float32 (B, T, 224, 224, 3) in [-1, 1].

  Raises errors.UserError for another shape or values outside [0, 1] (`check_videos`).
  """
  videos = check_videos(videos)
  if videos.dtype != np.uint8:
    videos = np.round(videos * 255.0).astype(np.uint8)
  b, t = videos.shape[:2]
  size = (b, t, i3d_lib.INPUT_SIZE, i3d_lib.INPUT_SIZE, 3)
  resized = jax.image.resize(jnp.asarray(videos, jnp.float32), size, "linear", antialias=False)
  return resized / 127.5 - 1.0


class FeatureExtractor:
  """Videos -> I3D logits (B, 400) float64, `batch_size` videos per I3D call."""

  def __init__(self, net: i3d_lib.I3D | None = None, batch_size: int = 8,
               num_frames: int = NUM_FRAMES):
    self.net = net if net is not None else i3d_lib.load()
    self.batch_size = batch_size
    self.num_frames = num_frames

  def __call__(self, videos) -> np.ndarray:
    """videos (B, T >= num_frames, H, W, 3), uint8 or in [0, 1] -> (B, 400) float64.

    The first num_frames frames count. Raises errors.UserError for fewer
    frames, another shape or values outside [0, 1] (`check_videos`).
    """
    check_videos(videos)
    if np.shape(videos)[1] < self.num_frames:
      raise errors.UserError(f"FVD over {self.num_frames} frames needs videos that long, got "
                             f"{np.shape(videos)[1]} frames")
    out = []
    for start in range(0, len(videos), self.batch_size):
      chunk = np.asarray(videos[start:start + self.batch_size])[:, :self.num_frames]
      count = len(chunk)  # the last chunk is padded: one compiled shape for every call
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], self.batch_size - count, axis=0)])
      out.append(np.asarray(self.net(i3d_inputs(chunk)), np.float64)[:count])
    return np.concatenate(out) if out else np.zeros((0, i3d_lib.NUM_CLASSES))


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """features (N, D), N >= 2 -> mean (D,) and covariance (D, D) (unbiased, as StyleGAN-V).

  Raises errors.UserError for fewer than 2 rows or a value that is not finite.
  """
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise errors.UserError(f"FVD needs at least 2 videos per side, got features of shape "
                           f"{features.shape}")
  bad = ~np.all(np.isfinite(features), axis=1)
  if bad.any():  # the matrix square root of a NaN covariance never returns
    raise errors.UserError(
        f"FVD: the I3D features of {int(bad.sum())} of {len(features)} videos are not finite "
        f"(NaN or infinity; the first is video {int(np.argmax(bad))}); their videos or a "
        "cache of their features are damaged")
  return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu_a, sigma_a, mu_b, sigma_b) -> float:
  """Fréchet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b)."""
  root = scipy.linalg.sqrtm(np.asarray(sigma_a) @ np.asarray(sigma_b))
  distance = (np.square(np.asarray(mu_a) - mu_b).sum()
              + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * np.trace(np.real(root)))
  return float(np.real(distance))


def distance_between_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
  """FVD between two sets of I3D features (n, 400) and (m, 400): Frechet distance of their Gaussians."""
  return frechet_distance(*gaussian(features_a), *gaussian(features_b))


def fvd(real, generated, extractor: FeatureExtractor | None = None) -> float:
  """FVD (a float >= 0) between two sets of videos (B, T >= 16, H, W, 3), uint8 or in [0, 1].

  Raises errors.UserError for another shape or values outside [0, 1] (either
  side, before any I3D work), or fewer than 2 videos or 16 frames a side.
  """
  check_videos(real), check_videos(generated)
  extractor = extractor or FeatureExtractor()
  return distance_between_features(extractor(real), extractor(generated))
