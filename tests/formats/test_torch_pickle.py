"""inrv_jax.formats.torch_pickle: reading torch.save files without torch, safely."""

import collections
import io
import os
import pathlib
import pickle
import shlex
import zipfile

import numpy as np
import pytest

from inrv_jax.formats import torch_pickle


# --- writing torch-layout files by hand (no torch needed) -------------------

class _Ref:
  """A global written by name (GLOBAL opcode), e.g. torch._utils._rebuild_tensor_v2."""

  def __init__(self, module: str, name: str):
    self.module, self.name = module, name

  def __call__(self, *args):  # pickle's save_reduce insists on a callable
    raise AssertionError("never called")


class _Storage:
  def __init__(self, key: str, type_name: str, numel: int):
    self.pid = ("storage", _Ref("torch", type_name), key, "cpu", numel)


class _Tensor:
  def __init__(self, storage, offset, size, stride):
    self.args = (storage, offset, tuple(size), tuple(stride), False,
                 collections.OrderedDict())

  def __reduce__(self):
    return _Ref("torch._utils", "_rebuild_tensor_v2"), self.args


class _Pickler(pickle._Pickler):  # pure-Python pickler: its dispatch table is extensible
  dispatch = dict(pickle._Pickler.dispatch)

  def _save_ref(self, obj):
    self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

  dispatch[_Ref] = _save_ref

  def persistent_id(self, obj):
    return obj.pid if isinstance(obj, _Storage) else None


def _write_zip(path: pathlib.Path, data_pkl: bytes, storages: dict[str, bytes]):
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl", data_pkl)
    archive.writestr("archive/byteorder", "little")
    for key, raw in storages.items():
      archive.writestr(f"archive/data/{key}", raw)


def _dumps(obj) -> bytes:
  buffer = io.BytesIO()
  _Pickler(buffer, protocol=2).dump(obj)
  return buffer.getvalue()


def test_handmade_zip_strides_offsets_and_nesting(tmp_path):
  base = np.arange(24, dtype=np.float32)            # one shared storage
  ints = np.array([3, -1, 7], dtype=np.int64)
  s0, s1 = _Storage("0", "FloatStorage", 24), _Storage("1", "LongStorage", 3)
  obj = collections.OrderedDict(
      matrix=_Tensor(s0, 0, (4, 6), (6, 1)),
      transposed=_Tensor(s0, 0, (6, 4), (1, 6)),
      window=_Tensor(s0, 5, (2, 3), (6, 2)),
      scalar=_Tensor(s0, 23, (), ()),
      empty=_Tensor(s0, 0, (0, 3), (3, 1)),
      latents={0: [None, None, _Tensor(s1, 0, (3,), (1,))]},
      pair=(_Tensor(s1, 1, (2,), (1,)), "text", 2.5))
  path = tmp_path / "handmade.pt"
  _write_zip(path, _dumps(obj), {"0": base.tobytes(), "1": ints.tobytes()})

  got = torch_pickle.load(path)
  matrix = base.reshape(4, 6)
  assert isinstance(got, collections.OrderedDict)
  np.testing.assert_array_equal(got["matrix"], matrix)
  np.testing.assert_array_equal(got["transposed"], matrix.T)
  np.testing.assert_array_equal(got["window"], [[5, 7, 9], [11, 13, 15]])
  assert got["scalar"].shape == () and got["scalar"] == 23
  assert got["empty"].shape == (0, 3)
  assert got["latents"][0][:2] == [None, None]
  np.testing.assert_array_equal(got["latents"][0][2], ints)
  np.testing.assert_array_equal(got["pair"][0], ints[1:])
  assert got["pair"][1:] == ("text", 2.5)
  assert got["transposed"].flags.c_contiguous and got["transposed"].flags.writeable


def test_view_past_storage_end_is_rejected(tmp_path):
  storage = _Storage("0", "FloatStorage", 4)
  path = tmp_path / "bad.pt"
  _write_zip(path, _dumps({"w": _Tensor(storage, 2, (3,), (1,))}),
             {"0": np.zeros(4, np.float32).tobytes()})
  with pytest.raises(ValueError, match="exceeds its storage"):
    torch_pickle.load(path)


