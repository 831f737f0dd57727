"""inrv_jax: INR-V, a continuous latent space of videos, in JAX/Flax.

  model = inrv_jax.load(workdir)
  videos = inrv_jax.render(model, model.latents[:4], num_frames=32, resolution=(64, 64))
  novel = inrv_jax.sample(jax.random.key(0), 8)           # last loaded model or $INRV_WORKDIR
  path = inrv_jax.interpolate(0, 5, steps=8)              # training videos 0 -> 5
  result = inrv_jax.invert(videos, "inpaint_box")         # latents, renders, PSNR/SSIM

Importing the package changes nothing in the process. On a CPU, call
`inrv_jax.use_cpu_settings()` before the first JAX computation for this CPU's
XLA flags (the `python -m inrv_jax.*` commands do it themselves).

The public names are imported on first use, so that `import inrv_jax` stays
light and a command can apply its runtime settings before JAX is loaded.
"""

import importlib
import typing

# public name -> the module that defines it
_PUBLIC = {
    "MaskSpec": "inrv_jax.tasks.masks",
    "TrainedModel": "inrv_jax.trained_model",
    "fit_prior": "inrv_jax.tasks.sampling",
    "interpolate": "inrv_jax.tasks.interpolation",
    "invert": "inrv_jax.tasks.inversion",
    "load": "inrv_jax.trained_model",
    "render": "inrv_jax.tasks.rendering",
    "sample": "inrv_jax.tasks.sampling",
    "use_cpu_settings": "inrv_jax.runtime.cpu_runtime",
}

__all__ = sorted(_PUBLIC)

if typing.TYPE_CHECKING:  # the same names, for type checkers and editors
  from inrv_jax.runtime.cpu_runtime import use_cpu_settings
  from inrv_jax.tasks.interpolation import interpolate
  from inrv_jax.tasks.inversion import invert
  from inrv_jax.tasks.masks import MaskSpec
  from inrv_jax.tasks.rendering import render
  from inrv_jax.tasks.sampling import fit_prior, sample
  from inrv_jax.trained_model import TrainedModel, load


def __getattr__(name: str):
  """`inrv_jax.<public name>`: import its module once and keep the value."""
  if name not in _PUBLIC:
    raise AttributeError(f"module 'inrv_jax' has no attribute {name!r}")
  value = getattr(importlib.import_module(_PUBLIC[name]), name)
  globals()[name] = value
  return value


def __dir__() -> list[str]:
  return sorted(set(globals()) | set(_PUBLIC))
