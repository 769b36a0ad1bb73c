"""Train every recipe's quick preset on the default toy data and bundle the runs under checkpoints/.

    make checkpoints            (or: .venv/bin/python scripts/make_checkpoints.py [RECIPE ...])

Each run is trained in a work folder (runs/_bundle/<recipe>), then copied to checkpoints/<recipe>
without its resume checkpoint (optimiser state) and with its selected weights stored in float16,
so each bundled model is well under 5 MB.  Evaluation happens before the weights are shrunk, so
the bundled eval/ artefacts are those of the float32 model.  Finally checkpoints/RESULTS.md gets
the AUC / pAUC / mAUC table across recipes, with the time each took and on what hardware.
"""
from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asdcore.metrics import metrics_table  # noqa: E402
from asdcore.recipes import RECIPES  # noqa: E402
from asdcore.runs import Run, read_json, write_json_atomic  # noqa: E402

WORK = ROOT / "runs" / "_bundle"
OUT = ROOT / "checkpoints"
ORDER = ["stgram-ce", "stgram-arcface", "stgram-arcmix", "stgram-noisy-arcmix", "tastgram-ce", "tastgram-arcface",
         "tastgram-arcmix", "tastgram-noisy-arcmix", "logmel-osscl", "tfstgram-osscl", "dcase-ae"]


def train(recipe: str) -> float:
    work = WORK / recipe
    if work.exists():
        shutil.rmtree(work)
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "asdcore", "train", "--recipe", recipe, "--preset", "quick",
                    "--run-dir", str(work), "--quiet"], check=True, cwd=ROOT)
    return time.time() - t0


def bundle(recipe: str, wall_seconds: float) -> None:
    work, dest = WORK / recipe, OUT / recipe
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "eval").mkdir(parents=True)
    for name in ["config.json", "metrics.jsonl", "train.log"]:
        shutil.copy2(work / name, dest / name)
    for path in (work / "eval").iterdir():
        shutil.copy2(path, dest / "eval" / path.name)
    state = torch.load(work / "model.pt", weights_only=True)
    for group in state["groups"].values():
        group["model"] = {k: v.half() if v.is_floating_point() else v for k, v in group["model"].items()}
    torch.save(state, dest / "model.pt")
    status = read_json(work / "status.json")
    status.update(pid=None, wall_seconds=round(wall_seconds, 1), bundled=True)
    write_json_atomic(dest / "status.json", status)


def results_markdown() -> str:
    lines = ["# Bundled results", "",
             "Every recipe's `quick` preset trained on the toy factory's default data set (seed 0) by "
             "`make checkpoints`. AUC / pAUC / mAUC in %, DCASE protocol (per machine ID, then averaged over "
             "IDs and types), each recipe's default back-end. pAUC is sklearn's `roc_auc_score(max_fpr=0.1)`, "
             "McClish-standardised, as in all published tables.", ""]
    types = ["fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"]
    header = "| recipe | " + " | ".join(types) + " | average AUC | average pAUC | mAUC | train + eval time |"
    lines += [header, "|" + "---|" * (len(types) + 5)]
    device = ""
    for recipe in ORDER:
        run = Run(OUT / recipe)
        if not run.has_eval:
            continue
        m = run.eval_metrics()
        device = m.get("device", device)
        cells = [f"{100 * m['per_type'][t]['auc']:.1f} / {100 * m['per_type'][t]['pauc']:.1f}"
                 if t in m["per_type"] else "-" for t in types]
        wall = run.status.get("wall_seconds")
        lines.append(f"| {run.label} | " + " | ".join(cells) + f" | {100 * m['average']['auc']:.2f} | "
                     f"{100 * m['average']['pauc']:.2f} | {100 * m['average']['mauc']:.2f} | "
                     f"{m['train_seconds']:.0f} s + {m['eval_seconds']:.0f} s (wall {wall:.0f} s) |")
    lines += ["", "Per-type cells: AUC / pAUC. Hardware: " + f"{device}, {platform.processor() or platform.machine()}, "
              f"torch {torch.__version__}."]
    return "\n".join(lines) + "\n"


def main(recipes: list[str]) -> None:
    for recipe in recipes:
        if recipe not in RECIPES:
            raise SystemExit(f"unknown recipe {recipe!r}")
        print(f"== {recipe}", flush=True)
        seconds = train(recipe)
        bundle(recipe, seconds)
        print(f"   bundled in {OUT / recipe} ({seconds:.0f} s)", flush=True)
    (OUT / "RESULTS.md").write_text(results_markdown())
    print((OUT / "RESULTS.md").read_text())


if __name__ == "__main__":
    main(sys.argv[1:] or ORDER)
