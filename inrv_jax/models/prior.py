"""A learned prior over the latent space: a small denoiser trained by flow matching.

Rectified flow: the latents x1 (normalised per dimension with the training
latents' mean and std) are joined to Gaussian noise x0 ~ N(0, I) by straight
paths x_t = (1 - t) x0 + t x1, t in [0, 1]; the denoiser v(x_t, t) learns the
velocity x1 - x0 by least squares (`flow_matching_loss`). A sample is noise
carried from t = 0 to t = 1 by an ODE solver on v (`sample_normalised`: Euler,
midpoint or Heun); or, started at a later time s, a training latent noised to
x_s = (1 - s) noise + s z and carried from s to 1 (SDEdit, Meng et al., ICLR 2022):
a new latent the flow draws near that training latent. The same loss at a few
fixed t's of a candidate latent is a denoising regulariser (`energy`): small
where the prior puts its mass, so an inversion can add it to its pixel loss.

Everything here is pure: modules, losses and solvers, no files and no loops
over data (the fitting loop and its checkpoints are in inrv_jax/learned_prior.py).
"""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

SOLVERS = ("euler", "midpoint", "heun")
TIME_SAMPLINGS = ("uniform", "logit_normal")


def time_embedding(t: jax.Array, size: int) -> jax.Array:
  """Sinusoidal features of t (B,) in [0, 1] -> (B, size) float32 (size even).

  Frequencies geometric from 1 to 1/10,000 on t scaled by 1,000, as for
  diffusion timesteps: sin of each frequency, then cos of each.
  """
  half = size // 2
  freqs = jnp.exp(-math.log(10_000.0) * jnp.arange(half, dtype=jnp.float32) / max(half, 1))
  angles = 1000.0 * t.astype(jnp.float32)[:, None] * freqs[None]  # (B, half)
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class ResidualBlock(nnx.Module):
  """h + W2 silu(W1 LayerNorm(h) + the time's projection), width -> width."""

  def __init__(self, width: int, *, rngs: nnx.Rngs):
    self.norm = nnx.LayerNorm(width, rngs=rngs)
    self.dense1 = nnx.Linear(width, width, rngs=rngs)
    self.time = nnx.Linear(width, width, rngs=rngs)
    self.dense2 = nnx.Linear(width, width, rngs=rngs,
                             kernel_init=nnx.initializers.zeros_init())  # starts as identity

  def __call__(self, h: jax.Array, temb: jax.Array) -> jax.Array:
    """h (B, width), temb (B, width) -> (B, width)."""
    return h + self.dense2(nnx.silu(self.dense1(self.norm(h)) + self.time(temb)))


class Denoiser(nnx.Module):
  """The velocity v(x_t, t) of the flow: a residual MLP with a sinusoidal time embedding.

  dim: latent width D; width: hidden width; depth: residual blocks;
  time_dim: size of the sinusoidal embedding (even).
  """

  def __init__(self, dim: int, width: int, depth: int, time_dim: int, *, rngs: nnx.Rngs):
    self.time_dim = time_dim
    self.time_in = nnx.Linear(time_dim, width, rngs=rngs)
    self.time_out = nnx.Linear(width, width, rngs=rngs)
    self.inp = nnx.Linear(dim, width, rngs=rngs)
    self.blocks = nnx.List([ResidualBlock(width, rngs=rngs) for _ in range(depth)])
    self.norm = nnx.LayerNorm(width, rngs=rngs)
    self.out = nnx.Linear(width, dim, rngs=rngs)

  def __call__(self, x: jax.Array, t: jax.Array) -> jax.Array:
    """x (B, D) float32 at times t (B,) in [0, 1] -> velocity (B, D) float32."""
    temb = self.time_out(nnx.silu(self.time_in(time_embedding(t, self.time_dim))))
    h = self.inp(x)
    for block in self.blocks:
      h = block(h, temb)
    return self.out(nnx.silu(self.norm(h)))


def sample_times(key: jax.Array, n: int, how: str = "uniform") -> jax.Array:
  """n training times (n,) in (0, 1): uniform, or logit-normal (sigmoid of N(0, 1)),
  which puts more of them mid-path where the velocity is hardest to predict."""
  if how == "logit_normal":
    return jax.nn.sigmoid(jax.random.normal(key, (n,)))
  return jax.random.uniform(key, (n,))


def flow_matching_loss(model: Denoiser, x1: jax.Array, key: jax.Array,
                       time_sampling: str = "uniform") -> jax.Array:
  """The rectified-flow loss of a batch of normalised latents x1 (B, D): scalar float32.

  Noise x0 ~ N(0, I) and times t ~ `time_sampling` from `key`; the loss is
  mean ||v((1 - t) x0 + t x1, t) - (x1 - x0)||^2 over the batch and dimensions.
  """
  noise_key, time_key = jax.random.split(key)
  x0 = jax.random.normal(noise_key, x1.shape)
  t = sample_times(time_key, x1.shape[0], time_sampling)
  xt = (1.0 - t)[:, None] * x0 + t[:, None] * x1
  return jnp.mean(jnp.square(model(xt, t) - (x1 - x0)))


