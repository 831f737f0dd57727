"""tools/import_official.py: the authors' checkpoint format -> an inrv_jax workdir.

Checkpoints are built here in the authors' format (key names and shape
patterns of INRV_SPEC.md "The released checkpoint") from small random weights,
and the imported model's renders are compared with a NumPy forward pass of the
spec's equations written independently below.
"""

import collections
import io
import os
import pathlib
import pickle
import shlex
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from flax import nnx

import inrv_jax
from inrv_jax import config_defaults
from inrv_jax import errors
from inrv_jax.models import inr as inr_lib
from inrv_jax.tools import import_official

HN_IN, HEAD_WIDTH, INR_WIDTH, NUM_VIDEOS = 8, 16, 16, 5
CLIP = dict(width=32, patch=16, image=32, layers=1, out=16, gru=8, table=16, merge=16)
T, H, W = 3, 5, 4

# ------------------------------------------------------------------ the spec, in NumPy


def _inr_shapes():
  """(W0, b0, ..., W4, b4) of the paper INR at width INR_WIDTH: 63 -> w x4 -> 3."""
  dims = [63] + [INR_WIDTH] * 4 + [3]
  return [s for a, b in zip(dims[:-1], dims[1:]) for s in ((b, a), (b,))]


def _axis(n):
  return (np.arange(n) / max(n - 1, 1) - 0.5) * 2.0


def _encode(c):
  """NeRF encoding of (P, 3) coords: [t, h, w], then per k, per axis: sin, cos."""
  feats = [c]
  for k in range(10):
    for j in range(3):
      feats += [np.sin(2.0 ** k * np.pi * c[:, j:j + 1]), np.cos(2.0 ** k * np.pi * c[:, j:j + 1])]
  return np.concatenate(feats, axis=1)


def numpy_video(state, z, num_frames, height, width):
  """Raw INR output (T, H, W, 3) of latent z (latent_dim,) under the authors' tensors."""
  weights = []
  for i, shape in enumerate(_inr_shapes()):
    x = np.asarray(z, np.float64)
    for j in range(5):
      layer = f"hyper_net.nets.{i}.net.{j}.0."
      x = x @ state[layer + "weight"].T + state[layer + "bias"]
      x = np.maximum(x, 0.0) if j < 4 else x
    weights.append(x.reshape(shape))
  t, h, w = np.meshgrid(_axis(num_frames), _axis(height), _axis(width), indexing="ij")
  x = _encode(np.stack([t, h, w], -1).reshape(-1, 3))
  for layer in range(5):
    x = x @ weights[2 * layer].T + weights[2 * layer + 1]
    x = np.maximum(x, 0.0) if layer < 4 else x
  return x.reshape(num_frames, height, width, 3)

# ------------------------------------------------------------------ the authors' format


