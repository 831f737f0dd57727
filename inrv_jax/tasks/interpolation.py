"""Paths between latents: slerp, with lerp where the angle is 0."""

import numpy as np


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
  """Spherical interpolation between a and b (both (D,)); t scalar or (n,) -> (n, D)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  t = np.atleast_1d(np.asarray(t, np.float64))[:, None]
  cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30)
  omega = np.arccos(np.clip(cos, -1.0, 1.0))
  if omega < 1e-7:
    return ((1.0 - t) * a + t * b).astype(np.float32)
  return ((np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype(np.float32)


def slerp_path(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
  """`steps` evenly spaced points from a to b inclusive -> (steps, D)."""
  return slerp(a, b, np.linspace(0.0, 1.0, steps))
