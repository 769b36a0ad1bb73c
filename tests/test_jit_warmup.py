"""`asdcore warm-up` (run by make setup) leaves the compiled code on disk for the first run."""
from pathlib import Path

from asdcore.cli import main
from asdcore.models import fused_prelu


def test_warm_up_compiles_umap_and_the_fused_prelu(capsys):
    import umap

    assert main(["warm-up"]) == 0
    out = capsys.readouterr().out
    assert "UMAP / nearest-neighbour descent (numba): compiled or loaded in" in out
    assert "fused PReLU backward (torch.compile): compiled or loaded in" in out
    assert fused_prelu.compile_failure() is None
    # numba's index files for UMAP's optimiser and pynndescent's search lie beside their source:
    # the next process loads these instead of compiling
    cached = {p.name.split(".")[0] for p in (Path(umap.__file__).parent / "__pycache__").glob("*.nbi")}
    assert {"layouts", "umap_"} <= cached, cached
