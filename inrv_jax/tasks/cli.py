"""One function per `--mode` of inrv_jax.main; each writes WORKDIR/<mode>/.

Every mode writes <name>.mp4, <name>.gif and <name>.png (a grid) and a JSON
file with what was done and its metrics, and returns that JSON's content.
"""

import json
import math
import pathlib
import resource
import shutil
import time

import jax
import numpy as np

from inrv_jax import config_check
from inrv_jax import errors
from inrv_jax import fvd as fvd_lib
from inrv_jax import learned_prior
from inrv_jax import media
from inrv_jax.data import datasets
from inrv_jax.tasks import fvd_eval
from inrv_jax.tasks import interpolation
from inrv_jax.tasks import inversion
from inrv_jax.tasks import masks as masks_lib
from inrv_jax.tasks import rendering
from inrv_jax.tasks import sampling

UNOBSERVED_GRAY = 0.5  # how unobserved pixels are drawn in the "observed" panels


def output_dir(workdir, mode: str, keep=lambda name: False) -> pathlib.Path:
  """WORKDIR/<mode>/, emptied of an earlier run's files except those whose name `keep`s
  (so no stale file sits beside the new ones). Called once the inputs are checked."""
  path = pathlib.Path(workdir).expanduser() / mode
  path.mkdir(parents=True, exist_ok=True)
  for old in path.iterdir():
    if keep(old.name):
      continue
    if old.is_dir() and not old.is_symlink():
      shutil.rmtree(old)
    else:
      old.unlink()
  return path


def json_safe(value):
  """JSON-safe: NaN -> None, numpy -> python."""
  if isinstance(value, dict):
    return {k: json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple, np.ndarray)):
    return [json_safe(v) for v in np.asarray(value).tolist()] if isinstance(
        value, np.ndarray) else [json_safe(v) for v in value]
  if isinstance(value, (float, np.floating)):
    return None if math.isnan(value) else round(float(value), 4)
  if isinstance(value, np.integer):
    return int(value)
  return value


