"""Print the CPU speed settings this package chose for this machine, and how to get them
where it cannot choose them itself (a notebook, or `import inrv_jax` in your own script).

  python -m inrv_jax.tools.cpu_settings

The XLA flags come from `inrv_jax/xla_cpu.py` (per CPU family), the glibc
huge-page tunable from `inrv_jax/hugepages.py` (a `python -m inrv_jax.*`
command restarts itself with it). BENCHMARKS.md has the measurements behind both.
"""

import os

from inrv_jax import hugepages
from inrv_jax import xla_cpu


def report(environ=os.environ) -> list[str]:
  """The lines `main` prints: CPU, XLA_FLAGS, THP mode, glibc, GLIBC_TUNABLES, advice."""
  glibc = hugepages.glibc_version()
  lines = [f"CPU: {xla_cpu.cpu_model() or 'unknown'} (family {xla_cpu.cpu_family()})",
           f"XLA_FLAGS={environ.get('XLA_FLAGS', '')}",
           f"transparent huge pages: {hugepages.thp_mode() or 'unknown'}; "
           f"C library: {'glibc %d.%d' % glibc if glibc else 'not glibc'}",
           f"GLIBC_TUNABLES={environ.get('GLIBC_TUNABLES', '')}"]
  wanted = hugepages.tunables_wanted(
      {k: v for k, v in environ.items() if k != hugepages.OFF_SWITCH})
  if wanted:
    lines.append(f"huge pages not in use here; in a notebook or your own script, start "
                 f"Python with GLIBC_TUNABLES={wanted}")
  return lines


def main() -> None:
  print("\n".join(report()))


if __name__ == "__main__":
  main()
