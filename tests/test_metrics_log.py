"""metrics.jsonl: the rows a resumed run keeps, the final row, a line cut by a kill."""

import json

from inrv_jax.training import metrics_log


def _write(path, rows, tail=""):
  path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)


def test_resume_keeps_rows_up_to_its_step_and_drops_a_cut_line_and_the_final_row(tmp_path):
  path = tmp_path / metrics_log.FILE_NAME
  rows = [{"step": 100, "loss": 0.5}, {"step": 200, "loss": 0.4},
          {"step": 200, "final_psnr": 21.0, "final_psnr_min": 18.0}, {"step": 300, "loss": 0.3}]
  _write(path, rows, tail='{"step": 400, "lo')  # the last line cut short by a kill
  assert metrics_log.final_row(path)["final_psnr"] == 21.0
  metrics_log.keep_rows_up_to(path, 200)
  assert metrics_log.read_rows(path) == rows[:2]
  assert metrics_log.final_row(path) is None
  assert [json.loads(l) for l in path.read_text().splitlines()] == rows[:2]


def test_final_row_is_the_last_finish_and_no_file_reads_as_no_rows(tmp_path):
  path = tmp_path / metrics_log.FILE_NAME
  assert metrics_log.read_rows(path) == [] and metrics_log.final_row(path) is None
  metrics_log.keep_rows_up_to(path, 10)  # no file: nothing to trim, nothing created
  assert not path.exists()
  _write(path, [{"step": 5, "final_psnr": 20.0}, {"step": 9, "final_psnr": 22.5}, [1, 2]])
  assert metrics_log.final_row(path) == {"step": 9, "final_psnr": 22.5}
