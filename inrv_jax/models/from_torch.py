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


def _tower(patch, cls, pos, ln_pre, blocks, ln_post, proj_kernel) -> dict:
  return {"patch_embed": {"kernel": patch}, "class_embedding": cls,
          "position_embedding": pos, "ln_pre": ln_pre,
          "blocks": dict(enumerate(blocks)), "ln_post": ln_post,
          "proj": {"kernel": proj_kernel}}


def _hf_block(s: dict, p: str) -> dict:
  q, k, v = (f"{p}self_attn.{n}_proj" for n in "qkv")
  return {
      "ln1": _layer_norm(s, f"{p}layer_norm1"),
      "attn": {"qkv": _linear(np.concatenate([s[f"{n}.weight"] for n in (q, k, v)]),
                              np.concatenate([s[f"{n}.bias"] for n in (q, k, v)])),
               "out": _linear(s[f"{p}self_attn.out_proj.weight"], s[f"{p}self_attn.out_proj.bias"])},
      "ln2": _layer_norm(s, f"{p}layer_norm2"),
      "fc1": _linear(s[f"{p}mlp.fc1.weight"], s[f"{p}mlp.fc1.bias"]),
      "fc2": _linear(s[f"{p}mlp.fc2.weight"], s[f"{p}mlp.fc2.bias"]),
  }


def clip_params_from_hf(state: dict[str, np.ndarray]) -> dict:
  """HF `vision_model.*` + `visual_projection.weight` -> ClipVisionTower pure dict."""
  p = _prefix_of(state, "embeddings.patch_embedding.weight")     # "...vision_model."
  proj = _prefix_of(state, "visual_projection.weight") + "visual_projection.weight"
  layers = _count(state, re.escape(p) + r"encoder\.layers\.(\d+)\..*")
  return _tower(
      _patch_kernel(state[f"{p}embeddings.patch_embedding.weight"]),
      _f32(state[f"{p}embeddings.class_embedding"]),
      _f32(state[f"{p}embeddings.position_embedding.weight"]),
      _layer_norm(state, f"{p}pre_layrnorm"),
      [_hf_block(state, f"{p}encoder.layers.{i}.") for i in range(layers)],
      _layer_norm(state, f"{p}post_layernorm"),
      _f32(state[proj]).T)


def _openai_block(s: dict, p: str) -> dict:
  return {
      "ln1": _layer_norm(s, f"{p}ln_1"),
      "attn": {"qkv": _linear(s[f"{p}attn.in_proj_weight"], s[f"{p}attn.in_proj_bias"]),
               "out": _linear(s[f"{p}attn.out_proj.weight"], s[f"{p}attn.out_proj.bias"])},
      "ln2": _layer_norm(s, f"{p}ln_2"),
      "fc1": _linear(s[f"{p}mlp.c_fc.weight"], s[f"{p}mlp.c_fc.bias"]),
      "fc2": _linear(s[f"{p}mlp.c_proj.weight"], s[f"{p}mlp.c_proj.bias"]),
  }


def clip_params_from_openai(state: dict[str, np.ndarray]) -> dict:
  """OpenAI `visual.*` (any outer prefix, e.g. `clip.model.`) -> ClipVisionTower pure dict."""
  p = _prefix_of(state, "visual.conv1.weight") + "visual."
  layers = _count(state, re.escape(p) + r"transformer\.resblocks\.(\d+)\..*")
  return _tower(
      _patch_kernel(state[f"{p}conv1.weight"]),
      _f32(state[f"{p}class_embedding"]),
      _f32(state[f"{p}positional_embedding"]),
      _layer_norm(state, f"{p}ln_pre"),
      [_openai_block(state, f"{p}transformer.resblocks.{i}.") for i in range(layers)],
      _layer_norm(state, f"{p}ln_post"),
      _f32(state[f"{p}proj"]))                                    # already (W, D)


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

