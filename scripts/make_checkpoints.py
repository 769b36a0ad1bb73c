"""Train every recipe's quick preset on the default toy data and bundle the runs under checkpoints/.

    make checkpoints            (or: .venv/bin/python scripts/make_checkpoints.py [RECIPE ...] [--no-seeds | --seeds-only])

Each run is trained in a work folder (runs/_bundle/<recipe>), then copied to checkpoints/<recipe>
without its resume checkpoint (optimiser state), with its selected weights and its embeddings stored
in float16, so each bundled run stays a few MB.  Evaluation happens before anything is shrunk, so the
bundled eval/ artefacts are those of the float32 model.

The recipes in SHIFT are also trained on the domain-shift toy preset (data/toy-domain, made by
`make data-shift`) and bundled as checkpoints/shift-<recipe> (`--shift`: only those).

The recipes in SEEDED are trained twice more with training seeds 1 and 2 (same data; other initial
weights, batches, mixup and validation split) in runs/_bundle/<recipe>-seed<k>; their metrics, with
seed 0's, go to checkpoints/seeds.json (not their weights).  Finally checkpoints/RESULTS.md gets the
AUC / pAUC / mAUC table across recipes with the time each took and on what hardware, the mean and
spread over the three seeds, and the Gaussian baseline on the same data.

`--refresh-summaries` trains nothing: it adds to every bundled run's eval/metrics.json the summaries
that follow from its stored eval/ files (asdcore.evaluation.evaluate.refresh_summaries: the
attention summary, the bootstrap intervals), every other number as it was (a re-evaluation of the float16 weights would move
the AUCs).  Bundling does the same to each run it bundles.
"""
from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from asdcore.evaluation.evaluate import DERIVED, refresh_summaries
from asdcore.recipes import RECIPES
from asdcore.runs import Run, read_json, write_json_atomic

ROOT = Path(__file__).resolve().parent.parent

WORK = ROOT / "runs" / "_bundle"
OUT = ROOT / "checkpoints"
DATA = ROOT / "data" / "toy"
SHIFT_DATA = "data/toy-domain"  # relative, as a run's config names it (resolved against the project)
ORDER = ["stgram-ce", "stgram-arcface", "stgram-arcmix", "stgram-noisy-arcmix", "tastgram-ce", "tastgram-arcface",
         "tastgram-arcmix", "tastgram-noisy-arcmix", "logmel-osscl", "tfstgram-osscl", "dcase-ae"]
# the TASTgram recipes, the CE baselines and the autoencoder: trained with three seeds
SEEDED = ["stgram-ce", "tastgram-ce", "tastgram-arcface", "tastgram-arcmix", "tastgram-noisy-arcmix", "dcase-ae"]
EXTRA_SEEDS = (1, 2)
# trained on the domain-shift preset too, bundled as shift-<recipe>
# the two domain-shift systems (issue 12) are made for data with domains: bundled on it only
# the ensemble of the sub-cluster AdaCos system (five networks) and JLESS on its STFT input beside them
SHIFT = ["tastgram-noisy-arcmix", "subcluster-adacos", "subcluster-adacos-ensemble", "jless-mfn", "jless-mfn-stft"]
SHIFT_PREFIX = "shift-"
TYPES = ["fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"]


def train(recipe: str, work: Path, seed: int = 0, data: str | None = None) -> float:
    if work.exists():
        shutil.rmtree(work)
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "asdcore", "train", "--recipe", recipe, "--preset", "quick",
                    "--set", f"seed={seed}", "--run-dir", str(work), "--quiet"]
                   + (["--data", data] if data else []), check=True, cwd=ROOT)
    return time.time() - t0


def bundle(recipe: str, wall_seconds: float, name: str | None = None, label_suffix: str = "") -> None:
    """Copy runs/_bundle/<name> to checkpoints/<name> (name defaults to the recipe), shrunk."""
    name = name or recipe
    work, dest = WORK / name, OUT / name
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "eval").mkdir(parents=True)
    for file in ["config.json", "metrics.jsonl", "train.log"]:
        shutil.copy2(work / file, dest / file)
    if label_suffix:  # the run lists apart from the same recipe on the default data
        config = read_json(dest / "config.json")
        config["label"] += label_suffix
        write_json_atomic(dest / "config.json", config)
    for path in (work / "eval").iterdir():
        if path.name.endswith("embeddings.npy"):
            np.save(dest / "eval" / path.name, np.load(path).astype(np.float16))
        else:
            shutil.copy2(path, dest / "eval" / path.name)
    if (work / "model.pt").exists():  # an ensemble has none: its members' weights stay in the work folder
        state = torch.load(work / "model.pt", weights_only=True)
        for group in state["groups"].values():
            group["model"] = {k: v.half() if v.is_floating_point() else v for k, v in group["model"].items()}
        torch.save(state, dest / "model.pt")
    status = read_json(work / "status.json")
    status.update(pid=None, wall_seconds=round(wall_seconds, 1), bundled=True)
    write_json_atomic(dest / "status.json", status)
    refresh_summaries(dest)  # from the eval/ files as bundled (a no-op for a run evaluated with them)