def official_state(seed, clip=False):
  """{authors' key: float32 array}, random, including keys the importer must ignore."""
  rng = np.random.default_rng(seed)
  normal = lambda *shape, std=1.0: (std * rng.standard_normal(shape)).astype(np.float32)
  state = collections.OrderedDict()
  state["latent_codes.weight"] = normal(NUM_VIDEOS, CLIP["table"] if clip else HN_IN, std=0.5)
  for i, shape in enumerate(_inr_shapes()):
    dims = [HN_IN] + [HEAD_WIDTH] * 4 + [int(np.prod(shape))]
    for j, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
      std = np.sqrt(2.0 / fan_in) / (10.0 if j == 4 else 1.0)
      state[f"hyper_net.nets.{i}.net.{j}.0.weight"] = normal(fan_out, fan_in, std=std)
      state[f"hyper_net.nets.{i}.net.{j}.0.bias"] = normal(fan_out, std=0.1)
  state["net.net.0.0.weight"] = normal(4, 63)  # the release's unused INR
  if clip:
    g = CLIP["gru"]
    for k in range(3):
      for sfx in ("", "_reverse"):
        state[f"clip.gru.weight_ih_l{k}{sfx}"] = normal(3 * g, CLIP["out"] if k == 0 else 2 * g)
        state[f"clip.gru.weight_hh_l{k}{sfx}"] = normal(3 * g, g)
        state[f"clip.gru.bias_ih_l{k}{sfx}"] = normal(3 * g)
        state[f"clip.gru.bias_hh_l{k}{sfx}"] = normal(3 * g)
    state["mergeclipinstance.0.weight"] = normal(CLIP["merge"], 2 * g + CLIP["table"])
    state["mergeclipinstance.0.bias"] = normal(CLIP["merge"])
    state["mergeclipinstance.2.weight"] = normal(HN_IN, CLIP["merge"])
    state["mergeclipinstance.2.bias"] = normal(HN_IN)
    w, p = CLIP["width"], CLIP["patch"]
    v = "clip.model.visual."
    state.update({f"{v}conv1.weight": normal(w, 3, p, p), f"{v}class_embedding": normal(w),
                  f"{v}positional_embedding": normal(1 + (CLIP["image"] // p) ** 2, w),
                  f"{v}proj": normal(w, CLIP["out"])})
    for name in ("ln_pre", "ln_post"):
      state[f"{v}{name}.weight"], state[f"{v}{name}.bias"] = normal(w), normal(w)
    b = f"{v}transformer.resblocks.0."
    state.update({f"{b}attn.in_proj_weight": normal(3 * w, w),
                  f"{b}attn.in_proj_bias": normal(3 * w),
                  f"{b}attn.out_proj.weight": normal(w, w), f"{b}attn.out_proj.bias": normal(w),
                  f"{b}mlp.c_fc.weight": normal(4 * w, w), f"{b}mlp.c_fc.bias": normal(4 * w),
                  f"{b}mlp.c_proj.weight": normal(w, 4 * w), f"{b}mlp.c_proj.bias": normal(w)})
    for name in ("ln_1", "ln_2"):
      state[f"{b}{name}.weight"], state[f"{b}{name}.bias"] = normal(w), normal(w)
    state["clip.model.token_embedding.weight"] = normal(10, 8)  # text tower: ignored
    state[f"{v}conv1.weight"] = state[f"{v}conv1.weight"].astype(np.float16)  # fp16, as released
  return state


def learned_latents(seed, indices):
  rng = np.random.default_rng(seed + 100)
  return {i: [None, None, rng.standard_normal(HN_IN).astype(np.float32)] for i in indices}


def tiny_config(clip=False):
  c = config_defaults.base_config()
  m = c.model
  m.inr.hidden, m.inr.hidden_layers, m.inr.num_frequencies = INR_WIDTH, 4, 10
  m.latent_dim, m.hypernet_hidden, m.hypernet_hidden_layers = HN_IN, HEAD_WIDTH, 4
  if clip:
    m.conditioning, m.clip.pretrained = "clip", False
    m.clip.image_size, m.clip.patch_size, m.clip.width = CLIP["image"], CLIP["patch"], CLIP["width"]
    m.clip.layers, m.clip.heads, m.clip.output_dim = CLIP["layers"], 2, CLIP["out"]
    m.clip.gru_hidden, m.clip.table_dim, m.clip.merge_hidden = CLIP["gru"], CLIP["table"], CLIP["merge"]
  c.data.num_frames, c.data.height, c.data.width = T, H, W
  return c


def torch_save(path, blob):
  torch = pytest.importorskip("torch")
  to_torch = lambda x: torch.from_numpy(np.ascontiguousarray(x))
  model = collections.OrderedDict((k, to_torch(v)) for k, v in blob["model"].items())
  latents = {i: [None, None, to_torch(z[2])] for i, z in blob.get("learned_latents", {}).items()}
  optim = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}},
           "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0]}]}
  torch.save({"model": model, "optim": optim, "learned_latents": latents}, path)


class _Global:
  """A global written by name (pickle GLOBAL opcode), never resolved while writing."""

  def __init__(self, module, name):
    self.module, self.name = module, name

  def __call__(self, *args):
    raise AssertionError("never called")


