"""Flat {name: array} state dicts from PyTorch-world weight files, read without torch.

  read_safetensors(path)   the safetensors format parsed with NumPy (8-byte
                           little-endian header length, JSON header, raw
                           little-endian bytes); BF16 comes back as float32.
  read_torchscript(path)   a TorchScript zip archive such as OpenAI's
                           `ViT-B-32.pt`, unpickled with `torch_pickle`'s
                           allowlist plus inert stand-ins for the archive's
                           `__torch__.*` module objects.
  read_state_dict(path)    either of those, or a torch.save file, by content.

Nothing here runs code from the file: a global outside the allowlist raises
`torch_pickle.UnsafePickleError` before anything is called.
"""

import io
import json
import os
import struct
import zipfile

import numpy as np

from inrv_jax.formats import torch_pickle

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

