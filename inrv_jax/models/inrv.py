"""The INR-V model: a latent table (auto-decoder) feeding the hypernetwork.

`latents(indices)` gives the hypernetwork inputs z of training videos and
`inr_weights(z)` the per-video INR tensors; rendering them is a pure function
in `inr.py`. Conditioning variants (paper Sec. 3.2) plug in between the table
row and z: with conditioning="clip" the table rows are model.clip.table_dim wide and
z = ClipConditioner(videos, row) (see conditioning.py).
"""

import ml_collections
import jax
import jax.numpy as jnp
from flax import nnx

from inrv_jax.models import clip_vision
from inrv_jax.models import conditioning as conditioning_lib
from inrv_jax.models import hypernet as hypernet_lib
from inrv_jax.models import inr as inr_lib


def inr_spec_from_config(model_config: ml_collections.ConfigDict) -> inr_lib.INRSpec:
  """The INR's sizes from the `model.inr` config section (paper: 63 -> 256 x 4 -> 3)."""
  inr = model_config.inr
  return inr_lib.INRSpec(hidden=inr.hidden, hidden_layers=inr.hidden_layers,
                         num_frequencies=inr.num_frequencies,
                         activation=inr.activation, sine_w0=inr.sine_w0)


def _conditioner(model_config: ml_collections.ConfigDict,
                 rngs: nnx.Rngs) -> conditioning_lib.ClipConditioner:
  """The CLIP conditioner, with the pretrained CLIP weights when model.clip.pretrained."""
  clip = model_config.clip
  conditioner = conditioning_lib.ClipConditioner(clip, model_config.latent_dim, rngs=rngs)
  if clip.pretrained:
    clip_vision.load(conditioner.clip, clip.weights)
  return conditioner


def frozen_state(model_config: ml_collections.ConfigDict, seed: int) -> nnx.State:
  """The non-trainable state of INRV(model_config, n, rngs=nnx.Rngs(seed)) (the frozen CLIP
  tower; empty without conditioning), built without the table and the hypernetwork."""
  if model_config.conditioning != "clip":
    return nnx.State({})
  conditioner = _conditioner(model_config, nnx.Rngs(seed))
  flat = nnx.to_flat_state(nnx.state(conditioner, nnx.Not(nnx.Param)))
  return nnx.State.from_flat_path([(("conditioner", *path), v) for path, v in flat])


class INRV(nnx.Module):
  """Latent table (num_videos, table_dim) + hypernetwork."""

  def __init__(self, model_config: ml_collections.ConfigDict, num_videos: int,
               *, rngs: nnx.Rngs):
    if num_videos < 1:
      raise ValueError(f"INR-V needs at least one training video, got {num_videos}")
    self.inr_spec = inr_spec_from_config(model_config)
    self.conditioning = model_config.conditioning
    if self.conditioning not in ("none", "gauss_prior", "clip"):
      raise ValueError(
          f"model.conditioning={self.conditioning!r} is not available; "
          "choose 'none', 'gauss_prior' or 'clip'")
    clip = self.conditioning == "clip"
    # The conditioner draws first from `rngs`, so that frozen_state() can rebuild it alone.
    self.conditioner = _conditioner(model_config, rngs) if clip else None
    table_dim = model_config.clip.table_dim if clip else model_config.latent_dim
    init = hypernet_lib.latent_table_init(model_config.latent_init_std)
    self.latent_table = nnx.Param(init(rngs.params(), (num_videos, table_dim)))
    self.hypernet = hypernet_lib.HyperNetwork(
        self.inr_spec, model_config.latent_dim, model_config.hypernet_hidden,
        model_config.hypernet_hidden_layers, model_config.last_layer_scale, rngs=rngs)

  def latents(self, indices: jnp.ndarray, videos: jnp.ndarray | None = None,
              dropout_key: jax.Array | None = None,
              features: jnp.ndarray | None = None) -> jnp.ndarray:
    """Hypernetwork inputs z for training videos: indices (B,) int -> (B, latent_dim) f32.

    conditioning="clip" only (ignored otherwise): videos (B, T, H, W, 3) in
    [-1, 1], or their frozen CLIP frame features (B, T, D) when already
    computed (equal results); dropout_key: GRU dropout (None = deterministic).
    Raises ValueError with conditioning="clip" and neither videos nor features.
    """
    rows = self.latent_table[...][indices]
    if self.conditioner is None:
      return rows
    if features is not None:
      return self.conditioner.from_features(features, rows, dropout_key)
    if videos is None:
      raise ValueError("conditioning='clip' needs the videos (or their CLIP features) "
                       "to compute latents")
    return self.conditioner(videos, rows, dropout_key)

  def inr_weights(self, z: jnp.ndarray) -> inr_lib.Weights:
    """z (B, latent_dim) -> INR tensors, each (B, *shape)."""
    return self.hypernet(z)

  def all_latents(self) -> jnp.ndarray:
    """(num_videos, latent_dim): the z of every training video, in dataset order."""
    if self.conditioner is not None:
      raise ValueError(
          "conditioning='clip': z depends on each video's frames; use the post-merge z "
          "recorded for each training video during training (or latents(indices, videos))")
    return self.latent_table[...]
