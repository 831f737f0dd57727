"""CLIP vision tower vs Hugging Face, and the weight-file readers/converters."""

import numpy as np
import pytest
import jax
import jax.numpy as jnp
from flax import nnx

from inrv_jax.models import clip_vision
from inrv_jax.formats import state_dict
from inrv_jax.models import from_torch
from inrv_jax.models.common import FrozenParam

TINY = clip_vision.ClipVisionSpec(image_size=64, patch_size=16, width=64, layers=2,
                                  heads=4, output_dim=32)


def _hf_model():
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  config = transformers.CLIPVisionConfig(
      image_size=TINY.image_size, patch_size=TINY.patch_size, hidden_size=TINY.width,
      intermediate_size=4 * TINY.width, num_hidden_layers=TINY.layers,
      num_attention_heads=TINY.heads, projection_dim=TINY.output_dim,
      hidden_act="quick_gelu", attn_implementation="eager")
  torch.manual_seed(0)
  model = transformers.CLIPVisionModelWithProjection(config).eval()
  with torch.no_grad():  # move every weight off its init (layer norms at 1/0, ...)
    for param in model.parameters():
      param.add_(0.05 * torch.randn_like(param))
  return model


def _hf_state(model) -> dict[str, np.ndarray]:
  return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def _openai_names(hf: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
  """The same weights under OpenAI CLIP's names (as in the authors' `clip.model.*`)."""
  v, out = "vision_model.", {}
  out["visual.conv1.weight"] = hf[v + "embeddings.patch_embedding.weight"]
  out["visual.class_embedding"] = hf[v + "embeddings.class_embedding"]
  out["visual.positional_embedding"] = hf[v + "embeddings.position_embedding.weight"]
  out["visual.proj"] = hf["visual_projection.weight"].T
  renames = {"pre_layrnorm": "ln_pre", "post_layernorm": "ln_post"}
  for hf_name, name in renames.items():
    for kind in ("weight", "bias"):
      out[f"visual.{name}.{kind}"] = hf[f"{v}{hf_name}.{kind}"]
  for i in range(TINY.layers):
    src, dst = f"{v}encoder.layers.{i}.", f"visual.transformer.resblocks.{i}."
    for kind in ("weight", "bias"):
      out[f"{dst}attn.in_proj_{kind}"] = np.concatenate(
          [hf[f"{src}self_attn.{n}_proj.{kind}"] for n in "qkv"])
      for hf_name, name in [("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"),
                            ("layer_norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"),
                            ("mlp.fc2", "mlp.c_proj")]:
        out[f"{dst}{name}.{kind}"] = hf[f"{src}{hf_name}.{kind}"]
  return {prefix + k: val for k, val in out.items()}


def _tower(pure) -> clip_vision.ClipVisionTower:
  tower = clip_vision.ClipVisionTower(TINY, rngs=nnx.Rngs(1))
  clip_vision.load_params(tower, pure)
  return tower


def test_matches_hugging_face():
  torch = pytest.importorskip("torch")
  model = _hf_model()
  images = np.random.default_rng(0).uniform(-2, 2, (3, 64, 64, 3)).astype(np.float32)
  with torch.no_grad():
    want = model(pixel_values=torch.from_numpy(images.transpose(0, 3, 1, 2))).image_embeds.numpy()
  tower = _tower(from_torch.clip_params_from_hf(_hf_state(model)))
  got = nnx.jit(lambda t, x: t(x))(tower, jnp.asarray(images))
  assert got.shape == (3, TINY.output_dim)
  np.testing.assert_allclose(np.asarray(got), want, atol=1e-4)


def test_openai_naming_converts_to_the_same_params():
  hf = _hf_state(_hf_model())
  from_hf = from_torch.clip_params_from_hf(hf)
  from_openai = from_torch.clip_params_from_openai(_openai_names(hf, "clip.model."))
  jax.tree.map(np.testing.assert_array_equal, from_openai, from_hf)


def test_default_spec_is_vit_b32():
  spec = clip_vision.ClipVisionSpec()
  assert (spec.image_size, spec.patch_size, spec.width, spec.layers, spec.heads,
          spec.output_dim, spec.num_tokens) == (224, 32, 768, 12, 12, 512, 50)


def test_params_are_frozen_variables():
  tower = clip_vision.ClipVisionTower(TINY, rngs=nnx.Rngs(0))
  assert not jax.tree.leaves(nnx.state(tower, nnx.Param))
  assert jax.tree.leaves(nnx.state(tower, FrozenParam))


def test_load_params_rejects_wrong_shapes():
  tower = clip_vision.ClipVisionTower(TINY, rngs=nnx.Rngs(0))
  pure = nnx.to_pure_dict(nnx.state(tower, FrozenParam))
  pure["proj"]["kernel"] = np.zeros((TINY.width, 7), np.float32)
  with pytest.raises(ValueError, match="proj"):
    clip_vision.load_params(tower, pure)


def test_wrong_image_size_is_reported():
  tower = clip_vision.ClipVisionTower(TINY, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="64, 64, 3"):
    tower(jnp.zeros((1, 32, 32, 3)))


def test_read_safetensors(tmp_path):
  torch = pytest.importorskip("torch")
  safetensors_torch = pytest.importorskip("safetensors.torch")
  tensors = {"a": torch.randn(3, 4), "b.half": torch.randn(5).half(),
             "c": torch.randn(2, 3).bfloat16(), "d": torch.arange(6).reshape(2, 3)}
  path = tmp_path / "w.safetensors"
  safetensors_torch.save_file(tensors, str(path), metadata={"format": "pt"})
  got = state_dict.read_safetensors(path)
  assert sorted(got) == sorted(tensors)
  for name, tensor in tensors.items():
    want = tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()
    np.testing.assert_array_equal(got[name], want)
  assert got["b.half"].dtype == np.float16 and got["c"].dtype == np.float32


def test_read_torchscript_archive(tmp_path):
  """A traced fp16 module with OpenAI-style names, as ViT-B-32.pt is stored."""
  torch = pytest.importorskip("torch")

  class Block(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.ln_1 = torch.nn.LayerNorm(8)
      self.attn = torch.nn.MultiheadAttention(8, 2)

    def forward(self, x):
      y = self.ln_1(x)
      return x + self.attn(y, y, y, need_weights=False)[0]

  class Visual(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.conv1 = torch.nn.Conv2d(3, 8, 2, 2, bias=False)
      self.class_embedding = torch.nn.Parameter(torch.randn(8))
      self.resblocks = torch.nn.Sequential(Block(), Block())

    def forward(self, x):
      tokens = self.conv1(x).flatten(2).permute(2, 0, 1)
      return self.resblocks(tokens + self.class_embedding)

  class Model(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.visual = Visual()

    def forward(self, x):
      return self.visual(x)

  torch.manual_seed(0)
  model = torch.jit.trace(Model().eval(), torch.randn(1, 3, 4, 4)).half()
  path = tmp_path / "model.pt"
  model.save(str(path))
  got = state_dict.read_state_dict(path)
  want = {k: v.numpy() for k, v in model.state_dict().items()}
  assert sorted(got) == sorted(want)
  for name in want:
    assert got[name].dtype == np.float16
    np.testing.assert_array_equal(got[name], want[name])
