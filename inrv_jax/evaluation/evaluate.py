"""--mode=eval: does the learned latent space work on videos it never saw? (paper Sec. 5)

One command on a trained workdir writes DIR/eval/report.json, prints a table
and writes pictures:
  reconstruction  PSNR/SSIM of training videos rendered from their latents
  inversion       held-out videos (the dataset's `test` split, or a folder:
                  --eval_videos=DIR) inverted under every mask kind, PSNR/SSIM
                  on observed and unobserved pixels beside the mean-frame
                  baseline (tasks/inversion.py)
  FVD             samples (gaussian, slerp_random, and prior where the model
                  has a learned prior) against the held-out videos
                  (and against --fvd_real=DIR), next to two references on the
                  same real set: the training videos' reconstructions and the
                  training videos themselves; each as mean and std over
                  `fvd_runs` seeded runs (run r draws its samples and its
                  training videos from seed (seed, r)); the held-out real set
                  is the same in every run.
  novelty         for the prior's samples and for the held-out videos'
                  inversions: the PSNR of each to its nearest training video's
                  render, and the fraction above COPY_PSNR dB ("copies")
  pictures        samples.*, interpolation.* (between two held-out videos
                  after inverting them), inversion/<mask>.* panels (the first
                  PANEL_VIDEOS held-out videos).
With fewer than 2,048 videos a side the FVD is biased upwards (400-d I3D
features): compare numbers of the same report, not with the paper's.
"""

import pathlib
import time

import jax
import numpy as np

from inrv_jax import errors
from inrv_jax.evaluation import fvd as fvd_lib
from inrv_jax import media
from inrv_jax.evaluation import metrics
from inrv_jax import trained_model
from inrv_jax.data import datasets
from inrv_jax.data.builders import video_folder
from inrv_jax.evaluation import fvd_eval
from inrv_jax.tasks import interpolation
from inrv_jax.tasks import inversion
from inrv_jax.tasks import masks as masks_lib
from inrv_jax.tasks import outputs
from inrv_jax.tasks import rendering
from inrv_jax.tasks import sampling

FVD_VIDEOS = 256         # videos per side and run (RESULTS.md gives the cost)
FVD_RUNS = 3             # seeded FVD runs
INVERSION_VIDEOS = 64    # held-out videos inverted under each mask
INTERPOLATION_STEPS = 8  # videos along the path between two inverted held-out videos
PANEL_VIDEOS = 8        # rows of each inversion/<mask>.* panel (the metrics cover every video)
REFERENCES = ("train_reconstructions", "train_videos")
KINDS = (*sampling.METHODS, *REFERENCES)
NOVELTY_SAMPLES = 64   # prior samples whose nearest training video is looked for
NOVELTY_CANDIDATES = 8  # nearest training latents rendered per sample (the nearest render wins)
COPY_PSNR = 30.0        # dB to the nearest training video above which a sample is a copy
# Rough costs on 2 idle CPU cores, for the ETA printed before starting.
INVERSION_SECONDS_PER_VIDEO = 0.5  # 100 Adam steps of one video, in a batch
FIXED_SECONDS = 90  # compiling the I3D, the sampler and the inverter


def folder_videos(directory: str, model) -> tuple[list[str], np.ndarray]:
  """Every video file of `directory` -> names and (n, T, H, W, 3) uint8, first T frames,
  resized to the model's size when sizes differ. Raises errors.UserError naming the
  folder when it has no video file, or a file shorter than the model's T frames."""
  try:
    paths = video_folder.list_videos(pathlib.Path(directory).expanduser())
  except errors.DataError as err:
    raise errors.UserError(str(err)) from err
  videos = inversion.read_videos(paths, model)
  return [str(p) for p in paths], np.asarray(videos)


