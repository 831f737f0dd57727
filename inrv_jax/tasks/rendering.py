"""Render latents to videos at any frame count and resolution, in bounded memory.

The grid is cut into tiles of whole frames (or of rows, when one frame is
larger than the chunk) of at most `chunk_pixels` pixels; every tile has the
same shape (the last is padded), so one compiled function serves them all.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from inrv_jax.models import coords as coords_lib
from inrv_jax.models import inr as inr_lib


@functools.partial(jax.jit, static_argnums=0)
def _render_tile(spec, weights, t_values, h_values, w_values):
  """weights (B, ...) on one tile -> (B, nt, nh, W, 3) in [0, 1]."""
  out = inr_lib.axes_apply(spec, weights, t_values, h_values, w_values)
  return (jnp.clip(out, -1.0, 1.0) + 1.0) / 2.0


def _blocks(values: np.ndarray, size: int):
  """Consecutive blocks of `size` values, the last padded by repeating its end."""
  for start in range(0, len(values), size):
    block = values[start:start + size]
    yield start, len(block), np.pad(block, (0, size - len(block)), mode="edge")


def render_weights(spec: inr_lib.INRSpec, weights: inr_lib.Weights, num_frames: int,
                   height: int, width: int, chunk_pixels: int = 65536) -> np.ndarray:
  """INR tensors (B, ...) -> videos (B, T, H, W, 3) float32 in [0, 1]."""
  rows = height if height * width <= chunk_pixels else max(1, chunk_pixels // width)
  frames = max(1, chunk_pixels // (rows * width))
  frames = min(frames, num_frames)
  t_all, h_all = coords_lib.axis_values(num_frames), coords_lib.axis_values(height)
  w_values = jnp.asarray(coords_lib.axis_values(width))
  batch = jax.tree.leaves(weights)[0].shape[0]
  out = np.empty((batch, num_frames, height, width, 3), np.float32)
  for t0, nt, t_values in _blocks(t_all, frames):
    for h0, nh, h_values in _blocks(h_all, rows):
      tile = _render_tile(spec, weights, jnp.asarray(t_values), jnp.asarray(h_values), w_values)
      out[:, t0:t0 + nt, h0:h0 + nh] = np.asarray(tile)[:, :nt, :nh]
  return out


def render(model, latents, num_frames: int | None = None,
           resolution: tuple[int, int] | None = None, chunk_pixels: int | None = None,
           video_batch: int = 4) -> np.ndarray:
  """Latents (n, hn_in) -> videos (n, T, H, W, 3) float32 in [0, 1].

  T and (H, W) default to the training clip size; any other grid is rendered
  by querying the INR there (e.g. 128 x 128 from a model trained at 32 x 32).
  """
  data = model.config.data
  num_frames = num_frames or data.num_frames
  height, width = resolution or (data.height, data.width)
  chunk_pixels = chunk_pixels or model.config.eval.render_chunk
  latents = np.asarray(latents, np.float32)
  if latents.ndim != 2 or latents.shape[1] != model.latents.shape[1]:
    raise ValueError(f"latents must be (n, {model.latents.shape[1]}), got {latents.shape}")
  videos = []
  for start in range(0, len(latents), video_batch):
    weights = model.inr_weights(latents[start:start + video_batch])
    videos.append(render_weights(model.inr_spec, weights, num_frames, height, width,
                                 chunk_pixels))
  return np.concatenate(videos)
