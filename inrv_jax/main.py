"""Command line: flags and config -> one call per mode.

  python -m inrv_jax.main --config=configs/quickstart.py --workdir=DIR
  python -m inrv_jax.main --config=configs/faces.py:plain --config.train.num_steps=N ...
  python -m inrv_jax.main --workdir=DIR --mode=sample|interpolate|invert|render|fvd|eval [flags]
  python -m inrv_jax.main --workdir=DIR --mode=fit_prior   (the learned prior, docs/prior.md)

The task modes read the model (and its config) from the trained workdir and
write to DIR/<mode>/; see README "Tasks".
"""

import logging as std_logging
import pathlib
import re
import sys
import traceback
import warnings

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from inrv_jax.runtime import cpu_runtime
from inrv_jax import errors

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file (configs/NAME.py[:variant]); "
                                "needed by --mode=train only.", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and outputs.")
flags.DEFINE_enum("mode", "train", ["train", "sample", "interpolate", "invert", "render", "fvd",
                                    "eval", "fit_prior"],
                  "What to do with the workdir.")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() first (one process "
                  "per host on multi-host GPU/TPU; see launch/).")
flags.DEFINE_string("coordinator_address", None, "--distributed: host:port of process 0's "
                    "coordinator (default: found by JAX on Cloud TPU, SLURM, Open MPI; else "
                    "$JAX_COORDINATOR_ADDRESS).")
flags.DEFINE_integer("num_processes", None, "--distributed: number of processes (default: found "
                     "by JAX, as for --coordinator_address).")
flags.DEFINE_integer("process_id", None, "--distributed: this process's index, 0 to "
                     "num_processes - 1 (default: found by JAX).")
flags.mark_flags_as_required(["workdir"])
# Task modes (inrv_jax/tasks/cli.py).
flags.DEFINE_integer("num", 8, "sample: number of videos.")
flags.DEFINE_string("method", None, "sample: prior (default where the workdir has one), "
                    "gaussian (default otherwise) or slerp_random; "
                    "interpolate: slerp (default) or lerp; fvd: slerp_random (default) or "
                    "gaussian.")
flags.DEFINE_integer("seed", 0, "sample/invert/fvd: random seed.")
flags.DEFINE_list("pairs", None, "interpolate: A:B pairs; each end a training index or a "
                  "video file (inverted first). Default: 3 pairs spread over the dataset.")
flags.DEFINE_integer("steps", 8, "interpolate: videos along each path, ends included.")
flags.DEFINE_list("indices", None, "invert/render: training clips (default 4 spread over "
                  "the dataset).")
flags.DEFINE_list("videos", None, "invert: video files to invert instead of training clips.")
flags.DEFINE_multi_string("mask", None, "invert: an observation mask, repeatable, e.g. "
                          "--mask=full --mask=sparse:fraction=0.25,seed=0 (default: every kind).")
flags.DEFINE_integer("inversion_steps", None, "invert/eval: Adam steps (default 100).")
flags.DEFINE_float("inversion_lr", None, "invert/eval: Adam learning rate on the latents.")
flags.DEFINE_float("inversion_prior", None, "invert/eval: weight of the pull towards the "
                   "training latents' Gaussian (tasks/inversion.py; default "
                   "inversion.DEFAULT_PRIOR_WEIGHT).")
flags.DEFINE_integer("inversion_starts", None, "invert/eval: inversions per video from "
                     "different starting latents, whose renders are averaged (the posterior "
                     "mean; default inversion.DEFAULT_STARTS, or config.prior.inversion_starts "
                     "where the workdir has a learned prior: docs/prior.md).")
flags.DEFINE_enum("inversion_schedule", None, ["constant", "cosine"], "invert/eval: the "
                  "learning rate over the steps: constant (default) or cosine (down to 0 over "
                  "the run; closer fits in long runs, e.g. --inversion_steps=1200).")
flags.DEFINE_integer("inversion_pixels", None, "invert/eval: observed pixels sampled per video "
                     "per step (0 = all).")
flags.DEFINE_string("latents", None, "render: an .npy of latents (n, latent_dim) to render, e.g. "
                    "DIR/invert/latents.npy.")