def held_out_videos(model, eval_videos: str | None) -> tuple[str, list[str], np.ndarray]:
  """(what, names, videos (n, T, H, W, 3) uint8): the folder `eval_videos`, else the
  dataset's `test` split. Raises errors.UserError when there is neither."""
  if eval_videos:
    names, videos = folder_videos(eval_videos, model)
    return eval_videos, names, videos
  try:
    source = datasets.load(model.config.data, split="test")
  except errors.DataError as err:
    raise errors.UserError(f"{err}\nor pass --eval_videos=DIR (a folder of videos the model "
                           "never saw)") from err
  videos = np.stack([np.asarray(source[i]["video"]) for i in range(len(source))])
  return "test split", [f"test video {i}" for i in range(len(source))], videos


def spread(videos: np.ndarray, count: int) -> np.ndarray:
  """min(count, n) of videos (n, ...) spread evenly over them (fvd_eval.real_indices)."""
  return videos[fvd_eval.real_indices(len(videos), count)]


def reconstruction_scores(model, source, count: int) -> dict:
  """PSNR (dB) and SSIM of `count` training videos spread over `source`, rendered from
  their latents at the training size ([0, 1] range, metrics.psnr / metrics.ssim)."""
  indices = fvd_eval.real_indices(len(source), count)
  psnr, ssim = [], []
  for start in range(0, len(indices), 16):
    part = indices[start:start + 16]
    truth = datasets.clips01(source, part)
    recon = rendering.render(model, model.latents[part], progress=False)
    psnr.append(metrics.psnr(recon, truth))
    ssim.append(metrics.ssim(recon, truth))
  psnr, ssim = np.concatenate(psnr), np.concatenate(ssim)
  return {"num_videos": len(indices), "psnr": float(psnr.mean()), "psnr_min": float(psnr.min()),
          "ssim": float(ssim.mean())}


def run_seed(seed: int, run: int) -> int:
  """The seed of FVD run `run` (independent streams for every (seed, run))."""
  return int(np.random.default_rng([seed, run]).integers(2**31 - 1))


def generated_kind_features(model, source, kind: str, count: int, seed: int,
                            extractor: fvd_lib.FeatureExtractor, resolution,
                            cache: dict) -> tuple[np.ndarray, np.ndarray]:
  """I3D features (n, 400) of one kind of generated set for one run, and up to 8 videos.

  kind: a sampling method (`count` samples from `seed`), "train_reconstructions" or
  "train_videos" (min(count, N) training videos drawn without replacement from `seed`;
  their features are cached per video in `cache`).
  """
  if kind in sampling.METHODS:
    return fvd_eval.generated_features(model, count, extractor, kind, seed, resolution,
                                       progress=False)
  rng = np.random.default_rng(seed)
  indices = np.sort(rng.choice(len(source), min(count, len(source)), replace=False))
  todo = [int(i) for i in indices if (kind, int(i)) not in cache]
  if todo:
    if kind == "train_videos":
      videos = np.stack([np.asarray(source[i]["video"]) for i in todo])
    else:
      videos = rendering.render(model, model.latents[todo], None, resolution, progress=False)
    for i, feature in zip(todo, extractor(videos)):
      cache[(kind, i)] = feature
  return np.stack([cache[(kind, int(i))] for i in indices]), np.zeros((0,))


def fvd_over_runs(model, source, real_sets: dict[str, np.ndarray], count: int, runs: int,
                  seed: int, extractor: fvd_lib.FeatureExtractor, resolution=None,
                  kinds=KINDS) -> tuple[dict, dict]:
  """FVD of every kind against every real set: {real set: {kind: {"mean", "std", "runs",
  "num_generated", "num_real"}}}, and the first samples of run 0 per sampling method.

  real_sets: name -> real I3D features (n, 400), the same in every run. Run r uses
  run_seed(seed, r) for its samples and its training videos. Same arguments, same
  numbers. Raises errors.UserError for count < 2 or runs < 1.
  """
  if count < 2 or runs < 1:
    raise errors.UserError(f"FVD needs >= 2 videos per side and >= 1 run, got "
                           f"--fvd_videos={count} --fvd_runs={runs}")
  values = {name: {kind: [] for kind in kinds} for name in real_sets}
  sizes, samples, cache = {}, {}, {}
  for run in range(runs):
    for kind in kinds:
      features, kept = generated_kind_features(model, source, kind, count, run_seed(seed, run),
                                               extractor, resolution, cache)
      sizes[kind] = len(features)
      if run == 0 and len(kept):
        samples[kind] = kept
      for name, real in real_sets.items():
        values[name][kind].append(fvd_lib.distance_between_features(real, features))
  report = {name: {kind: {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": v,
                          "num_generated": sizes[kind], "num_real": len(real_sets[name])}
                   for kind, v in per_kind.items()}
            for name, per_kind in values.items()}
  return report, samples


