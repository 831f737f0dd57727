"""Render latents to videos at any frame count and resolution, in bounded memory.

The grid, flattened row-major over (t, h, w), is cut into blocks of
BLOCK_PIXELS pixels aligned on the flat index (the last block padded). One
jitted call renders a tile of whole blocks (about `chunk_pixels` pixels) and
runs the INR over them one block at a time (`lax.map`), so peak memory is
set by video_batch x BLOCK_PIXELS x INR width and not by the resolution or the
chunk size. Every pixel is computed in the same block, at the same position,
by the same program whatever the chunk size: chunked and unchunked renders
are equal bit for bit.
"""

import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from inrv_jax import errors
from inrv_jax import trained_model
from inrv_jax.models import coords as coords_lib
from inrv_jax.models import inr as inr_lib

BLOCK_PIXELS = 4096  # pixels per INR evaluation; bounds activation memory
WORKDIR_ENV = "INRV_WORKDIR"


def parse_resolution(resolution) -> tuple[int, int] | None:
  """--resolution as a list (["H", "W"], or one side for both) -> (H, W); None = default.

  Raises errors.UserError for another count, a side that is not an integer, or one below 1.
  """
  if not resolution:
    return None
  text = ",".join(str(v) for v in resolution)
  try:
    values = [int(v) for v in resolution]
  except ValueError:
    values = []
  if len(values) == 1:
    values = values * 2
  if len(values) != 2 or min(values) < 1:
    raise errors.UserError(f"--resolution={text}: needs H,W (or one size for both), "
                           "positive integers, e.g. --resolution=64,64")
  return tuple(values)


def model_from(model=None, workdir: str | os.PathLike | None = None):
  """The model a task uses: `model`, else load(workdir), else the last model
  loaded or trained in this process, else load($INRV_WORKDIR)."""
  if model is not None:
    return model
  if workdir is not None:
    return trained_model.load(workdir)
  last = trained_model.last_model()
  if last is not None:
    return last
  env = os.environ.get(WORKDIR_ENV)
  if env:
    return trained_model.load(pathlib.Path(env))
  raise errors.UserError(
      "no model: pass model=inrv_jax.load(DIR) or workdir=DIR, load or train one in this "
      f"process first, or set {WORKDIR_ENV}=DIR (a workdir trained with "
      "python -m inrv_jax.main --config=configs/quickstart.py --workdir=DIR)")


