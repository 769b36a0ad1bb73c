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


def test_the_tour_keeps_a_run_of_yours_that_shares_a_bundled_runs_id(monkeypatch, tmp_path):
    """A run folder of yours named like a bundled run (here a copy of tastgram-arcface) gets its own Fig. 1
    panel beside the bundled one's: the tour keys runs by folder, not by id or label."""
    import shutil

    mine = tmp_path / "runs" / "tastgram-arcface"
    shutil.copytree(PROJECT_ROOT / "checkpoints" / "tastgram-arcface", mine, ignore=shutil.ignore_patterns("model.pt"))
    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "runs"))
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / "tour.ipynb", as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT_ROOT)}}).execute()
    fig1 = next(o for cell in nb.cells for o in cell.get("outputs", [])
                if "application/vnd.plotly.v1+json" in o.get("data", {}))
    titles = [a["text"] for a in fig1["data"]["application/vnd.plotly.v1+json"]["layout"]["annotations"]
              if a.get("yref") == "paper" and a.get("showarrow") is False and "<br>" not in a["text"]]
    arcface = [t for t in titles if t.startswith("TASTgram-MFN (ArcFace)")]
    assert len(arcface) == 2, titles  # the bundled run and yours, each named
    assert "TASTgram-MFN (ArcFace)" in arcface and any("· quick · toy" in t for t in arcface)