def nearest_training_psnr(model, z: np.ndarray, candidates: int = NOVELTY_CANDIDATES,
                          batch: int = 16) -> np.ndarray:
  """PSNR (n,) float64 in dB of the renders of latents z (n, D) to their nearest training
  video's render (training size, [0, 1]).

  The nearest is looked for among the `candidates` training latents nearest to
  each z (Euclidean, per dimension scaled by the training latents' std), so
  n * (candidates + 1) videos are rendered rather than every training video.
  """
  latents = np.asarray(model.latents, np.float32)
  scale = np.maximum(latents.std(axis=0), 1e-12)
  out = []
  for start in range(0, len(z), batch):
    part = np.asarray(z[start:start + batch], np.float32)
    dist = (((part[:, None] - latents[None]) / scale) ** 2).sum(axis=-1)  # (b, N)
    near = np.argsort(dist, axis=1)[:, :candidates]  # (b, k)
    renders = rendering.render(model, part, progress=False)  # (b, T, H, W, 3)
    cands = rendering.render(model, latents[near.reshape(-1)], progress=False)
    cands = cands.reshape(len(part), near.shape[1], *cands.shape[1:])
    psnr = np.stack([metrics.psnr(cands[:, j], renders) for j in range(near.shape[1])], axis=1)
    out.append(psnr.max(axis=1))
  return np.concatenate(out)


def novelty_scores(psnr: np.ndarray) -> dict:
  """Summary of nearest-training-video PSNRs (n,): mean, median, min, max (dB) and the
  fraction above COPY_PSNR (copies)."""
  return {"num_videos": len(psnr), "psnr_mean": float(psnr.mean()),
          "psnr_median": float(np.median(psnr)), "psnr_min": float(psnr.min()),
          "psnr_max": float(psnr.max()), "copies_fraction": float((psnr > COPY_PSNR).mean()),
          "copy_psnr": COPY_PSNR}


def novelty(model, inverted: np.ndarray, seed: int) -> dict:
  """{"prior_samples", "test_inversions"}: novelty_scores of NOVELTY_SAMPLES prior samples
  (seeded by `seed`) and of the held-out videos' inverted latents `inverted` (n, D)."""
  samples = sampling.sample_latents(jax.random.key(seed), NOVELTY_SAMPLES, model.latents,
                                    "prior", model.prior)
  return {"prior_samples": novelty_scores(nearest_training_psnr(model, samples)),
          "test_inversions": novelty_scores(nearest_training_psnr(model, inverted))}


def _write_pictures(model, out: pathlib.Path, samples: dict, clips: np.ndarray):
  """samples.* (one row per sample, by method in the order of KINDS) and interpolation.* (the
  first two held-out videos, inverted with the first mask, and the slerp path between)."""
  fps = model.config.eval.fps
  if samples:
    videos = np.concatenate(list(samples.values()))
    media.write_grid_videos(out, "samples", media.grid_rows(videos, 8), fps,
                            still=media.frame_grid(videos))
  latents = np.load(out / "inversion" / "latents.npy")
  if len(clips) >= 2:
    path = interpolation.interpolate(latents[0], latents[1], INTERPOLATION_STEPS, model)
    ends = inversion.fit_size(clips[:2], *path.shape[1:4])
    row = np.concatenate([ends[:1], path, ends[1:]])  # truth a | path | truth b
    media.write_grid_videos(out, "interpolation", row[None], fps,
                            still=media.frame_grid(row))


