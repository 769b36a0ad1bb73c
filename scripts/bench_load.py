"""A class on one server: N sessions at once open Home, Compare, Angles and Embeddings (issue 28).

    .venv/bin/python scripts/bench_load.py [--sessions 1,10,30] [--with-training] [--out bench]

One fresh server, served as `make serve-shared` serves it (scripts/serve.py, ASD_SHARED=1) on the
bundled runs (checkpoints/), the default data set and an empty temporary runs folder.  One session
first visits the four pages alone (the "warm-up" line: the server's first imports and cold caches,
not counted in the rounds), then for each N, N sessions start together, each opening the four pages
in turn, as a class does when the teacher says "open the link".  With --with-training, one more
round of 10 sessions runs while a training (tastgram-noisy-arcmix, quick preset, on data/toy, in the
temporary runs folder) runs beside the server; the training is killed after that round.

Per page and round it prints the p50, p95 and worst time to a finished render, the errors, the
server's peak RSS and its mean CPU (100 % = one core), and writes <out>/load-<host>-<yyyymmdd-hhmm>.json.
Figures, not a test: nothing here passes or fails.  The target (issue 28): p95 at most 5 s with 30
sessions on 2 cores, no errors, RSS bounded.

The client: Streamlit's own websocket protocol, not browsers.  Each session is one websocket to
/_stcore/stream that sends what the browser sends (a BackMsg `rerun_script` naming the page, as a
sidebar click does) and reads the ForwardMsgs the server sends back, decoded with Streamlit's own
protobuf classes.  The server does for it exactly what it does for a browser: a full script run of
the real page, every element and plotly figure serialised and sent.  What it leaves out is the
browser's own drawing, which happens on each student's machine, not on the server.  Why not one
Playwright context per session: measured on this 2-core VM (Streamlit 1.67, 2026-12-05), one
Chromium client spent 6.7 to 7.5 CPU-seconds opening the four pages, the server 0.6 to 0.8; this
client spent under 0.5 (interpreter start included) for the same four server renders.  Thirty
browsers on the same two cores would measure Chromium, not the server.  Browser-side drawing
times for one visitor are scripts/bench_pages.py's (`make bench` figure f).

A page's render is finished when the server sends `script_finished` FINISHED_SUCCESSFULLY for it
(what the browser's running indicator waits for; a run that ends early for an st.rerun is followed by
the rerun, which is waited for).  The first page's time starts before the websocket connects (the
connect is part of opening the link); the others' when `rerun_script` is sent.  Errors, per page:
an exception element in the page, an st.error alert, a compile error, a page not found, no finished
render within --timeout seconds, or a closed websocket (a session stops at its first timeout or
disconnect: its remaining pages count as "not reached").

The server's RSS and CPU come from psutil, sampled every 0.5 s during each round (the training's
process tree separately); the machine's CPU and this client's own CPU seconds are reported too, so
that a busy machine or a busy client shows.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parent.parent
# (url path, title): the pages a class opens first; Home is served at the root ("" as page name)
PAGES = [("", "Home"), ("compare", "Compare"), ("angles", "Angles"), ("embeddings", "Embeddings")]
TRAINING = ("tastgram-noisy-arcmix", "quick")
TRAINING_SESSIONS = 10  # the sessions of the round with a training beside the server (issue 28)
SAMPLE_SECONDS = 0.5


# --- pure logic (tests/test_bench_load.py) ---------------------------------------------------------

def percentile(values, q: float) -> float | None:
    """The nearest-rank percentile: the smallest measured value that at least q % of the values do
    not exceed (so p95 is a time that really occurred, and 95 % of the renders were no slower).
    None for no values."""
    if not 0 < q <= 100:
        raise ValueError(f"percentile q must be in (0, 100], got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[math.ceil(q / 100 * len(ordered)) - 1]


@dataclass
class RenderWatch:
    """Follows one page's script run in the ForwardMsgs the server sends; feed() says when it is over.

    Over: FINISHED_SUCCESSFULLY (a finished render), FINISHED_WITH_COMPILE_ERROR or page_not_found
    (an error).  FINISHED_EARLY_FOR_RERUN is not the end (the page called st.rerun, or a widget
    interrupted it: another run follows), nor is a fragment's run (part of a page, not a render)."""
    page_name: str = ""  # the page asked for (the server's page_not_found message leaves it empty)
    errors: list[str] = field(default_factory=list)
    finished: bool = False

    def feed(self, msg: ForwardMsg) -> bool:
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            if element.WhichOneof("type") == "exception":
                self.errors.append(f"exception: {element.exception.type}: {element.exception.message[:200]}")
            elif element.WhichOneof("type") == "alert" and element.alert.format == Alert.ERROR:
                self.errors.append(f"st.error: {element.alert.body[:200]}")
        elif kind == "page_not_found":
            self.errors.append(f"page not found: {msg.page_not_found.page_name or self.page_name!r}")
            self.finished = True
        elif kind == "script_finished":
            if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                self.errors.append("compile error")
                self.finished = True
            elif msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                self.finished = True
        return self.finished


