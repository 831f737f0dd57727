"""torchvision's VGG16 `features` conv stack in Flax NNX (NHWC), frozen.

Five blocks of 3x3 convs (padding 1) + ReLU with 2, 2, 3, 3, 3 convs and
64, 128, 256, 512, 512 channels, a 2x2 max-pool (stride 2) before blocks 2-5.
`VGG16Features(x)` returns the last ReLU of each block -- relu1_2, relu2_2,
relu3_3, relu4_3, relu5_3, the taps LPIPS uses (torchvision features[3], [8],
[15], [22], [29]). The final pool and the classifier are not needed.

Weights are `FrozenParam`s, so `nnx.state(model, nnx.Param)` leaves them out.
Params, as `vgg16_params_from_torchvision` returns them: a list of 13
(kernel (3, 3, C_in, C_out) HWIO, bias (C_out,)) pairs in layer order.
"""

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from inrv_jax import pretrained
from inrv_jax.models.common import FrozenParam

BLOCK_DEPTHS = (2, 2, 3, 3, 3)          # convs per block
BLOCK_WIDTHS = (64, 128, 256, 512, 512)  # output channels per block
IMAGENET_WEIGHTS = pretrained.WeightFile(
    name="vgg16",
    url="https://download.pytorch.org/models/vgg16-397923af.pth",
    sha256="397923af",  # torchvision publishes this prefix of the sha256
    filename="vgg16-397923af.pth",
    config_field="train.vgg16_weights")

Params = list[tuple[np.ndarray, np.ndarray]]


def torchvision_conv_indices() -> list[int]:
  """Indices i of the 13 convs in torchvision's `features.{i}`: 0, 2, 5, 7, 10, ..."""
  indices, i = [], 0
  for depth in BLOCK_DEPTHS:
    for _ in range(depth):
      indices.append(i)
      i += 2  # conv, relu
    i += 1    # max-pool
  return indices


def vgg16_params_from_torchvision(state: Mapping[str, np.ndarray]) -> Params:
  """torchvision VGG16 state dict (`features.{i}.weight` OIHW, `.bias`) -> params."""
  params = []
  for i in torchvision_conv_indices():
    weight = np.asarray(state[f"features.{i}.weight"], np.float32)  # (O, I, 3, 3)
    bias = np.asarray(state[f"features.{i}.bias"], np.float32)      # (O,)
    params.append((weight.transpose(2, 3, 1, 0), bias))              # (3, 3, I, O)
  return params


def random_params(rng: np.random.Generator, widths: Sequence[int] = BLOCK_WIDTHS,
                  in_channels: int = 3) -> Params:
  """He-normal kernels and small random biases (tests; widths per block)."""
  params, fan_in = [], in_channels
  for depth, width in zip(BLOCK_DEPTHS, widths):
    for _ in range(depth):
      kernel = rng.normal(0.0, np.sqrt(2.0 / (9 * fan_in)), (3, 3, fan_in, width))
      bias = rng.normal(0.0, 0.1, (width,))
      params.append((kernel.astype(np.float32), bias.astype(np.float32)))
      fan_in = width
  return params


def _max_pool(x: jnp.ndarray) -> jnp.ndarray:
  """2x2 max-pool, stride 2, floor: (N, H, W, C) -> (N, H//2, W//2, C)."""
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1),
                               (1, 2, 2, 1), "VALID")


class VGG16Features(nnx.Module):
  """Frozen VGG16 conv stack: (N, H, W, 3) -> 5 taps (N, H/2^k, W/2^k, C_k)."""

  def __init__(self, params: Params, precision: jax.lax.Precision | None = None):
    if len(params) != sum(BLOCK_DEPTHS):
      raise ValueError(f"VGG16 has {sum(BLOCK_DEPTHS)} convs, got {len(params)} params")
    self.kernels = nnx.List([FrozenParam(jnp.asarray(k)) for k, _ in params])
    self.biases = nnx.List([FrozenParam(jnp.asarray(b)) for _, b in params])
    self.precision = precision

  def _conv_relu(self, x: jnp.ndarray, layer: int) -> jnp.ndarray:
    kernel = self.kernels[layer][...]  # (3, 3, C_in, C_out)
    y = jax.lax.conv_general_dilated(
        x, kernel.astype(x.dtype), window_strides=(1, 1), padding=((1, 1), (1, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=self.precision)
    return jax.nn.relu(y + self.biases[layer][...].astype(x.dtype))

  def __call__(self, x: jnp.ndarray) -> tuple[jnp.ndarray, ...]:
    """x: (N, H, W, 3), already normalised as the weights expect."""
    taps, layer = [], 0
    for block, depth in enumerate(BLOCK_DEPTHS):
      if block:
        x = _max_pool(x)
      for _ in range(depth):
        x = self._conv_relu(x, layer)
        layer += 1
      taps.append(x)
    return tuple(taps)
