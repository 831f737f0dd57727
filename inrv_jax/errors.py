"""User-facing errors: main.py prints their message without a traceback."""


class UserError(Exception):
  """Bad input or missing resources; the message says what and where."""


class DataError(UserError):
  """A dataset that can't be prepared or read; the message names the path."""
