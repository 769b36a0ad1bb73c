"""Learning curves: how each recipe's validation ID accuracy and test AUC grow with the epochs and
the seconds of training, to tell an under-trained method from one whose settings are wrong.

    .venv/bin/python scripts/learning_curves.py RECIPE [RECIPE ...] [--preset quick] [--data data/toy]
        [--set key=value ...] [--tag NAME] [--out bench]
    .venv/bin/python scripts/learning_curves.py --plot A.json B.json ... --out FIGURE.png

Each recipe trains as `python -m asdcore train` trains it (asdcore.jobs.pipeline.train_run, the same
seeded loop, then the full evaluation) in runs/_curves/<recipe>[-<tag>].  After every epoch the weights
that evaluation would use (the EMA's, where the recipe has one) score the labelled test clips with the
margin head's -log softmax, and the script records:

    seconds          training time so far (the epochs' own `seconds` in metrics.jsonl, without this scoring)
    val_acc, val_loss   on the held-out training normals, as metrics.jsonl has them
    auc              the average AUC over machine types (DCASE protocol), and per type
    id_acc           per type, the share of test normals whose nearest class centre is their own class
    raw              for recipes that evaluate an EMA of the weights: auc and id_acc of the weights themselves

It writes <out>/curves-<host>-<yyyymmdd-hhmm>[-<tag>].json and a PNG beside it (val ID accuracy and AUC against
epochs and seconds, one line per recipe).  --plot draws the runs of several such files in one
figure (settings side by side).  A figure, not a test.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd

from asdcore.config import parse_value
from asdcore.evaluation import metrics as metrics_mod
from asdcore.evaluation.evaluate import embed
from asdcore.evaluation.scoring import softmax_score
from asdcore.jobs.pipeline import train_run
from asdcore.recipes import resolve
from asdcore.runtime import Waveforms

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "runs" / "_curves"


def score_test_clips(epoch: int, training, config, raw: bool = False) -> dict:
    """The test AUC and the test normals' ID accuracy of the weights evaluation would use now (raw:
    of the trained weights themselves, where evaluation uses their EMA)."""
    splits = training.splits
    test = splits.test
    waves = Waveforms.of(test, config)
    labels = np.array([r.class_index for r in test], dtype=np.int64)
    table = pd.DataFrame({"machine_type": [r.machine_type for r in test], "machine_id": [r.machine_id for r in test],
                          "label": [int(r.is_anomaly) for r in test]})
    scores = np.full(len(test), np.nan)
    predicted = np.full(len(test), -1)
    for g in training.groups:
        index = np.array([i for i, r in enumerate(test) if g.name == "all" or r.machine_type == g.name], dtype=np.int64)
        model = g.model if raw else g.eval_model()
        out = embed(model, g.loss, waves, labels, training.front, config, training.device, index)
        if "logits" not in out:
            return {}  # no margin head (the autoencoder): no -log softmax to follow
        scores[index] = softmax_score(out["logits"], labels[index])
        cosine = out["cosine"]
        predicted[index] = (cosine.max(axis=2) if cosine.ndim == 3 else cosine).argmax(axis=1)
    table["score"] = scores
    result = metrics_mod.evaluate(table, "score", "dcase")
    normal = table["label"] == 0
    id_acc = (pd.Series(predicted == labels)[normal]).groupby(table.loc[normal, "machine_type"]).mean()
    return {"auc": result["average"]["auc"], "auc_per_type": {t: v["auc"] for t, v in result["per_type"].items()},
            "id_acc": {t: float(v) for t, v in id_acc.items()}}


def curve(recipe: str, preset: str, data: str, settings: dict, tag: str | None) -> dict:
    config = resolve(recipe, preset, {"data.roots": [data], **settings})
    run_dir = WORK / (recipe + (f"-{tag}" if tag else ""))
    if run_dir.exists():
        shutil.rmtree(run_dir)
    rows = []

    def on_epoch(epoch: int, training) -> None:
        t = time.time()
        history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
        row = {"epoch": epoch, "seconds": round(sum(h["seconds"] for h in history), 1),
               "val_acc": history[-1].get("val_acc"), "val_loss": history[-1].get("val_loss"),
               "lr": history[-1].get("lr"), **score_test_clips(epoch, training, config)}
        if any(g.ema is not None for g in training.groups):  # the EMA's lag, seen against the weights it averages
            row["raw"] = score_test_clips(epoch, training, config, raw=True)
        row["scoring_seconds"] = round(time.time() - t, 1)
        rows.append(row)
        print(f"{recipe} epoch {epoch}: {row['seconds']:.0f} s trained, val acc {row['val_acc']:.3f}, "
              f"test AUC {100 * row.get('auc', float('nan')):.2f}, test-normal ID accuracy "
              + ", ".join(f"{k} {v:.2f}" for k, v in row.get("id_acc", {}).items())
              + (f"; without the EMA: test AUC {100 * row['raw'].get('auc', float('nan')):.2f}" if "raw" in row else ""),
              flush=True)

    t0 = time.time()
    train_run(config, run_dir, progress=False, evaluate=True, on_epoch=on_epoch)
    final = json.loads((run_dir / "eval" / "metrics.json").read_text())
    return {"recipe": recipe, "preset": preset, "settings": settings, "run_dir": str(run_dir.relative_to(ROOT)),
            "epochs": rows, "final_auc": final["average"]["auc"], "final_backend": final["backend"],
            "selected_epoch": final["selected_epoch"], "wall_seconds": round(time.time() - t0, 1)}


def draw(results: dict, png: Path) -> None:
    """Validation ID accuracy and test AUC against epochs and seconds, screenshotted by Chromium."""
    from plotly.subplots import make_subplots

    from browser_driver import figure_png

    fig = make_subplots(rows=2, cols=2, shared_yaxes=True, subplot_titles=(
        "validation ID accuracy by epoch", "validation ID accuracy by seconds of training",
        "test AUC (-log softmax, DCASE average) by epoch", "test AUC by seconds of training"))
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]
    for i, run in enumerate(results["runs"]):
        rows, colour = run["epochs"], colours[i % len(colours)]
        name = run["recipe"] + (f" ({run['tag']})" if run.get("tag") else "")
        for r, key in ((1, "val_acc"), (2, "auc")):
            for c, x in ((1, "epoch"), (2, "seconds")):
                fig.add_scatter(x=[row[x] for row in rows], y=[row.get(key) for row in rows], mode="lines+markers",
                                name=name, legendgroup=name, showlegend=(r, c) == (1, 1),
                                line={"color": colour}, row=r, col=c)
    fig.update_xaxes(title_text="epoch", col=1, row=2)
    fig.update_xaxes(title_text="seconds of training (2 cores)", col=2, row=2)
    fig.update_layout(title=f"Learning curves, {results['date'][:10]}, {results['preset']} preset, {results['data']}",
                      width=1400, height=900, template="plotly_white")
    figure_png(fig, png)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipes", nargs="*")
    parser.add_argument("--plot", nargs="+", metavar="JSON", help="draw these result files in one figure, --out")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--data", default="data/toy")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every recipe, as `asdcore train --set`")
    parser.add_argument("--tag", default=None, help="a name for these settings (run folders, the figure's legend)")
    parser.add_argument("--out", default=str(ROOT / "bench"))
    args = parser.parse_args()
    if args.plot:
        merged = [json.loads(Path(p).read_text()) for p in args.plot]
        results = {**merged[0], "runs": [run for m in merged for run in m["runs"]]}
        draw(results, Path(args.out))
        print(f"learning curves of {len(results['runs'])} runs in {args.out}")
        return
    if not args.recipes:
        parser.error("name one or more recipes, or --plot result files")
    settings = {k: parse_value(v) for k, v in (item.split("=", 1) for item in args.set)}
    started = dt.datetime.now().isoformat(timespec="minutes")
    results = {"date": started, "preset": args.preset, "data": args.data, "host": socket.gethostname(), "runs": []}
    for recipe in args.recipes:
        results["runs"].append({**curve(recipe, args.preset, args.data, settings, args.tag), "tag": args.tag})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"curves-{socket.gethostname()}-{started.replace('-', '').replace(':', '').replace('T', '-')}"
    stem += f"-{args.tag}" if args.tag else ""
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    draw(results, out / f"{stem}.png")
    print(f"learning curves in {out / stem}.json and .png")


if __name__ == "__main__":
    main()
