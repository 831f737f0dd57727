"""Print the CPU speed settings this package chooses for this machine, and how to get them
in a process it does not start (a notebook, or your own script).

  python -m inrv_jax.tools.cpu_settings

Like every `python -m inrv_jax.*` command it first applies the settings
(`cpu_runtime.use_cpu_settings`): the XLA flags of `inrv_jax/runtime/xla_cpu.py` (per
CPU family) and the glibc huge-page tunable of `inrv_jax/runtime/hugepages.py` (the
command restarts itself with it).
"""

import os

from inrv_jax.runtime import cpu_runtime
from inrv_jax.runtime import hugepages
from inrv_jax.runtime import xla_cpu


def report(environ=os.environ) -> list[str]:
  """The lines `main` prints: CPU, XLA_FLAGS, THP mode, glibc, GLIBC_TUNABLES, advice."""
  glibc = hugepages.glibc_version()
  backend = ("cpu" if cpu_runtime.cpu_backend_expected(environ)
             else "an accelerator (CPU settings not applied)")
  lines = [f"CPU: {xla_cpu.cpu_model() or 'unknown'} (family {xla_cpu.cpu_family()})",
           f"JAX backend expected: {backend}",
           f"XLA_FLAGS={environ.get('XLA_FLAGS', '')}",
           f"transparent huge pages: {hugepages.thp_mode() or 'unknown'}; "
           f"C library: {'glibc %d.%d' % glibc if glibc else 'not glibc'}",
           f"GLIBC_TUNABLES={environ.get('GLIBC_TUNABLES', '')}"]
  wanted = hugepages.tunables_wanted(
      {k: v for k, v in environ.items() if k != hugepages.OFF_SWITCH})
  if wanted:
    lines.append(f"huge pages not in use here; in a notebook or your own script, start "
                 f"Python with GLIBC_TUNABLES={wanted} and call inrv_jax.use_cpu_settings() "
                 f"for the XLA flags")
  return lines


def main() -> None:
  print("\n".join(report()))


if __name__ == "__main__":
  cpu_runtime.use_cpu_settings()  # may restart with huge pages
  main()
