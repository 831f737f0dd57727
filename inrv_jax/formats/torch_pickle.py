"""Read PyTorch .pt/.pth files without torch and without running pickled code.

A PyTorch checkpoint is a pickle, and unpickling can call any importable
function. This reader unpickles with an allowlist: the only globals a file may
name are the few that rebuild tensors and containers (torch._utils'
_rebuild_tensor[_v2] / _rebuild_parameter[_with_state], torch.*Storage
classes, torch dtypes, collections.OrderedDict, set/frozenset), each mapped to
a NumPy stand-in. Any other global raises `UnsafePickleError` before anything
is called.

Both on-disk layouts are read:
  * zip (torch >= 1.6): `<root>/data.pkl` plus one raw file per storage,
    `<root>/data/<key>`; persistent ids ('storage', type, key, location, numel).
  * legacy (torch < 1.6): consecutive pickles -- magic number, protocol
    version, sys_info, the main pickle (persistent ids ('storage', type, key,
    location, numel, view_metadata)), the list of storage keys -- then for each
    key an 8-byte element count and the raw bytes.
The even older tar format (torch < 0.1.10) is detected and refused.

Tensors come back as NumPy arrays (C-contiguous copies; bfloat16 via
ml_dtypes). Tensors that shared a storage in torch are independent arrays here.
"""

import _compat_pickle
import collections
import dataclasses
import io
import os
import pickle
import struct
import tarfile
import zipfile
from typing import Any

import numpy as np

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001


class UnsafePickleError(Exception):
  """The file asks for something other than tensor and container reconstruction."""


def _bfloat16():
  import ml_dtypes  # pylint: disable=import-outside-toplevel  (ships with jax)
  return np.dtype(ml_dtypes.bfloat16)


# torch storage class name -> element dtype (a callable for lazily-imported ones).
_STORAGE_DTYPES = {
    "HalfStorage": np.float16, "FloatStorage": np.float32,
    "DoubleStorage": np.float64, "BFloat16Storage": _bfloat16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "UntypedStorage": np.uint8,
}

# torch dtype attribute name -> NumPy dtype (for dtypes pickled as values).
_TORCH_DTYPES = {
    "float16": np.float16, "half": np.float16, "float32": np.float32,
    "float": np.float32, "float64": np.float64, "double": np.float64,
    "bfloat16": _bfloat16, "int64": np.int64, "long": np.int64,
    "int32": np.int32, "int": np.int32, "int16": np.int16, "short": np.int16,
    "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
}


def _as_dtype(spec) -> np.dtype:
  return spec() if spec is _bfloat16 else np.dtype(spec)


@dataclasses.dataclass(frozen=True)
class _StorageType:
  """Stand-in for a torch.*Storage class named in a persistent id."""
  name: str
  dtype: np.dtype


class _Storage:
  """A flat typed buffer; `data` is filled when the bytes are read.

  A legacy view storage keeps its root and an element offset instead.
  """

  def __init__(self, dtype: np.dtype, numel: int, root=None, offset: int = 0):
    self.dtype, self.numel = dtype, numel
    self.root, self.offset = root, offset
    self.data: np.ndarray | None = None  # (numel,) once read

  def array(self) -> np.ndarray:
    if self.root is not None:
      return self.root.array()[self.offset:self.offset + self.numel]
    if self.data is None:
      raise ValueError("corrupt file: a tensor's storage bytes were never stored")
    return self.data


