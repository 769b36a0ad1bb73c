"""`make bench`: the engine's speed and memory on this machine, side by side, in one run.

    .venv/bin/python scripts/bench.py [--out bench] [--only a,b,...] [--steps N]

    (a) training clips/s: our loop (audio cache, log-mel on the device every step, torch mixup,
        channels-last, eager and torch.compile'd) against a loop that loads and featurises as the
        reference implementations do (every clip float32 in RAM, log-mel precomputed once, numpy
        mixup, the model eager in its default layout); same model (TASTgram-MFN with
        Noisy-ArcMix), same batch, 2 s and 10 s clips
    (b) evaluation clips/s: batched (eval.batch_size) against one clip at a time
    (c) peak memory (RSS) of a process training on the scale-5k toy set (5 125 training clips of
        10 s: an eighth of dcase-scale) through the audio cache, against one holding the set as
        float32 in RAM with its log-mels, as the reference codes do; each in its own process
    (d) seconds to the first training step: cold audio cache, warm audio cache, and decoding into RAM
    (e) seconds per epoch of each recipe's quick preset (timed batches, extrapolated to the epoch,
        plus the measured validation and the EMA's BatchNorm refresh), beside the bundled runs'
    (f) the app: the first render of each page (scripts/bench_pages.py, one fresh server)
    (g) the app under load: 1, 10 and 30 sessions at once opening Home, Compare, Angles and Embeddings,
        then 10 beside a training: p50 / p95 per page, errors, the server's RSS and CPU
        (scripts/bench_load.py, its own fresh server; also writes <out>/load-<host>-<date>.json)
    (h) a whole quick run of TASTgram-MFN (Noisy-ArcMix), training and evaluation, in its own process:
        where its time went (its timings.json: start-up, data, steps, validation, BatchNorm refresh,
        saving, each evaluation phase), the total against the 240 s target, the AUC against the
        bundled run's

Prints the hardware, writes <out>/bench-<host>-<yyyymmdd-hhmm>.json and draws the figures into a PNG
beside it (plotly, rendered by Chromium).  Figures, not tests: nothing here passes or fails.
Needs data/toy, data/toy-domain and data/scale-5k (`make bench` makes them).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from asdcore.evaluation.evaluate import embed
from asdcore.features import LogMel
from asdcore.recipes import RECIPES, resolve
from asdcore.registry import create_loss
from asdcore.runtime import Waveforms, build_model, feature_config, float_output, pick_device, prepare_splits
from asdcore.training import loop

ROOT = Path(__file__).resolve().parent.parent

DATA = {"default": ROOT / "data" / "toy", "shift": ROOT / "data" / "toy-domain", "scale": ROOT / "data" / "scale-5k"}
SHIFT_RECIPES = ("subcluster-adacos", "jless-mfn")  # trained on the domain-shift data (make checkpoints)
RECIPE_A = "tastgram-noisy-arcmix"


def hardware() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__, "python": platform.python_version(),
            "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
            "load_average_at_start": os.getloadavg()[0]}


def _config(recipe: str, data: Path, **settings):
    overrides = {"data.roots": [str(data)], "device": "cuda" if torch.cuda.is_available() else "cpu"}
    overrides.update(settings)
    return resolve(recipe, "quick", overrides)


# --- (a) training throughput --------------------------------------------------------------------

def our_steps(config, n_steps: int, warm: int, splits=None, waves=None) -> dict:
    """Our loop's train_epoch over warm + n_steps batches: clips/s over the timed ones.  Set up as
    `fit` sets up (loop.prepare_training), without the input standardisation (TASTgram has none)."""
    t = loop.prepare_training(config, standardise=False, splits=splits, train_waves=waves)
    bs = config.train.batch_size
    g = t.groups[0]
    g.train_index = g.train_index[:(warm + n_steps) * bs]
    stamps = [time.perf_counter()]
    loop.train_epoch(g, t.train_waves, t.train_labels, t.front, config, t.device, torch.Generator().manual_seed(0),
                     lambda b, n: stamps.append(time.perf_counter()))
    steps = np.diff(stamps)
    return {"clips_per_s": round(bs / float(np.median(steps[warm:])), 2) if n_steps else None,
            "first_steps_s": [round(float(s), 1) for s in steps[:warm]]}


def reference_steps(config, n_steps: int, warm: int, channels_last: bool = False) -> dict:
    """The reference codes' way: every clip decoded into one float32 array, log-mels precomputed
    once, numpy mixup of the waveforms and of the log-mels (Noisy-ArcMix), the model eager in its
    default memory layout (or channels-last: what that alone gives); AdamW.  The same model, loss
    and batch as ours."""
    from asdcore.data import load_clip

    config = config.with_settings({"train.channels_last": channels_last, "train.compile": False})
    splits = prepare_splits(config)
    device = pick_device(config.device)
    bs = config.train.batch_size
    records = splits.train[:(warm + n_steps) * bs]
    t0 = time.perf_counter()
    wave_all = np.stack([load_clip(r.path, config.data.clip_seconds) for r in records])
    front = LogMel(feature_config(config))
    with torch.no_grad():
        mel_all = np.concatenate([front(torch.from_numpy(wave_all[i:i + 64])).numpy()
                                  for i in range(0, len(wave_all), 64)])
    setup_s = time.perf_counter() - t0
    labels = np.array([r.class_index for r in records])
    torch.manual_seed(0)
    model = build_model(config, len(splits.classes)).to(device)
    loss_fn = create_loss(config.loss.to_dict()).to(device)
    opt = torch.optim.AdamW(list(model.parameters()) + list(loss_fn.parameters()), lr=config.train.lr)
    rng = np.random.default_rng(0)
    model.train()
    times = []
    for b in range(warm + n_steps):
        t = time.perf_counter()
        idx = np.arange(b * bs, (b + 1) * bs)
        x, m, y = wave_all[idx], mel_all[idx], labels[idx]
        lam = rng.beta(config.mixup.alpha, config.mixup.alpha)
        perm = rng.permutation(bs)
        x = lam * x + (1 - lam) * x[perm]
        m = lam * m + (1 - lam) * m[perm]
        y_a, y_b = torch.from_numpy(y).to(device), torch.from_numpy(y[perm]).to(device)
        out = float_output(model(torch.from_numpy(x.astype(np.float32)).to(device),
                                 torch.from_numpy(m.astype(np.float32)).to(device)))
        loss = loss_fn.from_output(out, y_a, y_b, torch.full((bs,), float(lam), device=device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return {"clips_per_s": round(bs / float(np.median(times[warm:])), 2), "setup_s": round(setup_s, 1)}


def bench_training(steps: int) -> dict:
    out = {}
    # more timed steps of the short clips: a 2-core VM's speed drifts by 20 % from minute to minute
    lengths = ((2.0, DATA["default"], 2 * steps), (10.0, DATA["scale"], steps))
    bases = {seconds: _config(RECIPE_A, data, **{"data.clip_seconds": seconds, "train.batch_size": 32})
             for seconds, data, _ in lengths}
    # the reference loops first, with glibc's default malloc as the authors' code has it: ours sets
    # the process's malloc thresholds once (asdcore.allocator), which a later reference would inherit
    rows = {seconds: {"reference": reference_steps(bases[seconds], n, 1),
                      "reference_channels_last": reference_steps(bases[seconds], n, 1, channels_last=True)}
            for seconds, _, n in lengths}
    for seconds, _, n in lengths:
        base, row = bases[seconds], rows[seconds]
        row.update({"ours_eager": our_steps(base, n, 1),
                    "ours_compiled": our_steps(base.with_settings({"train.compile": True}), n, 2)})
        ref = row["reference"]["clips_per_s"]
        for k in ("reference_channels_last", "ours_eager", "ours_compiled"):
            row[k]["vs_reference"] = round(row[k]["clips_per_s"] / ref, 2)
        out[f"{seconds:g}s"] = row
        print(f"(a) {seconds:g} s clips, batch 32, {RECIPE_A}: reference {ref} clips/s (with channels-last "
              f"{row['reference_channels_last']['clips_per_s']}), ours eager "
              f"{row['ours_eager']['clips_per_s']} ({row['ours_eager']['vs_reference']}x), compiled "
              f"{row['ours_compiled']['clips_per_s']} ({row['ours_compiled']['vs_reference']}x; first steps "
              f"{row['ours_compiled']['first_steps_s']} s)", flush=True)
    return out


# --- (b) evaluation throughput ------------------------------------------------------------------

def bench_evaluation(n_batched: int = 256, n_single: int = 48) -> dict:
    config = _config(RECIPE_A, DATA["default"])
    splits = prepare_splits(config)
    device = pick_device(config.device)
    model = build_model(config, len(splits.classes)).to(device)
    loss = create_loss(config.loss.to_dict()).to(device)
    front = LogMel(feature_config(config)).to(device)
    records = splits.test[:n_batched]
    waves = Waveforms.of(records, config)
    labels = np.array([r.class_index for r in records])
    out = {}
    for name, bs, n in (("batched", config.eval.batch_size, n_batched), ("batch_1", 1, n_single)):
        cfg = config.with_settings({"eval.batch_size": bs})
        embed(model, loss, waves, labels, front, cfg, device, np.arange(min(n, bs * 2)))  # warm-up
        t = time.perf_counter()
        embed(model, loss, waves, labels, front, cfg, device, np.arange(n))
        out[name] = {"batch_size": bs, "clips_per_s": round(n / (time.perf_counter() - t), 1)}
    out["speed_up"] = round(out["batched"]["clips_per_s"] / out["batch_1"]["clips_per_s"], 1)
    print(f"(b) evaluation, 2 s clips, {RECIPE_A}: batched ({out['batched']['batch_size']}) "
          f"{out['batched']['clips_per_s']} clips/s, one at a time {out['batch_1']['clips_per_s']} clips/s: "
          f"{out['speed_up']}x", flush=True)
    return out


# --- (c) peak memory ----------------------------------------------------------------------------

def rss_child(kind: str, steps: int) -> None:
    """In its own process: the data path of one training epoch over every scale-5k training clip
    (each batch read and turned into log-mels), then `steps` training steps (batch 32 in 4
    micro-batches of 8, so that the activations of 10 s clips stay small); prints peak RSS.  The two
    kinds differ only in how the clips are held."""
    config = _config(RECIPE_A, DATA["scale"], **{"data.clip_seconds": 10.0, "train.batch_size": 32,
                                                 "train.micro_batches": 4, "data.val_fraction": 0.0,
                                                 "data.audio_cache": kind == "ours", "train.cache_gb": 1e9})
    splits = prepare_splits(config)
    front = LogMel(feature_config(config))
    t0 = time.perf_counter()
    waves = Waveforms.of(splits.train, config)  # ours: the audio cache; reference: float32 in RAM
    held = None
    with torch.no_grad():
        if kind == "reference":  # the reference codes precompute every log-mel and keep them
            held = torch.cat([front(waves.batch(np.arange(i, min(i + 64, len(waves)))))
                              for i in range(0, len(waves), 64)])
        else:  # ours: each batch read from the cache and featurised when it is needed
            for i in range(0, len(waves), 64):
                front(waves.batch(np.arange(i, min(i + 64, len(waves)))))
    data_s = time.perf_counter() - t0
    if steps:  # then a few training steps of the real model on the same clips
        our_steps(config, steps, 0, splits, waves)
    peak = peak_rss_gb()
    print(json.dumps({"kind": kind, "clips": len(waves), "peak_rss_gb": round(peak, 2), "data_pass_s": round(data_s, 1),
                      "held_gb": round((held.numel() * 4 / 1e9 if held is not None else 0)
                                       + (waves._data.numel() * 4 / 1e9 if waves._data is not None else 0), 2)}))


def peak_rss_gb() -> float:
    """This process's peak resident memory: VmHWM of /proc/self/status (getrusage's ru_maxrss is not
    used: across fork and exec it keeps the parent's peak, which is not this process's)."""
    try:
        line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1e6  # kB -> GB
    except (OSError, StopIteration):  # not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def bench_memory(steps: int) -> dict:
    out = {}
    for kind in ("ours", "reference"):
        done = subprocess.run([sys.executable, __file__, "--rss-child", kind, "--steps", str(steps)],
                              capture_output=True, text=True, env=os.environ)
        if done.returncode != 0:
            raise RuntimeError(f"(c) {kind} failed:\n{done.stderr[-2000:]}")
        out[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"(c) peak RSS training on {out['ours']['clips']} ten-second clips (batch 32 in 4 micro-batches): audio cache "
          f"{out['ours']['peak_rss_gb']} GB, float32 in RAM with log-mels {out['reference']['peak_rss_gb']} GB "
          f"(holding {out['reference']['held_gb']} GB)", flush=True)
    return out


# --- (d) time to the first step -----------------------------------------------------------------

def first_step_seconds(config) -> float:
    t = time.perf_counter()
    our_steps(config, 0, 1)
    return round(time.perf_counter() - t, 1)


def bench_first_step() -> dict:
    config = _config(RECIPE_A, DATA["default"])
    cache = Path(os.environ["ASD_CACHE"])
    shutil.rmtree(cache, ignore_errors=True)
    out = {"cold_cache": first_step_seconds(config), "warm_cache": first_step_seconds(config),
           "in_ram": first_step_seconds(config.with_settings({"data.audio_cache": False}))}
    print(f"(d) seconds to the first training step, default toy data ({RECIPE_A}, quick): cold audio cache "
          f"{out['cold_cache']}, warm {out['warm_cache']}, decoding into RAM {out['in_ram']}", flush=True)
    return out


# --- (e) seconds per epoch of each quick preset -------------------------------------------------

def epoch_seconds(recipe: str, data: Path, n_steps: int) -> dict:
    config = _config(recipe, data)
    t = loop.prepare_training(config)  # as `fit` sets up, the input standardisation included
    waves, val, labels, val_labels = t.train_waves, t.val_waves, t.train_labels, t.val_labels
    front, device = t.front, t.device
    bs = config.train.batch_size
    total = 0.0
    for g in t.groups:
        full = len(g.train_index) // bs
        steps = min(full, n_steps + 1)
        g_index, g.train_index = g.train_index, g.train_index[:steps * bs]
        stamps = [time.perf_counter()]
        loop.train_epoch(g, waves, labels, front, config, device, torch.Generator().manual_seed(0),
                         lambda b, n, stamps=stamps: stamps.append(time.perf_counter()))
        per_step = float(np.median(np.diff(stamps)[1:] if steps > 1 else np.diff(stamps)))
        t = time.perf_counter()
        if g.ema is not None:
            loop.refresh_batchnorm(g.ema.module, waves, loop.bn_refresh_subset(g_index, config), front, config,
                                   device)
        loop.validate(g, val, val_labels, front, config, device)
        total += per_step * full + (time.perf_counter() - t)
    bundled = ROOT / "checkpoints" / (("shift-" if data == DATA["shift"] else "") + recipe) / "metrics.jsonl"
    measured = None
    if bundled.exists():
        rows = [json.loads(line) for line in bundled.read_text().splitlines()]
        measured = round(float(np.median([r["seconds"] for r in rows])), 1)
    return {"epochs": config.train.epochs, "seconds_per_epoch": round(total, 1),
            "training_seconds": round(total * config.train.epochs), "bundled_run_seconds_per_epoch": measured}


def bench_epochs(n_steps: int) -> dict:
    out = {}
    for name in RECIPES:
        data = DATA["shift"] if name in SHIFT_RECIPES else DATA["default"]
        out[name] = epoch_seconds(name, data, n_steps)
        r = out[name]
        print(f"(e) {name:24s} {r['seconds_per_epoch']:6.1f} s/epoch x {r['epochs']} = {r['training_seconds']} s "
              f"(bundled run: {r['bundled_run_seconds_per_epoch']} s/epoch)", flush=True)
    return out


# --- (f) the app --------------------------------------------------------------------------------

def bench_app() -> dict:
    from bench_pages import one_round  # a sibling: `python scripts/bench.py` puts scripts/ first on sys.path

    env = {"ASD_DATA": str(DATA["default"]), "ASD_RUNS": tempfile.mkdtemp(prefix="bench-runs-")}
    times = one_round(env)
    print(f"(f) first render of each page (s): fresh Home {times['fresh']['home']}; from the sidebar "
          + ", ".join(f"{k} {v}" for k, v in times["sidebar"].items()), flush=True)
    return times


# --- (g) the app under load ---------------------------------------------------------------------

def bench_load(out: Path) -> dict:
    # its own process and its own server: the sessions' websockets and the sampling stay out of this
    # process, and the server is fresh, not the one (f) warmed
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "bench_load.py"), "--sessions", "1,10,30",
                             "--with-training", "--data", str(DATA["default"]), "--out", str(out)],
                            stdout=subprocess.PIPE, text=True)
    written = None
    for line in proc.stdout:  # its table, printed as it comes
        print(f"(g) {line}", end="", flush=True)
        if line.startswith("bench_load: figures in "):
            written = Path(line.removeprefix("bench_load: figures in ").strip())
    if proc.wait() != 0 or written is None:
        raise RuntimeError(f"(g) scripts/bench_load.py failed (exit {proc.returncode})")
    return json.loads(written.read_text())


# --- (h) a whole quick run, phase by phase ------------------------------------------------------

QUICK_TARGET_S = 240  # issue 27: a quick TASTgram-MFN (Noisy-ArcMix) run, training and evaluation, idle 2 cores


def bench_quick_run(settings: list[str] | None = None) -> dict:
    """`python -m asdcore train` of RECIPE_A's quick preset in its own process (into a temporary
    folder, the project's audio cache as a user's run has it): its timings.json (asdcore.timings),
    its wall time against QUICK_TARGET_S, its average AUC against the bundled run's.  `settings`
    (KEY=VALUE, --h-set) change the preset, to time it without one of its speed-ups on the same machine."""
    settings = settings or []
    run_dir = Path(tempfile.mkdtemp(prefix="bench-quick-")) / "run"
    env = {k: v for k, v in os.environ.items() if k != "ASD_CACHE"}  # not (d)'s cold cache
    load = os.getloadavg()[0]
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "asdcore", "train", "--recipe", RECIPE_A, "--preset", "quick", "--data",
                    str(DATA["default"]), "--run-dir", str(run_dir), "--quiet",
                    *[arg for setting in settings for arg in ("--set", setting)]], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    timings = json.loads((run_dir / "timings.json").read_text())
    auc = json.loads((run_dir / "eval" / "metrics.json").read_text())["average"]["auc"]
    bundled = json.loads((ROOT / "checkpoints" / RECIPE_A / "eval" / "metrics.json").read_text())["average"]["auc"]
    shutil.rmtree(run_dir.parent, ignore_errors=True)
    out = {"wall_seconds": round(wall, 1), "target_seconds": QUICK_TARGET_S, "load_average_at_start": load,
           "load_average_at_end": os.getloadavg()[0], "phases": timings["phases"], "other": timings["other"],
           "epochs": timings["epochs"], "auc": round(auc, 4), "bundled_auc": round(bundled, 4),
           "auc_difference_points": round(100 * (auc - bundled), 2), "settings": settings}
    changed = f" with {', '.join(settings)}" if settings else ""
    print(f"(h) a whole quick run of {RECIPE_A}{changed} (load average {load:.2f} at the start, "
          f"{out['load_average_at_end']:.2f} at the end):", flush=True)
    for name, seconds in [*timings["phases"].items(), ("other", timings["other"])]:
        print(f"(h)   {name:20s} {seconds:7.1f} s  {100 * seconds / wall:5.1f} %", flush=True)
    print(f"(h)   total {wall:.0f} s against the {QUICK_TARGET_S} s target ({wall / QUICK_TARGET_S:.2f}x); average "
          f"AUC {100 * auc:.2f} against the bundled run's {100 * bundled:.2f} ({out['auc_difference_points']:+.2f} "
          f"points)", flush=True)
    return out


# --- the figure ---------------------------------------------------------------------------------

def draw(results: dict, png: Path) -> None:
    """The figures as one plotly page, screenshotted by Chromium (no extra plotting package)."""
    from plotly.subplots import make_subplots

    from browser_driver import figure_png

    fig = make_subplots(rows=3, cols=3, specs=[[{}, {}, {}], [{}, {}, {}], [{"colspan": 2}, None, {}]],
                        subplot_titles=(
        "(a) training clips/s", "(b) evaluation clips/s", "(c) peak RSS, GB", "(d) s to the first step",
        "(e) s per epoch, quick preset", "(f) first page render, s",
        "(g) p95 page time under load, s (target 5 s)", "(h) a whole quick run, s (target 240 s)"))
    if "a" in results:
        for kind in ("reference", "reference_channels_last", "ours_eager", "ours_compiled"):
            xs = list(results["a"])
            fig.add_bar(x=[f"{x} clips" for x in xs], y=[results["a"][x][kind]["clips_per_s"] for x in xs], name=kind,
                        text=[results["a"][x][kind].get("vs_reference", "") for x in xs], texttemplate="%{text}x"
                        if kind != "reference" else None, row=1, col=1)
    if "b" in results:
        fig.add_bar(x=["batched", "batch 1"], y=[results["b"]["batched"]["clips_per_s"],
                                                 results["b"]["batch_1"]["clips_per_s"]], showlegend=False, row=1, col=2)
    if "c" in results:
        fig.add_bar(x=["audio cache", "float32 in RAM"], y=[results["c"]["ours"]["peak_rss_gb"],
                                                            results["c"]["reference"]["peak_rss_gb"]],
                    showlegend=False, row=1, col=3)
    if "d" in results:
        fig.add_bar(x=list(results["d"]), y=list(results["d"].values()), showlegend=False, row=2, col=1)
    if "e" in results:
        fig.add_bar(x=list(results["e"]), y=[v["seconds_per_epoch"] for v in results["e"].values()],
                    name="(e) this bench", row=2, col=2)
        fig.add_bar(x=list(results["e"]), y=[v["bundled_run_seconds_per_epoch"] for v in results["e"].values()],
                    name="(e) the bundled run's epochs", row=2, col=2)
    if "f" in results:
        fig.add_bar(x=list(results["f"]["sidebar"]), y=list(results["f"]["sidebar"].values()), showlegend=False,
                    row=2, col=3)
    if "g" in results:  # one group of bars per round of sessions, one bar per page
        for page in results["g"]["pages"]:
            rows = [(r["label"], row["p95_s"]) for r in results["g"]["rounds"] for row in r["rows"]
                    if row["page"] == page and not r["label"].startswith("warm-up")]
            fig.add_bar(x=[label for label, _ in rows], y=[p95 for _, p95 in rows], name=f"(g) {page}", row=3, col=1)
        fig.add_hline(y=5, line_dash="dash", row=3, col=1)
    if "h" in results:  # the run's phases in three groups beside the whole run
        phases = results["h"]["phases"]
        groups = {"training steps": sum(v for k, v in phases.items() if k == "train.steps"),
                  "rest of training": sum(v for k, v in phases.items() if k.startswith("train.") and k != "train.steps")
                  + sum(v for k, v in phases.items() if not k.startswith(("train.", "eval."))),
                  "evaluation": sum(v for k, v in phases.items() if k.startswith("eval."))}
        groups["whole run"] = results["h"]["wall_seconds"]
        fig.add_bar(x=list(groups), y=list(groups.values()), showlegend=False, row=3, col=3)
        fig.add_hline(y=results["h"]["target_seconds"], line_dash="dash", row=3, col=3)
        fig.update_yaxes(range=[0, 1.15 * max(results["h"]["target_seconds"], results["h"]["wall_seconds"])],
                         row=3, col=3)
    hw = results["hardware"]
    fig.update_layout(title=f"asdcore bench, {results['date']}: {hw['cpu']}, {hw['cores']} cores"
                            + (f", {hw['gpu']}" if hw["gpu"] else ", no GPU"),
                      width=1500, height=1300, template="plotly_white", barmode="group")
    figure_png(fig, png)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench"), help="folder for the JSON and the PNG")
    parser.add_argument("--only", default="a,b,c,d,e,f,g,h", help="which figures, e.g. a,b")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per measurement (x2 for 2 s clips)")
    parser.add_argument("--h-set", action="append", default=[], metavar="KEY=VALUE",
                        help="(h) with a changed setting, e.g. train.fused_prelu=false (repeatable)")
    parser.add_argument("--draw", metavar="JSON", help="draw the PNG of an earlier run's JSON, and stop")
    parser.add_argument("--rss-child", choices=["ours", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.steps)
        return
    if args.draw:
        draw(json.loads(Path(args.draw).read_text()), Path(args.draw).with_suffix(".png"))
        return
    # the data sets the chosen figures read: scale-5k only for (a) and (c), toy-domain only for (e)
    needed = {"default": True, "scale": bool({"a", "c"} & set(args.only.split(","))),
              "shift": "e" in args.only.split(",")}
    missing = [str(p) for k, p in DATA.items() if needed[k] and not p.is_dir()]
    if missing:
        sys.exit(f"bench: data missing: {', '.join(missing)} (make bench makes them)")
    os.environ["ASD_CACHE"] = tempfile.mkdtemp(prefix="bench-audio-cache-")  # (d) starts it cold
    results = {"date": dt.datetime.now().isoformat(timespec="seconds"), "hardware": hardware()}
    hw = results["hardware"]
    print(f"hardware: {hw['cpu']}, {hw['cores']} cores, {hw['ram_gb']} GB RAM, GPU {hw['gpu'] or 'none'}; "
          f"torch {hw['torch']} ({hw['torch_threads']} threads); load average {hw['load_average_at_start']:.2f}",
          flush=True)
    t0 = time.perf_counter()
    only = set(args.only.split(","))
    # (d) first: it empties the audio cache
    for key, run in (("d", bench_first_step), ("a", lambda: bench_training(args.steps)), ("b", bench_evaluation),
                     ("c", lambda: bench_memory(2)), ("e", lambda: bench_epochs(4)), ("f", bench_app),
                     ("g", lambda: bench_load(Path(args.out))), ("h", lambda: bench_quick_run(args.h_set))):
        if key in only:
            results[key] = run()
    results["total_seconds"] = round(time.perf_counter() - t0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # host, day and minute: a later bench never overwrites an earlier one's figures
    stem = f"bench-{socket.gethostname()}-{results['date'][:16].replace('-', '').replace(':', '').replace('T', '-')}"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    draw(results, out / f"{stem}.png")
    shutil.rmtree(os.environ["ASD_CACHE"], ignore_errors=True)
    print(f"bench: {results['total_seconds']} s; figures in {out / stem}.json and .png")


if __name__ == "__main__":
    main()
