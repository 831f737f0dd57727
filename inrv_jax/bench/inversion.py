"""Benchmark: 32 videos inverted in one vmapped call vs 32 calls of one video.

  python -m inrv_jax.bench.inversion [--workdir=DIR] [--videos=32] [--steps=50]

Without a workdir the quickstart architecture is freshly initialised (speed
does not depend on the weights). The targets are the model's own renders of
sampled latents, inverted under the `full` mask. Both variants are compiled
before timing; the result is one JSON line (the lead's bench can call
`measure`).
"""

import json
import time

import jax
from absl import app
from absl import flags

from inrv_jax import errors
from inrv_jax.runtime import cpu_runtime
from inrv_jax.tasks import inversion
from inrv_jax.tasks import masks as masks_lib
from inrv_jax.tasks import rendering
from inrv_jax.tasks import sampling

FLAGS = flags.FLAGS


def define_flags():  # only when run as a script: importers (the main bench) keep their flags
  flags.DEFINE_string("workdir", None, "Trained workdir (default: fresh quickstart model).")
  flags.DEFINE_integer("videos", 32, "Videos inverted in the batched call.")
  flags.DEFINE_integer("steps", 50, "Adam steps per inversion.")
  flags.DEFINE_integer("pixels", inversion.DEFAULT_PIXELS, "Observed pixels per video per step.")


def fresh_quickstart_model():
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from configs import quickstart  # pylint: disable=import-outside-toplevel
  from inrv_jax import trained_model  # pylint: disable=import-outside-toplevel
  from inrv_jax.models import inrv as inrv_lib  # pylint: disable=import-outside-toplevel
  config = quickstart.get_config()
  module = inrv_lib.INRV(config.model, 30, rngs=nnx.Rngs(0))
  module.latent_table[...] = 0.2 * module.latent_table[...] / config.model.latent_init_std
  return trained_model.from_module(config, module, None)


def _timed(fn) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def measure(model, num_videos: int = 32, steps: int = 50,
            pixels_per_step: int = inversion.DEFAULT_PIXELS) -> dict:
  """Seconds per video: one batched call of num_videos vs num_videos calls of one."""
  z = sampling.sample_latents(jax.random.key(0), num_videos, model.latents)
  targets = rendering.render(model, z, progress=False)
  data = model.config.data
  masks = masks_lib.as_arrays("full", num_videos, data.num_frames, data.height, data.width)

  def run(part):
    latents, _ = inversion.optimise(model, targets[part], masks[part], steps,
                                    pixels_per_step=pixels_per_step, progress=False)
    return latents

  run(slice(0, num_videos)), run(slice(0, 1))  # compile both shapes
  batched = _timed(lambda: run(slice(0, num_videos)))
  single = _timed(lambda: [run(slice(i, i + 1)) for i in range(num_videos)])
  return {"name": "batched_inversion", "videos": num_videos, "steps": steps,
          "pixels_per_step": pixels_per_step,
          "clip": [data.num_frames, data.height, data.width],
          "batched_seconds": batched, "single_calls_seconds": single,
          "batched_seconds_per_video": batched / num_videos,
          "single_seconds_per_video": single / num_videos,
          "speedup": single / batched, "backend": jax.default_backend(),
          "devices": str(jax.devices()[0].device_kind)}


def main(argv):
  del argv
  model = rendering.model_from(workdir=FLAGS.workdir) if FLAGS.workdir else (
      fresh_quickstart_model())
  print(json.dumps(measure(model, FLAGS.videos, FLAGS.steps, FLAGS.pixels)), flush=True)


if __name__ == "__main__":
  cpu_runtime.use_cpu_settings()  # before JAX starts; may restart with huge pages
  define_flags()
  app.run(main, flags_parser=errors.parse_flags)
