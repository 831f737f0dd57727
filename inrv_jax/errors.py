"""User-facing errors, and how an entry point reports them: one `error:` line, exit 2."""

import contextlib
import os
import re
import sys
from typing import Callable, Iterator, NoReturn

from absl import flags
from ml_collections import config_flags

from inrv_jax import config_defaults


class UserError(Exception):
  """Bad input or missing resources; the message says what and where."""


class DataError(UserError):
  """A dataset that can't be prepared or read; the message names the path."""


def path_text(path: os.PathLike | str) -> str:
  """A path as printable UTF-8 text, for messages, logs and manifests.

  Unchanged when it is valid UTF-8; a name whose bytes aren't (Python holds
  them as lone surrogates, which can't be printed or written as UTF-8) shows
  those bytes escaped, e.g. b'caf\\xe9.mp4' -> 'caf\\xe9.mp4'.
  """
  return os.fsencode(path).decode("utf-8", "backslashreplace")


class TrainingDiverged(UserError):
  """A loss or gradient that is not finite; the message names the step and the parameters."""


class Stopped(Exception):
  """Training stopped on a signal after writing a checkpoint; the message says how to
  resume. main.py prints it and exits 0."""


def exit_with_error(message: str) -> NoReturn:
  """Print `error: <message>` as one line on stderr and exit with status 2: how every
  entry point (`python -m inrv_jax.main`, `.data.prepare`, `.tools.*`, `.bench.*`)
  reports bad input, without a traceback. Raises SystemExit(2)."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
  """Within it, a UserError (or a subclass) ends the program through exit_with_error;
  every other exception passes unchanged, so a real fault keeps its traceback."""
  try:
    yield
  except UserError as err:
    exit_with_error(str(err))


def _config_field_error(err: BaseException) -> config_defaults.ConfigFieldError | None:
  """The ConfigFieldError behind `err` (ml_collections re-raises it as AttributeError)."""
  for cause in (err, *err.args, err.__cause__, err.__context__):
    if isinstance(cause, config_defaults.ConfigFieldError):
      return cause
  return None


def parse_flags(argv: list[str], explain: Callable[[str, list[str]], str] | None = None,
                ) -> list[str]:
  """absl's flag parsing for an entry point (`app.run(main, flags_parser=parse_flags)`),
  with a bad flag value, an unknown flag, a config file that does not load or a
  --config.a.b that is no field as one `error:` line and exit 2 (absl's own: a `FATAL`
  line and exit 1; ml_collections': a traceback). `explain(message, argv)` may reword
  a flag error's message. Returns what absl returns: the arguments left over."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as err:
    lines = [line for line in str(err).splitlines() if line.strip()] or [str(err)]
    message = re.sub(r"^[A-Za-z]*Error: ", "", lines[-1])
    missing = re.fullmatch(r"flag --(\w+)=None: Flag --\1 must have a value other than None\.",
                           message)
    if missing:  # absl's words for a required flag left out
      message = f"--{missing.group(1)} is required (--helpshort lists the flags)"
    exit_with_error(explain(message, argv) if explain else message)
  except (AttributeError, KeyError) as err:
    field = _config_field_error(err)
    if field is None:
      raise
    exit_with_error(str(field))


def check_config_file(flag: str = "config") -> None:
  """Raise UserError when --config (the `flag`) names a file that is not there or is a
  directory: ml_collections reads the file at its first use, and fails with a
  traceback. Nothing when the flag is absent."""
  if not flags.FLAGS[flag].present:
    return
  name = config_flags.get_config_filename(flags.FLAGS[flag]).split(":", 1)[0]  # less :variant
  if not os.path.isfile(name):
    raise UserError(f"--{flag}={name}: no such config file"
                    + (" (it is a directory)" if os.path.isdir(name) else ""))
