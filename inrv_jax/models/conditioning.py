"""Conditional regularisation (paper Sec. 3.2): z = MLP(concat(g, e)).

e is the video's row of the latent table (`model.clip.table_dim` wide). g describes
the video's frames: each frame, in [0, 1], is resized with anti-aliasing to
the CLIP input size and encoded by a frozen CLIP image encoder; a
bidirectional GRU runs over the T features and its outputs are averaged over
time. The merge MLP is Linear(|g| + |e|, merge_hidden), ReLU,
Linear(merge_hidden, latent_dim). QUIRK (release): frames are not CLIP
mean/std-normalised; `model.clip.normalize=True` applies the standard
normalisation. Every size comes from the `model.clip` config section
(config_defaults.py).
"""

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from inrv_jax.models import clip_vision
from inrv_jax.models import gru as gru_lib
from inrv_jax.models.common import torch_linear


def clip_spec_from_config(clip_config: ml_collections.ConfigDict) -> clip_vision.ClipVisionSpec:
  """The CLIP tower's sizes from the `model.clip` config section."""
  k = clip_config
  return clip_vision.ClipVisionSpec(image_size=k.image_size, patch_size=k.patch_size,
                                    width=k.width, layers=k.layers, heads=k.heads,
                                    output_dim=k.output_dim)


def clip_inputs(videos: jnp.ndarray, size: int, normalize: bool) -> jnp.ndarray:
  """videos (B, T, H, W, 3) in [-1, 1] -> CLIP inputs (B*T, size, size, 3)."""
  b, t, h, w, c = videos.shape
  frames = (videos.reshape(b * t, h, w, c) + 1.0) / 2.0      # [0, 1]
  frames = jax.image.resize(frames, (b * t, size, size, c), "bilinear", antialias=True)
  return clip_vision.normalize(frames) if normalize else frames



class ClipConditioner(nnx.Module):
  """(videos, table rows) -> hypernetwork input z (B, latent_dim).

  clip_config: the `model.clip` config section (sizes of the CLIP tower, GRU
  and merge MLP). The CLIP tower starts random: `clip_vision.load` fills it.
  """

  def __init__(self, clip_config: ml_collections.ConfigDict, latent_dim: int, *,
               rngs: nnx.Rngs):
    k = clip_config
    self.normalize = k.normalize
    self.clip = clip_vision.ClipVisionTower(clip_spec_from_config(k), rngs=rngs)
    self.gru = gru_lib.GRU(k.output_dim, k.gru_hidden, k.gru_layers,
                           bidirectional=True, dropout_rate=k.gru_dropout, rngs=rngs)
    merge_in = 2 * k.gru_hidden + k.table_dim
    self.merge1 = torch_linear(merge_in, k.merge_hidden, rngs=rngs)
    self.merge2 = torch_linear(k.merge_hidden, latent_dim, rngs=rngs)

  def frame_features(self, videos: jnp.ndarray) -> jnp.ndarray:
    """videos (B, T, H, W, 3) in [-1, 1] -> frozen CLIP features (B, T, D)."""
    b, t = videos.shape[:2]
    images = clip_inputs(videos, self.clip.spec.image_size, self.normalize)
    features = jax.lax.stop_gradient(self.clip(images))      # (B*T, D)
    return features.reshape(b, t, -1)

  def descriptor(self, features: jnp.ndarray, dropout_key: jax.Array | None = None) -> jnp.ndarray:
    """g: frame features (B, T, D) -> (B, 2 * gru_hidden), GRU outputs averaged over time."""
    return self.gru(features, dropout_key).mean(axis=1)

  def merge(self, g: jnp.ndarray, rows: jnp.ndarray) -> jnp.ndarray:
    """concat(g, e) (B, |g| + |e|) -> z (B, latent_dim)."""
    return self.merge2(jax.nn.relu(self.merge1(jnp.concatenate([g, rows], axis=-1))))

  def __call__(self, videos: jnp.ndarray, rows: jnp.ndarray,
               dropout_key: jax.Array | None = None) -> jnp.ndarray:
    """videos (B, T, H, W, 3) in [-1, 1], rows (B, clip.table_dim) -> z (B, latent_dim)."""
    return self.from_features(self.frame_features(videos), rows, dropout_key)

  def from_features(self, features: jnp.ndarray, rows: jnp.ndarray,
                    dropout_key: jax.Array | None = None) -> jnp.ndarray:
    """z (B, latent_dim) from frame_features' output (B, T, D) and the table rows.

    The same as __call__ on the videos the features came from: the CLIP tower
    is frozen, so training can compute each video's features once
    (clip_features.py) and skip the tower at every step.
    """
    return self.merge(self.descriptor(features, dropout_key), rows)