def write_json(directory: pathlib.Path, name: str, record: dict) -> dict:
  """Write directory/<name>.json (indented, NaN as null); returns the JSON-safe record."""
  record = json_safe(record)
  (directory / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
  return record


def parse_resolution(resolution) -> tuple[int, int] | None:
  """--resolution as a list (["H", "W"], or one side for both) -> (H, W); None = default.

  Raises errors.UserError for another count or a side below 1.
  """
  if not resolution:
    return None
  values = [int(v) for v in resolution]
  if len(values) == 1:
    values = values * 2
  if len(values) != 2 or min(values) < 1:
    raise errors.UserError(f"--resolution needs H,W (or one size), got {resolution}")
  return tuple(values)


def grid_rows(videos: np.ndarray, columns: int) -> np.ndarray:
  """(n, T, H, W, 3) -> (R, columns, T, H, W, 3), blank (white) cells at the end."""
  rows = -(-len(videos) // columns)
  blank = np.ones((rows * columns - len(videos), *videos.shape[1:]), videos.dtype)
  return np.concatenate([videos, blank]).reshape(rows, columns, *videos.shape[1:])


def write_videos(directory, name, rows: np.ndarray, fps: int, still=None) -> list[str]:
  """rows (R, C, T, H, W, 3) -> a grid video; the still defaults to its first frame."""
  still = media.video_grid(rows[:, :, :1])[0] if still is None else still
  return [str(p) for p in media.write_video_set(directory, name, media.video_grid(rows),
                                                 still, fps)]


def _indices(model, indices, default_count: int) -> list[int]:
  if not indices:
    return np.unique(np.linspace(0, model.num_videos - 1, min(default_count, model.num_videos))
                     .round().astype(int)).tolist()
  out = [int(i) for i in indices]
  for i in out:
    interpolation.endpoint(model, i)  # range check with a clear message
  return out


def training_clips(model, indices) -> np.ndarray:
  """Training clips of the model's dataset, (n, T, H, W, 3) float32 in [0, 1]."""
  return datasets.clips01(datasets.load(model.config.data), indices)


def read_videos(paths, model) -> np.ndarray:
  """Video files -> (n, T', H', W', 3) uint8, the first T frames (inversion.read_video_files)."""
  data = model.config.data
  return inversion.read_video_files(paths, data.num_frames, data.height, data.width)


def sample(workdir, num: int = 8, method: str | None = None, seed: int = 0,
           num_frames: int | None = None, resolution=None) -> dict:
  model = rendering.model_from(workdir=workdir)
  method = method or sampling.default_method(model)
  videos, z = sampling.sample(jax.random.key(seed), num, model, method=method,
                              num_frames=num_frames, resolution=parse_resolution(resolution),
                              return_latents=True)
  out = output_dir(workdir, "sample")
  np.save(out / "latents.npy", z)
  files = write_videos(out, "samples", grid_rows(videos, min(num, 8)), model.config.eval.fps,
                        still=media.frame_grid(videos))
  print(f"{num} samples ({method}) -> {out}")
  return write_json(out, "samples", {
      "method": method, "seed": seed, "num": num, "video_shape": list(videos.shape[1:4]),
      "latent_norm_mean": float(np.linalg.norm(z, axis=1).mean()),
      "training_latent_norm_mean": float(np.linalg.norm(model.latents, axis=1).mean()),
      "files": files})


def _endpoint(model, text: str):
  """'7' -> training index 7; a path -> that video's latent (inverted, `full` mask)."""
  text = text.strip()
  if text.lstrip("-").isdigit():
    return int(text)
  result = inversion.invert(read_videos([text], model), "full", model, progress=False)
  print(f"{text}: inverted, PSNR {result.metrics['psnr_observed'][0]:.2f} dB")
  return result.latents[0]


def interpolate(workdir, pairs=None, steps: int = 8, method: str = "slerp",
                num_frames: int | None = None, resolution=None) -> dict:
  model = rendering.model_from(workdir=workdir)
  if not pairs:
    ends = _indices(model, None, 6)
    pairs = [f"{a}:{b}" for a, b in zip(ends[0::2], ends[1::2])] or ["0:0"]
  rows = []
  for pair in pairs:
    a, sep, b = pair.rpartition(":")
    if not sep or not a or not b:
      raise errors.UserError(f"--pairs: expected A:B (training indices or video paths), "
                             f"got {pair!r}")
    rows.append(interpolation.interpolate(
        _endpoint(model, a), _endpoint(model, b), steps, model,
        method=method, num_frames=num_frames, resolution=parse_resolution(resolution)))
  out = output_dir(workdir, "interpolate")
  files = write_videos(out, "interpolation", np.stack(rows), model.config.eval.fps)
  print(f"{len(pairs)} interpolations of {steps} steps ({method}) -> {out}")
  return write_json(out, "interpolation", {"pairs": list(pairs), "steps": steps,
                                            "method": method, "files": files})


def _observed_view(videos: np.ndarray, masks: np.ndarray) -> np.ndarray:
  return np.where(masks[..., None], videos, UNOBSERVED_GRAY).astype(np.float32)


def invert(workdir, masks=None, indices=None, videos=None, steps: int | None = None,
           learning_rate: float | None = None, pixels: int | None = None, seed: int = 0,
           num_frames: int | None = None, resolution=None,
           prior_weight: float | None = None, starts: int | None = None,
           schedule: str | None = None) -> dict:
  """Invert training clips (`indices`, default 4 spread over the dataset) or video files
  under every mask (default: one of each kind), all in one vmapped batch; `starts`
  inversions per video, averaged (inversion.invert; default inversion.DEFAULT_STARTS);
  `schedule` of the learning rate (inversion.SCHEDULES; default inversion.DEFAULT_SCHEDULE)."""
  inversion.check_starts(starts)  # before the output folder is emptied
  inversion.check_steps(steps)
  inversion.check_schedule(schedule)
  model = rendering.model_from(workdir=workdir)
  specs = [masks_lib.parse(m) for m in masks] if masks else masks_lib.default_specs()
  if videos:
    names, clips = [str(v) for v in videos], read_videos(videos, model)
  else:
    chosen = _indices(model, indices, 4)
    names, clips = [f"training clip {i}" for i in chosen], training_clips(model, chosen)
  data = model.config.data
  clips = inversion.fit_size(clips, data.num_frames, data.height, data.width)
  out = output_dir(workdir, "invert")  # only once the masks and the clips are checked
  record = invert_clips(model, out, names, clips, specs, steps, learning_rate, pixels, seed,
                        num_frames, resolution, prior_weight, starts=starts,
                        schedule=schedule)
  return write_json(out, "metrics", record)


def invert_clips(model, out: pathlib.Path, names: list[str], clips: np.ndarray, masks=None,
                 steps: int | None = None, learning_rate: float | None = None,
                 pixels: int | None = None, seed: int = 0, num_frames: int | None = None,
                 resolution=None, prior_weight: float | None = None,
                 panel_videos: int | None = None, starts: int | None = None,
                 schedule: str | None = None) -> dict:
  """Invert `clips` (n, T', H', W', 3) (uint8 or [0, 1]) under every mask spec of `masks`
  (default: one of each kind) in one vmapped batch, `starts` times each (averaged; see
  inversion.invert), guided by the model's learned prior where it has one
  (inversion.resolve_recipe); write out/latents.npy (with several starts: the best-fitting one's,
  and every start's optimised latent in out/latents_per_start.npy (n, K, D), best-fitting
  first) and, per mask,
  out/<mask>.{mp4,gif,png} panels of the first `panel_videos` clips (None = all of
  them; the metrics always cover all). Returns the record (per-mask mean and per-video
  PSNR/SSIM, observed and unobserved, beside the mean-frame baseline).
  Raises errors.UserError for a bad mask spec, starts, steps or schedule, or clips shorter than
  the model's."""
  specs = [masks_lib.parse(m) for m in masks] if masks else masks_lib.default_specs()
  data = model.config.data
  clips = inversion.fit_size(clips, data.num_frames, data.height, data.width)
  n = len(clips)
  learning_rate = learning_rate or inversion.DEFAULT_LEARNING_RATE
  prior_weight = inversion.DEFAULT_PRIOR_WEIGHT if prior_weight is None else prior_weight
  use_prior, starts, energy_weight = inversion.resolve_recipe(model, None, starts)
  schedule = inversion.check_schedule(schedule)
  start = time.perf_counter()
  result = inversion.invert(
      np.concatenate([clips] * len(specs)), [s for s in specs for _ in range(n)], model,
      steps=steps,
      learning_rate=learning_rate,
      pixels_per_step=inversion.DEFAULT_PIXELS if pixels is None else pixels, key=seed,
      prior_weight=prior_weight, starts=starts, schedule=schedule, use_prior=use_prior,
      energy_weight=energy_weight)
  seconds = time.perf_counter() - start
  np.save(out / "latents.npy", result.latents)
  if starts > 1:
    np.save(out / "latents_per_start.npy", result.latents_per_start)
  size = parse_resolution(resolution)
  renders = result.videos if not (num_frames or size) else inversion.render_mean(
      model, result.latents_per_start, num_frames, size)
  record = {"videos": names, "steps": int(result.losses.shape[0]), "seconds": seconds,
            "learning_rate": learning_rate, "schedule": schedule,
            "prior_weight": prior_weight, "starts": starts, "learned_prior": use_prior,
            "learned_prior_weight": energy_weight,
            "latents_file": str(out / "latents.npy"), "masks": {}}
  fps = model.config.eval.fps
  for k, spec in enumerate(specs):
    part = slice(k * n, (k + 1) * n)
    shown = slice(k * n, k * n + min(n, panel_videos or n))
    panels = np.stack([result.targets[shown], _observed_view(result.targets[shown],
                                                             result.masks[shown]),
                       result.baseline[shown], result.videos[shown]], axis=1)  # (rows, 4, ...)
    media.write_video_set(out, spec.name, media.video_grid(panels),
                          media.frame_grid(panels.reshape(-1, *panels.shape[2:])), fps)
    if renders is not result.videos:
      media.write_video_set(out, f"{spec.name}_render", media.video_grid(renders[shown, None]),
                            media.frame_grid(renders[shown]), fps)
    per_video = {name: values[part] for name, values in result.metrics.items()}
    mean = {name: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
            for name, v in per_video.items()}
    record["masks"][spec.name] = {
        "spec": str(spec), "observed_fraction": float(result.masks[part].mean()),
        "first_loss": float(result.losses[0, part].mean()),
        "final_loss": float(result.losses[-1, part].mean()),
        "mean": mean, "per_video": per_video, "latent_rows": [k * n, (k + 1) * n]}
    unobs = (f", unobserved {mean['psnr_unobserved']:.2f} dB (mean-frame baseline "
             f"{mean['baseline_psnr_unobserved']:.2f} dB)"
             if np.isfinite(mean["psnr_unobserved"]) else "")
    print(f"{spec}: observed {mean['psnr_observed']:.2f} dB{unobs}")
  print(f"{n * len(specs)} inversions" + (f" of {starts} starts each" if starts > 1 else "")
        + f" in {seconds:.1f} s -> {out}")
  record["panels"] = ("per video: input | observed (gray = unobserved) | mean-frame baseline | "
                      "inversion, side by side in the mp4/gif, one under the other in the png")
  return record


def read_npy(path: pathlib.Path | str, what: str) -> np.ndarray:
  """A plain .npy array; never unpickles (allow_pickle=False), so a planted pickle runs
  no code. Raises errors.UserError naming the file when it isn't such an array."""
  try:
    return np.load(path, allow_pickle=False)
  except (OSError, ValueError) as err:  # object arrays need pickle: ValueError
    raise errors.UserError(f"{path}: not a plain NumPy array file ({what}): {err}") from err


def render(workdir, indices=None, latents: str | None = None, num_frames: int | None = None,
           resolution=None, chunk_pixels: int | None = None) -> dict:
  """Training latents (`indices`) or a saved latents .npy at any size; default 4x the
  training resolution. Reports time and this process's peak RSS."""
  model = rendering.model_from(workdir=workdir)
  if latents:
    if not pathlib.Path(latents).is_file():
      raise errors.UserError(f"{latents}: no such latents file (.npy of shape (n, latent_dim))")
    z, names = read_npy(latents, "latents (n, latent_dim)"), f"rows of {latents}"
  else:
    chosen = _indices(model, indices, 4)
    z, names = model.latents[chosen], [f"training clip {i}" for i in chosen]
  data = model.config.data
  size = parse_resolution(resolution) or (4 * data.height, 4 * data.width)
  start = time.perf_counter()
  videos = rendering.render(model, z, num_frames, size, chunk_pixels, progress=True)
  seconds = time.perf_counter() - start
  out = output_dir(workdir, "render")
  files = write_videos(out, "render", videos[:, None], model.config.eval.fps,
                        still=media.frame_grid(videos))
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
  print(f"rendered {videos.shape[0]} videos of {videos.shape[1]}x{size[0]}x{size[1]} in "
        f"{seconds:.1f} s, peak RSS {peak:.2f} GiB -> {out}")
  return write_json(out, "render", {
      "videos": names, "shape": list(videos.shape[1:4]), "seconds": seconds,
      "pixels_per_second": float(videos[..., 0].size / seconds), "peak_rss_gib": peak,
      "chunk_pixels": chunk_pixels or model.config.eval.render_chunk,
      "block_pixels": rendering.BLOCK_PIXELS, "files": files})


def fvd(workdir, num: int = fvd_lib.NUM_VIDEOS, num_frames: int = fvd_lib.NUM_FRAMES,
        resolution=None, method: str = "slerp_random", seed: int = 0,
        batch_size: int = 8) -> dict:
  """FVD of `num` samples against up to `num` training clips (paper: 2048, 16 frames,
  slerp_random, 128x128). The real clips' I3D features are cached in DIR/fvd/."""
  model = rendering.model_from(workdir=workdir)
  source = datasets.load(model.config.data)
  extractor = fvd_lib.FeatureExtractor(batch_size=batch_size, num_frames=num_frames)
  cache = (pathlib.Path(workdir).expanduser() / "fvd"
           / f"real_features_{min(num, len(source))}x{num_frames}.npy")
  real = (read_npy(cache, "cached I3D features of the real clips; delete it to recompute")
          if cache.is_file() else None)
  print(fvd_eval.eta_message(num + (0 if real is not None else min(num, len(source)))),
        flush=True)
  result = fvd_eval.model_fvd(model, source, num, num_frames, parse_resolution(resolution), method,
                              seed, extractor, real)
  out = output_dir(workdir, "fvd", keep=lambda name: name.startswith("real_features_"))
  if real is None:
    np.save(cache, result["real_features"])
  samples = result.pop("samples")
  del result["real_features"]
  files = write_videos(out, "fvd_samples", grid_rows(samples, len(samples)),
                        model.config.eval.fps, still=media.frame_grid(samples))
  print(f"FVD {result['fvd']:.2f} ({result['num_generated']} samples vs {result['num_real']} "
        f"training clips, {num_frames} frames) -> {out}")
  return write_json(out, "fvd", {**result, "real_features_cache": str(cache), "files": files})


def evaluate(workdir, **options) -> dict:
  """--mode=eval: reconstruction, inversion of held-out videos, FVD over seeded runs
  (tasks/evaluate.py, which builds on this module, hence the late import)."""
  from inrv_jax.tasks import evaluate as evaluate_lib  # pylint: disable=import-outside-toplevel
  return evaluate_lib.evaluate(workdir, **options)


def fit_prior(workdir) -> dict:
  """--mode=fit_prior: fit (or refit, or resume) the learned prior on the workdir's latents
  (learned_prior.py), in WORKDIR/prior/; a workdir written before priors existed works too."""
  model = rendering.model_from(workdir=workdir)
  config_check.check_prior(model.config)  # one line naming the field, before any work
  start = time.perf_counter()
  prior = sampling.fit_prior(model, progress=True)
  seconds = time.perf_counter() - start
  out = learned_prior.prior_dir(workdir)
  print(f"prior fitted on {model.num_videos} latents in {seconds:.1f} s -> {out}")
  return {"num_latents": model.num_videos, "dim": prior.dim, "seconds": seconds,
          "directory": str(out)}


MODES = {"sample": sample, "interpolate": interpolate, "invert": invert, "render": render,
         "fvd": fvd, "eval": evaluate, "fit_prior": fit_prior}
