"""The command-line wrappers, one per `--mode` of inrv_jax.main; each writes WORKDIR/<mode>/.

`<mode>_command(workdir, **flags)` loads the workdir's model, calls the public
function of the task (sampling.sample, rendering.render, inversion.invert, ...)
with the flags' values, and writes the results; `MODES` maps each mode to its
wrapper (--mode=eval to evaluate.evaluate, which writes its own report).

Every mode writes <name>.mp4, <name>.gif and <name>.png (a grid) and a JSON
file with what was done and its metrics, and returns that JSON's content.
"""

import pathlib
import resource
import time

import jax
import numpy as np

from inrv_jax.data import cached_arrays
from inrv_jax.training import checkpoints
from inrv_jax import config_check
from inrv_jax import errors
from inrv_jax.evaluation import fvd as fvd_lib
from inrv_jax import learned_prior
from inrv_jax import media
from inrv_jax import trained_model
from inrv_jax.data import datasets
from inrv_jax.evaluation import evaluate as evaluate_lib
from inrv_jax.evaluation import fvd_eval
from inrv_jax.tasks import interpolation
from inrv_jax.tasks import inversion
from inrv_jax.tasks import masks as masks_lib
from inrv_jax.tasks import outputs
from inrv_jax.tasks import rendering
from inrv_jax.tasks import sampling

def check_writable(workdir) -> None:
  """errors.UserError before any work when WORKDIR can't take a mode's outputs (a
  read-only directory or file system, a full disk)."""
  path = pathlib.Path(workdir).expanduser()
  if path.is_dir():
    checkpoints.check_writable(path)


def _not_an_index(text, num_videos: int | None = None) -> errors.UserError:
  """The one error for a bad --indices entry; with the model's clip count when it is known."""
  where = (f"; the model has {num_videos} training clips, 0..{num_videos - 1}"
           if num_videos is not None else " (a whole number >= 0)")
  return errors.UserError(f"--indices: {str(text).strip()!r} is not a training clip index{where}")


def _model_for_indices(workdir, indices):
  """rendering.model_from(workdir=workdir); where that fails, a malformed --indices is
  reported instead (the mistake in the command line comes first)."""
  try:
    return rendering.model_from(workdir=workdir)
  except errors.UserError:
    for text in indices or ():
      if not str(text).strip().isdigit():
        raise _not_an_index(text) from None
    raise


def _indices(model, indices, default_count: int) -> list[int]:
  """--indices (strings) -> training clip indices; default `default_count` spread over
  the dataset. Raises errors.UserError for one that is not an index 0..N-1."""
  if not indices:
    return np.unique(np.linspace(0, model.num_videos - 1, min(default_count, model.num_videos))
                     .round().astype(int)).tolist()
  for text in indices:
    if not str(text).strip().isdigit() or int(text) >= model.num_videos:
      raise _not_an_index(text, model.num_videos)
  return [int(text) for text in indices]


def training_clips(model, indices, data_path: str | None = None,
                   accept_data_change: bool = False) -> np.ndarray:
  """Training clips of the model's dataset, (n, T, H, W, 3) float32 in [0, 1]
  (trained_model.training_source)."""
  return datasets.clips01(trained_model.training_source(model, data_path, accept_data_change), indices)


def sample_command(workdir, num: int = 8, method: str | None = None, seed: int = 0,
                   num_frames: int | None = None, resolution=None) -> dict:
  """--mode=sample: `num` samples (sampling.sample) as sample/samples.* and latents.npy."""
  rendering.parse_resolution(resolution)  # a bad --resolution before the model is loaded
  sampling.check_count(num)  # and a bad --num
  if method is not None:
    sampling.check_method(method)
  model = rendering.model_from(workdir=workdir)
  method = method or sampling.default_method(model)
  videos, z = sampling.sample(jax.random.key(seed), num, model, method=method,
                              num_frames=num_frames,
                              resolution=rendering.parse_resolution(resolution),
                              return_latents=True)
  out = outputs.output_dir(workdir, "sample")
  np.save(out / "latents.npy", z)
  files = media.write_grid_videos(out, "samples", media.grid_rows(videos, min(num, 8)),
                                  model.config.eval.fps, still=media.frame_grid(videos))
  print(f"{num} samples ({method}) -> {out}")
  return outputs.write_json(out, "samples", {
      "method": method, "seed": seed, "num": num, "video_shape": list(videos.shape[1:4]),
      "latent_norm_mean": float(np.linalg.norm(z, axis=1).mean()),
      "training_latent_norm_mean": float(np.linalg.norm(model.latents, axis=1).mean()),
      "files": files})


