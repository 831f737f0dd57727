"""Which pixels of a clip a training step renders, and the weights that keep its loss unbiased.

A step that renders a fraction of each clip's pixels (train.pixel_fraction < 1)
estimates the loss over the whole clip. Uniform sampling spends most of its
pixels where nothing happens: about a tenth of a Moving MNIST frame is digit,
and the error of a blurred reconstruction sits on the digits' strokes and
edges. Importance sampling draws pixel i with probability

    p_i = mix / N + (1 - mix) * s_i / sum_j s_j,      N = T * H * W,

where s_i is the clip's local contrast at i (`contrast`), and weights each drawn
pixel by 1 / (N p_i). With P draws, mean_k w_k * l(x_k) is an unbiased estimate
of the mean of l over all N pixels for any per-pixel loss l (tests/
test_pixel_sampling.py checks this statistically). The uniform share `mix`
keeps every pixel's weight <= 1 / mix, so the estimate's variance stays bounded
and the background is still seen.

Draws are systematic (one uniform offset, P evenly spaced points through the
cumulative distribution): unbiased like independent draws, with less variance.
"""

import jax
import jax.numpy as jnp

METHODS = ("uniform", "importance")


def contrast(videos: jnp.ndarray) -> jnp.ndarray:
  """Local contrast of each pixel: (B, T, H, W, C) in [-1, 1] -> (B, T*H*W) float32 >= 0.

  The largest absolute difference, over channels, between the pixel and its
  4 spatial neighbours, then the maximum over the pixel's 3x3 neighbourhood so
  that the pixels either side of an edge both count. Flat regions score 0.
  """
  x = videos.astype(jnp.float32)
  padded = jnp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
  centre = padded[:, :, 1:-1, 1:-1]
  diffs = [jnp.abs(centre - padded[:, :, 1 + dh:padded.shape[2] - 1 + dh,
                                   1 + dw:padded.shape[3] - 1 + dw])
           for dh, dw in ((-1, 0), (1, 0), (0, -1), (0, 1))]
  edge = jnp.max(jnp.stack(diffs), axis=(0, -1))  # (B, T, H, W)
  spread = jax.lax.reduce_window(edge, -jnp.inf, jax.lax.max, (1, 1, 3, 3), (1, 1, 1, 1),
                                 "SAME")
  return spread.reshape(spread.shape[0], -1)


def probabilities(scores: jnp.ndarray, mix: float) -> jnp.ndarray:
  """Sampling probabilities (B, N) from scores (B, N) >= 0: mix/N + (1 - mix) * s/sum(s).

  A clip whose scores are all 0 is sampled uniformly. mix in (0, 1].
  """
  n = scores.shape[-1]
  total = jnp.sum(scores, axis=-1, keepdims=True)
  share = jnp.where(total > 0, scores / jnp.where(total > 0, total, 1.0), 1.0 / n)
  return mix / n + (1.0 - mix) * share


def cumulative(probs: jnp.ndarray) -> jnp.ndarray:
  """The rows' cumulative distribution (B, N) of probs (B, N), the last entry exactly 1."""
  cdf = jnp.cumsum(probs, axis=-1)
  return cdf / cdf[:, -1:]  # rounding: the last entry is exactly 1


def distribution(videos: jnp.ndarray, mix: float) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Importance sampling's (probs, cdf) of videos (B, T, H, W, C), each (B, T*H*W):
  `probabilities(contrast(videos), mix)` and its `cumulative`. Computed once for
  training clips held in memory (training/train.py `Resident`), not every step."""
  probs = probabilities(contrast(videos), mix)
  return probs, cumulative(probs)


def systematic(key: jax.Array, probs: jnp.ndarray, count: int,
               cdf: jnp.ndarray | None = None) -> tuple[jnp.ndarray, jnp.ndarray]:
  """`count` systematic draws per row of probs (B, N) (rows sum to 1).

  Returns (pixels (B, count) int32 flat indices in [0, N), weights (B, count)
  float32 = 1 / (N * p[pixel])): mean_k weights * f(pixels) is an unbiased
  estimate of mean_i f(i) over the row's N pixels. cdf: `cumulative(probs)`
  computed ahead, or None to compute it here.
  """
  b, n = probs.shape
  offsets = jax.random.uniform(key, (b, 1))
  points = (jnp.arange(count, dtype=jnp.float32)[None, :] + offsets) / count  # (B, count)
  cdf = cumulative(probs) if cdf is None else cdf
  pixels = jax.vmap(lambda c, u: jnp.searchsorted(c, u, side="right"))(cdf, points)
  pixels = jnp.minimum(pixels, n - 1).astype(jnp.int32)
  weights = 1.0 / (n * jnp.take_along_axis(probs, pixels, axis=-1))
  return pixels, weights


def draw(method: str, key: jax.Array, videos: jnp.ndarray, count: int,
         mix: float, computed: tuple[jnp.ndarray, jnp.ndarray] | None = None
         ) -> tuple[jnp.ndarray, jnp.ndarray | None]:
  """`count` pixels of each clip of videos (B, T, H, W, C) to render this step.

  method "uniform": independent uniform draws, weights None (all 1).
  method "importance": systematic draws from `probabilities(contrast(videos), mix)`,
  with their unbiasing weights (B, count); `computed`: the videos' `distribution`
  (probs, cdf) computed ahead (training clips held in memory), used instead. Raises
  ValueError for another method.
  """
  b, t, h, w, _ = videos.shape
  if method == "uniform":
    return jax.random.randint(key, (b, count), 0, t * h * w), None
  if method == "importance":
    probs, cdf = distribution(videos, mix) if computed is None else computed
    return systematic(key, probs, count, cdf)
  raise ValueError(f"train.pixel_sampling={method!r} is not one of {METHODS}")
