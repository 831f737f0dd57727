"""Conditional regularisation (paper Sec. 3.2): z = MLP(concat(g, e)).

e is the video's row of the latent table (clip_table_dim wide). g describes
the video's frames: each frame, in [0, 1], is resized with anti-aliasing to
the CLIP input size and encoded by a frozen CLIP image encoder; a
bidirectional GRU runs over the T features and its outputs are averaged over
time. The merge MLP is Linear(|g| + |e|, merge_hidden), ReLU,
Linear(merge_hidden, hn_in). QUIRK (release): frames are not CLIP
mean/std-normalised; `model.clip_normalize=True` applies the standard
normalisation.
"""

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from inrv_jax.models import clip_vision
from inrv_jax.models import gru as gru_lib
from inrv_jax.models import hypernet as hypernet_lib


def clip_spec_from_config(model_config: ml_collections.ConfigDict) -> clip_vision.ClipVisionSpec:
  m = model_config
  return clip_vision.ClipVisionSpec(
      image_size=m.clip_image_size, patch_size=m.clip_patch_size, width=m.clip_width,
      layers=m.clip_layers, heads=m.clip_heads, output_dim=m.clip_output_dim)


def clip_inputs(videos: jnp.ndarray, size: int, normalize: bool) -> jnp.ndarray:
  """videos (B, T, H, W, 3) in [-1, 1] -> CLIP inputs (B*T, size, size, 3)."""
  b, t, h, w, c = videos.shape
  frames = (videos.reshape(b * t, h, w, c) + 1.0) / 2.0      # [0, 1]
  frames = jax.image.resize(frames, (b * t, size, size, c), "bilinear", antialias=True)
  return clip_vision.normalize(frames) if normalize else frames


def torch_linear(fan_in: int, fan_out: int, *, rngs: nnx.Rngs) -> nnx.Linear:
  """nn.Linear with PyTorch's default init (weight and bias U(+-1/sqrt(fan_in)))."""
  init = hypernet_lib.torch_bias_init(fan_in)
  return nnx.Linear(fan_in, fan_out, kernel_init=init, bias_init=init, rngs=rngs)


class ClipConditioner(nnx.Module):
  """(videos, table rows) -> hypernetwork input z (B, hn_in)."""

  def __init__(self, model_config: ml_collections.ConfigDict, hn_in: int, *, rngs: nnx.Rngs):
    m = model_config
    self.normalize = m.clip_normalize
    self.clip = clip_vision.ClipVisionTower(clip_spec_from_config(m), rngs=rngs)
    self.gru = gru_lib.GRU(m.clip_output_dim, m.gru_hidden, m.gru_layers,
                           bidirectional=True, dropout_rate=m.gru_dropout, rngs=rngs)
    merge_in = 2 * m.gru_hidden + m.clip_table_dim
    self.merge1 = torch_linear(merge_in, m.clip_merge_hidden, rngs=rngs)
    self.merge2 = torch_linear(m.clip_merge_hidden, hn_in, rngs=rngs)

  def frame_features(self, videos: jnp.ndarray) -> jnp.ndarray:
    """videos (B, T, H, W, 3) in [-1, 1] -> frozen CLIP features (B, T, D)."""
    b, t = videos.shape[:2]
    images = clip_inputs(videos, self.clip.spec.image_size, self.normalize)
    features = jax.lax.stop_gradient(self.clip(images))      # (B*T, D)
    return features.reshape(b, t, -1)

  def descriptor(self, videos: jnp.ndarray, dropout_key: jax.Array | None = None) -> jnp.ndarray:
    """g: (B, T, H, W, 3) -> (B, 2 * gru_hidden), GRU outputs averaged over time."""
    return self.gru(self.frame_features(videos), dropout_key).mean(axis=1)

  def merge(self, g: jnp.ndarray, rows: jnp.ndarray) -> jnp.ndarray:
    """concat(g, e) (B, |g| + |e|) -> z (B, hn_in)."""
    return self.merge2(jax.nn.relu(self.merge1(jnp.concatenate([g, rows], axis=-1))))

  def __call__(self, videos: jnp.ndarray, rows: jnp.ndarray,
               dropout_key: jax.Array | None = None) -> jnp.ndarray:
    """videos (B, T, H, W, 3) in [-1, 1], rows (B, clip_table_dim) -> z (B, hn_in)."""
    return self.merge(self.descriptor(videos, dropout_key), rows)
