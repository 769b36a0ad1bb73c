"""notebooks/tour.ipynb runs top to bottom against a bundled run and draws its figures."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_tour_notebook_executes(monkeypatch):
    if not (PROJECT_ROOT / "checkpoints" / "tastgram-noisy-arcmix" / "eval" / "metrics.json").exists():
        pytest.fail("the bundled run checkpoints/tastgram-noisy-arcmix is missing: run `make checkpoints`")
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / "tour.ipynb", as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT_ROOT)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 2  # the Fig. 1 histograms and the UMAP scatter
    assert "TASTgram" in "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
