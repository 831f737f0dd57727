"""errors.exit_on_user_error: how every entry point reports bad input."""

import pytest

from inrv_jax import errors


def test_a_user_error_becomes_one_error_line_and_exit_status_2(capsys):
  with pytest.raises(SystemExit) as exit_info:
    with errors.exit_on_user_error():
      raise errors.DataError("data.path=/nowhere: no such directory")
  assert exit_info.value.code == 2
  assert capsys.readouterr().err == "error: data.path=/nowhere: no such directory\n"


def test_any_other_exception_passes_with_its_traceback(capsys):
  with pytest.raises(ValueError, match="a real fault"):
    with errors.exit_on_user_error():
      raise ValueError("a real fault")
  assert capsys.readouterr().err == ""


def test_no_error_no_exit():
  with errors.exit_on_user_error():
    value = 1 + 1
  assert value == 2
