"""Conditional regularisation: z = MLP(concat(GRU(frozen CLIP(frames)), table row))."""

import numpy as np
import pytest
import jax
import jax.numpy as jnp
from flax import nnx

from inrv_jax import config_defaults
from inrv_jax import pretrained
from inrv_jax.models import clip_vision
from inrv_jax.models import from_torch
from inrv_jax.models.common import FrozenParam
from inrv_jax.models import conditioning
from inrv_jax.models import inrv as inrv_lib

B, T, H, W, NUM_VIDEOS = 2, 3, 8, 8, 4


def _config(**overrides):
  m = config_defaults.base_config().model
  m.conditioning = "clip"
  m.clip.pretrained = False
  m.inr.hidden, m.inr.hidden_layers, m.inr.num_frequencies = 8, 1, 2
  m.latent_dim, m.hypernet_hidden, m.hypernet_hidden_layers = 8, 16, 1
  m.clip.image_size, m.clip.patch_size, m.clip.width = 32, 16, 32
  m.clip.layers, m.clip.heads, m.clip.output_dim = 1, 2, 16
  m.clip.gru_hidden, m.clip.table_dim, m.clip.merge_hidden = 8, 16, 16
  m.update(overrides)
  return m


def _model(**overrides) -> inrv_lib.INRV:
  return inrv_lib.INRV(_config(**overrides), NUM_VIDEOS, rngs=nnx.Rngs(0))


def _videos(seed=0):
  return jax.random.uniform(jax.random.key(seed), (B, T, H, W, 3), minval=-1.0, maxval=1.0)


INDICES = jnp.array([2, 0])


@pytest.fixture(scope="module")
def built():
  """One tiny CLIP-conditioned model for the module (building one is the slow part)."""
  return _model()


@pytest.fixture
def model(built):
  return nnx.clone(built)


@nnx.jit
def _latents(model, videos, key=None):
  return model.latents(INDICES, videos, dropout_key=key)


_clip_inputs = jax.jit(conditioning.clip_inputs, static_argnums=(1, 2))


def _inr_loss(model, videos, key=None):
  weights = model.inr_weights(model.latents(INDICES, videos, dropout_key=key))
  return sum(jnp.sum(w ** 2) for w in weights)


_param_grads = nnx.jit(nnx.grad(_inr_loss))  # w.r.t. nnx.Param, as training takes them


def test_defaults_follow_the_paper():
  m = config_defaults.base_config().model
  assert (m.clip.table_dim, m.clip.gru_hidden, m.clip.gru_layers, m.clip.gru_dropout, m.clip.merge_hidden,
          m.clip.normalize) == (512, 256, 3, 0.1, 512, False)
  assert (m.clip.image_size, m.clip.patch_size, m.clip.width, m.clip.layers, m.clip.heads,
          m.clip.output_dim) == (224, 32, 768, 12, 12, 512)


def test_shapes(model):
  assert model.latent_table.shape == (NUM_VIDEOS, 16)
  z = nnx.eval_shape(lambda m, v: m.latents(INDICES, v), model, _videos())
  assert z.shape == (B, 8)
  weights = nnx.eval_shape(lambda m, z: m.inr_weights(z), model, z)
  assert weights[0].shape == (B, 8, model.inr_spec.in_features)
  features = nnx.eval_shape(lambda m, v: m.conditioner.frame_features(v), model, _videos())
  assert features.shape == (B, T, 16)


def test_clip_inputs_resize_and_optional_normalisation(model):
  videos = _videos()
  frames = _clip_inputs(videos, 32, False)
  assert frames.shape == (B * T, 32, 32, 3)
  assert 0.0 <= float(frames.min()) and float(frames.max()) <= 1.0
  normalized = _clip_inputs(videos, 32, True)
  np.testing.assert_allclose(normalized, clip_vision.normalize(frames), atol=1e-6)
  constant = _clip_inputs(jnp.zeros((1, 1, 5, 7, 3)), 32, False)
  np.testing.assert_allclose(constant, 0.5, atol=1e-6)  # [-1, 1] -> [0, 1]
  plain = _latents(model, videos)
  model.conditioner.normalize = True
  assert not np.allclose(_latents(model, videos), plain)


