"""Arrays cached on disk with a checksum beside them, checked before every use.

`save(path, array)` writes path (.npy) and path + ".sha256" (JSON: the SHA-256 of
the array's bytes, its shape and dtype), each replaced at once. `load(path, ...)`
returns the array only when the file reads, the checksum, shape and dtype match
and every value is finite; otherwise None, after one plain line on stderr saying
why and that it is computed again. A cache without its checksum (written by an
older version, or cut short) counts as damaged too: it costs one recomputation.
"""

import hashlib
import json
import os
import pathlib
import sys

import numpy as np

from inrv_jax import errors


def _digest(array: np.ndarray) -> str:
  return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _checksum_path(path: pathlib.Path) -> pathlib.Path:
  return path.with_name(path.name + ".sha256")


def _replace(path: pathlib.Path, write) -> None:
  tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # one per writing process
  try:
    write(tmp)
    tmp.replace(path)  # atomic: a stopped run never leaves half a file under the real name
  finally:
    tmp.unlink(missing_ok=True)


def save(path: os.PathLike | str, array: np.ndarray) -> None:
  """Write `array` to `path` (.npy) and its checksum beside it."""
  path = pathlib.Path(path)
  array = np.asarray(array)
  path.parent.mkdir(parents=True, exist_ok=True)
  record = {"sha256": _digest(array), "shape": list(array.shape), "dtype": str(array.dtype)}

  def write_array(tmp):
    with open(tmp, "wb") as file:
      np.save(file, array, allow_pickle=False)

  _replace(path, write_array)
  _replace(_checksum_path(path), lambda tmp: tmp.write_text(json.dumps(record)))


def problem(path: os.PathLike | str, shape: tuple | None = None,
            dtype=None) -> tuple[np.ndarray | None, str | None]:
  """(array, None) when the cache at `path` is intact, else (None, why).

  shape: the expected shape, None entries matching any size; dtype: the expected
  dtype. Raises errors.UserError naming the file when it holds a pickle (an object
  array): never written here, it is not unpickled (no code of it runs).
  """
  path = pathlib.Path(path)
  try:
    array = np.load(path, allow_pickle=False)
  except ValueError as err:
    if "allow_pickle" in str(err):
      raise errors.UserError(f"{errors.path_text(path)}: not a plain NumPy array file "
                             f"(a cache written here never holds a pickle): {err}") from err
    return None, f"unreadable: {' '.join(str(err).split())[:200]}"
  except (OSError, EOFError) as err:  # cut short, garbage
    return None, f"unreadable: {' '.join(str(err).split())[:200]}"
  try:
    record = json.loads(_checksum_path(path).read_text())
  except FileNotFoundError:
    return None, "it has no checksum"
  except (OSError, ValueError) as err:
    return None, f"unreadable checksum: {err}"
  if not isinstance(record, dict) or _digest(array) != record.get("sha256"):
    return None, "its checksum does not match"
  if dtype is not None and array.dtype != np.dtype(dtype):
    return None, f"dtype {array.dtype}, {np.dtype(dtype)} expected"
  if shape is not None and (array.ndim != len(shape) or any(
      want is not None and got != want for got, want in zip(array.shape, shape))):
    return None, f"shape {array.shape}, {tuple(shape)} expected"
  if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
    return None, "it holds values that are not finite"
  return array, None


def load(path: os.PathLike | str, what: str, shape: tuple | None = None,
         dtype=None) -> np.ndarray | None:
  """The cached array at `path`, or None when there is none or it fails its checks
  (`problem`); a failed check prints one line naming the file and `what` it holds.
  Raises errors.UserError for a file that holds a pickle (`problem`)."""
  path = pathlib.Path(path)
  if not path.exists() and not _checksum_path(path).exists():
    return None
  array, why = problem(path, shape, dtype)
  if why is not None:
    print(f"{errors.path_text(path)}: the cached {what} failed their check ({why}); "
          "computing them again", file=sys.stderr, flush=True)
  return array