def summarise(label: str, visits: list[dict], samples: list[dict]) -> list[dict]:
    """One row per page of a round: visits are {"page", "seconds" (None when not finished), "errors"};
    samples are {"rss_mb", "cpu_percent"} of the server.  Errors count the visits with any error."""
    peak_rss = max((s["rss_mb"] for s in samples), default=None)
    cpus = [s["cpu_percent"] for s in samples if s.get("cpu_percent") is not None]
    rows = []
    for _, title in PAGES:
        mine = [v for v in visits if v["page"] == title]
        times = [v["seconds"] for v in mine if v["seconds"] is not None and not v["errors"]]
        rows.append({"round": label, "page": title, "visits": len(mine), "p50_s": percentile(times, 50),
                     "p95_s": percentile(times, 95), "max_s": max(times, default=None),
                     "errors": sum(1 for v in mine if v["errors"]),
                     "server_peak_rss_mb": None if peak_rss is None else round(peak_rss),
                     "server_mean_cpu_percent": round(sum(cpus) / len(cpus)) if cpus else None})
    return rows


def format_table(rows: list[dict]) -> str:
    def cell(value, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [f"{'round':14s} {'page':11s} {'p50 s':>6s} {'p95 s':>6s} {'max s':>6s} {'errors':>6s} "
             f"{'peak RSS MB':>11s} {'mean CPU %':>10s}"]
    for r in rows:
        lines.append(f"{r['round']:14s} {r['page']:11s} {cell(r['p50_s'], '6.2f')} {cell(r['p95_s'], '6.2f')} "
                     f"{cell(r['max_s'], '6.2f')} {r['errors']:6d} {cell(r['server_peak_rss_mb'], '11d')} "
                     f"{cell(r['server_mean_cpu_percent'], '10d')}")
    return "\n".join(lines)


# --- one session: Streamlit's websocket protocol ----------------------------------------------------

def rerun_message(page_name: str) -> bytes:
    """What the browser sends to run a page (on opening the link, and on a sidebar click)."""
    msg = BackMsg()
    state = msg.rerun_script
    state.page_name = page_name
    state.query_string = ""
    state.context_info.timezone = "UTC"
    state.context_info.timezone_offset = 0
    state.context_info.locale = "en-US"
    return msg.SerializeToString()


async def session(url: str, timeout: float, start: asyncio.Event, pages=PAGES) -> list[dict]:
    """One visitor: the pages (PAGES: the four) in turn on one websocket; a visit per page."""
    import websockets  # the client's only extra need (installed with streamlit's dependencies)

    visits = []
    await start.wait()  # every session of a round starts at the same instant
    t0 = time.perf_counter()
    try:
        # no ping_interval: browsers send no websocket pings, and a busy server must not be
        # disconnected by the client for answering a ping late
        async with websockets.connect(url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit"],
                                      max_size=None, ping_interval=None, open_timeout=timeout) as ws:
            for page_name, title in pages:
                watch = RenderWatch(page_name)
                if visits:  # the first page's clock started before the connect
                    t0 = time.perf_counter()
                await ws.send(rerun_message(page_name))
                try:
                    async with asyncio.timeout(timeout):
                        while not watch.finished:
                            msg = ForwardMsg()
                            msg.ParseFromString(await ws.recv())
                            watch.feed(msg)
                except TimeoutError:
                    visits.append({"page": title, "seconds": None, "errors": [f"no finished render in {timeout:g} s"]})
                    break
                visits.append({"page": title, "seconds": round(time.perf_counter() - t0, 3), "errors": watch.errors})
    except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
        if len(visits) < len(pages):  # (a close failing after the last page is no page's error)
            visits.append({"page": pages[len(visits)][1], "seconds": None,
                           "errors": [f"disconnected: {type(exc).__name__}: {exc}"]})
    for _, title in pages[len(visits):]:
        visits.append({"page": title, "seconds": None, "errors": ["not reached (the session had stopped)"]})
    return visits


async def _round(url: str, n: int, timeout: float) -> list[dict]:
    start = asyncio.Event()
    tasks = [asyncio.create_task(session(url, timeout, start)) for _ in range(n)]
    await asyncio.sleep(0)  # every session waiting on `start`
    start.set()
    return [visit for visits in await asyncio.gather(*tasks) for visit in visits]


# --- sampling the server ---------------------------------------------------------------------------

class Sampler:
    """RSS (MB) and CPU % (100 = one core) of processes every SAMPLE_SECONDS, in a thread."""

    def __init__(self, pids: dict[str, int]):
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.samples: dict[str, list[dict]] = {name: [] for name in pids}
        self.machine: list[float] = []
        self._known: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _tree(self, proc: psutil.Process) -> list[psutil.Process]:
        # the training's process tree (its data loader workers, if any); the server is one process.
        # One Process object per pid, kept: cpu_percent(None) measures since that object's last call
        try:
            children = proc.children(recursive=True)
        except psutil.Error:
            return []
        return [proc, *(self._known.setdefault(child.pid, child) for child in children)]

    def _sample(self) -> None:
        # cpu_percent(None): the CPU since the previous call on the same process object
        for name, proc in self.procs.items():
            try:
                tree = self._tree(proc) if name != "server" else [proc]
                self.samples[name].append({"rss_mb": sum(p.memory_info().rss for p in tree) / 2**20,
                                           "cpu_percent": sum(p.cpu_percent(None) for p in tree)})
            except psutil.Error:  # ended (the training, when it is killed)
                pass
        # psutil gives the machine's CPU as a share of all cores: on the processes' scale, 100 = one core
        self.machine.append(psutil.cpu_percent(None) * (os.cpu_count() or 1))

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def __enter__(self):
        for proc in self.procs.values():
            proc.cpu_percent(None)  # the first call only starts the measurement
        psutil.cpu_percent(None)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()  # the end of the round too (a round shorter than one interval still has a sample)


def wait_until_idle(pid: int, below: float = 10.0, limit: float = 90.0) -> float:
    """Wait until the server uses under `below` % CPU over a second (at most `limit` s); returns the wait.

    Between rounds: the server's first page starts a background import of torch and sklearn
    (app_pages/warm_up.py), and ended sessions are cleaned up; neither belongs to the next round."""
    proc, t0 = psutil.Process(pid), time.perf_counter()
    while proc.cpu_percent(interval=1.0) >= below and time.perf_counter() - t0 < limit:
        pass
    return round(time.perf_counter() - t0, 1)


def run_round(url: str, label: str, n: int, timeout: float, pids: dict[str, int]) -> dict:
    idle_wait = wait_until_idle(pids["server"])
    server = psutil.Process(pids["server"])
    server0, cpu0 = sum(server.cpu_times()[:2]), resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with Sampler(pids) as sampler:
        visits = asyncio.run(_round(url, n, timeout))
    server1, cpu1 = sum(server.cpu_times()[:2]), resource.getrusage(resource.RUSAGE_SELF)
    rows = summarise(label, visits, sampler.samples["server"])
    errors = sorted({e for v in visits for e in v["errors"]})
    result = {"label": label, "sessions": n, "idle_wait_s": idle_wait, "wall_s": round(time.perf_counter() - t0, 1),
              "rows": rows,
              "visits": visits, "distinct_errors": errors[:20],
              # the server's CPU-seconds per session: what one core (the GIL) can serve is about its inverse
              "server_cpu_s": round(server1 - server0, 2), "server_cpu_s_per_session": round((server1 - server0) / n, 2),
              "client_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
              "machine_mean_cpu_percent": round(sum(sampler.machine) / len(sampler.machine))
              if sampler.machine else None}
    if "training" in sampler.samples:
        tr = sampler.samples["training"]
        result["training_mean_cpu_percent"] = round(sum(s["cpu_percent"] for s in tr) / len(tr)) if tr else None
        result["training_peak_rss_mb"] = round(max(s["rss_mb"] for s in tr)) if tr else None
    print(format_table(rows).split("\n", 1)[1], flush=True)
    print(f"{'':14s} {n} session(s) in {result['wall_s']} s; server {result['server_cpu_s']} CPU-s "
          f"({result['server_cpu_s_per_session']} per session); this client {result['client_cpu_s']} CPU-s; machine CPU "
          f"{result['machine_mean_cpu_percent']} % (of {100 * (os.cpu_count() or 1)} %)"
          + (f"; training CPU {result['training_mean_cpu_percent']} %" if "training" in sampler.samples else "")
          + ("".join(f"\n{'':14s} error: {e}" for e in errors[:5])), flush=True)
    return result


# --- a training beside the server ------------------------------------------------------------------

def start_training(runs_dir: Path, data: Path, wait_s: float = 300.0) -> subprocess.Popen:
    """One training in its own process group, in the bench's temporary runs folder (never
    checkpoints/ or runs/); returns once it is past its imports and data loading, training."""
    run_dir = runs_dir / "load-bench-training"
    recipe, preset = TRAINING
    with open(runs_dir / "training.log", "w") as log:  # the child keeps its own handle
        proc = subprocess.Popen([sys.executable, "-m", "asdcore", "train", "--recipe", recipe, "--preset", preset,
                                 "--data", str(data), "--run-dir", str(run_dir), "--no-eval", "--quiet"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    deadline = time.time() + wait_s
    while time.time() < deadline:
        try:
            if json.loads((run_dir / "status.json").read_text()).get("phase") == "training":
                return proc
        except (OSError, ValueError):  # not written yet, or caught mid-write
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the training ended before it trained (see {runs_dir / 'training.log'})")
        time.sleep(1)
    stop_training(proc)
    raise RuntimeError(f"the training was not training after {wait_s:g} s (see {runs_dir / 'training.log'})")


def stop_training(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # its own group: the training and anything it started
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- main ------------------------------------------------------------------------------------------

def parse_sessions(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sessions takes whole numbers separated by commas, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--sessions needs at least one count, each 1 or more, got {text!r}")
    return counts


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=parse_sessions, default=[1, 10, 30], help="session counts, e.g. 1,10,30")
    parser.add_argument("--with-training", action="store_true",
                        help="one more round, of --training-sessions sessions, with a training running")
    parser.add_argument("--training-sessions", type=int, default=TRAINING_SESSIONS,
                        help=f"sessions of the round with a training (default {TRAINING_SESSIONS})")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a page may take before it is an error")
    parser.add_argument("--data", default=str(ROOT / "data" / "toy"), help="the default data set (ASD_DATA)")
    parser.add_argument("--out", default=str(ROOT / "bench"), help="folder for the JSON")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        sys.exit(f"bench_load: data set {data} not found (`make data` makes data/toy)")
    sys.path.insert(0, str(ROOT / "scripts"))
    from browser_driver import SERVER_PIDS, streamlit_server

    runs_dir = Path(tempfile.mkdtemp(prefix="bench-load-runs-"))
    env = {"ASD_SHARED": "1", "ASD_DATA": str(data), "ASD_RUNS": str(runs_dir), "ASD_SHARED_MIN_FREE_GB": "0"}
    results = {"date": dt.datetime.now().isoformat(timespec="seconds"), "host": socket.gethostname(),
               "cores": os.cpu_count(), "load_average_at_start": os.getloadavg()[0], "client": "websocket",
               "pages": [title for _, title in PAGES], "timeout_s": args.timeout, "rounds": []}
    print(f"bench_load: {os.cpu_count()} cores, load average {results['load_average_at_start']:.2f}; "
          f"{', '.join(results['pages'])} per session, over Streamlit's websocket protocol (no browsers); "
          "seconds to a finished render; CPU % of one core", flush=True)
    print(format_table([]), flush=True)
    with streamlit_server(env) as url:
        pids = {"server": SERVER_PIDS[url]}
        results["rounds"].append(run_round(url, "warm-up (1)", 1, args.timeout, pids))
        for n in args.sessions:
            results["rounds"].append(run_round(url, f"N={n}", n, args.timeout, pids))
        if args.with_training:
            training = start_training(runs_dir, data)
            try:
                n = args.training_sessions
                results["rounds"].append(run_round(url, f"N={n}+training", n, args.timeout,
                                                   {**pids, "training": training.pid}))
            finally:
                stop_training(training)
    shutil.rmtree(runs_dir, ignore_errors=True)  # the training's folder too: nothing of the bench is kept there
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # host, day and minute, as bench.py names its files: a later run never overwrites an earlier one
    stamp = results["date"][:16].replace("-", "").replace(":", "").replace("T", "-")
    path = out / f"load-{results['host']}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"bench_load: figures in {path}", flush=True)
    return results


if __name__ == "__main__":
    main()
