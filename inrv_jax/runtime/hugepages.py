"""Transparent huge pages for XLA's CPU buffers, through glibc's malloc tunable.

XLA's CPU runtime takes each call's outputs and temporaries from malloc.
glibc serves every buffer above its mmap threshold (at most 32 MiB) with a
fresh mmap, so every call faults its buffers in 4 KiB at a time; on a VM
that is a large share of a step (BENCHMARKS.md has the figures). Where
the kernel's transparent huge pages are in `madvise` mode (a common
default), glibc >= 2.35 advises huge pages for its maps when GLIBC_TUNABLES
holds `glibc.malloc.hugetlb=1`: 512 times fewer faults.

glibc reads GLIBC_TUNABLES once, when a process starts. So `reexec()`
restarts a `python -m inrv_jax.<command>` process once, with the tunable
added; the commands call it (through `cpu_runtime.use_cpu_settings`) when
they start, before any JAX computation. It never restarts anything else: in
a notebook or your own script set the variable before Python starts
(`python -m inrv_jax.tools.cpu_settings` prints the value).
INRV_HUGEPAGES=0 turns it off.
Huge pages change where buffers live, never what is computed.
"""

import os
import sys

TUNABLE = "glibc.malloc.hugetlb=1"
OFF_SWITCH = "INRV_HUGEPAGES"
THP_MODE_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"
MIN_GLIBC = (2, 35)  # the first glibc with the glibc.malloc.hugetlb tunable
PACKAGE_PREFIX = "inrv_jax."


def thp_mode(path: str = THP_MODE_FILE) -> str:
  """The kernel's transparent-huge-page mode: "always", "madvise", "never", or "" if unknown.

  The file reads like "always [madvise] never", the bracketed word being the mode.
  """
  try:
    with open(path, encoding="ascii", errors="replace") as f:
      text = f.read()
  except OSError:
    return ""
  start, end = text.find("["), text.find("]")
  return text[start + 1:end] if 0 <= start < end else ""


def glibc_version() -> tuple[int, int] | None:
  """(major, minor) of the C library when it is glibc, else None (musl, macOS, Windows)."""
  try:
    name = os.confstr("CS_GNU_LIBC_VERSION")  # e.g. "glibc 2.36"
  except (AttributeError, ValueError, OSError):
    return None
  if not name or not name.startswith("glibc "):
    return None
  try:
    major, minor = name.split()[1].split(".")[:2]
    return int(major), int(minor)
  except (IndexError, ValueError):
    return None


THIS_MACHINE = "this machine"  # default of tunables_wanted's thp and glibc


def tunables_wanted(environ=os.environ, thp: str = THIS_MACHINE,
                    glibc: tuple[int, int] | None | str = THIS_MACHINE) -> str | None:
  """The GLIBC_TUNABLES value that turns huge pages on, or None when nothing is to change.

  None when INRV_HUGEPAGES is "0", when the THP mode is not "madvise" ("always"
  already gives huge pages, "never" forbids them), when the C library is not
  glibc >= 2.35, or when GLIBC_TUNABLES already sets glibc.malloc.hugetlb (the
  user's choice, or the restart already happened). Other tunables are kept.
  thp and glibc (None: not glibc) default to this machine's (`thp_mode()`,
  `glibc_version()`).
  """
  current = environ.get("GLIBC_TUNABLES", "")
  if environ.get(OFF_SWITCH, "1") == "0" or "glibc.malloc.hugetlb" in current:
    return None  # off, or already chosen (the restarted process reads no file)
  thp = thp_mode() if thp == THIS_MACHINE else thp
  glibc = glibc_version() if glibc == THIS_MACHINE else glibc
  if thp != "madvise" or glibc is None or glibc < MIN_GLIBC:
    return None
  return f"{current}:{TUNABLE}" if current else TUNABLE


def inrv_command(argv: list[str]) -> str | None:
  """The module of a `python [options] -m inrv_jax.<module> ...` command line, else None."""
  i = 1
  while i < len(argv) - 1:
    arg = argv[i]
    if arg == "-m":
      return argv[i + 1] if argv[i + 1].startswith(PACKAGE_PREFIX) else None
    if arg in ("-c", "-") or not arg.startswith("-"):
      return None  # -c code, stdin or a script: not an inrv_jax command
    i += 2 if arg in ("-X", "-W") else 1  # the two options whose value is the next word
  return None


def reexec(environ=os.environ, argv: list[str] | None = None) -> None:
  """Restart this process with huge pages when it is a `python -m inrv_jax.*` command.

  Returns (doing nothing) unless `inrv_command(argv)` names a module and
  `tunables_wanted(environ)` has a value; otherwise replaces the process
  (os.execve) by the same command line with GLIBC_TUNABLES set, and does not
  return. argv defaults to sys.orig_argv, the interpreter's own command line.
  """
  argv = list(getattr(sys, "orig_argv", []) if argv is None else argv)
  if not inrv_command(argv):
    return
  value = tunables_wanted(environ)
  if value is None:
    return
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, [sys.executable, *argv[1:]], {**environ, "GLIBC_TUNABLES": value})