@dataclasses.dataclass(eq=False)
class _LazyTensor:
  """A tensor as pickled: a view (offset, size, stride in elements) of a storage."""
  storage: _Storage
  offset: int
  size: tuple[int, ...]
  stride: tuple[int, ...]

  def materialize(self) -> np.ndarray:
    flat = self.storage.array()  # (numel,)
    if any(n == 0 for n in self.size):
      return np.zeros(self.size, flat.dtype.newbyteorder("="))
    last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
    if last >= flat.shape[0]:
      raise ValueError(f"corrupt file: tensor view (offset {self.offset}, size "
                       f"{self.size}, stride {self.stride}) exceeds its storage of "
                       f"{flat.shape[0]} elements")
    view = np.lib.stride_tricks.as_strided(
        flat[self.offset:], shape=self.size,
        strides=[s * flat.itemsize for s in self.stride], writeable=False)
    return np.array(view, dtype=flat.dtype.newbyteorder("="), order="C")


def _int_tuple(values, what: str) -> tuple[int, ...]:
  values = tuple(values)
  if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
             for v in values):
    raise ValueError(f"corrupt file: tensor {what} {values!r} must be non-negative ints")
  return values


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
  """Stand-in for torch._utils._rebuild_tensor[_v2]; extra args are grad/hooks/metadata."""
  del unused
  if not isinstance(storage, _Storage):
    raise ValueError(f"corrupt file: tensor storage is a {type(storage).__name__}")
  size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
  if len(size) != len(stride):
    raise ValueError(f"corrupt file: tensor size {size} and stride {stride} differ in rank")
  (offset,) = _int_tuple((storage_offset,), "offset")
  return _LazyTensor(storage, offset, size, stride)


def _rebuild_parameter(data, *unused):
  """Stand-in for torch._utils._rebuild_parameter[_with_state]: the data tensor."""
  del unused
  return data


def _encode_latin1(text: str, encoding: str = "latin1") -> bytes:
  """Stand-in for _codecs.encode, which protocol-2 pickles use for bytes."""
  if encoding not in ("latin1", "latin-1"):
    raise ValueError(f"corrupt file: bytes encoded as {encoding!r}")
  return text.encode("latin1")


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _encode_latin1,
    ("torch", "Size"): tuple,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}


def _allowed_global(module: str, name: str):
  """The stand-in for global module.name, or None if it is not allowed."""
  if (module, name) in _ALLOWED:
    return _ALLOWED[(module, name)]
  if module == "torch" and name in _STORAGE_DTYPES:
    return _StorageType(name, _as_dtype(_STORAGE_DTYPES[name]))
  if module == "torch" and name in _TORCH_DTYPES:
    return _as_dtype(_TORCH_DTYPES[name])
  return None


class _RestrictedUnpickler(pickle.Unpickler):
  """Unpickler that resolves only allowlisted globals and torch storage ids."""

  def __init__(self, file, source: str, storage_for):
    super().__init__(file, encoding="utf-8")
    self._source = source
    self._storage_for = storage_for  # (storage_type, key, numel, view) -> _Storage

  def find_class(self, module: str, name: str):
    if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 pickles
      module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    found = _allowed_global(module, name)
    if found is None:
      raise UnsafePickleError(
          f"refusing to load {self._source}: it asks to call {module}.{name}, "
          "which is not needed to rebuild tensors")
    return found

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) in (5, 6)
            and _text(pid[0]) == "storage" and isinstance(pid[1], _StorageType)):
      raise UnsafePickleError(
          f"refusing to load {self._source}: unsupported persistent id {pid!r:.200}")
    storage_type, key, _location, numel = pid[1:5]
    view = pid[5] if len(pid) == 6 else None
    return self._storage_for(storage_type, _text(key), numel, view)


def _text(value) -> Any:
  return value.decode("ascii") if isinstance(value, bytes) else value


def _materialize(obj, memo: dict[int, Any]):
  """Replace every _LazyTensor in nested containers with its array (in place where possible)."""
  if id(obj) in memo:
    return memo[id(obj)]
  if isinstance(obj, _LazyTensor):
    memo[id(obj)] = out = obj.materialize()
    return out
  if isinstance(obj, dict):
    memo[id(obj)] = obj
    for key in list(obj):
      obj[key] = _materialize(obj[key], memo)
    return obj
  if isinstance(obj, list):
    memo[id(obj)] = obj
    obj[:] = [_materialize(v, memo) for v in obj]
    return obj
  if isinstance(obj, (tuple, set, frozenset)):
    out = type(obj)(_materialize(v, memo) for v in obj)
    memo[id(obj)] = out
    return out
  return obj


