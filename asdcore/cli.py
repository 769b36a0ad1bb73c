"""The command line.

    python -m asdcore data check PATH [PATH ...] [--mimii-test-normals N] [--channel C]
                                                     what a folder holds, and every problem file
    python -m asdcore data toy --out DIR [--preset tiny|default|dcase-scale] [--seed N]
    python -m asdcore data download NAME --to DIR [--machine TYPE] [--mirror URL] | --list
                                                     fetch an official DCASE 2020-2025 Task 2 data set
    python -m asdcore data baseline PATH [PATH ...]  AUC of a Gaussian on mean log-mel, per type
    python -m asdcore data diagnose PATH [PATH ...] [--run RUN ...] [--ae RUN|none]
                                                     AUC per type and fault kind: baselines and runs
    python -m asdcore models [--n-mels 128 --n-frames 313]
    python -m asdcore recipes
    python -m asdcore train --recipe NAME [--data PATH ...] [--preset tiny|quick|paper] [--set key=value ...]
                            [--device auto|cpu|cuda] [--run-dir DIR] [--resume] [--queue] [--no-eval]
    python -m asdcore evaluate RUN_DIR [--json] [--recompute]
    python -m asdcore score RUN PATH [PATH ...] [--type T --id ID] [--json] [--save NAME] [--neighbours K]
                                                     score new WAV files (or folders) with a trained run
    python -m asdcore runs

`asdcore ...` (the console script `make setup` installs) is the same as `python -m asdcore ...`.
Each subcommand imports what it needs when it runs: `asdcore --help` and `asdcore runs` answer
at once instead of after torch and scikit-learn have loaded (seconds).  The import-graph test
(tests/test_import_graph.py) sees these imports too, so they cannot hide a cycle.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path


def _data_check(args) -> int:
    from .data.check import run_check

    return run_check(args.paths, mimii_test_normals=args.mimii_test_normals, channel=args.channel)


def _data_toy(args) -> int:
    from .data.toy import PRESETS, ToyDataError, generate

    try:
        out = generate(args.out, preset=args.preset, seed=args.seed, workers=args.workers,
                       progress=not args.quiet, replace_outdated=args.replace_outdated)
    except ToyDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"toy data set ready: {out} (preset {args.preset}: {PRESETS[args.preset].clip_seconds:g} s clips)")
    return 0


def _data_download(args) -> int:
    from .data.download import download, list_text

    if args.list:
        print(list_text())
        return 0
    if not args.name or not args.to:
        print("error: give a data-set NAME and --to DIR (or --list to see the names)", file=sys.stderr)
        return 2
    return download(args.name, args.to, mirror=args.mirror, machine=args.machine, progress=not args.quiet)


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


def _data_diagnose(args) -> int:
    from .diagnose import attention_summary, diagnose_table, find_autoencoder_run, format_attention, format_tables
    from .runs import Run, resolve_root

    runs = []
    for path in args.run or []:
        run = Run(path)
        if not run.has_eval:
            print(f"error: {path} is not an evaluated run (no eval/metrics.json): run "
                  f"`python -m asdcore evaluate {path}` first", file=sys.stderr)
            return 2
        runs.append(run)
    roots = [resolve_root(p) for p in args.paths]
    missing = [str(r) for r in roots if not Path(r).is_dir()]
    if missing:
        print(f"error: no such data folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    autoencoder = None
    if args.ae != "none":
        autoencoder = Run(args.ae) if args.ae else find_autoencoder_run(roots)
        if autoencoder is not None and not autoencoder.has_eval:
            print(f"error: {args.ae} is not an evaluated run", file=sys.stderr)
            return 2
        if autoencoder is None:
            autoencoder = _train_autoencoder(roots)
    aucs, classifier = diagnose_table(roots, runs, autoencoder, args.clip_seconds)
    if aucs.empty:
        print("error: no machine ID has both training normals and labelled test clips", file=sys.stderr)
        return 1
    if autoencoder is not None:
        print(f"autoencoder: the DCASE 2020 AE baseline of run {autoencoder.path}")
    print(format_tables(aucs, classifier))
    for run in runs:
        summary = attention_summary(run)
        if summary is not None:
            print("\n" + format_attention(run, summary))
    return 0


def _train_autoencoder(roots):
    """Train the DCASE 2020 autoencoder baseline (quick preset) on these roots as a normal run under
    runs/, so the next diagnosis finds and reuses it."""
    from .paths import runs_root
    from .recipes import resolve
    from .runs import Run, new_run_id, portable_root
    from .jobs.pipeline import train_run

    run_dir = runs_root() / new_run_id("dcase-ae", "quick")
    print(f"no evaluated dcase-ae run on this data yet: training the DCASE 2020 autoencoder baseline "
          f"(quick preset, a minute or two on 2 CPU cores) in {run_dir}; the next diagnosis reuses it",
          flush=True)
    config = resolve("dcase-ae", "quick", {"data.roots": [portable_root(r) for r in roots]})
    train_run(config, run_dir, progress=False)
    return Run(run_dir)


def _models(args) -> int:
    from .registry import models_table

    print(models_table(n_mels=args.n_mels, n_frames=args.n_frames))
    return 0


def _recipes(args) -> int:
    from .recipes import recipes_table

    print(recipes_table())
    return 0


def _parse_sets(pairs) -> dict:
    from .config import parse_value

    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--set takes key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = parse_value(value.strip())
    return out


def _train(args) -> int:
    from .paths import runs_root
    from .recipes import resolve
    from .runs import mark_queued, new_run_id, portable_root
    from .jobs.pipeline import Cancelled, train_run
    from .training.distributed import launched_by_torchrun

    if args.resume:
        if not args.run_dir:
            print("error: --resume needs --run-dir (the run to continue)", file=sys.stderr)
            return 2
        try:
            train_run(None, args.run_dir, resume=True, progress=not args.quiet, evaluate=not args.no_eval)
        except Cancelled:
            return 130
        except (OSError, ValueError) as exc:  # a folder in use, a full disk: the message says which
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if not args.recipe:
        print("error: --recipe is required (see `python -m asdcore recipes`)", file=sys.stderr)
        return 2
    try:
        overrides = _parse_sets(args.set)
        if args.data:
            overrides["data.roots"] = [portable_root(p) for p in args.data]
        if args.device:
            overrides["device"] = args.device
        config = resolve(args.recipe, args.preset, overrides)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    if launched_by_torchrun() and (not args.run_dir or args.queue):
        print("error: under torchrun give --run-dir (every process must use the same run folder), and no "
              "--queue", file=sys.stderr)
        return 2
    run_dir = Path(args.run_dir) if args.run_dir else runs_root() / new_run_id(args.recipe, args.preset)
    if args.queue:
        # wait for the earlier runs in the folder (cancellable with SIGTERM while waiting), then
        # train the queued folder: the same entry the app's launcher uses
        from .jobs.launcher import main as run_queued

        if not (run_dir / "status.json").exists():
            mark_queued(run_dir, config)
        print(f"run folder: {run_dir} (queued)", flush=True)
        return run_queued([str(run_dir)])
    print(f"run folder: {run_dir}", flush=True)
    try:
        train_run(config, run_dir, progress=not args.quiet, evaluate=not args.no_eval)
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:  # a folder in use or holding a run, a full disk: the message says which
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print_metrics(run_dir)
    return 0


def _print_metrics(run_dir) -> None:
    from .evaluation.metrics import metrics_table
    from .runs import Run

    run = Run(run_dir)
    m = run.eval_metrics()
    if not m:
        return
    table = metrics_table({"per_type": m["per_type"], "average": m["average"]}, percent=True)
    print(f"\n{run.label}: back-end {m['backend']}, DCASE protocol (per machine ID, then averaged), %")
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))
    print(m["pauc_note"])
    for note in m.get("by_backend", {}).get(m["backend"], {}).get("dcase", {}).get("notes", []):
        print(f"note: {note}")
    if m.get("untrained_left_out"):
        left = m["untrained_left_out"]
        print(f"warning: {sum(left.values())} test clip(s) of machine IDs / sections with no training clips were left "
              f"out (no model learnt them; not scored, not averaged): "
              + ", ".join(f"{k} ({n})" for k, n in left.items()))
    if m.get("skipped_files"):
        skipped = m["skipped_files"]
        print(f"warning: {len(skipped)} file(s) of the data roots cannot be used and were skipped (the others "
              f"trained and were scored):\n" + "\n".join(f"  {line}" for line in skipped))
    if m.get("n_unlabelled_clips"):
        print(f"{m['n_unlabelled_clips']} unlabelled test clips (an evaluation set) scored, not counted: "
              f"{run.path / 'eval' / 'unlabelled_clips.parquet'}")
    if "domain_shift" in m:
        print("\n" + domain_shift_text(m["domain_shift"], m["backend"]))


def domain_shift_text(block: dict, backend: str) -> str:
    """The DCASE 2021-2023 table of metrics.json's domain_shift block: per machine type the
    harmonic means over its sections, then the official score, in %."""
    result = block["by_backend"][backend]
    rows = [(r["machine_type"], r["auc_source"], r["auc_target"], r["pauc"]) for r in result["machine_types"]
            if r["mean"] == "harmonic"]
    pct = lambda v: "   -" if v is None else f"{100 * v:6.2f}"  # noqa: E731
    lines = [f"domain shift (back-end {backend}): harmonic means over sections, %",
             f"{'machine type':14s} {'AUC source':>10s} {'AUC target':>10s} {'pAUC':>6s}"]
    lines += [f"{t:14s} {pct(s):>10s} {pct(g):>10s} {pct(p):>6s}" for t, s, g, p in rows]
    lines.append(f"official score (harmonic mean of every source AUC, target AUC and pAUC): "
                 f"{pct(result['official_score']).strip()}; arithmetic mean {pct(result['arithmetic_mean']).strip()}")
    lines += [f"undefined: {u}" for u in result["undefined"]]
    return "\n".join(lines)


def _evaluate(args) -> int:
    from .evaluation.evaluate import evaluate_run
    from .runs import Run

    run = Run(args.run_dir)
    if not (run.path / "config.json").exists():
        print(f"error: {run.path} is not a run folder (no config.json)", file=sys.stderr)
        return 2
    if args.recompute or not run.has_eval:
        if run.bundled and run.has_eval:
            print(f"error: {run.path} is a bundled run (read-only); copy it to runs/ to re-evaluate it",
                  file=sys.stderr)
            return 2
        try:
            if (run.config.get("ensemble") or {}).get("subclusters"):  # the sub-cluster AdaCos ensemble
                from .evaluation.ensemble import evaluate_ensemble

                evaluate_ensemble(Path(args.run_dir), progress=not args.json)
            else:
                evaluate_run(Path(args.run_dir), progress=not args.json)
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(run.eval_metrics(), indent=2))
    else:
        _print_metrics(run.path)
    return 0


def _run_by_name(name: str):
    """A run folder given as a path, or as a run id listed by `asdcore runs`."""
    from .runs import Run, list_runs

    if (Path(name) / "config.json").exists():
        return Run(name)
    for run in list_runs():
        if run.id == name:
            return run
    raise ValueError(f"{name}: neither a run folder (no config.json there) nor a run id listed by `asdcore runs`")


def _compare(args) -> int:
    from .significance import format_comparison, paired_comparison, seed_spread

    try:
        run_a, run_b = _run_by_name(args.run_a), _run_by_name(args.run_b)
        for run in (run_a, run_b):
            if not run.has_eval:
                raise ValueError(f"{run.path} is not evaluated yet: python -m asdcore evaluate {run.path}")
        comparison = paired_comparison(run_a, run_b, args.backend, args.protocol)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_comparison(comparison, per_id=args.per_id))
    spread = seed_spread({r.recipe for r in (run_a, run_b) if r.bundled})
    if not spread.empty:
        print("\nOver training seeds (checkpoints/seeds.json, the bundled recipes trained with seeds 0, 1 and 2): "
              "average AUC " + "; ".join(f"{row[('recipe', '')]} {row[('Average', 'mean')]:.1f} ± "
                                         f"{row[('Average', 'sd')]:.1f}" for _, row in spread.iterrows()))
    return 0


def _score(args) -> int:
    from .clip_scoring import ScoringError, as_records, format_table, save_scoring, score_files
    from .runtime import CheckpointError

    try:
        run = _run_by_name(args.run)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.neighbours < 0:
        print(f"error: --neighbours must be 0 or more, got {args.neighbours}", file=sys.stderr)
        return 2
    if args.save:  # refused before anything is scored, not after
        target = run.path / "scorings" / args.save
        if target.exists():
            print(f"error: {target} already exists: not overwriting it (choose another --save name)", file=sys.stderr)
            return 2
    progress = _progress_bar(not args.quiet)
    try:
        result = score_files(run, args.paths, args.type, args.id, k=args.neighbours, on_clip=progress)
    except (ScoringError, CheckpointError, OSError) as exc:  # not evaluated, damaged weights, eval/ files gone
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.close()
    print(json.dumps(as_records(result), indent=2) if args.json else format_table(result))
    if args.save:
        try:
            where = save_scoring(result, args.save)
        except ScoringError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"saved: {where}", file=sys.stderr)
    return 0 if len(result.scored) else 1


class _progress_bar:
    """A tqdm bar on stderr for folders (more than one file), fed by score_files' on_clip."""

    def __init__(self, enabled: bool):
        self.enabled, self.bar = enabled, None

    def __call__(self, done: int, total: int, path) -> None:
        if not self.enabled or total < 2:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="clip", desc="reading", file=sys.stderr, leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _warm_up(args) -> int:
    from .jit_warmup import warm_up

    for line in warm_up():
        print(line)
    return 0


