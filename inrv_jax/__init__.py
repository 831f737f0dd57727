"""inrv_jax: INR-V, a continuous latent space of videos, in JAX/Flax.

  model = inrv_jax.load(workdir)
  videos = inrv_jax.render(model, model.latents[:4], num_frames=32, resolution=(64, 64))
"""

from inrv_jax.tasks.rendering import render
from inrv_jax.trained_model import TrainedModel, load

__all__ = ["TrainedModel", "load", "render"]