def _table(report: dict) -> str:
  inv = report["inversion"]
  lines = [f"reconstruction of {report['reconstruction']['num_videos']} training videos: "
           f"PSNR {report['reconstruction']['psnr']:.2f} dB, "
           f"SSIM {report['reconstruction']['ssim']:.3f}",
           f"inversion of {inv['num_videos']} videos ({inv['videos']}), {inv['steps']} Adam "
           f"steps at lr {inv['learning_rate']:g} ({inv['schedule']})"
           + (f", mean of {inv['starts']} starts each:" if inv['starts'] > 1 else ":"),
           f"  {'mask':<22} {'observed':>16} {'unobserved':>16} {'baseline unobs.':>16}"]
  for name, m in inv["masks"].items():
    cell = lambda p, s: "-" if p is None or not np.isfinite(p) else f"{p:6.2f} dB {s:5.3f}"
    lines.append(f"  {name:<22} {cell(m['psnr_observed'], m['ssim_observed']):>16} "
                 f"{cell(m['psnr_unobserved'], m['ssim_unobserved']):>16} "
                 f"{cell(m['baseline_psnr_unobserved'], m['baseline_ssim_unobserved']):>16}")
  for name, v in report.get("novelty", {}).items():
    lines.append(f"PSNR to the nearest training video, {name}: mean {v['psnr_mean']:.2f} dB, "
                 f"max {v['psnr_max']:.2f} dB, copies (> {v['copy_psnr']:g} dB) "
                 f"{100 * v['copies_fraction']:.1f}% of {v['num_videos']}")
  for name, per_kind in report.get("fvd", {}).items():
    lines.append(f"FVD against {name} (mean ± std over {report['fvd_runs']} runs):")
    for kind, v in per_kind.items():
      lines.append(f"  {kind:<22} {v['mean']:10.2f} ± {v['std']:<8.2f} "
                   f"({v['num_generated']} vs {v['num_real']} videos)")
  return "\n".join(lines)


