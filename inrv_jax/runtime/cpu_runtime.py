"""The CPU runtime settings in one call, for the commands and for notebooks.

Importing inrv_jax changes nothing in the process. The commands (`python -m
inrv_jax.main`, the benches, the tools) call `use_cpu_settings()` when they run
as a command; a notebook or a script of your own calls
`inrv_jax.use_cpu_settings()` itself, before its first JAX computation (XLA
reads its flags when the backend starts, not when JAX is imported).

The settings are for JAX's CPU backend only: huge pages for XLA's CPU buffers
(hugepages.py, a restart of `python -m inrv_jax.*` commands only) and XLA's
CPU flags for the CPU family (xla_cpu.py). They are applied only where JAX's
default backend will be the CPU, judged before JAX starts: JAX_PLATFORMS
names the CPU first, or, without JAX_PLATFORMS, no accelerator plugin (CUDA,
ROCm, TPU) is installed.
"""

import importlib.metadata
import importlib.util
import os

from inrv_jax.runtime import hugepages
from inrv_jax.runtime import xla_cpu

TPU_PACKAGE = "libtpu"  # JAX's TPU runtime, found by import rather than as a plugin
PLUGIN_GROUP = "jax_plugins"  # the entry-point group JAX's PJRT plugins (CUDA, ROCm) register in


def accelerator_plugins() -> list[str]:
  """Names of the installed JAX backends other than the CPU (PJRT plugins, libtpu)."""
  names = [entry.name for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP)]
  if importlib.util.find_spec(TPU_PACKAGE) is not None:
    names.append(TPU_PACKAGE)
  return names


def cpu_backend_expected(environ=os.environ, plugins: list[str] | None = None) -> bool:
  """Whether JAX's default backend will be the CPU, judged without starting JAX.

  JAX_PLATFORMS (or the older JAX_PLATFORM_NAME), when set, decides: its first
  platform is the default. Otherwise the CPU is expected when no accelerator
  backend is installed; `plugins` defaults to `accelerator_plugins()`.
  """
  platforms = environ.get("JAX_PLATFORMS") or environ.get("JAX_PLATFORM_NAME") or ""
  if platforms.strip():
    return platforms.split(",")[0].strip().lower() == "cpu"
  return not (accelerator_plugins() if plugins is None else plugins)


def use_cpu_settings(environ=os.environ, argv: list[str] | None = None) -> list[str]:
  """Apply the CPU runtime settings where JAX will run on the CPU; returns the XLA flags added.

  Does nothing (returns []) when `cpu_backend_expected(environ)` is False.
  Otherwise restarts a `python -m inrv_jax.*` process once with huge pages
  where the machine calls for them (`hugepages.reexec`, which does not return
  then; argv defaults to the interpreter's command line) and adds the CPU
  family's flags to environ["XLA_FLAGS"] (`xla_cpu.apply`). Call it before the
  first JAX computation: later, XLA has read its flags.
  """
  if not cpu_backend_expected(environ):
    return []
  hugepages.reexec(environ, argv)
  return xla_cpu.apply(environ)
