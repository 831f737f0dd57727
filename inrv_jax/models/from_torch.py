"""PyTorch parameter names -> the pure dicts our Flax modules load (no torch, no files).

Each converter takes a flat {name: np.ndarray} state dict, finds its own
prefix (e.g. `clip.model.visual.`, `clip.gru.`) and returns the nested dict
that `clip_vision.load_params` takes for the module in question:
  clip_params_from_hf(state)      HF CLIPVisionModelWithProjection / CLIPModel names
  clip_params_from_openai(state)  OpenAI names (`visual.*`, also under `clip.model.`)
  gru_params_from_torch(state)    torch.nn.GRU names (`weight_ih_l0`, `_reverse`)
  merge_params_from_torch(state)  nn.Sequential(Linear, ReLU, Linear): `0.*`, `2.*`
torch Linear weights (out, in) become (in, out) kernels; conv patch kernels
(W, 3, P, P) become (P*P*3, W) with rows ordered (py, px, c).
"""

import dataclasses
import re

import numpy as np


def _prefix_of(state: dict, anchor: str) -> str:
  """The unique prefix p such that p + anchor is a key of `state`."""
  prefixes = sorted({k[:-len(anchor)] for k in state
                     if k.endswith(anchor) and (len(k) == len(anchor) or k[-len(anchor) - 1] == ".")})
  if len(prefixes) != 1:
    raise KeyError(f"expected exactly one key ending in {anchor!r}, found prefixes {prefixes}")
  return prefixes[0]


def _f32(x) -> np.ndarray:
  return np.asarray(x, np.float32)


def _count(state: dict, pattern: str) -> int:
  """Number of distinct integers i in keys matching `pattern` (a regex with one group)."""
  return len({int(m.group(1)) for k in state if (m := re.fullmatch(pattern, k))})


def _linear(weight, bias=None) -> dict:
  """torch Linear (out, in) weight -> our (in, out) kernel (+ bias)."""
  out = {"kernel": _f32(weight).T}
  if bias is not None:
    out["bias"] = _f32(bias)
  return out


def _layer_norm(state: dict, name: str) -> dict:
  return {"scale": _f32(state[f"{name}.weight"]), "bias": _f32(state[f"{name}.bias"])}


def _patch_kernel(conv_weight) -> np.ndarray:
  """Conv2d weight (W, 3, P, P) -> (P*P*3, W), rows ordered (py, px, c) like `patchify`."""
  w = _f32(conv_weight)
  return w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0])


@dataclasses.dataclass(frozen=True)
class _ClipNames:
  """Where one naming scheme keeps each CLIP vision tensor (relative to its prefix)."""
  anchor: str      # a key that fixes the prefix
  tower: str       # added to the prefix for the tower's own tensors
  blocks: str      # regex of a block's keys after the tower prefix, one group: the index
  block: str       # a block's prefix, formatted with its index
  patch: str
  cls: str
  pos: str
  ln_pre: str
  ln_post: str
  ln1: str
  ln2: str
  qkv: tuple[str, ...]  # one fused (q, k, v) projection, or three
  out: str
  fc1: str
  fc2: str


