"""Check the toy factory's calibration on a toy seed it was not tuned on.

    .venv/bin/python scripts/calibrate_toy.py [--preset default] [--seed 1] [RECIPE ...]

Makes data/calibration/<preset>-seed<seed> (once), trains each recipe's quick preset on it in
runs/_calibration/<preset>-seed<seed>/<recipe> (an evaluated run there is kept, not retrained), then
prints the AUC table across recipes (each recipe's default back-end, DCASE protocol, in %), and the
diagnosis per fault kind with the Gaussian, the autoencoder and the TASTgram-MFN (Noisy-ArcMix) run
(`python -m asdcore data diagnose`).  About an hour for every recipe on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from asdcore.compare import display_frame, results_table
from asdcore.recipes import RECIPES
from asdcore.runs import Run

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipes", nargs="*", default=list(RECIPES))
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    name = f"{args.preset}-seed{args.seed}"
    data, work = ROOT / "data" / "calibration" / name, ROOT / "runs" / "_calibration" / name
    python = [sys.executable, "-m", "asdcore"]
    subprocess.run(python + ["data", "toy", "--out", str(data), "--preset", args.preset, "--seed", str(args.seed),
                             "--quiet"], check=True, cwd=ROOT)
    runs = {}
    for recipe in args.recipes:
        run = Run(work / recipe)
        if not run.has_eval:
            print(f"== {recipe} on {name}", flush=True)
            subprocess.run(python + ["train", "--recipe", recipe, "--preset", "quick", "--data", str(data),
                                     "--run-dir", str(run.path), "--quiet"], check=True, cwd=ROOT)
        runs[recipe] = Run(work / recipe)
    table = display_frame(results_table(list(runs.values()), reference=False))
    print(f"\nToy preset {args.preset!r}, seed {args.seed}: AUC / pAUC / mAUC in %, each recipe's default back-end\n")
    print(table.to_string())
    diagnose = python + ["data", "diagnose", str(data), "--clip-seconds", "2"]
    if "dcase-ae" in runs:
        diagnose += ["--ae", str(runs["dcase-ae"].path)]
    if "tastgram-noisy-arcmix" in runs:
        diagnose += ["--run", str(runs["tastgram-noisy-arcmix"].path)]
    print()
    subprocess.run(diagnose, check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
