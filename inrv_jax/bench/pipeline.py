"""Input-pipeline benchmark: batches/s delivered vs train steps/s consumed.

  python -m inrv_jax.bench.pipeline --config=configs/faces.py

Writes a small How2Sign-Faces manual directory in the real layout (real
H.264 mp4 clips made from the bundled clips, 2 s at 25 fps, 128x128) to a
temporary directory, prepares it with the config's builder (timed), then
times the input pipeline alone and the jitted train step alone on the
config's batch shape.
"""

import pathlib
import tempfile
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
from ml_collections import config_flags

from inrv_jax import errors
from inrv_jax.runtime import cpu_runtime
from inrv_jax.runtime import parallel
from inrv_jax.training import train
from inrv_jax.data import datasets
from inrv_jax.data import pipeline
from inrv_jax.data.builders import fake_raw

_CONFIG = config_flags.DEFINE_config_file("config", None, "config file", lock_config=False)
_CLIPS = flags.DEFINE_integer("clips", 64, "raw clips to write and prepare")
_BATCHES = flags.DEFINE_integer("batches", 200, "batches to time")
_STEPS = flags.DEFINE_integer("train_steps", 3, "train steps to time (after compiling)")


def time_pipeline(source, config, n: int) -> float:
  batches = pipeline.Batches(source, config.train.batch_size, config.seed, 0,
                             workers=config.data.read_workers)
  for _ in range(5):
    next(batches)
  start = time.perf_counter()
  for _ in range(n):
    next(batches)
  rate = n / (time.perf_counter() - start)
  batches.close()
  return rate


def time_train_step(source, config, n: int) -> float:
  mesh = parallel.make_mesh()
  trainer = train.setup(config, len(source), mesh)
  state, active = trainer.state, jnp.int32(len(source))  # replicated by train.setup
  batches = pipeline.Batches(source, config.train.batch_size, config.seed, 0)
  state, metrics = trainer.step(state, parallel.global_batch(next(batches), mesh),  # compile
                                active)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for _ in range(n):
    state, metrics = trainer.step(state, parallel.global_batch(next(batches), mesh), active)
  jax.block_until_ready(metrics)
  batches.close()
  return n / (time.perf_counter() - start)


def main(argv):
  del argv
  config = _CONFIG.value
  with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    cuts = 4
    fake_raw.write_how2sign(tmp / "raw", videos=_CLIPS.value // cuts, cuts=cuts,
                            num_frames=50, size=128)
    config.data.manual_dir, config.data.dir = str(tmp / "raw"), str(tmp / "prepared")
    start = time.perf_counter()
    source, builder = datasets.prepare(config.data)
    prep = time.perf_counter() - start
    print(f"prepared {len(source)} clips ({builder.info.full_name}) in {prep:.1f} s "
          f"= {len(source) / prep:.1f} clips/s with {config.data.prepare_workers or 'all'} workers")
    shape = source[0]["video"].shape
    batch_rate = time_pipeline(source, config, _BATCHES.value)
    print(f"pipeline: {batch_rate:.1f} batches/s of {config.train.batch_size} x {shape} "
          f"({batch_rate * config.train.batch_size:.1f} clips/s)")
    step_rate = time_train_step(source, config, _STEPS.value)
    print(f"train step ({jax.devices()[0].platform}): {step_rate:.3f} steps/s")
    print(f"pipeline / train step = {batch_rate / step_rate:.0f}x")


if __name__ == "__main__":
  cpu_runtime.use_cpu_settings()  # before JAX starts; may restart with huge pages
  flags.mark_flags_as_required(["config"])
  app.run(main, flags_parser=errors.parse_flags)
