"""Paths between latents: slerp, with lerp where the angle is 0."""

import numpy as np

from inrv_jax import errors
from inrv_jax.tasks import rendering


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


def lerp_path(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
  """Straight-line path, `steps` points from a to b inclusive -> (steps, D)."""
  t = np.linspace(0.0, 1.0, steps)[:, None]
  return ((1.0 - t) * np.asarray(a, np.float64) + t * np.asarray(b, np.float64)).astype(np.float32)


PATHS = {"slerp": slerp_path, "lerp": lerp_path}


def endpoint(model, which) -> np.ndarray:
  """A path end: an int = that training video's latent, else a latent (latent_dim,)."""
  if isinstance(which, (int, np.integer)):
    if not -model.num_videos <= which < model.num_videos:
      raise errors.UserError(f"video index {which} is out of range: the model has "
                             f"{model.num_videos} training videos (0..{model.num_videos - 1})")
    return model.latents[which]
  z = np.asarray(which, np.float32).reshape(-1)
  if z.shape != model.latents.shape[1:]:
    raise errors.UserError(f"a latent must have {model.latents.shape[1]} values, got {z.shape}")
  return z


def interpolate(a, b, steps: int = 8, model=None, workdir=None, method: str = "slerp",
                num_frames: int | None = None, resolution: tuple[int, int] | None = None
                ) -> np.ndarray:
  """Videos along the latent path a -> b: (steps, T, H, W, 3) float32 in [0, 1].

  a, b: training video indices or latents (latent_dim,), e.g. from `invert`.
  steps counts the videos on the path, both ends included (paper Sec. 4,
  Fig. 4: slerp between two videos' latents). method "slerp" falls back to
  lerp when the latents are parallel. Raises errors.UserError for an unknown
  method, steps < 2, an index out of range or a latent of the wrong width.
  """
  if method not in PATHS:
    raise errors.UserError(f"unknown interpolation {method!r}; choose one of {sorted(PATHS)}")
  if steps < 2:
    raise errors.UserError(f"an interpolation needs at least 2 steps, got {steps}")
  model = rendering.model_from(model, workdir)
  path = PATHS[method](endpoint(model, a), endpoint(model, b), steps)
  return rendering.render(model, path, num_frames, resolution)
