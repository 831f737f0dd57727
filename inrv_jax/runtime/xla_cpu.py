"""XLA's CPU settings: the fastest correct ones for the CPU at hand, chosen by measurement.

XLA's defaults for its CPU backend are not the fastest for this project's
matmul-bound INR on every CPU: routing the dots through YNNPACK fusions
slows the paper step on Intel Xeons with AMX and on AMD Zen 4 (BENCHMARKS.md
has the figures). `apply()` adds the flags measured best
for the CPU family to XLA_FLAGS; it must run before JAX starts its CPU
backend, so the commands call it (through `cpu_runtime.use_cpu_settings`)
when they start, and a notebook calls `inrv_jax.use_cpu_settings()`. Flags
change the code XLA emits, never the maths beyond float rounding
(tests/models/test_fast_path.py compares the fast paths with plain jnp).

A flag the user already put in XLA_FLAGS is left as it is, and
INRV_XLA_DEFAULTS=0 turns the whole thing off (to measure XLA's own
defaults). The xla_cpu_* flags do not touch GPU or TPU backends.
"""

import os
import platform

# CPU family -> flags, from `python -m inrv_jax.bench.speed --measure=matmul,train` with and
# without each candidate (BENCHMARKS.md has the figures and commands).
FLAGS_BY_FAMILY = {
    "intel": ("--xla_cpu_experimental_ynn_fusion_type=",),
    "amd": ("--xla_cpu_experimental_ynn_fusion_type=",),
}
OFF_SWITCH = "INRV_XLA_DEFAULTS"


def cpu_model() -> str:
  """The CPU's model name (/proc/cpuinfo on Linux, else platform.processor()), or ""."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
      for line in f:
        if line.lower().startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor()


def cpu_family(model: str | None = None) -> str:
  """"intel", "amd" or "other" from a CPU model name (default: this machine's)."""
  name = (cpu_model() if model is None else model).lower()
  if "intel" in name or "xeon" in name:
    return "intel"
  if "amd" in name or "epyc" in name or "ryzen" in name:
    return "amd"
  return "other"


def apply(environ=os.environ, model: str | None = None) -> list[str]:
  """Add the family's flags to environ["XLA_FLAGS"]; returns the flags added.

  Must run before JAX initialises its CPU backend to take effect. A flag
  whose name is already in XLA_FLAGS is not added; nothing is added when
  environ[INRV_XLA_DEFAULTS] is "0".
  """
  if environ.get(OFF_SWITCH, "1") == "0":
    return []
  current = environ.get("XLA_FLAGS", "")
  present = {token.split("=", 1)[0] for token in current.split()}
  added = [flag for flag in FLAGS_BY_FAMILY.get(cpu_family(model), ())
           if flag.split("=", 1)[0] not in present]
  if added:
    environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
  return added
