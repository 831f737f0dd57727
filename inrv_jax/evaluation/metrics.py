"""PSNR and SSIM of videos in [0, 1], optionally over a subset of pixels.

Both return one number per video. With a `mask` (B, T, H, W) bool only the
pixels where it is True count; a video whose mask is empty gets NaN. SSIM is
Wang et al.'s (Gaussian window sigma 1.5, K1 0.01, K2 0.03, data range 1),
computed per frame and channel as a per-pixel map (reflect-padded borders),
then averaged over the selected pixels.
"""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _masked_mean(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
  """values (B, T, H, W, C) -> (B,) mean over the masked pixels (NaN if none)."""
  if mask is None:
    return values.reshape(values.shape[0], -1).mean(axis=1)
  weight = np.broadcast_to(mask[..., None], values.shape).reshape(values.shape[0], -1)
  total = weight.sum(axis=1)
  sums = np.where(weight, values.reshape(values.shape[0], -1), 0.0).sum(axis=1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(total > 0, sums / np.maximum(total, 1), np.nan)


def mse(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
  """Videos (B, T, H, W, C) -> mean squared error (B,) float64 over the masked pixels."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return _masked_mean(np.square(a - b), mask)


def psnr_from_mse(mse_value, data_range: float = 1.0):
  """PSNR in dB = 10 log10(data_range^2 / MSE), MSE floored at 1e-12 * data_range^2.

  Works on NumPy values and on JAX arrays (inside jit too): the training
  step's metric (data_range 2 for [-1, 1] targets) and every evaluation.
  """
  xp = jnp if isinstance(mse_value, jax.Array) else np
  peak = data_range * data_range
  return 10.0 * xp.log10(peak / xp.maximum(mse_value, 1e-12 * peak))


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
  """Videos (B, T, H, W, 3) in [0, 1] -> PSNR in dB, (B,) float64 (NaN where the mask is empty)."""
  return psnr_from_mse(mse(a, b, mask))


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Per-pixel SSIM of (B, T, H, W, C) videos, same shape (spatial windows per frame)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  sigma = (0, 0, SSIM_SIGMA, SSIM_SIGMA, 0)  # blur over H and W only

  def blur(x):
    return ndimage.gaussian_filter(x, sigma, mode="reflect", truncate=3.5)

  mu_a, mu_b = blur(a), blur(b)
  var_a = blur(a * a) - mu_a ** 2
  var_b = blur(b * b) - mu_b ** 2
  cov = blur(a * b) - mu_a * mu_b
  c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
  return (((2 * mu_a * mu_b + c1) * (2 * cov + c2))
          / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
  """Videos (B, T, H, W, 3) in [0, 1] -> mean SSIM, (B,)."""
  return _masked_mean(ssim_map(a, b), mask)
