"""Observation masks for inversion, described by a small spec instead of arrays.

A `MaskSpec` is a kind plus named parameters; `spec.grid(T, H, W)` turns it
into a boolean (T, H, W) array, True where a pixel is observed. Specs parse
from the CLI form `kind:name=value,name=value`:

  full                                  every pixel (plain inversion)
  inpaint_box:top=0,bottom=16,left=0,right=32
                                        only this box of every frame (default:
                                        the top half, the paper's inpainting)
  sparse:fraction=0.25,seed=0           a seeded random fraction of all pixels
  future:k=4                            the first k frames (default T // 4)
  frame_interp:i=0,j=15                 only frames i and j (default first, last)
  superres:factor=4                     every factor-th row and column: a
                                        low-resolution grid inside the full one
"""

import dataclasses

import numpy as np

from inrv_jax import errors


class MaskError(errors.UserError):
  """A mask spec that can't be built or observes nothing."""


# kind -> {parameter: default}; None = depends on the grid (see `_resolve`).
KINDS = {
    "full": {},
    "inpaint_box": {"top": 0, "bottom": None, "left": 0, "right": None},
    "sparse": {"fraction": 0.25, "seed": 0},
    "future": {"k": None},
    "frame_interp": {"i": 0, "j": None},
    "superres": {"factor": 4},
}
_FLOAT_PARAMS = ("fraction",)


@dataclasses.dataclass(frozen=True)
class MaskSpec:
  """An observation mask by kind and parameters (see KINDS); masks.parse reads 'kind:a=1,b=2'."""
  kind: str = "full"
  params: tuple[tuple[str, float | int], ...] = ()  # sorted (name, value) pairs

  def __post_init__(self):
    if self.kind not in KINDS:
      raise MaskError(f"unknown mask kind {self.kind!r}; choose one of {sorted(KINDS)}")
    unknown = [name for name, _ in self.params if name not in KINDS[self.kind]]
    if unknown:
      raise MaskError(f"mask {self.kind!r} has no parameter {unknown[0]!r}; "
                      f"its parameters are {sorted(KINDS[self.kind]) or 'none'}")
    object.__setattr__(self, "params", tuple(sorted(self.params)))

  @classmethod
  def make(cls, kind: str, **params) -> "MaskSpec":
    return cls(kind, tuple(params.items()))

  def __str__(self) -> str:
    if not self.params:
      return self.kind
    return self.kind + ":" + ",".join(f"{k}={v}" for k, v in self.params)

  @property
  def name(self) -> str:
    """A file-name-safe label, e.g. `sparse_fraction0.25_seed0`."""
    return "_".join([self.kind] + [f"{k}{v}" for k, v in self.params])

  def grid(self, num_frames: int, height: int, width: int) -> np.ndarray:
    """(T, H, W) bool, True = observed. Raises MaskError if nothing is observed."""
    p = _resolve(self, num_frames, height, width)
    mask = np.zeros((num_frames, height, width), bool)
    if self.kind == "full":
      mask[:] = True
    elif self.kind == "inpaint_box":
      mask[:, p["top"]:p["bottom"], p["left"]:p["right"]] = True
    elif self.kind == "sparse":
      rng = np.random.default_rng(int(p["seed"]))
      count = int(round(p["fraction"] * mask.size))
      mask.reshape(-1)[rng.choice(mask.size, size=count, replace=False)] = True
    elif self.kind == "future":
      mask[:p["k"]] = True
    elif self.kind == "frame_interp":
      mask[[p["i"], p["j"]]] = True
    elif self.kind == "superres":
      mask[:, ::p["factor"], ::p["factor"]] = True
    if not mask.any():
      raise MaskError(f"mask {self} observes no pixel of a {num_frames}x{height}x{width} grid")
    return mask


