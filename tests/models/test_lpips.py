"""LPIPS-VGG16 v0.1 in Flax vs a plain reference; weight files and frozen state."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from inrv_jax import pretrained
from inrv_jax.models import lpips as lpips_lib
from inrv_jax.models import vgg16 as vgg16_lib
from inrv_jax.formats import torch_pickle

WIDTHS = (8, 16, 24, 32, 32)  # narrow random VGG16: same layers, fast tests


def _torchvision_state(params):
  """Our params -> a torchvision-style state dict (OIHW), to test the converter too."""
  state = {}
  for i, (kernel, bias) in zip(vgg16_lib.torchvision_conv_indices(), params):
    state[f"features.{i}.weight"] = np.asarray(kernel).transpose(3, 2, 0, 1)
    state[f"features.{i}.bias"] = np.asarray(bias)
  return state


@pytest.fixture(name="weights", scope="module")
def fixture_weights():
  """Random narrow VGG16 in torchvision layout + random lin weights."""
  rng = np.random.default_rng(0)
  state = _torchvision_state(vgg16_lib.random_params(rng, WIDTHS))
  return state, lpips_lib.random_lin_params(rng, WIDTHS)


@pytest.fixture(name="model", scope="module")
def fixture_model(weights):
  state, lin = weights
  vgg = vgg16_lib.VGG16Features(vgg16_lib.vgg16_params_from_torchvision(state),
                                precision=jax.lax.Precision.HIGHEST)
  return lpips_lib.LPIPS(vgg, lin)


def _torch_reference(torch, state, lin, x0, x1):
  """LPIPS written directly with torch.nn.functional on NCHW tensors."""
  F = torch.nn.functional
  shift = torch.tensor(lpips_lib.SHIFT).view(1, 3, 1, 1)
  scale = torch.tensor(lpips_lib.SCALE).view(1, 3, 1, 1)

  def taps(x):
    out, convs = [], iter(vgg16_lib.torchvision_conv_indices())
    x = (x - shift) / scale
    for block, depth in enumerate(vgg16_lib.BLOCK_DEPTHS):
      if block:
        x = F.max_pool2d(x, 2, 2)
      for _ in range(depth):
        i = next(convs)
        x = F.relu(F.conv2d(x, torch.tensor(state[f"features.{i}.weight"]),
                            torch.tensor(state[f"features.{i}.bias"]), padding=1))
      out.append(x)
    return out

  total = 0
  for f0, f1, w in zip(taps(x0), taps(x1), lin):
    u0 = f0 / (f0.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
    u1 = f1 / (f1.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
    weight = torch.tensor(w).view(1, -1, 1, 1)
    total = total + F.conv2d((u0 - u1) ** 2, weight).mean(dim=(2, 3))
  return [t.permute(0, 2, 3, 1).numpy() for t in taps(x0)], total[:, 0].numpy()


def test_matches_torch_reference(weights, model):
  torch = pytest.importorskip("torch")
  state, lin = weights
  rng = np.random.default_rng(0)
  x0, x1 = (rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32) for _ in range(2))
  with torch.no_grad():
    want_taps, want = _torch_reference(torch, state, lin, torch.from_numpy(x0),
                                       torch.from_numpy(x1))
  nhwc = lambda x: jnp.asarray(x.transpose(0, 2, 3, 1))
  shift, scale = np.asarray(lpips_lib.SHIFT), np.asarray(lpips_lib.SCALE)
  got_taps = nnx.jit(lambda vgg, x: vgg(x))(model.vgg, (nhwc(x0) - shift) / scale)
  for got, ref, side, width in zip(got_taps, want_taps, (32, 16, 8, 4, 2), WIDTHS):
    assert got.shape == (2, side, side, width)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
  got = nnx.jit(lambda m, a, b: m(a, b))(model, nhwc(x0), nhwc(x1))
  assert got.shape == (2,)
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


def test_identical_inputs_give_zero_and_per_frame_shape(model):
  rng = np.random.default_rng(1)
  gt, pred = (jnp.asarray(rng.uniform(-1, 1, (2, 3, 16, 16, 3)), jnp.float32)
              for _ in range(2))
  per_frame = nnx.jit(lpips_lib.lpips_loss_per_frame)
  self_dist = nnx.jit(lambda m, v: lpips_lib.lpips_loss_per_frame(m, v, v))
  np.testing.assert_array_equal(self_dist(model, gt), np.zeros((2, 3)))
  np.testing.assert_allclose(per_frame(model, gt, gt), np.zeros((2, 3)), atol=1e-12)
  dist = per_frame(model, gt, pred)
  assert dist.shape == (2, 3) and np.all(dist > 0)
  single = nnx.jit(lambda m, a, b: m(a, b))(model, gt[1, 2:3], pred[1, 2:3])
  np.testing.assert_allclose(dist[1, 2], single[0], rtol=1e-5)


def test_gradient_is_finite(model):
  gt = jnp.zeros((1, 1, 16, 16, 3)).at[..., 0].set(-1.0)  # flat images: many zero features
  pred = gt.at[0, 0, :8].set(0.5)
  loss = lambda m, p: lpips_lib.lpips_loss_per_frame(m, gt, p).sum()
  grad = nnx.jit(jax.grad(loss, argnums=1))(model, pred)
  assert grad.shape == pred.shape and np.all(np.isfinite(grad))
  assert np.any(grad != 0)


def test_too_small_images_are_refused(model):
  with pytest.raises(ValueError, match="at least 16x16"):
    model(jnp.zeros((1, 8, 32, 3)), jnp.zeros((1, 8, 32, 3)))


def test_weights_are_frozen(model):
  assert not jax.tree.leaves(nnx.state(model, nnx.Param))
  assert len(jax.tree.leaves(nnx.state(model))) == 2 * 13 + 5


FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "lpips_v0.1_vgg.pth"


def test_packaged_lin_layers_equal_the_released_vgg_pth():
  """The .npz inside inrv_jax == lin layers of LPIPS v0.1 vgg.pth (a copy of the lpips file)."""
  assert pretrained.sha256_of(FIXTURE) == lpips_lib.LIN_SHA256  # the canonical file
  want = lpips_lib.lin_params_from_state(torch_pickle.load(FIXTURE))
  path = lpips_lib.packaged_lin_weights()
  assert path.endswith("lpips_v0.1_vgg_lin.npz")
  got = lpips_lib.read_packaged_lin(path)
  assert [w.shape for w in got] == [(c,) for c in (64, 128, 256, 512, 512)]
  for g, w in zip(got, want):
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, w)
  assert (pathlib.Path(path).parent / "LICENSE_lpips.txt").is_file()


def test_fixture_is_the_lpips_package_file():
  spec = importlib.util.find_spec("lpips")  # located, not imported (it needs torchvision)
  if spec is None:
    pytest.skip("lpips package not installed")
  installed = pathlib.Path(spec.submodule_search_locations[0]) / "weights" / "v0.1" / "vgg.pth"
  assert installed.read_bytes() == FIXTURE.read_bytes()


def test_load_lpips_uses_the_packaged_lin_layers(tmp_path, monkeypatch):
  """Only VGG16 comes from a file; the lin layers are the packaged ones."""
  torch = pytest.importorskip("torch")
  monkeypatch.setenv("INRV_CACHE_DIR", str(tmp_path / "empty_cache"))
  monkeypatch.setattr(pretrained, "_verified", lambda entry, path: path)
  state = _torchvision_state(vgg16_lib.random_params(np.random.default_rng(4), WIDTHS))
  vgg_file = tmp_path / "vgg.pth"
  torch.save({k: torch.from_numpy(v) for k, v in state.items()}, vgg_file)
  model = lpips_lib.load_lpips(str(vgg_file), download=False)
  want = lpips_lib.lin_params_from_state(torch_pickle.load(FIXTURE))
  for got, w in zip(model.lin, want):
    np.testing.assert_array_equal(got[...], w)


def test_missing_weights_name_url_and_config_field(tmp_path, monkeypatch):
  monkeypatch.setenv("INRV_CACHE_DIR", str(tmp_path))
  for entry, field in ((vgg16_lib.IMAGENET_WEIGHTS, "train.vgg16_weights"),
                       (lpips_lib.LIN_WEIGHTS, "train.lpips_weights")):
    with pytest.raises(pretrained.MissingWeightsError) as err:
      pretrained.path(entry, download=False)
    assert entry.url in str(err.value)
    assert f"--config.{field}=" in str(err.value)
  with pytest.raises(pretrained.MissingWeightsError, match="vgg16-397923af.pth"):
    lpips_lib.load_lpips(download=False)


def test_load_lpips_from_local_files(tmp_path, monkeypatch):
  """load_lpips reads both files (checksums stubbed: the real VGG16 is 528 MB)."""
  torch = pytest.importorskip("torch")
  monkeypatch.setenv("INRV_CACHE_DIR", str(tmp_path / "empty_cache"))
  monkeypatch.setattr(pretrained, "_verified", lambda entry, path: path)
  state = _torchvision_state(vgg16_lib.random_params(np.random.default_rng(3), (4,) * 5))
  vgg_file, lin_file = tmp_path / "vgg.pth", tmp_path / "lin.pth"
  torch.save({k: torch.from_numpy(v) for k, v in state.items()}, vgg_file)
  torch.save({f"lin{k}.model.1.weight": torch.ones(1, 4, 1, 1) for k in range(5)},
             lin_file, _use_new_zipfile_serialization=False)
  model = lpips_lib.load_lpips(str(vgg_file), str(lin_file), download=False)
  assert [w[...].shape for w in model.lin] == [(4,)] * 5
  np.testing.assert_array_equal(model.vgg.kernels[0][...],
                                state["features.0.weight"].transpose(2, 3, 1, 0))