class _Tensor:
  def __init__(self, key, array):
    self.key, self.array = key, np.ascontiguousarray(array)

  def __reduce__(self):
    kind = {np.float32: "FloatStorage", np.float16: "HalfStorage"}[self.array.dtype.type]
    storage = _Global("torch", kind)
    pid = ("storage", storage, self.key, "cpu", self.array.size)
    strides = tuple(s // self.array.itemsize for s in self.array.strides)
    return (_Global("torch._utils", "_rebuild_tensor_v2"),
            (_Pid(pid), 0, self.array.shape, strides, False, collections.OrderedDict()))


class _Pid:
  def __init__(self, pid):
    self.pid = pid


class _Pickler(pickle._Pickler):  # pylint: disable=protected-access  (extensible dispatch)
  dispatch = dict(pickle._Pickler.dispatch)  # pylint: disable=protected-access
  dispatch[_Global] = lambda self, g: self.write(pickle.GLOBAL + f"{g.module}\n{g.name}\n".encode())

  def persistent_id(self, obj):
    return obj.pid if isinstance(obj, _Pid) else None


def handmade_save(path, blob):
  """The torch >= 1.6 zip layout written without torch."""
  tensors = []

  def wrap(x):
    if isinstance(x, np.ndarray):
      tensors.append(_Tensor(str(len(tensors)), x))
      return tensors[-1]
    if isinstance(x, dict):
      return type(x)((k, wrap(v)) for k, v in x.items())
    if isinstance(x, list):
      return [wrap(v) for v in x]
    return x

  buffer = io.BytesIO()
  _Pickler(buffer, protocol=2).dump(wrap(blob))
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl", buffer.getvalue())
    archive.writestr("archive/byteorder", "little")
    for t in tensors:
      archive.writestr(f"archive/data/{t.key}", t.array.tobytes())

# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("writer", [torch_save, handmade_save])
def test_plain_checkpoint_renders_like_the_spec(tmp_path, writer):
  state = official_state(0)
  path = tmp_path / "inrv.pth"
  writer(path, {"model": state, "learned_latents": learned_latents(0, [1, 3])})
  workdir = import_official.import_checkpoint(path, tmp_path / "wd", tiny_config())

  model = inrv_jax.load(workdir)
  np.testing.assert_array_equal(model.latents, state["latent_codes.weight"])  # table rows
  want = np.stack([numpy_video(state, z, T, H, W) for z in model.latents])
  assert 0.2 < np.mean(np.abs(want) < 1.0)  # the comparison below is not all clipped
  raw = np.asarray(inr_lib.grid_apply(model.inr_spec, model.inr_weights(model.latents), T, H, W))
  np.testing.assert_allclose(raw, want, atol=1e-5, rtol=0)
  videos = inrv_jax.render(model, model.latents)  # training size, [0, 1]
  np.testing.assert_allclose(videos, (np.clip(want, -1, 1) + 1) / 2, atol=1e-5, rtol=0)
  big = inrv_jax.render(model, model.latents[:2], num_frames=4, resolution=(7, 6))
  want_big = np.stack([numpy_video(state, z, 4, 7, 6) for z in model.latents[:2]])
  np.testing.assert_allclose(big, (np.clip(want_big, -1, 1) + 1) / 2, atol=1e-5, rtol=0)


def test_clip_checkpoint_maps_every_tensor(tmp_path):
  state = official_state(1, clip=True)
  learned = learned_latents(1, range(NUM_VIDEOS))
  path = tmp_path / "inrv-clip.pth"
  handmade_save(path, {"model": state, "optim": {"state": {}}, "learned_latents": learned})
  workdir = import_official.import_checkpoint(path, tmp_path / "wd", tiny_config(clip=True))

  model = inrv_jax.load(workdir)
  z = np.stack([learned[i][2] for i in range(NUM_VIDEOS)])
  np.testing.assert_array_equal(model.latents, z)  # learned_latents are the latents
  want = np.stack([numpy_video(state, zi, T, H, W) for zi in z])
  np.testing.assert_allclose(inrv_jax.render(model, z), (np.clip(want, -1, 1) + 1) / 2,
                             atol=1e-5, rtol=0)

  params = nnx.to_pure_dict(model.params)
  np.testing.assert_array_equal(params["latent_table"], state["latent_codes.weight"])
  gru = params["conditioner"]["gru"]["layers"]
  np.testing.assert_array_equal(gru[2]["backward"]["hh_kernel"],
                                state["clip.gru.weight_hh_l2_reverse"].T)
  np.testing.assert_array_equal(gru[1]["forward"]["ih_bias"], state["clip.gru.bias_ih_l1"])
  np.testing.assert_array_equal(params["conditioner"]["merge1"]["kernel"],
                                state["mergeclipinstance.0.weight"].T)
  np.testing.assert_array_equal(params["conditioner"]["merge2"]["bias"],
                                state["mergeclipinstance.2.bias"])
  clip = nnx.to_pure_dict(model.frozen)["conditioner"]["clip"]  # frozen CLIP restored from the import
  np.testing.assert_array_equal(clip["class_embedding"], state["clip.model.visual.class_embedding"])
  c_proj = state["clip.model.visual.transformer.resblocks.0.mlp.c_proj.weight"]
  np.testing.assert_array_equal(clip["blocks"][0]["fc2"]["kernel"], c_proj.T)
  conv = state["clip.model.visual.conv1.weight"].astype(np.float32)
  np.testing.assert_array_equal(clip["patch_embed"]["kernel"][:, 0],  # rows (py, px, c)
                                conv[0].transpose(1, 2, 0).reshape(-1))


class _Payload:
  def __init__(self, func, arg):
    self.func, self.arg = func, arg

  def __reduce__(self):
    return self.func, (self.arg,)


def test_code_in_the_pickle_is_refused_and_nothing_is_written(tmp_path):
  marker = tmp_path / "pwned"
  payload = _Payload(os.system, f"touch {shlex.quote(str(marker))}")
  evil = {"model": {"latent_codes.weight": payload}}
  path = tmp_path / "evil.pth"
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl", pickle.dumps(evil, protocol=2))
  out = tmp_path / "out"
  with pytest.raises(import_official.UnsafeCheckpointError, match="system") as err:
    import_official.import_checkpoint(path, out / "wd", tiny_config())
  assert isinstance(err.value, errors.UserError) and str(path) in str(err.value)
  assert not marker.exists() and not (out / "wd").exists()
  assert not out.exists() or not any(out.iterdir())  # no temporary directory left behind


def test_shape_mismatch_names_the_key_and_both_shapes(tmp_path):
  path = tmp_path / "inrv.pth"
  handmade_save(path, {"model": official_state(2)})
  config = tiny_config()
  config.model.hypernet_hidden = 32
  with pytest.raises(errors.UserError) as err:
    import_official.import_checkpoint(path, tmp_path / "wd", config)
  message = str(err.value)
  assert "hyper_net.nets.0.net.0.0.weight" in message
  assert "(16, 8)" in message and "(32, 8)" in message and "hypernet_hidden=16" in message
  assert not (tmp_path / "wd").exists()
  with pytest.raises(errors.UserError, match="CLIP conditioning"):
    import_official.import_checkpoint(path, tmp_path / "wd", tiny_config(clip=True))


def test_command_line(tmp_path):
  path = tmp_path / "inrv.pth"
  handmade_save(path, {"model": official_state(3)})
  config_file = tmp_path / "tiny.py"
  config_file.write_text(  # the base config at this test's sizes
      "from inrv_jax import config_defaults\n"
      "def get_config(arg=None):\n"
      "  c = config_defaults.base_config()\n"
      f"  c.model.inr.hidden = {INR_WIDTH}\n"
      f"  c.model.latent_dim, c.model.hypernet_hidden = {HN_IN}, {HEAD_WIDTH}\n"
      "  return c\n")
  repo = pathlib.Path(__file__).resolve().parents[2]
  env = {**os.environ, "PYTHONPATH": str(repo)}
  run = lambda *extra: subprocess.run(
      [sys.executable, "-m", "inrv_jax.tools.import_official", f"--checkpoint={path}",
       f"--config={config_file}", *extra], capture_output=True, text=True, env=env, cwd=repo,
      check=False)
  bad = run(f"--workdir={tmp_path / 'wd'}", "--config.model.latent_dim=4")  # override applied
  assert bad.returncode == 2 and "latent_codes.weight has shape (5, 8)" in bad.stderr
  assert "(5, 4)" in bad.stderr and "Traceback" not in bad.stderr
  assert not (tmp_path / "wd").exists()
