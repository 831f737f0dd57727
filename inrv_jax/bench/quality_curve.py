"""Quality against training time: a table and a plot from trained and evaluated workdirs.

  python -m inrv_jax.bench.quality_curve --workdirs=W15,W30,W60,W120 \
      --out=docs/images/digits_quality_curve.png [--seconds_per_step=S] \
      [--points=docs/images/digits_quality_curve.json --measured="CPU, date"]

Each workdir is one run of a recipe at a different length (e.g. `configs/digits.py:15min`,
the default, `:60min`, `:120min`), trained by `python -m inrv_jax.main` and evaluated by
`--mode=eval`. From each it reads the training steps and the final mean reconstruction
PSNR over all training clips (`metrics.jsonl`, written at the end of training), and from
`eval/report.json` the `full` inversion PSNR of the held-out videos and the FVDs against
them. It prints a Markdown table (RESULTS.md, "Quality against training time") and draws
the two panels of the plot: PSNR (training clips, unseen inversions) and FVD against
steps. `--seconds_per_step` (from `python -m inrv_jax.bench.speed --measure=train`, on
the machine the runs stand for) adds the minutes of training the steps take on that
machine as a second axis. `--points=FILE` keeps the curve between sessions, whose
workdirs do not outlive them: the points it holds (JSON: `read_run`'s fields, less the
workdir, plus "measured": machine and date) are drawn too, and each workdir read
replaces the point of the same number of steps (the file is written back).
"""

import json
import math
import pathlib

from absl import app
from absl import flags

from inrv_jax import errors
from inrv_jax.training import metrics_log

FLAGS = flags.FLAGS
# FVD rows drawn, in the eval report's names (evaluation.evaluate), and their legend.
FVD_CURVES = (("slerp_random", "slerp_random samples"), ("prior", "prior samples"),
              ("train_reconstructions", "training reconstructions"))


def define_flags():
  flags.DEFINE_list("workdirs", [], "Trained and evaluated workdirs, one per run length.")
  flags.DEFINE_string("points", None, "JSON file of the curve's measured points: drawn, and "
                      "updated with the workdirs' points (same steps: replaced).")
  flags.DEFINE_string("measured", "", "Machine and date of the workdirs' runs, stored with "
                      "their points in --points (e.g. 'AMD EPYC Zen 4, 2026-12-07').")
  flags.DEFINE_string("out", None, "PNG to write (its folder must exist); none: table only.")
  flags.DEFINE_float("seconds_per_step", None, "Training seconds per step on the machine "
                     "the runs stand for: adds a minutes axis.")


def read_run(workdir) -> dict:
  """One point of the curve from a workdir trained to the end and evaluated.

  Returns {"workdir", "steps" (int), "train_psnr" (dB, mean over all training clips),
  "train_psnr_min" (dB, the worst clip), "full_psnr" (dB, mean over the eval's held-out
  inversions; None where the eval ran no `full` mask), "fvd" ({name: (mean, std)} against
  the held-out videos; empty for an eval with --fvd_runs=0)}.
  Raises errors.UserError naming the file when metrics.jsonl has no final PSNR (training
  did not finish) or eval/report.json is missing or unreadable.
  """
  workdir = pathlib.Path(workdir)
  metrics_file = workdir / metrics_log.FILE_NAME
  report_file = workdir / "eval" / "report.json"
  try:
    final = metrics_log.final_row(metrics_file)
  except OSError as err:
    raise errors.UserError(f"{metrics_file}: unreadable ({err})") from err
  if final is None:
    raise errors.UserError(f"{metrics_file}: no final_psnr line; train the run to its end")
  try:
    report = json.loads(report_file.read_text())
  except (OSError, ValueError) as err:
    raise errors.UserError(f"{report_file}: unreadable ({err}); run "
                           f"`python -m inrv_jax.main --workdir={workdir} --mode=eval`") from err
  full = report.get("inversion", {}).get("masks", {}).get("full")
  held_out = next(iter((report.get("fvd") or {}).values()), {})  # the first set: held-out videos
  fvd = {name: (v["mean"], v["std"]) for name, v in held_out.items()}
  return {"workdir": str(workdir), "steps": int(final["step"]),
          "train_psnr": float(final["final_psnr"]),
          "train_psnr_min": float(final.get("final_psnr_min", math.nan)),
          "full_psnr": None if full is None else float(full["psnr_observed"]), "fvd": fvd}


def read_points(path) -> list[dict]:
  """The points stored in a --points file ([] when it does not exist yet); each FVD is a
  (mean, std) tuple as `read_run` gives it. Raises errors.UserError naming the file when
  it is not a JSON list of points with "steps", "train_psnr", "train_psnr_min" and
  "full_psnr" (a number or null)."""
  path = pathlib.Path(path)
  if not path.exists():
    return []
  try:
    points = json.loads(path.read_text())
    for point in points:
      numbers = [point["steps"], point["train_psnr"], point["train_psnr_min"]]
      numbers += [] if point["full_psnr"] is None else [point["full_psnr"]]
      [float(number) for number in numbers]  # pylint: disable=expression-not-assigned
      point["fvd"] = {name: tuple(value) for name, value in point.get("fvd", {}).items()}
  except KeyError as err:
    raise errors.UserError(f"{path}: not a list of curve points (a point has no "
                           f"field {err.args[0]!r})") from err
  except (OSError, ValueError, TypeError) as err:
    raise errors.UserError(f"{path}: not a list of curve points ({err!r})") from err
  return points