def _resolve(spec: MaskSpec, t: int, h: int, w: int) -> dict:
  """Parameters with grid-dependent defaults filled in and checked."""
  p = {**KINDS[spec.kind], **dict(spec.params)}
  defaults = {"bottom": h // 2, "right": w, "k": max(1, t // 4), "j": t - 1}
  p = {k: defaults[k] if v is None else v for k, v in p.items()}

  def check(ok: bool, what: str):
    if not ok:
      raise MaskError(f"mask {spec}: {what} (grid {t}x{h}x{w})")

  if spec.kind == "inpaint_box":
    check(0 <= p["top"] < p["bottom"] <= h and 0 <= p["left"] < p["right"] <= w,
          "the box must satisfy 0 <= top < bottom <= H and 0 <= left < right <= W")
  elif spec.kind == "sparse":
    check(0.0 < p["fraction"] <= 1.0, "fraction must be in (0, 1]")
    check(round(p["fraction"] * t * h * w) >= 1, "fraction observes no pixel")
  elif spec.kind == "future":
    check(1 <= p["k"] <= t, "k must be between 1 and the number of frames")
  elif spec.kind == "frame_interp":
    check(0 <= p["i"] < t and 0 <= p["j"] < t, "frames i and j must lie in [0, T)")
  elif spec.kind == "superres":
    check(p["factor"] >= 1, "factor must be >= 1")
  return p


def parse(text: str | MaskSpec) -> MaskSpec:
  """`kind` or `kind:name=value,...` -> MaskSpec (a MaskSpec passes through)."""
  if isinstance(text, MaskSpec):
    return text
  text = text.strip()
  if not text:
    raise MaskError("empty mask spec; use e.g. 'full', 'sparse:fraction=0.25' or "
                    f"one of {sorted(KINDS)}")
  kind, _, rest = text.partition(":")
  params = {}
  for item in filter(None, (s.strip() for s in rest.split(","))):
    name, eq, value = item.partition("=")
    if not eq or not value:
      raise MaskError(f"mask {text!r}: expected name=value, got {item!r}")
    try:
      params[name.strip()] = (float(value) if name.strip() in _FLOAT_PARAMS
                              else int(value))
    except ValueError as err:
      raise MaskError(f"mask {text!r}: {name} must be a number, got {value!r}") from err
  return MaskSpec.make(kind.strip(), **params)


def on_grid(specs, num_frames: int, height: int, width: int) -> list[MaskSpec]:
  """Specs or spec strings -> MaskSpecs, each checked against a T x H x W grid (`grid`),
  so that a value off the grid (future:k=20 of 16 frames) is refused before any work.
  Raises MaskError (an errors.UserError) for a malformed spec or one off the grid."""
  parsed = [parse(spec) for spec in specs]
  for spec in parsed:
    spec.grid(num_frames, height, width)
  return parsed


def default_specs() -> list[MaskSpec]:
  """One spec of every kind with its default parameters (the CLI's invert default)."""
  return [MaskSpec(kind) for kind in KINDS]


def as_arrays(masks, count: int, num_frames: int, height: int, width: int) -> np.ndarray:
  """Specs, strings or arrays -> (count, T, H, W) bool.

  `masks`: one spec/string/(T, H, W) array for every video, or a sequence of
  `count` of them, or a (count, T, H, W) array.
  """
  shape = (num_frames, height, width)
  if isinstance(masks, (str, MaskSpec)):
    masks = [masks] * count
  elif isinstance(masks, np.ndarray) and masks.shape == shape:
    masks = [masks] * count
  if len(masks) != count:
    raise MaskError(f"got {len(masks)} masks for {count} videos")
  out = []
  for i, mask in enumerate(masks):
    if isinstance(mask, (str, MaskSpec)):
      out.append(parse(mask).grid(*shape))
      continue
    mask = np.asarray(mask, bool)
    if mask.shape != shape:
      raise MaskError(f"mask {i} has shape {mask.shape}, the videos need {shape}")
    if not mask.any():
      raise MaskError(f"mask {i} observes no pixel")
    out.append(mask)
  return np.stack(out)