def refresh_bundled_summaries() -> None:
    """refresh_summaries on every bundled run with an evaluation."""
    for run_dir in sorted(p for p in OUT.iterdir() if (p / "eval" / "metrics.json").is_file()):
        metrics = refresh_summaries(run_dir)
        stored = [key for key in DERIVED if key in metrics]
        print(f"{run_dir.name}: {', '.join(stored) or 'nothing'} stored", flush=True)


def summary(run: Run) -> dict:
    """What seeds.json keeps of a run: AUC / pAUC per type and the averages (default back-end)."""
    m = run.eval_metrics()
    return {"per_type": {t: {"auc": v["auc"], "pauc": v["pauc"]} for t, v in m["per_type"].items()},
            "average": m["average"], "train_seconds": m["train_seconds"]}


def gaussian_baseline() -> dict:
    from asdcore.data import scan_dataset
    from asdcore.data.baseline import auc_per_type, gaussian_baseline_scores

    table = auc_per_type(gaussian_baseline_scores(scan_dataset(str(DATA)), clip_seconds=2.0))
    return dict(zip(table["machine_type"], table["auc"]))


def _cell(values) -> str:
    values = 100 * np.asarray(values, dtype=float)
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def results_markdown(seeds: dict) -> str:
    lines = ["# Bundled results", "",
             "Every recipe's `quick` preset trained on the toy factory's default data set (toy seed 0, training "
             "seed 0) by `make checkpoints`. AUC / pAUC / mAUC in %, DCASE protocol (per machine ID, then "
             "averaged over IDs and types), each recipe's default back-end. pAUC is sklearn's "
             "`roc_auc_score(max_fpr=0.1)`, McClish-standardised, as in all published tables.", ""]
    header = "| recipe | " + " | ".join(TYPES) + " | average AUC | average pAUC | mAUC | train + eval time |"
    lines += [header, "|" + "---|" * (len(TYPES) + 5)]
    device = ""
    for recipe in ORDER:
        run = Run(OUT / recipe)
        if not run.has_eval:
            continue
        m = run.eval_metrics()
        device = m.get("device", device)
        cells = [f"{100 * m['per_type'][t]['auc']:.1f} / {100 * m['per_type'][t]['pauc']:.1f}"
                 if t in m["per_type"] else "-" for t in TYPES]
        wall = run.status.get("wall_seconds")
        lines.append(f"| {run.method} | " + " | ".join(cells) + f" | {100 * m['average']['auc']:.2f} | "
                     f"{100 * m['average']['pauc']:.2f} | {100 * m['average']['mauc']:.2f} | "
                     f"{m['train_seconds']:.0f} s + {m['eval_seconds']:.0f} s (wall {wall:.0f} s) |")
    gauss = gaussian_baseline()
    lines.append("| Gaussian on mean log-mel (no training) | " + " | ".join(
        f"{100 * gauss[t]:.1f} / -" if t in gauss else "-" for t in TYPES)
        + f" | {100 * np.mean(list(gauss.values())):.2f} | - | - | - |")
    lines += ["", "Per-type cells: AUC / pAUC. Hardware: " + f"{device}, {platform.processor() or platform.machine()}, "
              f"torch {torch.__version__}."]
    if seeds:
        lines += ["", "## Over three training seeds", "",
                  "AUC in %, mean ± standard deviation over training seeds 0, 1 and 2 (same data, other initial "
                  "weights, batches, mixup and validation split), each recipe's default back-end:", "",
                  "| recipe | " + " | ".join(TYPES) + " | average AUC | average pAUC |",
                  "|" + "---|" * (len(TYPES) + 3)]
        for recipe in [r for r in ORDER if r in seeds]:
            runs = list(seeds[recipe].values())
            cells = [_cell([r["per_type"][t]["auc"] for r in runs]) for t in TYPES]
            lines.append(f"| {RECIPES[recipe].label} | " + " | ".join(cells) + " | "
                         f"{_cell([r['average']['auc'] for r in runs])} | {_cell([r['average']['pauc'] for r in runs])} |")
    lines += shift_markdown()
    return "\n".join(lines) + "\n"


