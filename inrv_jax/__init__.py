"""inrv_jax: INR-V, a continuous latent space of videos, in JAX/Flax.

  model = inrv_jax.load(workdir)
  videos = inrv_jax.render(model, model.latents[:4], num_frames=32, resolution=(64, 64))
  novel = inrv_jax.sample(jax.random.key(0), 8)           # last loaded model or $INRV_WORKDIR
  path = inrv_jax.interpolate(0, 5, steps=8)              # training videos 0 -> 5
  result = inrv_jax.invert(videos, "inpaint_box")         # latents, renders, PSNR/SSIM
"""

from inrv_jax import hugepages
from inrv_jax import xla_cpu

hugepages.reexec()  # `python -m inrv_jax.*` restarts once with huge pages: see hugepages.py
xla_cpu.apply()  # before anything starts JAX's CPU backend: see xla_cpu.py

# pylint: disable=wrong-import-position
from inrv_jax.tasks.interpolation import interpolate
from inrv_jax.tasks.inversion import invert
from inrv_jax.tasks.masks import MaskSpec
from inrv_jax.tasks.rendering import render
from inrv_jax.tasks.sampling import sample
from inrv_jax.tasks.sampling import fit_prior
from inrv_jax.trained_model import TrainedModel, load

__all__ = ["MaskSpec", "TrainedModel", "fit_prior", "interpolate", "invert", "load", "render",
           "sample"]
