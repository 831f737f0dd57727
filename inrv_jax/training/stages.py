"""Progressive weight initialisation (paper Sec. 3.3) as a plan of stages.

Stage k trains on the first n_k videos of the fixed dataset order for e_k
epochs, starting from everything stage k-1 learned. The latent table is
allocated at its final size once; rows of videos not yet in the plan are
never indexed, so their gradient is exactly zero and Adam leaves them (and
their moments) untouched: when a stage adds videos, their rows still hold
their N(0, 0.01^2) init and zero moments, while every other parameter and
moment carries over. Shapes never change, so one compiled step serves every
stage; the learning rate per stage is an Optax piecewise-constant schedule.
"""

import dataclasses
import math

import jax
import ml_collections
import optax


@dataclasses.dataclass(frozen=True)
class Stage:
  """One stage of the progressive plan: steps [first_step, end_step) on the first num_videos videos."""
  index: int        # 0-based stage number
  num_videos: int   # videos trained in this stage (the first n of the dataset)
  first_step: int   # global step at which the stage starts
  end_step: int     # global step at which it ends (exclusive)


def plan(stage_specs, total_videos: int, batch_size: int, num_steps: int) -> list[Stage]:
  """Stages from (videos, epochs) pairs; videos 0 (or more than exist) = all.

  Without pairs there is one stage of `num_steps` steps on every video. With
  pairs, num_steps > 0 cuts the plan short at that many steps.
  """
  if not stage_specs:
    return [Stage(0, total_videos, 0, num_steps)]
  stages, step = [], 0
  for index, spec in enumerate(stage_specs):
    if len(spec) != 2:
      raise ValueError(f"train.stages entry {index} must be (videos, epochs), got {spec}")
    videos, epochs = int(spec[0]), float(spec[1])
    videos = total_videos if videos <= 0 else min(videos, total_videos)
    steps = max(1, math.ceil(videos * epochs / batch_size))
    stages.append(Stage(index, videos, step, step + steps))
    step += steps
  if num_steps > 0:
    stages = [dataclasses.replace(s, end_step=min(s.end_step, num_steps))
              for s in stages if s.first_step < num_steps]
  return stages


def total_steps(stages: list[Stage]) -> int:
  """The global step at which the plan ends."""
  return stages[-1].end_step


def learning_rate(stages: list[Stage], base: float, scales=(), schedule: str = "constant",
                  warmup_steps: int = 0, final_fraction: float = 0.0) -> optax.Schedule:
  """Base learning rate times the per-stage scale (1 where none is given).

  schedule "constant": that product, stage by stage (paper: no schedule).
  schedule "cosine": the product times a factor that rises linearly from 0 over
  `warmup_steps`, then falls along a half cosine to `final_fraction` at the
  plan's last step (optax.warmup_cosine_decay_schedule's shape).
  Raises ValueError for another schedule.
  """
  values = [base * (scales[s.index] if s.index < len(scales) else 1.0) for s in stages]
  if len(set(values)) == 1:
    per_stage = optax.constant_schedule(values[0])
  else:
    per_stage = optax.join_schedules([optax.constant_schedule(v) for v in values],
                                     [s.first_step for s in stages[1:]])
  if schedule == "constant":
    return per_stage
  if schedule != "cosine":
    raise ValueError(f"train.lr_schedule={schedule!r} is not 'constant' or 'cosine'")
  total = max(total_steps(stages), warmup_steps + 1)
  factor = optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=1.0, warmup_steps=warmup_steps, decay_steps=total,
      end_value=final_fraction)
  return lambda step: per_stage(step) * factor(step)


def plan_for(config: ml_collections.ConfigDict, num_videos: int) -> list[Stage]:
  """The plan of `config.train` (stages, batch_size, num_steps) over num_videos videos."""
  t = config.train
  return plan(t.stages, num_videos, t.batch_size, t.num_steps)


def make_optimizer(config: ml_collections.ConfigDict,
                   stages: list[Stage] | None = None) -> optax.GradientTransformation:
  """Adam over everything trainable, no decay, no clipping (paper Sec. 4).

  The learning rate is train.learning_rate (paper 1e-4), times
  train.stage_lr_scales[k] during stage k of `stages` when given, shaped by
  train.lr_schedule (`learning_rate`); the latent table's steps are
  train.latent_lr_scale times larger (1 = the paper's single rate). Without
  stages, one constant-schedule stage (the same optimizer state structure).
  """
  stages = stages or [Stage(0, 0, 0, 0)]
  t = config.train
  adam = optax.adam(learning_rate(stages, t.learning_rate, t.stage_lr_scales, t.lr_schedule,
                                  t.warmup_steps, t.final_lr_fraction))
  if t.latent_lr_scale == 1.0:
    return adam  # the paper's optimizer, and the state layout of every earlier checkpoint
  return optax.chain(adam, _scale_latent_table(t.latent_lr_scale))


def _scale_latent_table(factor: float) -> optax.GradientTransformation:
  """Multiplies the latent table's updates by `factor` (a stateless step after Adam).

  Each table row is updated only when its video is in the batch, a few
  hundred times in a run, while the hypernetwork is updated every step.
  """
  def update(updates, state, params=None):
    del params
    scaled = jax.tree_util.tree_map_with_path(
        lambda path, u: u * factor if any(getattr(k, "key", None) == "latent_table"
                                          for k in path) else u, updates)
    return scaled, state
  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