_HF = _ClipNames(
    anchor="embeddings.patch_embedding.weight", tower="", blocks=r"encoder\.layers\.(\d+)\..*",
    block="encoder.layers.{}.", patch="embeddings.patch_embedding.weight",
    cls="embeddings.class_embedding", pos="embeddings.position_embedding.weight",
    ln_pre="pre_layrnorm", ln_post="post_layernorm", ln1="layer_norm1", ln2="layer_norm2",
    qkv=("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    out="self_attn.out_proj", fc1="mlp.fc1", fc2="mlp.fc2")
_OPENAI = _ClipNames(
    anchor="visual.conv1.weight", tower="visual.",
    blocks=r"transformer\.resblocks\.(\d+)\..*", block="transformer.resblocks.{}.",
    patch="conv1.weight", cls="class_embedding", pos="positional_embedding", ln_pre="ln_pre",
    ln_post="ln_post", ln1="ln_1", ln2="ln_2", qkv=("attn.in_proj",), out="attn.out_proj",
    fc1="mlp.c_fc", fc2="mlp.c_proj")


def _clip_tower(state: dict, names: _ClipNames, proj_kernel: np.ndarray) -> dict:
  """The ClipVisionTower pure dict of `state` under one naming scheme."""
  p = _prefix_of(state, names.anchor) + names.tower

  def linear(*parts):  # one Linear from one or more (concatenated) torch projections
    # nn.MultiheadAttention names its fused projection in_proj_weight, not in_proj.weight
    key = lambda x, kind: f"{x}_{kind}" if x.endswith("in_proj") else f"{x}.{kind}"
    return _linear(np.concatenate([state[key(x, "weight")] for x in parts]),
                   np.concatenate([state[key(x, "bias")] for x in parts]))

  blocks = []
  for i in range(_count(state, re.escape(p) + names.blocks)):
    b = p + names.block.format(i)
    blocks.append({
        "ln1": _layer_norm(state, b + names.ln1), "ln2": _layer_norm(state, b + names.ln2),
        "attn": {"qkv": linear(*(b + x for x in names.qkv)), "out": linear(b + names.out)},
        "fc1": linear(b + names.fc1), "fc2": linear(b + names.fc2)})
  return {"patch_embed": {"kernel": _patch_kernel(state[p + names.patch])},
          "class_embedding": _f32(state[p + names.cls]),
          "position_embedding": _f32(state[p + names.pos]),
          "ln_pre": _layer_norm(state, p + names.ln_pre), "blocks": dict(enumerate(blocks)),
          "ln_post": _layer_norm(state, p + names.ln_post), "proj": {"kernel": proj_kernel}}


def clip_params_from_hf(state: dict[str, np.ndarray]) -> dict:
  """HF `vision_model.*` + `visual_projection.weight` -> ClipVisionTower pure dict."""
  proj = _prefix_of(state, "visual_projection.weight") + "visual_projection.weight"
  return _clip_tower(state, _HF, _f32(state[proj]).T)


def clip_params_from_openai(state: dict[str, np.ndarray]) -> dict:
  """OpenAI `visual.*` (any outer prefix, e.g. `clip.model.`) -> ClipVisionTower pure dict."""
  p = _prefix_of(state, _OPENAI.anchor) + _OPENAI.tower
  return _clip_tower(state, _OPENAI, _f32(state[p + "proj"]))     # already (W, D)


def _gru_direction(state: dict, p: str, layer: int, suffix: str) -> dict:
  """torch weight_ih_l{k}{suffix} (3H, in) etc. -> our (in, 3H) kernels, gates (r, z, n) kept."""
  tensor = {kind: _f32(state[f"{p}{kind}_l{layer}{suffix}"])
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
  return {"ih_kernel": tensor["weight_ih"].T, "hh_kernel": tensor["weight_hh"].T,
          "ih_bias": tensor["bias_ih"], "hh_bias": tensor["bias_hh"]}


def gru_params_from_torch(state: dict[str, np.ndarray]) -> dict:
  """torch.nn.GRU state dict (any prefix, e.g. `clip.gru.`) -> gru.GRU pure dict."""
  p = _prefix_of(state, "weight_ih_l0")
  layers = _count(state, re.escape(p) + r"weight_ih_l(\d+)")
  bidirectional = f"{p}weight_ih_l0_reverse" in state
  out = {}
  for k in range(layers):
    out[k] = {"forward": _gru_direction(state, p, k, "")}
    if bidirectional:
      out[k]["backward"] = _gru_direction(state, p, k, "_reverse")
  return {"layers": out}


def merge_params_from_torch(state: dict[str, np.ndarray]) -> dict:
  """nn.Sequential(Linear, ReLU, Linear) keys `0.*`, `2.*` -> ClipConditioner merge1/merge2."""
  return {"merge1": _linear(state["0.weight"], state["0.bias"]),
          "merge2": _linear(state["2.weight"], state["2.bias"])}