def evaluate(workdir, eval_videos: str | None = None, fvd_real: str | None = None,
             fvd_runs: int = FVD_RUNS, fvd_videos: int | None = None,
             inversion_videos: int | None = None, masks=None, steps: int | None = None,
             learning_rate: float | None = None, pixels: int | None = None, seed: int = 0,
             resolution=None, fvd_batch: int = 8, fvd_frames: int = fvd_lib.NUM_FRAMES,
             prior_weight: float | None = None, starts: int | None = None,
             schedule: str | None = None, data_path: str | None = None,
             accept_data_change: bool = False) -> dict:
  """Write DIR/eval/report.json, the pictures, and print the table; returns the report.

  The training clips are checked against the workdir's record first (trained_model.training_source:
  data_path, accept_data_change).

  fvd_runs=0 skips FVD (reconstruction and inversion only); fvd_videos and
  inversion_videos default to FVD_VIDEOS and INVERSION_VIDEOS. Raises errors.UserError
  when there are no held-out videos (no test split and no --eval_videos), a folder
  has no video, the model's clips are shorter than `fvd_frames`, a mask is malformed or
  off the model's grid, or starts, steps, schedule or resolution are bad: all before
  DIR/eval/ (the last eval's files) is emptied.
  """
  if starts is not None:
    inversion.check_starts(starts)  # before the eval folder is emptied
  steps, schedule = inversion.check_steps(steps), inversion.check_schedule(schedule)
  fvd_videos = fvd_videos or FVD_VIDEOS
  inversion_videos = inversion_videos or INVERSION_VIDEOS
  model = rendering.model_from(workdir=workdir)
  starts = inversion.resolve_recipe(model, None, starts)[1]  # the prior's default with one
  data = model.config.data
  specs = masks_lib.on_grid(masks or masks_lib.default_specs(), data.num_frames, data.height,
                            data.width)
  size = rendering.parse_resolution(resolution)
  if fvd_runs and data.num_frames < fvd_frames:
    raise errors.UserError(f"FVD over {fvd_frames} frames needs videos that long; this "
                           f"model's clips have {data.num_frames}")
  source = trained_model.training_source(model, data_path, accept_data_change)
  what, names, clips = held_out_videos(model, eval_videos)
  real_videos = folder_videos(fvd_real, model)[1] if fvd_runs and fvd_real else None
  out = outputs.output_dir(workdir, "eval")  # only once everything above is checked
  chosen = fvd_eval.real_indices(len(clips), inversion_videos)
  kinds = tuple(k for k in KINDS if k != "prior" or model.prior is not None)
  methods = sum(k in sampling.METHODS for k in kinds)  # the references are cached per video
  i3d_videos = fvd_runs and (min(fvd_videos, len(clips)) + methods * fvd_runs * fvd_videos
                             + 2 * min(fvd_videos * fvd_runs, len(source)))
  eta = (FIXED_SECONDS + i3d_videos * fvd_eval.I3D_SECONDS_PER_VIDEO
         + len(chosen) * len(specs) * INVERSION_SECONDS_PER_VIDEO * steps / 100
         * starts)
  print(f"eval: {len(chosen)} videos x {len(specs)} masks to invert, about {i3d_videos} videos "
        f"through I3D; about {max(1, round(eta / 60))} min on 2 idle CPU cores"
        + (" (long: lower --fvd_videos or --fvd_runs for a quicker look)" if eta > 600 else ""))
  report = {"workdir": str(workdir), "held_out": what, "seed": seed, "fvd_runs": fvd_runs,
            "seconds": {}, "cost_per_100_videos_seconds": {}}
  start = time.perf_counter()
  report["reconstruction"] = reconstruction_scores(model, source, fvd_videos)
  report["seconds"]["reconstruction"] = time.perf_counter() - start

  start = time.perf_counter()
  (out / "inversion").mkdir(exist_ok=True)
  record = inversion.invert_clips(model, out / "inversion", [names[i] for i in chosen],
                                  clips[chosen], specs, steps, learning_rate, pixels, seed,
                                  prior_weight=prior_weight, panel_videos=PANEL_VIDEOS,
                                  starts=starts, schedule=schedule)
  report["seconds"]["inversion"] = seconds = time.perf_counter() - start
  report["cost_per_100_videos_seconds"]["inversion"] = 100 * seconds / (len(chosen) * len(specs))
  report["inversion"] = {"videos": what, "num_videos": len(chosen),
                         "steps": record["steps"], "starts": record["starts"],
                         "learning_rate": record["learning_rate"],
                         "schedule": record["schedule"],
                         "learned_prior": record["learned_prior"],
                         "learned_prior_weight": record["learned_prior_weight"],
                         "panels": record["panels"],
                         "masks": {name: {"spec": m["spec"],
                                          "observed_fraction": m["observed_fraction"], **m["mean"]}
                                   for name, m in record["masks"].items()}}
  if model.prior is not None:
    start = time.perf_counter()
    rows = record["masks"].get("full", next(iter(record["masks"].values())))["latent_rows"]
    inverted = np.load(out / "inversion" / "latents.npy")[rows[0]:rows[1]]
    report["novelty"] = novelty(model, inverted, seed)
    report["seconds"]["novelty"] = time.perf_counter() - start
  samples = {}
  if fvd_runs:
    start = time.perf_counter()
    extractor = fvd_lib.FeatureExtractor(batch_size=fvd_batch, num_frames=fvd_frames)
    real_sets = {f"held-out ({what})": extractor(spread(clips, fvd_videos))}
    if real_videos is not None:
      real_sets[f"fvd_real ({fvd_real})"] = extractor(spread(real_videos, fvd_videos))
    report["fvd"], samples = fvd_over_runs(model, source, real_sets, fvd_videos, fvd_runs, seed,
                                           extractor, size, kinds)
    report["seconds"]["fvd"] = seconds = time.perf_counter() - start
    used = sum(len(f) for f in real_sets.values()) + sum(
        v["num_generated"] * fvd_runs for v in next(iter(report["fvd"].values())).values())
    report["cost_per_100_videos_seconds"]["fvd"] = 100 * seconds / used
  _write_pictures(model, out, samples, clips[chosen])
  print(_table(outputs.json_safe(report)))
  print(f"-> {out}")
  return outputs.write_json(out, "report", report)