def energy(model: Denoiser, x: jax.Array, noise: jax.Array, times: jax.Array) -> jax.Array:
  """The denoising regulariser of normalised latents x (B, D): (B,) float32, >= 0.

  The flow-matching loss of each x at the fixed times `times` (K,) with the
  noise `noise` (K, D) (the same for every x): mean over k and dimensions of
  ||v((1 - t_k) n_k + t_k x, t_k) - (x - n_k)||^2. It is what the denoiser
  learned to make small on the training latents, so it is low where the prior
  has mass (a denoising bound on -log p, up to a weighting and a constant) and
  differentiable in x.
  """
  b, k = x.shape[0], times.shape[0]
  xt = (1.0 - times)[None, :, None] * noise[None] + times[None, :, None] * x[:, None]  # (B,K,D)
  v = model(xt.reshape(b * k, -1), jnp.tile(times, b)).reshape(b, k, -1)
  return jnp.mean(jnp.square(v - (x[:, None] - noise[None])), axis=(1, 2))


def sample_normalised(model: Denoiser, noise: jax.Array, steps: int,
                      solver: str = "heun", start: float = 0.0) -> jax.Array:
  """Points x_s (B, D) at path time s = `start` -> normalised samples (B, D) at t = 1, by
  `steps` steps of `solver` ("euler": one velocity per step; "midpoint", "heun": two,
  second order). With start 0, `noise` is x0 ~ N(0, I).

  Deterministic: the same input gives the same samples. Raises ValueError for
  an unknown solver, steps < 1 or start outside [0, 1).
  """
  if solver not in SOLVERS:
    raise ValueError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
  if steps < 1:
    raise ValueError(f"sampling needs at least 1 step, got {steps}")
  if not 0.0 <= start < 1.0:
    raise ValueError(f"sampling starts at a path time in [0, 1), got {start}")
  dt = (1.0 - start) / steps
  ones = jnp.ones((noise.shape[0],), jnp.float32)

  def step(x, i):
    t = start + i * dt
    v = model(x, t * ones)
    if solver == "euler":
      return x + dt * v, None
    if solver == "midpoint":
      return x + dt * model(x + 0.5 * dt * v, (t + 0.5 * dt) * ones), None
    x_euler = x + dt * v  # heun: trapezoid of the velocities at both ends
    return x + 0.5 * dt * (v + model(x_euler, (t + dt) * ones)), None

  x, _ = jax.lax.scan(step, noise.astype(jnp.float32), jnp.arange(steps, dtype=jnp.float32))
  return x

# ------------------------------------------------------------------ training state


def make_optimizer(learning_rate: float) -> optax.GradientTransformation:
  """Adam at a constant `learning_rate` after clipping the gradient's global norm to 1
  (constant, so that a resumed fit is the same function of the step as an unbroken one)."""
  return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(learning_rate))


def init_state(dim: int, width: int, depth: int, time_dim: int, seed: int,
               learning_rate: float) -> tuple[nnx.GraphDef, dict]:
  """(graphdef, state) of a fresh fit: state = {"params", "ema" (a copy of params),
  "opt_state", "step" int32 0}."""
  model = Denoiser(dim, width, depth, time_dim, rngs=nnx.Rngs(seed))
  graphdef, params = nnx.split(model, nnx.Param)
  ema = jax.tree.map(jnp.array, params)  # a copy, not the same buffers
  return graphdef, {"params": params, "ema": ema,
                    "opt_state": make_optimizer(learning_rate).init(params),
                    "step": jnp.int32(0)}


@functools.lru_cache(maxsize=8)
def make_train_steps(graphdef: nnx.GraphDef, learning_rate: float, batch_size: int,
                     ema_decay: float, time_sampling: str, num_steps: int):
  """The jitted `num_steps` fitting steps: run(state, data (N, D) normalised, key) ->
  (state, losses (num_steps,) float32).

  Step s draws its batch (batch_size rows of data, with replacement), noise
  and times from fold_in(key, s) alone, so a fit cut into calls of any length
  (and resumed from a checkpoint) takes exactly the same steps. After each
  Adam step the EMA weights move towards the weights by 1 - ema_decay.
  """
  tx = make_optimizer(learning_rate)

  def loss_fn(params, batch, key):
    return flow_matching_loss(nnx.merge(graphdef, params), batch, key, time_sampling)

  def one_step(state, data, key):
    step_key = jax.random.fold_in(key, state["step"])
    pick_key, loss_key = jax.random.split(step_key)
    batch = data[jax.random.randint(pick_key, (batch_size,), 0, data.shape[0])]
    loss, grads = jax.value_and_grad(loss_fn)(state["params"], batch, loss_key)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    ema = jax.tree.map(lambda e, p: ema_decay * e + (1.0 - ema_decay) * p, state["ema"], params)
    return {"params": params, "ema": ema, "opt_state": opt_state,
            "step": state["step"] + 1}, loss

  def run(state, data, key):
    return jax.lax.scan(lambda s, _: one_step(s, data, key), state, None, length=num_steps)

  return jax.jit(run)