def _endpoint(model, text: str):
  """'7' -> training index 7; a path -> that video's latent (inverted, `full` mask)."""
  text = text.strip()
  if text.lstrip("-").isdigit():
    return int(text)
  result = inversion.invert(inversion.read_videos([text], model), "full", model, progress=False)
  print(f"{text}: inverted, PSNR {result.metrics['psnr_observed'][0]:.2f} dB")
  return result.latents[0]


def interpolate_command(workdir, pairs=None, steps: int = 8, method: str = "slerp",
                        num_frames: int | None = None, resolution=None) -> dict:
  """--mode=interpolate: one row of `steps` videos per A:B pair (interpolation.interpolate);
  an end is a training index or a video file, inverted first."""
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
        method=method, num_frames=num_frames, resolution=rendering.parse_resolution(resolution)))
  out = outputs.output_dir(workdir, "interpolate")
  files = media.write_grid_videos(out, "interpolation", np.stack(rows), model.config.eval.fps)
  print(f"{len(pairs)} interpolations of {steps} steps ({method}) -> {out}")
  return outputs.write_json(out, "interpolation", {"pairs": list(pairs), "steps": steps,
                                                    "method": method, "files": files})


def invert_command(workdir, masks=None, indices=None, videos=None, steps: int | None = None,
                   learning_rate: float | None = None, pixels: int | None = None, seed: int = 0,
                   num_frames: int | None = None, resolution=None,
                   prior_weight: float | None = None, starts: int | None = None,
                   schedule: str | None = None, data_path: str | None = None,
                   accept_data_change: bool = False) -> dict:
  """--mode=invert: invert training clips (`indices`, default 4 spread over the dataset) or video files
  under every mask (default: one of each kind), all in one vmapped batch; `starts`
  inversions per video, averaged (inversion.invert; default inversion.DEFAULT_STARTS);
  `schedule` of the learning rate (inversion.SCHEDULES; default inversion.DEFAULT_SCHEDULE).
  Training clips are checked against the workdir's record (trained_model.training_source)."""
  inversion.check_starts(starts)  # before the output folder is emptied
  inversion.check_steps(steps)
  inversion.check_schedule(schedule)
  rendering.parse_resolution(resolution)  # a bad --resolution before the model is loaded
  model = _model_for_indices(workdir, indices)
  data = model.config.data
  specs = masks_lib.on_grid(masks or masks_lib.default_specs(), data.num_frames, data.height,
                            data.width)
  if videos:
    names, clips = [str(v) for v in videos], inversion.read_videos(videos, model)
  else:
    chosen = _indices(model, indices, 4)
    names = [f"training clip {i}" for i in chosen]
    clips = training_clips(model, chosen, data_path, accept_data_change)
  clips = inversion.fit_size(clips, data.num_frames, data.height, data.width)
  out = outputs.output_dir(workdir, "invert")  # only once the masks and the clips are checked
  record = inversion.invert_clips(model, out, names, clips, specs, steps, learning_rate, pixels,
                                  seed, num_frames, resolution, prior_weight, starts=starts,
                                  schedule=schedule)
  return outputs.write_json(out, "metrics", record)


def read_npy(path: pathlib.Path | str, what: str) -> np.ndarray:
  """A plain .npy array; never unpickles (allow_pickle=False), so a planted pickle runs
  no code. Raises errors.UserError naming the file when it isn't such an array."""
  try:
    return np.load(path, allow_pickle=False)
  except (OSError, ValueError) as err:  # object arrays need pickle: ValueError
    raise errors.UserError(f"{path}: not a plain NumPy array file ({what}): {err}") from err


