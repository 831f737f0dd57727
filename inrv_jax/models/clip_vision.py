"""A Flax NNX CLIP ViT image encoder (OpenAI CLIP / HF CLIPVisionModelWithProjection).

Pre-LN transformer over [class token; patch tokens] + learned positions,
quick_gelu MLPs, layer norm on the class token, linear projection (no bias).
Defaults are ViT-B/32 (224 px, patch 32, width 768, 12 layers, 12 heads,
512-d output). Every variable is a `FrozenParam`, not an `nnx.Param`, so the
encoder never enters `nnx.state(model, nnx.Param)`: optimizers and `nnx.grad`
(which default to `nnx.Param`) leave it alone.

Pure-dict layout (what `load_params` takes; see from_torch.py):
  patch_embed/kernel (P*P*3, W), rows ordered (py, px, c)
  class_embedding (W,), position_embedding (1 + (S/P)^2, W)
  ln_pre/{scale, bias}
  blocks/{i}/{ln1, ln2}/{scale, bias}
  blocks/{i}/attn/qkv/{kernel (W, 3W), bias (3W,)}   columns ordered q, k, v
  blocks/{i}/attn/out/{kernel (W, W), bias (W,)}
  blocks/{i}/fc1/{kernel (W, 4W), bias}, blocks/{i}/fc2/{kernel (4W, W), bias}
  ln_post/{scale, bias}, proj/kernel (W, D)
"""

import dataclasses
import os

import jax
import jax.numpy as jnp
from flax import nnx

from inrv_jax import pretrained
from inrv_jax.formats import state_dict
from inrv_jax.models import from_torch
from inrv_jax.models.common import FrozenParam

# OpenAI's ViT-B/32 (openai/CLIP clip/clip.py `_MODELS["ViT-B/32"]`); the URL's
# path segment is the file's SHA-256.
CLIP_WEIGHTS = pretrained.WeightFile(
    name="clip_vit_b32",
    url=("https://openaipublic.azureedge.net/clip/models/"
         "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt"),
    sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    filename="ViT-B-32.pt",
    config_field="model.clip.weights")

# OpenAI CLIP's preprocessing statistics (RGB, inputs in [0, 1]).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclasses.dataclass(frozen=True)
class ClipVisionSpec:
  image_size: int = 224    # input side S (square images)
  patch_size: int = 32     # patch side P; S must be divisible by P
  width: int = 768         # transformer width W
  layers: int = 12         # transformer blocks
  heads: int = 12          # attention heads; W must be divisible by heads
  mlp_ratio: int = 4       # MLP hidden = mlp_ratio * W
  output_dim: int = 512    # projected feature size D
  layer_norm_eps: float = 1e-5

  @property
  def num_tokens(self) -> int:
    return 1 + (self.image_size // self.patch_size) ** 2


def _normal(rngs: nnx.Rngs, shape, std: float) -> FrozenParam:
  return FrozenParam(std * jax.random.normal(rngs.params(), shape, jnp.float32))


class FrozenLinear(nnx.Module):
  def __init__(self, fan_in: int, fan_out: int, *, use_bias: bool = True,
               rngs: nnx.Rngs):
    self.kernel = _normal(rngs, (fan_in, fan_out), fan_in ** -0.5)
    self.bias = FrozenParam(jnp.zeros((fan_out,))) if use_bias else None

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    y = x @ self.kernel[...]
    return y if self.bias is None else y + self.bias[...]


class FrozenLayerNorm(nnx.Module):
  def __init__(self, dim: int, eps: float):
    self.scale = FrozenParam(jnp.ones((dim,)))
    self.bias = FrozenParam(jnp.zeros((dim,)))
    self.eps = eps

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = jnp.square(x - mean).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + self.eps) * self.scale[...] + self.bias[...]


def quick_gelu(x: jnp.ndarray) -> jnp.ndarray:
  return x * jax.nn.sigmoid(1.702 * x)


