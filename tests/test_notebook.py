"""notebooks/quickstart.ipynb runs top to bottom (tiny setting, CPU) and shows its videos."""

import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("mediapy")

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


def _html(cell) -> list[str]:
  return [out["data"]["text/html"] for out in cell.get("outputs", [])
          if out.get("output_type") == "display_data" and "text/html" in out.get("data", {})]


def _text(cell) -> str:
  return "".join(out.get("text", "") for out in cell.get("outputs", [])
                 if out.get("output_type") == "stream")


def test_committed_notebook_has_no_outputs():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(nb)
  for cell in nb.cells:
    if cell.cell_type == "code":
      assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_tiny_notebook_runs_and_shows_videos(tmp_path, monkeypatch):
  monkeypatch.setenv("INRV_NOTEBOOK_TINY", "1")
  monkeypatch.setenv("INRV_NOTEBOOK_WORKDIR", str(tmp_path / "workdir"))
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
  monkeypatch.setenv("INRV_CACHE_DIR", str(tmp_path / "cache"))
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.delenv("MPLBACKEND", raising=False)  # the notebook's inline plots
  nb = nbformat.read(NOTEBOOK, as_version=4)
  # the kernel is this interpreter (its ipykernel), started in notebooks/
  client = nbclient.NotebookClient(
      nb, timeout=300, kernel_name="python3",
      resources={"metadata": {"path": str(NOTEBOOK.parent)}})
  client.execute()  # raises CellExecutionError naming the cell if any cell fails
  code = [c for c in nb.cells if c.cell_type == "code"]
  for cell in code:
    assert not [o for o in cell.outputs if o.output_type == "error"]
  everything = "".join(_text(c) for c in code)
  assert f"using the checkout at {REPO}" in everything  # nothing was installed
  assert "backend: cpu" in everything
  assert "final mean reconstruction PSNR over 8 clips" in everything
  assert (tmp_path / "workdir" / "metrics.jsonl").is_file()
  # sample, interpolate, invert (one display per clip) and render show videos inline
  videos = [c for c in code if any("<video" in h or "<img" in h for h in _html(c))]
  assert len(videos) == 4
  assert sum(h.count("<video") for c in code for h in _html(c)) == 4 + 5 + 2 * 3 + 2
  assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs)  # loss curve
  assert (tmp_path / "workdir" / "loss_curve.png").is_file()
