"""CLIP / GRU / merge-MLP weights from PyTorch naming into our Flax modules.

Weight files are read without torch:
  * `read_safetensors(path)`: the safetensors format parsed with NumPy
    (8-byte little-endian header length, JSON header, raw little-endian bytes).
  * `read_torchscript(path)`: a TorchScript zip archive such as OpenAI's
    `ViT-B-32.pt`, unpickled with the allowlist of `torch_pickle` plus inert
    stand-ins for the archive's `__torch__.*` module objects; returns the flat
    state dict (`visual.conv1.weight`, ...).

Converters return pure dicts for `clip_vision.load_params` and friends:
  clip_params_from_hf(state)      HF CLIPVisionModelWithProjection / CLIPModel names
  clip_params_from_openai(state)  OpenAI names (`visual.*`, also under `clip.model.`)
  gru_params_from_torch(state)    torch.nn.GRU names (`weight_ih_l0`, `_reverse`)
  merge_params_from_torch(state)  nn.Sequential(Linear, ReLU, Linear): `0.*`, `2.*`
Each takes a flat {name: np.ndarray} dict; the CLIP and GRU converters find
their prefix themselves (e.g. `clip.model.visual.`, `clip.gru.`).
"""

import io
import json
import os
import re
import struct
import zipfile

import ml_collections
import numpy as np

from inrv_jax import pretrained
from inrv_jax.models import clip_vision
from inrv_jax.tools import torch_pickle

CLIP_WEIGHTS = pretrained.register(pretrained.WeightFile(
    name="clip_vit_b32",
    # openai/CLIP clip/clip.py `_MODELS["ViT-B/32"]`; the path segment is the file's SHA-256.
    url=("https://openaipublic.azureedge.net/clip/models/"
         "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt"),
    sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    filename="ViT-B-32.pt",
    config_field="model.clip_weights"))

# ---------------------------------------------------------------- file readers

_SAFETENSORS_DTYPES = {
    "F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8,
    "I16": np.int16, "I32": np.int32, "I64": np.int64, "U8": np.uint8, "BOOL": np.bool_,
}


def _safetensors_array(raw: memoryview, info: dict) -> np.ndarray:
  start, end = info["data_offsets"]
  if info["dtype"] == "BF16":  # bfloat16 = the top half of a float32
    bits = np.frombuffer(raw[start:end], "<u2").astype(np.uint32) << 16
    return bits.view(np.float32).reshape(info["shape"])
  dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]]).newbyteorder("<")
  return np.frombuffer(raw[start:end], dtype).reshape(info["shape"]).astype(dtype.newbyteorder("="))


def read_safetensors(path: os.PathLike | str) -> dict[str, np.ndarray]:
  """{name: array} of a .safetensors file (BF16 comes back as float32)."""
  with open(path, "rb") as f:
    blob = f.read()
  (header_len,) = struct.unpack("<Q", blob[:8])
  header = json.loads(blob[8:8 + header_len])
  raw = memoryview(blob)[8 + header_len:]
  return {name: _safetensors_array(raw, info)
          for name, info in header.items() if name != "__metadata__"}


class _ScriptObject:
  """Inert stand-in for a pickled TorchScript module: holds its attribute dict."""


def _jit_passthrough(value, *unused):
  """Stand-in for torch.jit._pickle.build_*list / restore_type_tag: the value itself."""
  del unused
  return value


class _ScriptUnpickler(torch_pickle._RestrictedUnpickler):  # pylint: disable=protected-access
  """torch_pickle's allowlist plus TorchScript's module classes and list builders."""

  def find_class(self, module: str, name: str):
    if module == "__torch__" or module.startswith("__torch__."):
      return type(name, (_ScriptObject,), {})
    if module == "torch.jit._pickle":
      return _jit_passthrough
    return super().find_class(module, name)


def _flatten_script_object(obj, prefix: str, out: dict) -> None:
  for name, value in vars(obj).items():
    if isinstance(value, _ScriptObject):
      _flatten_script_object(value, f"{prefix}{name}.", out)
    elif isinstance(value, torch_pickle._LazyTensor):  # pylint: disable=protected-access
      out[prefix + name] = value


def read_torchscript(path: os.PathLike | str) -> dict[str, np.ndarray]:
  """Flat state dict of a TorchScript archive (parameters and tensor attributes)."""
  path = os.fspath(path)
  with zipfile.ZipFile(path) as archive:
    (pkl,) = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
    root = pkl[:-len("data.pkl")]
    storages = {}

    def storage_for(storage_type, key, numel, view):
      del view
      if key not in storages:
        raw = archive.read(f"{root}data/{key}")
        dtype = storage_type.dtype.newbyteorder("<")
        storages[key] = torch_pickle._Storage(dtype, numel)  # pylint: disable=protected-access
        storages[key].data = np.frombuffer(raw, dtype, count=len(raw) // dtype.itemsize)
      return storages[key]

    top = _ScriptUnpickler(io.BytesIO(archive.read(pkl)), path, storage_for).load()
  if not isinstance(top, _ScriptObject):
    raise ValueError(f"{path}: not a TorchScript module archive")
  lazy = {}
  _flatten_script_object(top, "", lazy)
  return {name: tensor.materialize() for name, tensor in lazy.items()}


def read_state_dict(path: os.PathLike | str) -> dict[str, np.ndarray]:
  """A flat state dict from .safetensors, a TorchScript archive, or a torch.save file."""
  path = os.fspath(path)
  if path.endswith(".safetensors"):
    return read_safetensors(path)
  if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as archive:
      if any(n.endswith("/constants.pkl") for n in archive.namelist()):
        return read_torchscript(path)
  state = torch_pickle.load(path)
  return state.get("state_dict", state)

# ---------------------------------------------------------------- converters


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

# ---------------------------------------------------------------- loading


def clip_params_from_file(path: os.PathLike | str) -> dict:
  """ClipVisionTower pure dict from an OpenAI (.pt) or HF (.safetensors) weight file."""
  state = read_state_dict(path)
  if any(k.endswith("embeddings.patch_embedding.weight") for k in state):
    return clip_params_from_hf(state)
  return clip_params_from_openai(state)


def load_pretrained_clip(tower: clip_vision.ClipVisionTower,
                         model_config: ml_collections.ConfigDict, download: bool = True) -> None:
  """Fill `tower` with OpenAI ViT-B/32 weights (model.clip_weights, else cache/download)."""
  path = pretrained.path(CLIP_WEIGHTS.name, model_config.clip_weights, download=download)
  clip_vision.load_params(tower, clip_params_from_file(path))
