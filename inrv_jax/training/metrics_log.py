"""workdir/metrics.jsonl: the rows training writes, one JSON object a line.

Rows are {"step": int, <metric>: value, ...}: a line every `train.log_every`
steps (loss, PSNR, steps_per_second, ...) and, at the end of training, one row
with "final_psnr" and "final_psnr_min" (dB over all training clips). Written by
training/train.py's MetricWriter; read here for the loss curve, the trim on
resume and the quality-against-time curve.
"""

import json
import pathlib

FILE_NAME = "metrics.jsonl"


def read_rows(path: pathlib.Path) -> list[dict]:
  """The rows of a metrics.jsonl file, in order; [] when there is no file.

  A line that is not a JSON object (one cut short when a run was killed) is
  skipped. Raises OSError when the file exists but cannot be read.
  """
  path = pathlib.Path(path)
  if not path.exists():
    return []
  rows = []
  for line in path.read_text(errors="replace").splitlines():
    try:
      row = json.loads(line)
    except json.JSONDecodeError:
      continue
    if isinstance(row, dict):
      rows.append(row)
  return rows


def final_row(path: pathlib.Path) -> dict | None:
  """The last row with "final_psnr" (a training run that finished), or None."""
  finals = [row for row in read_rows(path) if "final_psnr" in row]
  return finals[-1] if finals else None


def keep_rows_up_to(path: pathlib.Path, step: int) -> None:
  """Rewrite `path` without rows past `step`, final-metrics rows and unreadable lines,
  so that a run resuming from `step` writes each step once, in order."""
  path = pathlib.Path(path)
  if not path.exists():
    return
  kept = [json.dumps(row) + "\n" for row in read_rows(path)
          if row.get("step", 0) <= step and "final_psnr" not in row]
  temporary = path.with_suffix(".tmp")
  temporary.write_text("".join(kept))
  temporary.replace(path)