def render_command(workdir, indices=None, latents: str | None = None,
                   num_frames: int | None = None, resolution=None,
                   chunk_pixels: int | None = None) -> dict:
  """--mode=render: training latents (`indices`) or a saved latents .npy at any size; default 4x the
  training resolution. Reports time and this process's peak RSS."""
  rendering.parse_resolution(resolution)  # a bad --resolution before the model is loaded
  model = _model_for_indices(workdir, indices)
  if latents:
    if not pathlib.Path(latents).is_file():
      raise errors.UserError(f"{latents}: no such latents file (.npy of shape (n, latent_dim))")
    z, names = read_npy(latents, "latents (n, latent_dim)"), f"rows of {latents}"
  else:
    chosen = _indices(model, indices, 4)
    z, names = model.latents[chosen], [f"training clip {i}" for i in chosen]
  data = model.config.data
  size = rendering.parse_resolution(resolution) or (4 * data.height, 4 * data.width)
  start = time.perf_counter()
  videos = rendering.render(model, z, num_frames, size, chunk_pixels, progress=True)
  seconds = time.perf_counter() - start
  out = outputs.output_dir(workdir, "render")
  files = media.write_grid_videos(out, "render", videos[:, None], model.config.eval.fps,
                                  still=media.frame_grid(videos))
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
  print(f"rendered {videos.shape[0]} video(s) of {videos.shape[1]}x{size[0]}x{size[1]} in "
        f"{seconds:.1f} s, peak RSS {peak:.2f} GiB -> {out}")
  return outputs.write_json(out, "render", {
      "videos": names, "shape": list(videos.shape[1:4]), "seconds": seconds,
      "pixels_per_second": float(videos[..., 0].size / seconds), "peak_rss_gib": peak,
      "chunk_pixels": chunk_pixels or model.config.eval.render_chunk,
      "block_pixels": rendering.BLOCK_PIXELS, "files": files})


def fvd_command(workdir, num: int = fvd_lib.NUM_VIDEOS, num_frames: int = fvd_lib.NUM_FRAMES,
                resolution=None, method: str = "slerp_random", seed: int = 0,
                batch_size: int = 8, data_path: str | None = None,
                accept_data_change: bool = False) -> dict:
  """--mode=fvd: FVD of `num` samples against up to `num` training clips (paper: 2048, 16 frames,
  slerp_random, 128x128). The real clips' I3D features are cached in DIR/fvd/, with a
  checksum (cached_arrays): a damaged cache is computed again."""
  model = rendering.model_from(workdir=workdir)
  source = trained_model.training_source(model, data_path, accept_data_change)
  extractor = fvd_lib.FeatureExtractor(batch_size=batch_size, num_frames=num_frames)
  cache = (pathlib.Path(workdir).expanduser() / "fvd"
           / f"real_features_{min(num, len(source))}x{num_frames}.npy")
  real = cached_arrays.load(cache, "I3D features of the real clips", dtype=np.float64,
                            shape=(min(num, len(source)), None))
  print(fvd_eval.eta_message(num + (0 if real is not None else min(num, len(source)))),
        flush=True)
  result = fvd_eval.model_fvd(model, source, num, num_frames,
                              rendering.parse_resolution(resolution), method, seed, extractor,
                              real)
  out = outputs.output_dir(workdir, "fvd", keep=lambda name: name.startswith("real_features_"))
  if real is None:
    cached_arrays.save(cache, result["real_features"])
  samples = result.pop("samples")
  del result["real_features"]
  files = media.write_grid_videos(out, "fvd_samples", media.grid_rows(samples, len(samples)),
                                  model.config.eval.fps, still=media.frame_grid(samples))
  print(f"FVD {result['fvd']:.2f} ({result['num_generated']} samples vs {result['num_real']} "
        f"training clips, {num_frames} frames) -> {out}")
  return outputs.write_json(out, "fvd", {**result, "real_features_cache": str(cache),
                                         "files": files})


def fit_prior_command(workdir) -> dict:
  """--mode=fit_prior: fit (or refit, or resume) the learned prior on the workdir's latents
  (learned_prior.py), in WORKDIR/prior/, holding the workdir's writer lock
  (checkpoints.writer_lock); a workdir written before priors existed works too."""
  model = rendering.model_from(workdir=workdir)
  config_check.check_prior(model.config)  # one line naming the field, before any work
  out = learned_prior.prior_dir(workdir)
  kept = learned_prior.is_fitted(model.latents, model.config.prior, out, model.config.seed)
  start = time.perf_counter()
  prior = sampling.fit_prior(model, progress=True)
  seconds = time.perf_counter() - start
  if kept:  # a fit is deterministic: the same latents and settings give the same prior
    print(f"the prior in {out} is already fitted on these {model.num_videos} latents with "
          "these settings; kept (change config.prior in config.json, or remove that folder, "
          "to fit another)")
  else:
    print(f"prior fitted on {model.num_videos} latents in {seconds:.1f} s -> {out}")
  return {"num_latents": model.num_videos, "dim": prior.dim, "seconds": seconds,
          "directory": str(out), "kept": kept}


MODES = {"sample": sample_command, "interpolate": interpolate_command,
         "invert": invert_command, "render": render_command, "fvd": fvd_command,
         "eval": evaluate_lib.evaluate, "fit_prior": fit_prior_command}
