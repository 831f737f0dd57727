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
  if not 0.0 <= t.final_lr_fraction <= 1.0:
    raise _refuse("train.final_lr_fraction", t.final_lr_fraction, "must be in [0, 1]")
  if not isinstance(t.warmup_steps, int) or t.warmup_steps < 0:
    raise _refuse("train.warmup_steps", t.warmup_steps, "must be a whole number >= 0")
  for field in ("train.log_every", "train.checkpoint_every", "train.keep_checkpoints",
                "train.steps_per_call"):
    if _get(config, field) < 1:
      raise _refuse(field, _get(config, field), "must be at least 1")


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
