"""User-facing errors: main.py prints their message without a traceback."""

import os


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