def _runs(args) -> int:
    from .runs import list_runs, run_summary

    rows = run_summary(list_runs())
    if not rows:
        print("no runs yet: start one with `python -m asdcore train --recipe tastgram-noisy-arcmix --preset quick`")
        return 0

    def percent(value) -> str:
        return "-" if value is None else f"{value:.2f}"

    print(f"{'run':48s} {'state':10s} {'recipe':24s} {'preset':7s} {'epoch':>7s} {'AUC':>6s} {'pAUC':>6s}")
    for row in rows:
        name = row["id"] + (" (bundled)" if row["bundled"] else "")
        epochs = "?" if row["epochs"] is None else row["epochs"]
        print(f"{name:48s} {row['state']:10s} {row['recipe']:24s} {str(row['preset']):7s} "
              f"{row['epoch']!s:>3}/{epochs!s:<3} {percent(row['auc_pct']):>6s} {percent(row['pauc_pct']):>6s}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .data.toy.presets import PRESETS as TOY_PRESETS

    parser = argparse.ArgumentParser(prog="asdcore" if Path(sys.argv[0]).name == "asdcore" else "python -m asdcore",
                                     description="margin-loss anomalous sound detection toolkit")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="data sets: check a folder, make the toy factory's data")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    check = data_sub.add_parser("check", help="scan folders in the DCASE layout and report problems")
    check.add_argument("paths", nargs="+", help="data set roots (e.g. dev_data and add_dev_data)")
    check.add_argument("--mimii-test-normals", type=int, default=None, metavar="N",
                       help="MIMII folders: normal clips per machine ID that go to test (default: as many as its "
                            "abnormal clips, as DCASE 2020 did); a run's data.mimii_test_normals")
    check.add_argument("--channel", type=int, default=0, metavar="C",
                       help="the channel of multi-channel files a run reads (a run's data.channel; default 0)")
    check.set_defaults(func=_data_check)
    toy = data_sub.add_parser("toy", help="write the toy factory's synthetic data set")
    toy.add_argument("--out", required=True, help="output folder (must be new, empty, or an unfinished toy set)")
    toy.add_argument("--preset", default="default", choices=list(TOY_PRESETS))
    toy.add_argument("--seed", type=int, default=0)
    toy.add_argument("--workers", type=int, default=None, help="processes (default: up to 4)")
    toy.add_argument("--quiet", action="store_true", help="no progress bar")
    toy.add_argument("--replace-outdated", action="store_true",
                     help="replace a toy set of the same preset and seed made by an older version of the "
                          "generator (its own clips only; `make data` does this)")
    toy.set_defaults(func=_data_toy)
    dl = data_sub.add_parser("download", help="fetch an official DCASE 2020-2025 Task 2 data set (resumable, "
                                              "verified, unpacked without replacing anything)")
    dl.add_argument("name", nargs="?", help="e.g. dcase2020-dev, dcase2020-add, dcase2020-eval (--list shows all)")
    dl.add_argument("--to", metavar="DIR", help="where to put it: DIR/NAME is the data-set root, DIR/archives/NAME "
                                                "keeps the verified archives")
    dl.add_argument("--list", action="store_true", help="show each name's files and sizes, download nothing")
    dl.add_argument("--machine", metavar="TYPE", help="only this machine type's archives (e.g. fan)")
    dl.add_argument("--mirror", metavar="URL", help="fetch the Zenodo files from this mirror instead of zenodo.org, keeping "
                                                    "the path (e.g. https://mirror.example.org)")
    dl.add_argument("--quiet", action="store_true", help="no progress bar")
    dl.set_defaults(func=_data_download)
    base = data_sub.add_parser("baseline", help="AUC of a Gaussian on time-averaged log-mel per machine ID")
    base.add_argument("paths", nargs="+")
    base.add_argument("--clip-seconds", type=float, default=None,
                      help="crop/pad clips to this length (default: each file's own length)")
    base.set_defaults(func=_data_baseline)
    diag = data_sub.add_parser("diagnose", help="AUC per machine type and fault kind: the simple baselines "
                               "and each back-end of the given runs, with their machine-ID accuracy and angles")
    diag.add_argument("paths", nargs="+", help="data set roots")
    diag.add_argument("--run", action="append", help="an evaluated run on this data (repeat for several)")
    diag.add_argument("--ae", default=None, help="the dcase-ae run to use as the autoencoder baseline "
                      "(default: the newest one on this data, trained now if there is none; 'none' to skip)")
    diag.add_argument("--clip-seconds", type=float, default=None,
                      help="crop/pad clips to this length for the Gaussian (default: each file's own length)")
    diag.set_defaults(func=_data_diagnose)

    models = sub.add_parser("models", help="list the registered models with their parameter counts")
    models.add_argument("--n-mels", type=int, default=128)
    models.add_argument("--n-frames", type=int, default=313)
    models.set_defaults(func=_models)

    recipes = sub.add_parser("recipes", help="list the recipes (the papers' methods) and presets")
    recipes.set_defaults(func=_recipes)

    train = sub.add_parser("train", help="train (and evaluate) a recipe")
    train.add_argument("--recipe", help="a recipe name (python -m asdcore recipes)")
    train.add_argument("--data", action="append", help="data set root (repeat for several; default data/toy)")
    train.add_argument("--preset", default="quick", choices=["tiny", "quick", "paper"])
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a setting, e.g. --set m=0.5 --set train.epochs=3")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    train.add_argument("--run-dir", help="run folder (default runs/<time>-<recipe>-<preset>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    train.add_argument("--queue", action="store_true", help="wait until earlier runs in the folder finish")
    train.add_argument("--no-eval", action="store_true", help="skip the evaluation after training")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    evaluate = sub.add_parser("evaluate", help="score a run's test clips and print AUC / pAUC / mAUC")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--json", action="store_true", help="print metrics.json")
    evaluate.add_argument("--recompute", action="store_true", help="evaluate again even if eval/ exists")
    evaluate.set_defaults(func=_evaluate)

    compare = sub.add_parser("compare", help="is a difference between two runs real? DeLong's paired test on the "
                             "test clips both scored, per machine type and on average")
    compare.add_argument("run_a", help="a run folder, or a run id listed by `asdcore runs`")
    compare.add_argument("run_b")
    compare.add_argument("--per-id", action="store_true", help="also each machine ID's difference and test")
    compare.add_argument("--protocol", default="dcase", choices=["dcase", "pooled"],
                         help="dcase: per machine ID, then the mean over a type's IDs (default); pooled: per type")
    compare.add_argument("--backend", default="default",
                         help="the scores to compare (softmax, cosine, gmm, knn, lof, ...; default: each run's own)")
    compare.set_defaults(func=_compare)

    score = sub.add_parser("score", help="score new WAV files (or folders of them) with a trained run: score and "
                           "decision at the run's threshold, predicted machine ID, angles, diagnosis, nearest "
                           "training normals")
    score.add_argument("run", metavar="RUN", help="a run folder, or a run id listed by `asdcore runs`")
    score.add_argument("paths", nargs="+", metavar="PATH", help="WAV files, or folders (their audio files, recursively)")
    score.add_argument("--type", help="the machine type of every file (default: each file's folder, as the DCASE "
                                      "layout <type>/<split>/<name> says)")
    score.add_argument("--id", help="the machine ID / section of every file (default: each file's name, "
                                    "e.g. normal_id_00_00000000.wav or section_00_..._0000.wav)")
    score.add_argument("--json", action="store_true", help="print one JSON object per file instead of the table")
    score.add_argument("--save", metavar="NAME", help="also keep the scoring under RUN/scorings/NAME/ (refused when "
                                                      "it exists); without it nothing is written")
    score.add_argument("--neighbours", type=int, default=5, metavar="K", help="nearest training normals per clip "
                                                                              "(default 5)")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    score.set_defaults(func=_score)

    runs = sub.add_parser("runs", help="list the runs (yours under runs/, then the bundled ones)")
    runs.set_defaults(func=_runs)
    warm = sub.add_parser("warm-up", help="compile now what a first run would compile (UMAP's numba code, the fused "
                                          "PReLU backward): make setup runs it once")
    warm.set_defaults(func=_warm_up)
    return parser


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """asdcore's own warnings (a resampled file, the audio cache falling back to RAM) as one plain
    line, "warning: <message>": they name the file and the reason, and the source line Python
    prints by default reads like a crash.  Warnings from other packages keep Python's format."""
    if "/asdcore/" in Path(filename).as_posix():  # raised in this package's code
        return f"warning: {message}\n"
    return _python_warning_line(message, category, filename, lineno, line)


_python_warning_line = warnings.formatwarning


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _warning_line
    return args.func(args)
