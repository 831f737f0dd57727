"""What a task writes: its folder WORKDIR/<mode>/ and the JSON record of what it did."""

import json
import math
import pathlib
import shutil

import numpy as np


def output_dir(workdir, mode: str, keep=lambda name: False) -> pathlib.Path:
  """WORKDIR/<mode>/, emptied of an earlier run's files except those whose name `keep`s
  (so no stale file sits beside the new ones). Called once the inputs are checked."""
  path = pathlib.Path(workdir).expanduser() / mode
  path.mkdir(parents=True, exist_ok=True)
  for old in path.iterdir():
    if keep(old.name):
      continue
    if old.is_dir() and not old.is_symlink():
      shutil.rmtree(old)
    else:
      old.unlink()
  return path


def json_safe(value):
  """JSON-safe: NaN -> None, numpy -> python."""
  if isinstance(value, dict):
    return {k: json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple, np.ndarray)):
    return [json_safe(v) for v in np.asarray(value).tolist()] if isinstance(
        value, np.ndarray) else [json_safe(v) for v in value]
  if isinstance(value, (float, np.floating)):
    return None if math.isnan(value) else round(float(value), 4)
  if isinstance(value, np.integer):
    return int(value)
  return value


def write_json(directory: pathlib.Path, name: str, record: dict) -> dict:
  """Write directory/<name>.json (indented, NaN as null); returns the JSON-safe record."""
  record = json_safe(record)
  (directory / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
  return record