flags.DEFINE_integer("num_frames", None, "sample/interpolate/invert/render: output frames.")
flags.DEFINE_list("resolution", None, "sample/interpolate/invert/render/fvd: output H,W "
                  "(fvd: of the generated videos; the paper's is 128).")
flags.DEFINE_integer("fvd_videos", None, "fvd: generated videos, and at most as many "
                     "training clips (default 2048); eval: videos per side and run (default "
                     "tasks/evaluate.py FVD_VIDEOS).")
flags.DEFINE_integer("fvd_frames", 16, "fvd: frames per video (the first ones).")
flags.DEFINE_integer("fvd_batch", 8, "fvd: videos per I3D call.")
flags.DEFINE_integer("fvd_runs", 3, "eval: seeded FVD runs (mean ± std; 0 = no FVD).")
flags.DEFINE_string("fvd_real", None, "eval: also FVD against this folder of real videos.")
flags.DEFINE_string("eval_videos", None, "eval: invert (and FVD against) this folder of videos "
                    "instead of the dataset's test split.")
flags.DEFINE_string("data_path", None, "invert/fvd/eval: where the training videos are now "
                    "(a moved folder; default: the config's path, else the recorded one).")
flags.DEFINE_bool("accept_data_change", False, "train/invert/fvd/eval: use the workdir with "
                  "the videos as they are now, though they differ from those it was trained "
                  "on (training clips then resolve through its training_data.json).")
flags.DEFINE_integer("inversion_videos", None, "eval: held-out videos inverted under each mask "
                     "(default tasks/evaluate.py INVERSION_VIDEOS).")


def task_options(mode: str) -> dict:
  """The flags each task mode takes, by name of its cli function argument."""
  size = {"num_frames": FLAGS.num_frames, "resolution": FLAGS.resolution}
  data = {"data_path": FLAGS.data_path, "accept_data_change": FLAGS.accept_data_change}
  return {
      "sample": dict(num=FLAGS.num, method=FLAGS.method, seed=FLAGS.seed, **size),
      "interpolate": dict(pairs=FLAGS.pairs, steps=FLAGS.steps,
                          method=FLAGS.method or "slerp", **size),
      "invert": dict(masks=FLAGS.mask, indices=FLAGS.indices, videos=FLAGS.videos,
                     steps=FLAGS.inversion_steps, learning_rate=FLAGS.inversion_lr,
                     pixels=FLAGS.inversion_pixels, seed=FLAGS.seed,
                     prior_weight=FLAGS.inversion_prior, starts=FLAGS.inversion_starts,
                     schedule=FLAGS.inversion_schedule, **size, **data),
      "render": dict(indices=FLAGS.indices, latents=FLAGS.latents, **size),
      "fvd": dict(num=FLAGS.fvd_videos or 2048, num_frames=FLAGS.fvd_frames,
                  resolution=FLAGS.resolution, method=FLAGS.method or "slerp_random",
                  seed=FLAGS.seed, batch_size=FLAGS.fvd_batch, **data),
      "fit_prior": {},
      "eval": dict(eval_videos=FLAGS.eval_videos, fvd_real=FLAGS.fvd_real,
                   fvd_runs=FLAGS.fvd_runs, fvd_videos=FLAGS.fvd_videos,
                   inversion_videos=FLAGS.inversion_videos, masks=FLAGS.mask,
                   steps=FLAGS.inversion_steps, learning_rate=FLAGS.inversion_lr,
                   pixels=FLAGS.inversion_pixels, seed=FLAGS.seed,
                   resolution=FLAGS.resolution, fvd_batch=FLAGS.fvd_batch,
                   fvd_frames=FLAGS.fvd_frames, prior_weight=FLAGS.inversion_prior,
                   starts=FLAGS.inversion_starts, schedule=FLAGS.inversion_schedule,
                   **data),
  }[mode]


def check_paths(workdir: str) -> None:
  """Raise errors.UserError, before anything is created, for a --config file that
  isn't there or a --workdir that is (or lies under) a file."""
  errors.check_config_file()
  path = pathlib.Path(workdir).expanduser()
  for above in (path, *path.parents):
    if above.exists():
      if not above.is_dir():
        raise errors.UserError(f"--workdir={workdir}: {above} is a file, not a directory")
      return


