"""The command line.

    python -m asdcore data check PATH [PATH ...]     what a folder holds, and every problem file
    python -m asdcore data toy --out DIR [--preset tiny|default|dcase-scale] [--seed N]
    python -m asdcore data baseline PATH [PATH ...]  AUC of a Gaussian on mean log-mel, per type
    python -m asdcore models [--n-mels 128 --n-frames 313]
"""
from __future__ import annotations

import argparse
import sys


def _data_check(args) -> int:
    from .data.check import run_check

    return run_check(args.paths)


def _data_toy(args) -> int:
    from .data.toy import PRESETS, ToyDataError, generate

    try:
        out = generate(args.out, preset=args.preset, seed=args.seed, workers=args.workers,
                       progress=not args.quiet)
    except ToyDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"toy data set ready: {out} (preset {args.preset}: {PRESETS[args.preset].clip_seconds:g} s clips)")
    return 0


def _data_baseline(args) -> int:
    from .data import scan_dataset
    from .data.baseline import auc_per_type, gaussian_baseline_scores

    ds = scan_dataset(args.paths)
    if not ds.records:
        print("error: no usable clips found (run `python -m asdcore data check PATH` to see why)",
              file=sys.stderr)
        return 1
    table = auc_per_type(gaussian_baseline_scores(ds, args.clip_seconds))
    if table.empty:
        print("error: no machine ID has both training normals and labelled test clips", file=sys.stderr)
        return 1
    print("Gaussian on time-averaged log-mel, AUC per machine ID averaged per type (DCASE protocol):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"average AUC: {table['auc'].mean():.3f}")
    return 0


def _models(args) -> int:
    from .registry import models_table

    print(models_table(n_mels=args.n_mels, n_frames=args.n_frames))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m asdcore",
                                     description="margin-loss anomalous sound detection toolkit")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="data sets: check a folder, make the toy factory's data")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    check = data_sub.add_parser("check", help="scan folders in the DCASE layout and report problems")
    check.add_argument("paths", nargs="+", help="data set roots (e.g. dev_data and add_dev_data)")
    check.set_defaults(func=_data_check)
    toy = data_sub.add_parser("toy", help="write the toy factory's synthetic data set")
    toy.add_argument("--out", required=True, help="output folder (must be new, empty, or an unfinished toy set)")
    toy.add_argument("--preset", default="default", choices=["tiny", "default", "dcase-scale"])
    toy.add_argument("--seed", type=int, default=0)
    toy.add_argument("--workers", type=int, default=None, help="processes (default: up to 4)")
    toy.add_argument("--quiet", action="store_true", help="no progress bar")
    toy.set_defaults(func=_data_toy)
    base = data_sub.add_parser("baseline", help="AUC of a Gaussian on time-averaged log-mel per machine ID")
    base.add_argument("paths", nargs="+")
    base.add_argument("--clip-seconds", type=float, default=None,
                      help="crop/pad clips to this length (default: each file's own length)")
    base.set_defaults(func=_data_baseline)

    models = sub.add_parser("models", help="list the registered models with their parameter counts")
    models.add_argument("--n-mels", type=int, default=128)
    models.add_argument("--n-frames", type=int, default=313)
    models.set_defaults(func=_models)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