def shift_markdown() -> list[str]:
    """The bundled runs on the domain-shift preset, as DCASE 2021-2023 report them."""
    runs = [Run(OUT / (SHIFT_PREFIX + r)) for r in SHIFT if Run(OUT / (SHIFT_PREFIX + r)).has_eval]
    if not runs:
        return []
    lines = ["", "## On the domain-shift preset", "",
             f"`quick` preset on `{SHIFT_DATA}` (`make data-shift`: toy seed 0, 23 sections, 120 source and 4 target "
             "training clips each). Harmonic means over sections in %, each recipe's default back-end; AUC (source / "
             "target): that domain's normals against all the section's anomalies, pAUC both domains pooled; the "
             "official score is the harmonic mean of every source AUC, target AUC and pAUC. The times are as "
             "measured, with whatever else ran on the 2-core machine then (the README gives idle figures).", "",
             "| run | " + " | ".join(f"{t} AUC source / target" for t in TYPES)
             + " | h-mean source | h-mean target | official score | train + eval time |",
             "|" + "---|" * (len(TYPES) + 5)]
    for run in runs:
        m = run.eval_metrics()
        block = m["domain_shift"]["by_backend"][m["backend"]]
        per_type = {r["machine_type"]: r for r in block["machine_types"] if r["mean"] == "harmonic"}
        pct = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
        cells = [f"{pct(per_type[t]['auc_source'])} / {pct(per_type[t]['auc_target'])}" if t in per_type else "-"
                 for t in TYPES]
        lines.append(f"| {run.method} ({run.id}) | " + " | ".join(cells) + f" | {pct(block['hmean_source'])} | "
                     f"{pct(block['hmean_target'])} | {pct(block['official_score'])} | "
                     f"{m['train_seconds']:.0f} s + {m['eval_seconds']:.0f} s (wall {run.status.get('wall_seconds'):.0f} s) |")
    return lines


def bundle_shift(recipes: list[str]) -> None:
    """Train and bundle `recipes` on the domain-shift preset as checkpoints/shift-<recipe>."""
    if not (ROOT / SHIFT_DATA).is_dir():
        raise SystemExit(f"{SHIFT_DATA} does not exist: run `make data-shift` first")
    for recipe in recipes:
        name = SHIFT_PREFIX + recipe
        print(f"== {recipe} on {SHIFT_DATA}", flush=True)
        seconds = train(recipe, WORK / name, data=SHIFT_DATA)
        bundle(recipe, seconds, name=name, label_suffix=" · domain shift")
        print(f"   bundled in {OUT / name} ({seconds:.0f} s)", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipes", nargs="*", default=ORDER)
    parser.add_argument("--no-seeds", action="store_true", help="skip the seed 1 and 2 runs")
    parser.add_argument("--seeds-only", action="store_true",
                        help="keep the bundled runs; train only the seed 1 and 2 runs missing from seeds.json")
    parser.add_argument("--shift", action="store_true",
                        help=f"only the runs on the domain-shift preset ({', '.join(SHIFT)}), from {SHIFT_DATA}")
    parser.add_argument("--refresh-summaries", action="store_true",
                        help="train nothing: add the summaries that follow from the stored eval/ files (the "
                             "attention summary) to every bundled run's metrics.json, other numbers unchanged")
    args = parser.parse_args(argv)
    if args.refresh_summaries:
        refresh_bundled_summaries()
        return
    if args.shift:
        if not [r for r in args.recipes if r in SHIFT]:
            raise SystemExit(f"--shift bundles {', '.join(SHIFT)} only")
        bundle_shift([r for r in args.recipes if r in SHIFT])
        (OUT / "RESULTS.md").write_text(results_markdown(read_json(OUT / "seeds.json", {}) or {}))
        return
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown:
        raise SystemExit(f"unknown recipe(s) {unknown}")
    seeds_path = OUT / "seeds.json"
    seeds = read_json(seeds_path, {}) or {}
    if args.no_seeds and args.seeds_only:
        raise SystemExit("--no-seeds and --seeds-only contradict each other")
    for recipe in [] if args.seeds_only else args.recipes:
        print(f"== {recipe}", flush=True)
        seconds = train(recipe, WORK / recipe)
        bundle(recipe, seconds)
        print(f"   bundled in {OUT / recipe} ({seconds:.0f} s)", flush=True)
        if recipe in SEEDED:
            seeds[recipe] = {"0": summary(Run(OUT / recipe))}
    for recipe in [r for r in args.recipes if r in SEEDED and not args.no_seeds]:
        if args.seeds_only and "0" not in seeds.get(recipe, {}):
            seeds.setdefault(recipe, {})["0"] = summary(Run(OUT / recipe))
        for seed in EXTRA_SEEDS:
            if args.seeds_only and str(seed) in seeds.get(recipe, {}):
                continue  # measured already: resume where an interrupted run stopped
            print(f"== {recipe}, training seed {seed}", flush=True)
            work = WORK / f"{recipe}-seed{seed}"
            train(recipe, work, seed)
            seeds.setdefault(recipe, {})[str(seed)] = summary(Run(work))
            write_json_atomic(seeds_path, seeds)
    write_json_atomic(seeds_path, seeds)
    if not args.seeds_only and args.recipes == ORDER:  # a whole `make checkpoints`
        bundle_shift(SHIFT)
    (OUT / "RESULTS.md").write_text(results_markdown(seeds))
    print((OUT / "RESULTS.md").read_text())


if __name__ == "__main__":
    main()
