"""LPIPS v0.1 with VGG16 (Zhang et al. 2018), as the `lpips` package computes it.

For images x0, x1 (N, H, W, 3) in [-1, 1]:
  s = (x - shift) / scale,  shift (-.030, -.088, -.188), scale (.458, .448, .450)
  f_k = VGG16 tap k of s (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)
  u_k = f_k / (||f_k||_2 over channels + 1e-10)
  d(x0, x1) = sum_k mean_{h,w} sum_c w_kc (u0_kc - u1_kc)^2     -> (N,)
with w_k the 1x1 "lin" layers (no bias) of LPIPS v0.1, `lin{k}.model.1.weight`
(1, C_k, 1, 1) in the released vgg.pth. VGG and lin weights are frozen
(`FrozenParam`, outside `nnx.Param`).

In a jitted train step pass the LPIPS module as an argument (nnx.jit) rather
than closing over it, so its ~15M weights are not baked in as constants.
"""

import pathlib
from collections.abc import Mapping, Sequence

import jax.numpy as jnp
import numpy as np
from flax import nnx

from inrv_jax import pretrained
from inrv_jax.formats import torch_pickle
from inrv_jax.models import vgg16 as vgg16_lib
from inrv_jax.models.common import FrozenParam

SHIFT = (-0.030, -0.088, -0.188)  # ScalingLayer, RGB, for inputs in [-1, 1]
SCALE = (0.458, 0.448, 0.450)
MIN_SIDE = 16                     # 4 max-pools before relu5_3
NORM_EPS = 1e-10                  # added to the channel norm (not inside the sqrt)
LIN_SHA256 = "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868"
LIN_WEIGHTS = pretrained.WeightFile(
    name="lpips_vgg",
    url="https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
    sha256=LIN_SHA256,
    filename="lpips_v0.1_vgg.pth",
    config_field="train.lpips_weights")


def lin_params_from_state(state: Mapping[str, np.ndarray]) -> list[np.ndarray]:
  """LPIPS state dict (`lin{k}.model.1.weight`, (1, C_k, 1, 1)) -> 5 vectors (C_k,)."""
  return [np.asarray(state[f"lin{k}.model.1.weight"], np.float32).reshape(-1)
          for k in range(len(vgg16_lib.BLOCK_DEPTHS))]


def random_lin_params(rng: np.random.Generator,
                      widths: Sequence[int] = vgg16_lib.BLOCK_WIDTHS) -> list[np.ndarray]:
  """Non-negative random lin weights (tests)."""
  return [rng.uniform(0.0, 1.0, (c,)).astype(np.float32) for c in widths]


PACKAGED_LIN = pathlib.Path(__file__).parent / "weights" / "lpips_v0.1_vgg_lin.npz"


def packaged_lin_weights() -> str:
  """Path of the LPIPS v0.1 VGG lin layers that ship inside inrv_jax, if present; else "".

  `weights/lpips_v0.1_vgg_lin.npz` holds `lin0`..`lin4`, converted once from the
  lpips package's v0.1 vgg.pth (BSD-2-Clause, `weights/LICENSE_lpips.txt`).
  """
  return str(PACKAGED_LIN) if PACKAGED_LIN.is_file() else ""


def read_packaged_lin(path: str) -> list[np.ndarray]:
  """Our .npz (no pickle) -> 5 vectors (C_k,), as `lin_params_from_state` gives."""
  with np.load(path, allow_pickle=False) as data:
    return [np.asarray(data[f"lin{k}"], np.float32)
            for k in range(len(vgg16_lib.BLOCK_DEPTHS))]


def _unit_normalize(f: jnp.ndarray) -> jnp.ndarray:
  """f / (||f|| over channels + eps); (N, H, W, C). NaN-free gradient where f == 0."""
  sumsq = jnp.sum(jnp.square(f), axis=-1, keepdims=True)  # (N, H, W, 1)
  positive = sumsq > 0
  norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, sumsq, 1.0)), 0.0)
  return f / (norm + NORM_EPS)


def _scale(x: jnp.ndarray) -> jnp.ndarray:
  """lpips' ScalingLayer: (N, H, W, 3) in [-1, 1] -> VGG input."""
  return (x - jnp.asarray(SHIFT, x.dtype)) / jnp.asarray(SCALE, x.dtype)


class LPIPS(nnx.Module):
  """Frozen LPIPS-VGG16 v0.1: (x0, x1) each (N, H, W, 3) in [-1, 1] -> (N,)."""

  def __init__(self, vgg: vgg16_lib.VGG16Features, lin: Sequence[np.ndarray]):
    self.vgg = vgg
    self.lin = nnx.List([FrozenParam(jnp.asarray(w)) for w in lin])  # (C_k,) each

  def __call__(self, x0: jnp.ndarray, x1: jnp.ndarray) -> jnp.ndarray:
    if min(x0.shape[1:3]) < MIN_SIDE:
      raise ValueError(f"LPIPS-VGG16 needs images of at least {MIN_SIDE}x{MIN_SIDE} "
                       f"(relu5_3 is after 4 max-pools), got {x0.shape[1:3]}")
    total = jnp.zeros((x0.shape[0],), jnp.float32)
    # two VGG passes, not one on concat([x0, x1]): identical inputs then give
    # exactly 0 eagerly (under jit XLA may round the two copies differently, ~1e-15)
    for f0, f1, weight in zip(self.vgg(_scale(x0)), self.vgg(_scale(x1)), self.lin):
      sq = jnp.square(_unit_normalize(f0) - _unit_normalize(f1))  # (N, h, w, C_k)
      # mean over (h, w) of a 1x1 conv == 1x1 conv of the mean (both linear)
      total += jnp.mean(sq, axis=(1, 2)) @ weight[...].astype(sq.dtype)
    return total


def lpips_loss_per_frame(lpips_module: LPIPS, gt: jnp.ndarray,
                         pred: jnp.ndarray) -> jnp.ndarray:
  """LPIPS(gt, pred) per frame: videos (B, T, H, W, 3) in [-1, 1] -> (B, T)."""
  b, t = gt.shape[:2]
  frames = lambda v: v.reshape(b * t, *v.shape[2:])  # (B*T, H, W, 3)
  return lpips_module(frames(gt), frames(pred)).reshape(b, t)


def load_lpips(vgg_path_override: str = "", lin_path_override: str = "",
               download: bool = True) -> LPIPS:
  """LPIPS-VGG16 v0.1 with pretrained weights, read without torch.

  VGG16: torchvision's vgg16-397923af.pth (override, else cache, else
  download). Lin layers: override (a vgg.pth), else the .npz inside inrv_jax,
  else cache, else download. Raises MissingWeightsError listing every file
  that can't be had.
  """
  packaged = "" if lin_path_override else packaged_lin_weights()
  needed = {vgg16_lib.IMAGENET_WEIGHTS: vgg_path_override}
  if not packaged:
    needed[LIN_WEIGHTS] = lin_path_override
  files = pretrained.require(needed, download=download)
  vgg = vgg16_lib.VGG16Features(
      vgg16_lib.vgg16_params_from_torchvision(torch_pickle.load(files["vgg16"])))
  if packaged:
    return LPIPS(vgg, read_packaged_lin(packaged))
  return LPIPS(vgg, lin_params_from_state(torch_pickle.load(files["lpips_vgg"])))
