"""Pixel losses and latent priors (pure functions of arrays).

Videos and predictions are in target space [-1, 1]; every pixel loss is a
mean over all pixels and channels of the batch, which equals the paper's
per-frame mean averaged over frames.
"""

import jax.numpy as jnp


def l1_elements(pred: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
  """|pred - target| per element (pixel and channel); any equal shapes."""
  return jnp.abs(pred - target)


def mse_elements(pred: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
  """(pred - target)^2 per element; any equal shapes."""
  return jnp.square(pred - target)


def weighted_mse_elements(pred: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
  """Moving MNIST: w * (pred - gt)^2 per element with w = ((gt + 1)/2 + 1) * 2 (2 on
  background, 4 on digits)."""
  weight = ((target + 1.0) / 2.0 + 1.0) * 2.0
  return weight * jnp.square(pred - target)


def l1(pred: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
  """Mean absolute error over every pixel and channel (paper's loss); any equal shapes."""
  return jnp.mean(l1_elements(pred, target))


def mse(pred: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
  """Mean squared error over every pixel and channel; any equal shapes."""
  return jnp.mean(mse_elements(pred, target))


def weighted_mse(pred: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
  """The mean of weighted_mse_elements: Moving MNIST's loss (paper)."""
  return jnp.mean(weighted_mse_elements(pred, target))


# Each pixel loss per element: the loss is their mean (inr.grid_pixel_loss takes these).
ELEMENTWISE = {"l1": l1_elements, "mse": mse_elements, "weighted_mse": weighted_mse_elements}
PIXEL_LOSSES = {"l1": l1, "mse": mse, "weighted_mse": weighted_mse}


def pixel_loss(name: str):
  """The pixel loss named by train.loss; raises ValueError for another name."""
  if name not in PIXEL_LOSSES:
    raise ValueError(f"train.loss={name!r} is not one of {sorted(PIXEL_LOSSES)}")
  return PIXEL_LOSSES[name]


def gaussian_prior(table: jnp.ndarray, num_rows=None) -> jnp.ndarray:
  """The release's `-var` term: mu^2 / (2 s^2), mu = table mean, s = exp(0.5 * table std).

  mu and s are scalars over the table (N, D) -- over its first `num_rows` rows
  when given (the videos of the current progressive stage) -- so the
  release's average over dimensions is the term itself.
  """
  rows = table.shape[0] if num_rows is None else num_rows
  mask = (jnp.arange(table.shape[0]) < rows)[:, None].astype(table.dtype)  # (N, 1)
  count = rows * table.shape[1]
  mu = jnp.sum(mask * table) / count
  std = jnp.sqrt(jnp.sum(mask * jnp.square(table - mu)) / count)
  return jnp.square(mu) / (2.0 * jnp.square(jnp.exp(0.5 * std)))
