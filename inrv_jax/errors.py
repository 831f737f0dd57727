"""User-facing errors, and how an entry point reports them: one `error:` line, exit 2."""

import contextlib
import os
import sys
from typing import Iterator, NoReturn


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