class Attention(nnx.Module):
  """Multi-head self-attention with a fused qkv projection."""

  def __init__(self, width: int, heads: int, *, rngs: nnx.Rngs):
    self.heads = heads
    self.qkv = FrozenLinear(width, 3 * width, rngs=rngs)
    self.out = FrozenLinear(width, width, rngs=rngs)

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """x: (N, L, W) -> (N, L, W)."""
    n, length, width = x.shape
    qkv = self.qkv(x).reshape(n, length, 3, self.heads, width // self.heads)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]          # (N, L, heads, Dh)
    scale = (width // self.heads) ** -0.5
    logits = jnp.einsum("nqhd,nkhd->nhqk", q * scale, k)         # (N, heads, L, L)
    weights = jax.nn.softmax(logits, axis=-1)
    y = jnp.einsum("nhqk,nkhd->nqhd", weights, v).reshape(n, length, width)
    return self.out(y)


class Block(nnx.Module):
  """Pre-LN residual block: x + attn(ln1(x)), then x + mlp(ln2(x))."""

  def __init__(self, spec: ClipVisionSpec, *, rngs: nnx.Rngs):
    w, eps = spec.width, spec.layer_norm_eps
    self.ln1 = FrozenLayerNorm(w, eps)
    self.attn = Attention(w, spec.heads, rngs=rngs)
    self.ln2 = FrozenLayerNorm(w, eps)
    self.fc1 = FrozenLinear(w, spec.mlp_ratio * w, rngs=rngs)
    self.fc2 = FrozenLinear(spec.mlp_ratio * w, w, rngs=rngs)

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = x + self.attn(self.ln1(x))
    return x + self.fc2(quick_gelu(self.fc1(self.ln2(x))))


def patchify(images: jnp.ndarray, patch: int) -> jnp.ndarray:
  """(N, S, S, C) -> (N, (S/P)^2, P*P*C), patches row-major, features (py, px, c)."""
  n, h, w, c = images.shape
  x = images.reshape(n, h // patch, patch, w // patch, patch, c)
  x = x.transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, (h // patch) * (w // patch), patch * patch * c)


class ClipVisionTower(nnx.Module):
  """Images (N, S, S, 3) (already preprocessed) -> image features (N, D)."""

  def __init__(self, spec: ClipVisionSpec = ClipVisionSpec(), *, rngs: nnx.Rngs):
    if spec.image_size % spec.patch_size or spec.width % spec.heads:
      raise ValueError(f"inconsistent CLIP sizes: {spec}")
    self.spec = spec
    w = spec.width
    self.patch_embed = FrozenLinear(spec.patch_size ** 2 * 3, w, use_bias=False, rngs=rngs)
    self.class_embedding = _normal(rngs, (w,), w ** -0.5)
    self.position_embedding = _normal(rngs, (spec.num_tokens, w), w ** -0.5)
    self.ln_pre = FrozenLayerNorm(w, spec.layer_norm_eps)
    self.blocks = nnx.List([Block(spec, rngs=rngs) for _ in range(spec.layers)])
    self.ln_post = FrozenLayerNorm(w, spec.layer_norm_eps)
    self.proj = FrozenLinear(w, spec.output_dim, use_bias=False, rngs=rngs)

  def __call__(self, images: jnp.ndarray) -> jnp.ndarray:
    size = self.spec.image_size
    if images.shape[1:] != (size, size, 3):
      raise ValueError(f"CLIP expects (N, {size}, {size}, 3) images, got {images.shape}")
    tokens = self.patch_embed(patchify(images, self.spec.patch_size))     # (N, L-1, W)
    cls = jnp.broadcast_to(self.class_embedding[...], (tokens.shape[0], 1, tokens.shape[-1]))
    x = jnp.concatenate([cls, tokens], axis=1) + self.position_embedding[...]  # (N, L, W)
    x = self.ln_pre(x)
    for block in self.blocks:
      x = block(x)
    return self.proj(self.ln_post(x[:, 0]))                              # (N, D)


def normalize(images: jnp.ndarray) -> jnp.ndarray:
  """Standard CLIP mean/std normalisation of (..., 3) images in [0, 1]."""
  return (images - jnp.asarray(CLIP_MEAN)) / jnp.asarray(CLIP_STD)


def _shapes(pure: dict) -> dict[tuple, tuple]:
  return {path: tuple(jnp.shape(leaf))
          for path, leaf in nnx.traversals.flatten_mapping(pure).items()}


def load_params(module: nnx.Module, pure: dict, variable_type=FrozenParam) -> None:
  """Copy a pure dict into the `variable_type` variables of `module`, checking every shape.

  For a ClipVisionTower the layout is in the module docstring; any module works
  (e.g. a GRU with variable_type=nnx.Param).
  """
  state = nnx.state(module, variable_type)
  got, want = _shapes(pure), _shapes(nnx.to_pure_dict(state))
  if got != want:
    diff = sorted(set(got.items()) ^ set(want.items()), key=str)
    raise ValueError(f"weights do not fit {type(module).__name__}; "
                     f"differing (path, shape) entries: {diff[:8]}")
  nnx.replace_by_pure_dict(state, jax.tree.map(jnp.asarray, pure))
  nnx.update(module, state)


def params_from_file(path: os.PathLike | str) -> dict:
  """ClipVisionTower pure dict from an OpenAI (.pt TorchScript) or HF (.safetensors) file.

  Raises torch_pickle.UnsafePickleError for a file that names a global outside
  the tensor allowlist (nothing in it runs), KeyError for a file without CLIP
  vision weights.
  """
  state = state_dict.read_state_dict(path)
  if any(k.endswith("embeddings.patch_embedding.weight") for k in state):
    return from_torch.clip_params_from_hf(state)
  return from_torch.clip_params_from_openai(state)


def load(tower: "ClipVisionTower", path_override: str = "", download: bool = True) -> None:
  """Fill `tower` with OpenAI's ViT-B/32 weights, in place.

  path_override: a local ViT-B-32.pt (model.clip.weights); "" = the cache
  (~/.cache/inrv_jax or $INRV_CACHE_DIR), downloading into it when allowed.
  Raises pretrained.MissingWeightsError naming the file, its URL and the
  config field when it can't be had or its SHA-256 does not match.
  """
  path = pretrained.path(CLIP_WEIGHTS, path_override, download=download)
  load_params(tower, params_from_file(path))