def merge_points(stored: list[dict], runs: list[dict], measured: str) -> list[dict]:
  """`stored` with each run added, replacing a stored point of the same steps; sorted by
  steps. Each run's point records `measured` (machine, date), not its workdir."""
  by_steps = {int(p["steps"]): p for p in stored}
  for run in runs:
    point = {k: v for k, v in run.items() if k != "workdir"}
    by_steps[run["steps"]] = {**point, "measured": measured}
  return [by_steps[s] for s in sorted(by_steps)]


def table(runs: list[dict]) -> str:
  """The runs as a Markdown table: steps, training PSNR, unseen `full` PSNR, FVDs."""
  def fvd(run, name):
    value = run["fvd"].get(name)
    return f"{value[0]:.1f} ± {value[1]:.1f}" if value else "not measured"
  lines = ["| steps | training clips PSNR (worst) | test `full` inversion | "
           + " | ".join(f"FVD {label}" for _, label in FVD_CURVES) + " |",
           "|---" * (3 + len(FVD_CURVES)) + "|"]
  for run in runs:
    full = "not measured" if run["full_psnr"] is None else f"{run['full_psnr']:.2f} dB"
    lines.append(f"| {run['steps']:,} | {run['train_psnr']:.2f} dB ({run['train_psnr_min']:.2f}) "
                 f"| {full} | " + " | ".join(fvd(run, n) for n, _ in FVD_CURVES) + " |")
  return "\n".join(lines)


def plot(runs: list[dict], path, seconds_per_step: float | None = None,
         title: str = "quality against training time") -> pathlib.Path:
  """Write a PNG of two panels, PSNR (dB) and FVD against training steps (log scale),
  with a minutes axis when `seconds_per_step` is given. Returns the path."""
  # A bare Figure, not pyplot: no global backend switch (as media.loss_curve)
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  runs = sorted(runs, key=lambda r: r["steps"])
  steps = [r["steps"] for r in runs]
  fig = Figure(figsize=(10, 4), dpi=100)
  psnr_ax, fvd_ax = fig.subplots(1, 2)
  psnr_ax.plot(steps, [r["train_psnr"] for r in runs], "o-", label="training clips, reconstructed")
  inverted = [(r["steps"], r["full_psnr"]) for r in runs if r["full_psnr"] is not None]
  if inverted:
    psnr_ax.plot(*zip(*inverted), "s-", label="unseen test videos, full inversion")
  psnr_ax.set_ylabel("PSNR (dB)")
  for name, label in FVD_CURVES:
    points = [(r["steps"], *r["fvd"][name]) for r in runs if name in r["fvd"]]
    if points:
      x, mean, std = zip(*points)
      fvd_ax.errorbar(x, mean, yerr=std, fmt="o-", capsize=3, label=label)
  fvd_ax.set_ylabel("FVD against the test split (lower is better)")
  for ax in (psnr_ax, fvd_ax):
    ax.set_xscale("log", base=2)
    ax.set_xticks(steps, [f"{s / 1000:g}k" if s >= 1000 else str(s) for s in steps])
    ax.minorticks_off()
    ax.set_xlabel("training steps")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if seconds_per_step:
      top = ax.secondary_xaxis("top", functions=(lambda s: s * seconds_per_step / 60,
                                                 lambda m: m * 60 / seconds_per_step))
      top.set_xticks([s * seconds_per_step / 60 for s in steps],
                     [f"{s * seconds_per_step / 60:.0f}" for s in steps])
      top.minorticks_off()
      top.set_xlabel("minutes of training steps")
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path)
  return pathlib.Path(path)


def main(argv):
  del argv
  with errors.exit_on_user_error():
    if not FLAGS.workdirs and not FLAGS.points:
      raise errors.UserError("give --workdirs, --points or both")
    if FLAGS.workdirs and FLAGS.points and not FLAGS.measured:
      raise errors.UserError("--measured: say the machine and date of the workdirs' runs, "
                             "stored with their points in --points")
    runs = [read_run(w) for w in FLAGS.workdirs]
    if FLAGS.points:
      if not FLAGS.workdirs and not pathlib.Path(FLAGS.points).is_file():
        raise errors.UserError(f"{FLAGS.points}: no such points file (and no --workdirs to "
                               "start one with): nothing to draw")
      runs = merge_points(read_points(FLAGS.points), runs, FLAGS.measured)
      if FLAGS.workdirs:  # the file changes only with new points
        pathlib.Path(FLAGS.points).write_text(json.dumps(runs, indent=1) + "\n")
    print(table(runs))
    if FLAGS.out:
      print(f"-> {plot(runs, FLAGS.out, FLAGS.seconds_per_step)}")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=errors.parse_flags)
