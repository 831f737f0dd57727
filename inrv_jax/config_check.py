"""A training config checked before any work: one errors.UserError per mistake, naming
the field (as --config.a.b) and the values it allows.

`check(config, num_devices)` is called first thing by train.train_and_evaluate,
before anything is created on disk, data is prepared or a step is compiled.
"""

import ml_collections

from inrv_jax import errors

# The values each enum field allows; losses.py, models/inrv.py and models/inr.py
# implement exactly these.
CHOICES = {
    "train.loss": ("l1", "mse", "weighted_mse"),
    "model.conditioning": ("none", "gauss_prior", "clip"),
    "model.inr.activation": ("relu", "sine"),
    "model.compute_dtype": ("float32", "bfloat16", "float16"),
    "prior.solver": ("euler", "midpoint", "heun"),  # models/prior.py SOLVERS
    "prior.time_sampling": ("uniform", "logit_normal"),  # models/prior.py TIME_SAMPLINGS
    "train.pixel_sampling": ("uniform", "importance"),
    "train.lr_schedule": ("constant", "cosine"),
}


def _get(config: ml_collections.ConfigDict, field: str):
  value = config
  for key in field.split("."):
    value = value[key]
  return value


def _refuse(field: str, value, allowed: str) -> errors.UserError:
  return errors.UserError(f"--config.{field}={value!r}: {allowed}")


def check(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Raise errors.UserError for the first field of `config` that can't work.

  num_devices: devices on the data axis (train.batch_size must split over them).
  """
  for field, allowed in CHOICES.items():
    value = _get(config, field)
    if value not in allowed:
      raise _refuse(field, value, "must be one of " + ", ".join(map(repr, allowed)))
  t = config.train
  _check_stages(t.stages, t.stage_lr_scales)
  if not isinstance(t.batch_size, int) or t.batch_size < 1 or t.batch_size % num_devices:
    raise _refuse("train.batch_size", t.batch_size,
                  f"must be a positive multiple of the {num_devices} devices it is split over")
  if not 0.0 < t.pixel_fraction <= 1.0:
    raise _refuse("train.pixel_fraction", t.pixel_fraction, "must be in (0, 1]")
  if t.lpips_weight > 0 and t.pixel_fraction < 1.0:
    raise _refuse("train.pixel_fraction", t.pixel_fraction,
                  "LPIPS (train.lpips_weight > 0) needs whole frames: set it to 1.0, "
                  "or set train.lpips_weight=0")
  if not 0.0 < t.importance_mix <= 1.0:
    raise _refuse("train.importance_mix", t.importance_mix, "must be in (0, 1]")
  if not t.latent_lr_scale > 0:
    raise _refuse("train.latent_lr_scale", t.latent_lr_scale, "must be > 0")
  if not t.latent_noise >= 0:
    raise _refuse("train.latent_noise", t.latent_noise, "must be >= 0")
  if not config.data.resident_mib >= 0:
    raise _refuse("data.resident_mib", config.data.resident_mib,
                  "must be >= 0 (0: always read the clips through grain)")
  if not 0.0 <= t.final_lr_fraction <= 1.0:
    raise _refuse("train.final_lr_fraction", t.final_lr_fraction, "must be in [0, 1]")
  if not isinstance(t.warmup_steps, int) or t.warmup_steps < 0:
    raise _refuse("train.warmup_steps", t.warmup_steps, "must be a whole number >= 0")
  for field in ("train.log_every", "train.checkpoint_every", "train.keep_checkpoints",
                "train.steps_per_call"):
    if _get(config, field) < 1:
      raise _refuse(field, _get(config, field), "must be at least 1")
  check_prior(config)


def check_prior(config: ml_collections.ConfigDict) -> None:
  """Raise errors.UserError for the first field of config.prior that can't work (also
  called by --mode=fit_prior, before it reads the latents)."""
  for field, allowed in CHOICES.items():
    if field.startswith("prior.") and _get(config, field) not in allowed:
      raise _refuse(field, _get(config, field), "must be one of " + ", ".join(map(repr, allowed)))
  p = config.prior
  if not isinstance(p.enabled, bool):
    raise _refuse("prior.enabled", p.enabled, "must be True or False")
  if not isinstance(p.starts_from_prior, bool):
    raise _refuse("prior.starts_from_prior", p.starts_from_prior, "must be True or False")
  for name in ("width", "depth", "steps", "batch_size", "checkpoint_every", "sample_steps",
               "inversion_starts", "inversion_draws"):
    value = p[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise _refuse(f"prior.{name}", value, "must be an integer of at least 1")
  if isinstance(p.time_dim, bool) or not isinstance(p.time_dim, int) or (
      p.time_dim < 2 or p.time_dim % 2):
    raise _refuse("prior.time_dim", p.time_dim, "must be an even integer of at least 2")
  if not p.learning_rate > 0:
    raise _refuse("prior.learning_rate", p.learning_rate, "must be above 0")
  if not 0.0 <= p.ema_decay < 1.0:
    raise _refuse("prior.ema_decay", p.ema_decay, "must be in [0, 1)")
  if (isinstance(p.sample_start, bool) or not isinstance(p.sample_start, (int, float))
      or not 0.0 <= p.sample_start < 1.0):
    raise _refuse("prior.sample_start", p.sample_start, "must be a path time in [0, 1)")
  if not p.inversion_weight >= 0:
    raise _refuse("prior.inversion_weight", p.inversion_weight, "must be at least 0")
  times = p.inversion_times
  if (not isinstance(times, (tuple, list)) or not times
      or not all(isinstance(t, (int, float)) and 0.0 < t < 1.0 for t in times)):
    raise _refuse("prior.inversion_times", times,
                  "must be a non-empty tuple of times, each in (0, 1)")


def _check_stages(stages, lr_scales) -> None:
  """train.stages: ((videos >= 0, epochs > 0), ...); stage_lr_scales: at most one per stage."""
  for index, spec in enumerate(stages):
    pair = tuple(spec) if isinstance(spec, (tuple, list)) else (spec,)
    if (len(pair) != 2 or not all(isinstance(v, (int, float)) for v in pair)
        or pair[0] < 0 or pair[1] <= 0):
      raise _refuse("train.stages", stages,
                    f"entry {index} ({spec!r}) must be a pair (videos >= 0, epochs > 0); "
                    "videos 0 means all")
  if len(lr_scales) > max(len(stages), 1):
    raise _refuse("train.stage_lr_scales", lr_scales,
                  f"has more entries than the {len(stages)} train.stages")