class _Payload:
  def __init__(self, func, arg):
    self.func, self.arg = func, arg

  def __reduce__(self):
    return self.func, (self.arg,)


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval"])
def test_code_execution_is_refused(tmp_path, kind):
  marker = tmp_path / "pwned"
  if kind == "os.system":
    payload = _Payload(os.system, f"touch {shlex.quote(str(marker))}")
    refused = f"{os.system.__module__}.system"  # posix.system on Linux
  else:
    payload = _Payload(eval, f"open({str(marker)!r}, 'w').close()")
    refused = "builtins.eval"
  data_pkl = pickle.dumps({"state": payload}, protocol=2)

  pickle.loads(data_pkl)  # a plain unpickler really runs it ...
  assert marker.exists()
  marker.unlink()

  path = tmp_path / "evil.pt"
  _write_zip(path, data_pkl, {})
  with pytest.raises(torch_pickle.UnsafePickleError) as err:
    torch_pickle.load(path)  # ... this one does not
  assert not marker.exists()
  assert str(path) in str(err.value) and refused in str(err.value)


def test_lpips_package_vgg_file():
  """The lpips package's v0.1 vgg.pth (a byte copy in tests/models/fixtures)."""
  path = pathlib.Path(__file__).parents[1] / "models" / "fixtures" / "lpips_v0.1_vgg.pth"
  got = torch_pickle.load(path)
  channels = (64, 128, 256, 512, 512)
  assert list(got) == [f"lin{k}.model.1.weight" for k in range(5)]
  for k, c in enumerate(channels):
    weight = got[f"lin{k}.model.1.weight"]
    assert weight.shape == (1, c, 1, 1) and weight.dtype == np.float32
    assert np.all(np.isfinite(weight)) and np.all(weight >= 0)


# --- files written by torch.save --------------------------------------------

@pytest.fixture(name="torch_checkpoint")
def fixture_torch_checkpoint():
  torch = pytest.importorskip("torch")
  gen = torch.Generator().manual_seed(0)
  base = torch.randn(5, 7, generator=gen)
  shared = torch.arange(30, dtype=torch.float64)
  obj = {
      "model": collections.OrderedDict(
          weight=torch.nn.Parameter(torch.randn(3, 4, generator=gen)),
          half=torch.randn(2, 3, generator=gen).half(),
          bf16=torch.randn(4, generator=gen).bfloat16(),
          long=torch.tensor([1, -2, 3**30], dtype=torch.int64),
          int=torch.tensor([[1, 2], [3, 4]], dtype=torch.int32),
          byte=torch.tensor([0, 255, 7], dtype=torch.uint8),
          flags=torch.tensor([True, False, True]),
          transposed=base.t(),
          scalar=torch.tensor(2.5)),
      "shared": [shared, shared[4:10], shared.view(5, 6)[:, 1::2]],
      "learned_latents": {0: [None, None, torch.randn(8, generator=gen)],
                          3: [None, None, torch.randn(8, generator=gen)]},
      "optim": {"param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999)}]},
  }
  return torch, obj


def _to_numpy(torch, obj):
  if isinstance(obj, torch.Tensor):
    obj = obj.detach()
    if obj.dtype == torch.bfloat16:
      import ml_dtypes  # pylint: disable=import-outside-toplevel
      return obj.float().numpy().astype(ml_dtypes.bfloat16)
    return obj.numpy()
  if isinstance(obj, dict):
    return {k: _to_numpy(torch, v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return type(obj)(_to_numpy(torch, v) for v in obj)
  return obj


def _assert_same(got, want):
  if isinstance(want, np.ndarray):
    assert isinstance(got, np.ndarray) and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
  elif isinstance(want, dict):
    assert list(got) == list(want)
    for key in want:
      _assert_same(got[key], want[key])
  elif isinstance(want, (list, tuple)):
    assert type(got) is type(want) and len(got) == len(want)
    for g, w in zip(got, want):
      _assert_same(g, w)
  else:
    assert got == want


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_save_roundtrip(tmp_path, torch_checkpoint, zip_format):
  torch, obj = torch_checkpoint
  path = tmp_path / "ckpt.pt"
  torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
  assert zipfile.is_zipfile(path) == zip_format
  got = torch_pickle.load(path)
  _assert_same(got, _to_numpy(torch, obj))
  assert isinstance(got["model"], collections.OrderedDict)