# ------------------------------------------------------------------ the fitted prior


@dataclasses.dataclass(frozen=True, eq=False)
class LatentPrior:
  """A fitted prior: the EMA denoiser and the normalisation of the latents it was fitted on.

  z = mean + std * x maps a normalised sample x to a latent.
  """
  graphdef: nnx.GraphDef  # structure of the Denoiser
  params: nnx.State       # its EMA weights
  mean: np.ndarray        # (D,) float32, per-dimension mean of the fitting latents
  std: np.ndarray         # (D,) float32, their per-dimension std (floored, > 0)
  solver: str = "heun"    # default ODE solver of `sample` (SOLVERS)
  sample_steps: int = 32  # default solver steps of `sample` (over the whole path, t 0 to 1)
  sample_start: float = 0.0  # default path time where `sample` starts (0: from noise)

  @property
  def dim(self) -> int:
    return int(self.mean.shape[0])

  def sample(self, key: jax.Array, n: int, steps: int | None = None,
             solver: str | None = None, anchors: np.ndarray | None = None,
             start: float | None = None) -> np.ndarray:
    """n latents (n, D) float32; the same key gives the same latents.

    start: the path time s where sampling starts (default `sample_start`). 0:
    Gaussian noise carried by the flow from t = 0 (the prior's own samples).
    s in (0, 1): each sample starts from a training latent drawn uniformly from
    `anchors` (N, D) (not normalised), noised to x_s = (1 - s) noise + s z and
    carried by the flow from s to 1 (SDEdit): a new latent near that training
    latent, nearer for larger s. Solver steps: `steps` (default `sample_steps`)
    over the whole path, so ceil(steps * (1 - s)) are taken.

    Raises ValueError for n < 1, steps < 1, an unknown solver, a start outside
    [0, 1), or a start above 0 without anchors.
    """
    if n < 1:
      raise ValueError(f"number of samples must be >= 1, got {n}")
    start = self.sample_start if start is None else float(start)
    if not 0.0 <= start < 1.0:
      raise ValueError(f"sampling starts at a path time in [0, 1), got {start}")
    steps = steps or self.sample_steps
    if start == 0.0:
      x = jax.random.normal(key, (n, self.dim))
    else:
      if anchors is None or len(anchors) == 0:
        raise ValueError(f"sampling from path time {start} needs the training latents: "
                         "pass anchors=model.latents, or start=0 to sample from noise")
      pick_key, noise_key = jax.random.split(key)
      picked = self.normalise(np.asarray(anchors, np.float32)[
          np.asarray(jax.random.randint(pick_key, (n,), 0, len(anchors)))])
      x = (1.0 - start) * jax.random.normal(noise_key, (n, self.dim)) + start * picked
      steps = max(1, math.ceil(steps * (1.0 - start) - 1e-9))  # the step size of a whole path
    x = _sample_jit(self.graphdef, self.params, jnp.asarray(x, jnp.float32), steps,
                    solver or self.solver, start)
    return (self.mean + self.std * np.asarray(x)).astype(np.float32)

  def normalise(self, z: jax.Array) -> jax.Array:
    """Latents z (..., D) -> the prior's normalised space (..., D)."""
    return (z - self.mean) / self.std

  def energy(self, z: jax.Array, noise: jax.Array, times: jax.Array) -> jax.Array:
    """`energy` of latents z (B, D) (not normalised): (B,) float32; differentiable in z."""
    return energy(nnx.merge(self.graphdef, self.params), self.normalise(z), noise, times)


@functools.partial(jax.jit, static_argnums=(0, 3, 4, 5))
def _sample_jit(graphdef, params, x, steps, solver, start):
  return sample_normalised(nnx.merge(graphdef, params), x, steps, solver, start)


def normalisation(latents: np.ndarray, floor: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
  """Per-dimension mean and std (D,) float32 of latents (N, D); std floored at `floor`
  times the largest one (a constant dimension would otherwise divide by zero)."""
  latents = np.asarray(latents, np.float64)
  mean, std = latents.mean(axis=0), latents.std(axis=0)
  std = np.maximum(std, floor * max(float(std.max()), 1e-12))
  return mean.astype(np.float32), std.astype(np.float32)