def run_mode(mode: str, config, workdir: str, **options):
  """Do `mode` on `workdir`: train with `config` (option: accept_data_change), or a task
  with its flag options."""
  if mode == "train":
    if config is None:
      raise errors.UserError(
          f"--workdir={workdir}: --mode=train needs --config=configs/NAME.py (the task modes, "
          "e.g. --mode=sample, read a trained workdir's own config)")
    from inrv_jax.training import train
    return train.train_and_evaluate(config, workdir, **options)
  from inrv_jax.tasks import cli
  if mode not in cli.MODES:
    raise app.UsageError(f"unknown --mode={mode}")
  cli.check_writable(workdir)  # before the work, not after it
  return cli.MODES[mode](workdir, **options)


def explain_flag_error(message: str, argv: list[str]) -> str:
  """A flag error's message, with what a --config.a.b override given without --config
  needs (absl knows no --config.* flags then, and says only "unknown flag")."""
  override = re.search(r"Unknown command line flag '(config\.[\w.]+)'", message)
  if override and not any(a == "--config" or a.startswith("--config=") for a in argv):
    return (f"--{override.group(1)}: a config override needs --config=configs/NAME.py; "
            "the other modes read the config from the workdir (W/config.json)")
  return message


def parse_flags(argv: list[str]) -> list[str]:
  """errors.parse_flags (a bad flag or config as one `error:` line, exit 2, e.g. an
  unknown :variant or a --config.a.b that is no field), with explain_flag_error."""
  return errors.parse_flags(argv, explain_flag_error)


def plain_warning(message, category, filename, lineno, line=None) -> str:
  """A warning as one `warning: <text>` line (no source file and line, no log prefix)."""
  del category, filename, lineno, line
  return f"warning: {message}\n"


def quiet_unraisable(unraisable) -> None:
  """sys.unraisablehook: drop what a failed checkpoint read leaves behind (Orbax's reads
  of the other arrays, finishing after their event loop closed: "Event loop is closed"
  tracebacks under the one warning or error line); anything else as Python prints it."""
  obj, text = unraisable.object, str(unraisable.exc_value)
  code = getattr(obj, "cr_code", None)
  if "Event loop is closed" in text or (code is not None and "orbax" in code.co_filename):
    return
  sys.__unraisablehook__(unraisable)


class DropUnretrievedTaskErrors(std_logging.Filter):
  """asyncio's "<Task|Future|_GatheringFuture> exception was never retrieved" records of
  Orbax's reads dropped: Orbax reads a checkpoint's arrays in concurrent asyncio tasks, and
  when a damaged checkpoint fails one, the others' errors are logged at garbage collection,
  after the one line that reports the damage (the same leftovers quiet_unraisable drops).
  Records of any other code's tasks pass."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    text = str(record.msg)
    if not re.match(r"\w+ exception was never retrieved", text):
      return True
    frames = []
    if record.exc_info and record.exc_info[2] is not None:
      frames = [f.filename for f in traceback.extract_tb(record.exc_info[2])]
    return not any(name in text or any(name in f for f in frames)
                   for name in ("orbax", "tensorstore"))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # Orbax and TFDS are chatty at INFO
  warnings.formatwarning = plain_warning  # what a person must read: plain lines
  sys.unraisablehook = quiet_unraisable
  std_logging.getLogger("asyncio").addFilter(DropUnretrievedTaskErrors())
  if FLAGS.distributed:
    import jax
    jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                               num_processes=FLAGS.num_processes, process_id=FLAGS.process_id)
  try:
    check_paths(FLAGS.workdir)
    options = ({"accept_data_change": FLAGS.accept_data_change} if FLAGS.mode == "train"
               else task_options(FLAGS.mode))
    run_mode(FLAGS.mode, FLAGS.config, FLAGS.workdir, **options)
  except errors.UserError as err:
    errors.exit_with_error(str(err))
  except errors.Stopped as stop:
    print(stop, flush=True)
    sys.exit(0)


if __name__ == "__main__":
  cpu_runtime.use_cpu_settings()  # before JAX starts; may restart with huge pages
  app.run(main, flags_parser=parse_flags)