def test_clip_is_frozen(model):
  params = nnx.state(model, nnx.Param)
  assert "clip" not in params["conditioner"]
  assert jax.tree.leaves(nnx.state(model.conditioner.clip, FrozenParam))

  grads = _param_grads(model, _videos(), jax.random.key(0))
  assert "clip" not in grads["conditioner"]

  # Even differentiating w.r.t. the frozen weights gives zero: stop_gradient on the features.
  def feature_sum(conditioner, videos):
    return jnp.sum(conditioner.frame_features(videos))

  frozen_grads = nnx.grad(feature_sum, argnums=nnx.DiffState(0, FrozenParam))
  frozen_grads = nnx.jit(frozen_grads)(model.conditioner, _videos())
  assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(frozen_grads))


def test_dropout_key_changes_output_only_when_given(model):
  assert model.conditioner.gru.dropout_rate == 0.1
  videos = _videos()
  plain = _latents(model, videos)
  np.testing.assert_array_equal(_latents(model, videos, None), plain)
  a = _latents(model, videos, jax.random.key(1))
  b = _latents(model, videos, jax.random.key(2))
  assert not np.allclose(a, plain) and not np.allclose(a, b)


def test_end_to_end_gradients_reach_table_rows_gru_and_merge(model):

  grads = _param_grads(model, _videos(), jax.random.key(0))
  table = np.asarray(grads["latent_table"][...])
  assert np.abs(table[[0, 2]]).max() > 0 and np.abs(table[[1, 3]]).max() == 0
  for part in ("gru", "merge1", "merge2"):
    leaves = jax.tree.leaves(grads["conditioner"][part])
    assert leaves and all(float(jnp.abs(g).max()) > 0 for g in leaves), part


def test_videos_required_and_all_latents_refused(model):
  with pytest.raises(ValueError, match="videos"):
    model.latents(INDICES)
  with pytest.raises(ValueError, match="recorded"):
    model.all_latents()


def test_other_variants_ignore_videos_and_key():
  model = _model(conditioning="none")
  assert model.conditioner is None
  rows = model.latents(INDICES)
  np.testing.assert_array_equal(model.latents(INDICES, _videos(), jax.random.key(0)), rows)
  assert rows.shape == (B, 8)


def test_merge_matches_torch_sequential_on_concat_g_e(model):
  torch = pytest.importorskip("torch")
  torch.manual_seed(0)
  ref = torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU(True), torch.nn.Linear(16, 8))
  state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
  pure = from_torch.merge_params_from_torch(state)
  for name in ("merge1", "merge2"):
    clip_vision.load_params(getattr(model.conditioner, name), pure[name], nnx.Param)
  rng = np.random.default_rng(0)
  g, e = (rng.normal(size=(B, 16)).astype(np.float32) for _ in range(2))
  with torch.no_grad():
    want = ref(torch.from_numpy(np.concatenate([g, e], axis=1))).numpy()
  np.testing.assert_allclose(model.conditioner.merge(jnp.asarray(g), jnp.asarray(e)), want,
                             atol=1e-5)


def test_pretrained_clip_entry_and_missing_file_is_reported(tmp_path, monkeypatch):
  entry = clip_vision.CLIP_WEIGHTS
  assert entry.sha256 == entry.url.split("/")[-2] and entry.config_field == "model.clip.weights"
  monkeypatch.setenv("INRV_CACHE_DIR", str(tmp_path))
  tower = clip_vision.ClipVisionTower(clip_vision.ClipVisionSpec(32, 16, 32, 1, 2, 4, 16),
                                      rngs=nnx.Rngs(0))
  with pytest.raises(pretrained.MissingWeightsError, match="model.clip.weights"):
    clip_vision.load(tower, str(tmp_path / "absent.pt"))
  with pytest.raises(pretrained.MissingWeightsError, match="ViT-B-32.pt"):
    clip_vision.load(tower, download=False)


def test_frozen_state_rebuilds_the_models_frozen_clip_alone(built):
  """What trained_model.load uses instead of building a whole model: the same CLIP tower."""
  expected = nnx.state(built, nnx.Not(nnx.Param))
  rebuilt = inrv_lib.frozen_state(_config(), 0)
  assert jax.tree.structure(rebuilt) == jax.tree.structure(expected)
  for a, b in zip(jax.tree.leaves(rebuilt), jax.tree.leaves(expected)):
    np.testing.assert_array_equal(a, b)
  other_seed = jax.tree.leaves(inrv_lib.frozen_state(_config(), 1))
  assert not all(np.array_equal(a, b) for a, b in zip(other_seed, jax.tree.leaves(expected)))
  assert not jax.tree.leaves(inrv_lib.frozen_state(_config(conditioning="none"), 0))