def _render_tile(spec, num_blocks, weights, t_values, h_values, w_values, start):
  """Pixels [start, start + num_blocks * BLOCK_PIXELS) of the flat grid -> (B, P, 3) in [0, 1]."""
  height, width = h_values.shape[0], w_values.shape[0]

  def block(first):
    flat = first + jnp.arange(BLOCK_PIXELS)  # indices past the end are clamped by the gather
    coords = jnp.stack([t_values[flat // (height * width)], h_values[(flat // width) % height],
                        w_values[flat % width]], axis=-1)  # (BLOCK, 3)
    out = inr_lib.batched_apply(spec, weights, coords)  # (B, BLOCK, 3)
    return (jnp.clip(out, -1.0, 1.0) + 1.0) / 2.0

  firsts = start + BLOCK_PIXELS * jnp.arange(num_blocks)
  out = jax.lax.map(block, firsts)  # (num_blocks, B, BLOCK, 3)
  return jnp.moveaxis(out, 0, 1).reshape(out.shape[1], -1, out.shape[-1])


_render_tile_jit = jax.jit(_render_tile, static_argnums=(0, 1))


def _tile_blocks(chunk_pixels: int, total: int) -> int:
  """Blocks per jitted call: about chunk_pixels pixels, at least one block."""
  return -(-min(max(chunk_pixels, 1), total) // BLOCK_PIXELS)


def _num_tiles(chunk_pixels: int, total: int) -> int:
  return -(-total // (_tile_blocks(chunk_pixels, total) * BLOCK_PIXELS))


def render_weights(spec: inr_lib.INRSpec, weights: inr_lib.Weights, num_frames: int,
                   height: int, width: int, chunk_pixels: int = 65536,
                   progress: tqdm.tqdm | bool | None = None) -> np.ndarray:
  """INR tensors (B, ...) -> videos (B, T, H, W, 3) float32 in [0, 1].

  `progress`: True/False forces a bar on/off, None shows one for renders that
  take more than a few seconds, a tqdm instance is advanced by one per tile.
  """
  total = num_frames * height * width
  num_blocks = _tile_blocks(chunk_pixels, total)
  tile = num_blocks * BLOCK_PIXELS
  axes = [jnp.asarray(coords_lib.axis_values(n)) for n in (num_frames, height, width)]
  batch = jax.tree.leaves(weights)[0].shape[0]
  out = np.empty((batch, total, 3), np.float32)
  starts = range(0, total, tile)
  bar = progress if isinstance(progress, tqdm.tqdm) else tqdm.tqdm(
      total=len(starts), desc=f"render {num_frames}x{height}x{width}", unit="tile",
      delay=0 if progress else 3.0, disable=progress is False, leave=False)
  for start in starts:
    values = _render_tile_jit(spec, num_blocks, weights, *axes, jnp.int32(start))
    count = min(tile, total - start)
    out[:, start:start + count] = np.asarray(values)[:, :count]
    bar.update(1)
  if bar is not progress:
    bar.close()
  return out.reshape(batch, num_frames, height, width, 3)


def render(model, latents, num_frames: int | None = None,
           resolution: tuple[int, int] | None = None, chunk_pixels: int | None = None,
           video_batch: int = 4, progress: bool | None = None) -> np.ndarray:
  """Latents (n, latent_dim) -> videos (n, T, H, W, 3) float32 in [0, 1].

  T and (H, W) (None) default to the training clip size; any other grid is rendered
  by querying the INR there (e.g. 128 x 128 from a model trained at 32 x 32;
  the paper's super-resolution, Sec. 4). chunk_pixels: pixels per jitted call
  (default eval.render_chunk); the result is the same for every value.
  video_batch: videos whose INR weights are made at once. Raises
  errors.UserError for a non-positive size, latents of the wrong width or latents
  that are not finite.
  """
  data = model.config.data
  num_frames = data.num_frames if num_frames is None else num_frames
  height, width = (data.height, data.width) if resolution is None else resolution
  if min(num_frames, height, width) < 1:
    raise errors.UserError(f"render size must be positive, got {num_frames}x{height}x{width}")
  chunk_pixels = chunk_pixels or model.config.eval.render_chunk
  latents = np.asarray(latents, np.float32)
  if latents.ndim != 2 or latents.shape[1] != model.latents.shape[1]:
    raise errors.UserError(
        f"latents must be (n, {model.latents.shape[1]}), got {latents.shape}")
  bad = ~np.all(np.isfinite(latents), axis=1)
  if bad.any():
    raise errors.UserError(
        f"latents: {int(bad.sum())} of the {len(latents)} rows hold values that are not "
        f"finite (NaN or infinity), the first row {int(np.argmax(bad))}")
  out = np.empty((len(latents), num_frames, height, width, 3), np.float32)
  tiles = _num_tiles(chunk_pixels, num_frames * height * width)
  with tqdm.tqdm(total=tiles * -(-len(latents) // video_batch), unit="tile", leave=False,
                 desc=f"render {len(latents)}x{num_frames}x{height}x{width}",
                 delay=0 if progress else 3.0, disable=progress is False) as bar:
    for start in range(0, len(latents), video_batch):
      weights = model.inr_weights(latents[start:start + video_batch])
      out[start:start + video_batch] = render_weights(
          model.inr_spec, weights, num_frames, height, width, chunk_pixels, progress=bar)
  return out