def _load_zip(path: str, archive: zipfile.ZipFile):
  pickles = [n for n in archive.namelist()
             if n == "data.pkl" or n.endswith("/data.pkl")]
  if len(pickles) != 1:
    raise ValueError(f"{path}: a zip but not a PyTorch checkpoint (no single data.pkl)")
  root = pickles[0][:-len("data.pkl")]  # e.g. "archive/"
  byteorder = "little"
  if root + "byteorder" in archive.namelist():
    byteorder = archive.read(root + "byteorder").decode().strip()
  storages: dict[str, _Storage] = {}

  def storage_for(storage_type, key, numel, view):
    del view  # zip files have no storage views
    if key not in storages:
      dtype = storage_type.dtype.newbyteorder("<" if byteorder == "little" else ">")
      raw = archive.read(f"{root}data/{key}")
      storage = _Storage(dtype, numel)
      storage.data = np.frombuffer(raw, dtype, count=len(raw) // dtype.itemsize)
      storages[key] = storage
    return storages[key]

  with archive.open(pickles[0]) as f:
    return _RestrictedUnpickler(io.BytesIO(f.read()), path, storage_for).load()


def _load_legacy(path: str, f):
  def plain_load():  # the header pickles hold no globals
    try:
      return _RestrictedUnpickler(f, path, _no_storages).load()
    except (pickle.UnpicklingError, EOFError) as err:
      raise ValueError(f"{path}: not a PyTorch checkpoint ({err})") from err

  if plain_load() != LEGACY_MAGIC:
    raise ValueError(f"{path}: not a PyTorch checkpoint (neither zip nor legacy format)")
  if plain_load() != LEGACY_PROTOCOL:
    raise ValueError(f"{path}: unsupported legacy PyTorch protocol version")
  sys_info = plain_load()
  order = "<" if sys_info.get("little_endian", True) else ">"
  storages: dict[str, _Storage] = {}

  def storage_for(storage_type, key, numel, view):
    if key not in storages:
      storages[key] = _Storage(storage_type.dtype.newbyteorder(order), numel)
    if view is None:
      return storages[key]
    view_key, offset, view_numel = view
    view_key = _text(view_key)
    if view_key not in storages:
      storages[view_key] = _Storage(storages[key].dtype, view_numel,
                                    root=storages[key], offset=offset)
    return storages[view_key]

  result = _RestrictedUnpickler(f, path, storage_for).load()
  for key in plain_load():
    storage = storages[_text(key)]
    (count,) = struct.unpack(order + "q", f.read(8))
    nbytes = count * storage.dtype.itemsize
    raw = f.read(nbytes)
    if len(raw) != nbytes:
      raise ValueError(f"{path}: truncated (storage {key} wants {nbytes} bytes)")
    storage.data = np.frombuffer(raw, storage.dtype)
  return result


def _no_storages(*unused):
  raise ValueError("corrupt file: a storage reference outside the main pickle")


def load(path: os.PathLike | str) -> Any:
  """Contents of a torch.save file: nested dict/OrderedDict/list/tuple, np.ndarray leaves.

  Raises UnsafePickleError if the file names any global outside the allowlist
  (nothing it names is called before that check).
  """
  path = os.fspath(path)
  if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as archive:
      result = _load_zip(path, archive)
  elif tarfile.is_tarfile(path):
    raise ValueError(f"{path}: PyTorch's tar format (files from early 2017) is not "
                     "supported; re-save it with torch.save in a newer torch")
  else:
    with open(path, "rb") as f:
      result = _load_legacy(path, f)
  return _materialize(result, {})
