"""Start and cancel training runs as background processes (what the app's Train page calls).

    run_dir = start_training("tastgram-noisy-arcmix", "quick", ["data/toy"], {"m": 0.5}, "auto")
    cancel(Run(run_dir))                       # SIGTERM: the run ends "cancelled"
    resume_training(Run(run_dir))              # a failed or cancelled run continues from its checkpoint
    cli_command(...)                           # the same run as one `python -m asdcore train` line

Each run is its own process in its own session (start_new_session=True), so it survives a
browser reload and a restart of the app: everything the app shows is in the run folder.  The
folder is written first (runs.mark_queued), so the run is listed before its process has even
started; the process then waits for its turn (runs.wait_turn: one training at a time per runs
folder, first come first served) and trains.

The process runs `python -m asdcore.jobs.launcher RUN_DIR`: this module's `main`, which waits its
turn with a SIGTERM handler installed (a queued run that is cancelled ends "cancelled", not as a
process that vanished), then trains the folder with asdcore.jobs.pipeline.train_queued (from its
checkpoint when it was resumed, else from its config.json).  `python -m asdcore train --queue`
queues a folder and runs this same `main`.

No Streamlit here.
"""
from __future__ import annotations

import fcntl
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

# only light imports at module level: the background process must install its SIGTERM handler
# before anything slow (torch) is imported, or a cancel in its first seconds would kill it unrecorded
from ..paths import PROJECT_ROOT, runs_root
from ..runs import (ACTIVE_STATES, Run, mark_queued, new_run_id, pid_alive, portable_root, read_json, wait_turn,
                    list_runs, write_json_atomic)
from .. import shared_mode

STDOUT_LOG = "stdout.log"  # the process's own output (tracebacks a crash leaves behind)
CANCELLED_EXIT = 130  # what the CLI returns for a cancelled run (128 + SIGINT, the shell's convention)
DEVICES = ("auto", "cpu", "cuda")


class LaunchError(ValueError):
    """A run that cannot be started, resumed or cancelled; the message says why."""


# --- starting ----------------------------------------------------------------------------------

def start_training(recipe: str, preset: str, data_roots, overrides: dict | None = None, device: str = "auto",
                   runs_dir: str | os.PathLike | None = None, owner: str | None = None) -> Path:
    """Queue a new run and start its process; returns the run folder (runs_dir/<new_run_id>).

    owner: the browser session's name; in shared mode (asdcore.shared_mode) it is required, the
    run must pass the allow-list, preset, quota, queue-cap and disk rules, and owner.json records it.

    overrides: `--set` style settings ({"m": 0.5, "train.epochs": 3}); data_roots: one or more
    data-set folders.  Bad values raise LaunchError before any run folder is written."""
    roots = [Path(r).expanduser() for r in ([data_roots] if isinstance(data_roots, (str, os.PathLike))
                                            else list(data_roots))]
    if not roots:
        raise LaunchError("no data set given: pass at least one data-set folder")
    for root in roots:
        if not root.is_dir():
            raise LaunchError(f"data folder {root} does not exist (or is not a folder)")
    if device not in DEVICES:
        raise LaunchError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    parent = Path(runs_dir) if runs_dir is not None else runs_root()
    from ..recipes import resolve  # imports torch: not at module level (see the imports above)

    settings = dict(overrides or {})
    settings["data.roots"] = [portable_root(r) for r in roots]
    settings["device"] = device
    try:
        config = resolve(recipe, preset, settings)
    except (KeyError, ValueError) as exc:  # unknown recipe / setting, or a value that cannot work
        raise LaunchError(exc.args[0] if exc.args else str(exc)) from exc
    parent.mkdir(parents=True, exist_ok=True)
    # the shared-mode rules count the queued and running runs, then the new run joins them: both
    # under one lock, or two clicks at once (two sessions, or one double click) would both pass a
    # quota of one before either run existed; the same lock keeps two same-second ids apart
    with _new_run_lock(parent):
        _check_shared_new_run(owner, preset, roots, parent)
        run_dir = parent / new_run_id(recipe, preset, parent)
        mark_queued(run_dir, config)  # listed (and counted) from now on, even before the process starts
        if owner:
            shared_mode.write_owner(run_dir, owner)  # inside the lock too: the quota counts runs by owner
    _spawn(run_dir)
    return run_dir


@contextmanager
def _new_run_lock(runs_dir: Path):
    """An exclusive lock on the runs folder while a new run is checked and created.

    flock on the folder itself: nothing is written into it (a refused run leaves the folder as it
    was), and an flock belongs to its open file, one per call, so it also keeps apart two threads of
    one app server (two browser sessions); fcntl's POSIX locks belong to the whole process and would
    not.  Every run a visitor starts (the Train page) comes through here, so every one takes it."""
    fd = os.open(runs_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks while another start is between its check and its folder
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _check_shared_new_run(owner, preset, roots, runs_dir) -> None:
    # the launcher checks too, not only the Train page: any caller of start_training obeys the rules
    cfg = shared_mode.settings()
    if not cfg.enabled:
        return
    try:
        shared_mode.check_new_run(cfg, owner, preset, roots, runs_dir, list_runs(roots=[runs_dir]))
    except shared_mode.SharedModeError as exc:
        raise LaunchError(str(exc)) from exc


def _check_shared_control(owner, run, action: str) -> None:
    try:
        shared_mode.check_control(shared_mode.settings(), owner, run, action)
    except shared_mode.SharedModeError as exc:
        raise LaunchError(str(exc)) from exc


def resume_training(run: Run, owner: str | None = None) -> Path:
    """Continue a failed or cancelled run from its last checkpoint (or from the start when it
    has none), in a new process that queues behind the runs already waiting.  In shared mode
    only the run's owner may resume it."""
    _check_shared_control(owner, run, "resume")
    if run.bundled:
        raise LaunchError(f"{run.id} is a bundled run (read-only); train a new run instead")
    state = run.state
    if state not in ("failed", "cancelled"):
        raise LaunchError(f"{run.id} is {state}: only a failed or cancelled run can be resumed")
    status = read_json(run.path / "status.json", {}) or {}
    now = time.time()
    # back in the queue, behind the runs already waiting ("created" orders the queue)
    status.update(state="queued", phase="waiting", error=None, pid=os.getpid(), created=now, updated=now,
                  message="queued (resumed): waiting for earlier runs to finish")
    write_json_atomic(run.path / "status.json", status)
    _spawn(run.path)
    return run.path


def process_command(run_dir: str | os.PathLike) -> list[str]:
    """The background process's command line (one place, so it can switch to the plain CLI)."""
    return [sys.executable, "-m", "asdcore.jobs.launcher", str(Path(run_dir).resolve())]


def _spawn(run_dir: Path) -> subprocess.Popen:
    log = open(run_dir / STDOUT_LOG, "ab")
    try:
        proc = subprocess.Popen(process_command(run_dir), cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
    except OSError as exc:
        _set_status(run_dir, state="failed", phase="done", message="failed",
                    error=f"could not start the training process: {exc}")
        raise LaunchError(f"could not start the training process: {exc}") from exc
    finally:
        log.close()  # the child holds its own handle
    # status.json names the app's pid until the child rewrites it: name the child now, so a
    # cancel right after the start reaches it and a child that dies at once shows as failed
    _set_status(run_dir, pid=proc.pid)
    # reap the child when it ends: an unreaped child stays a zombie that still "exists" by pid
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{run_dir.name}").start()
    return proc


def _set_status(run_dir: Path, **fields) -> None:
    status = read_json(run_dir / "status.json", {}) or {}
    status.update(fields, updated=time.time())
    write_json_atomic(run_dir / "status.json", status)


def cli_command(recipe: str, preset: str, data_roots, overrides: dict | None = None, device: str = "auto",
                run_dir: str | os.PathLike | None = None) -> str:
    """The same run as one command line (what a user can type on a server instead)."""
    parts = ["python", "-m", "asdcore", "train", "--recipe", recipe, "--preset", preset]
    roots = [data_roots] if isinstance(data_roots, (str, os.PathLike)) else list(data_roots)
    for root in roots:
        parts += ["--data", portable_root(root)]
    for key, value in (overrides or {}).items():
        parts += ["--set", f"{key}={_cli_value(value)}"]
    if device != "auto":
        parts += ["--device", device]
    if run_dir is not None:
        parts += ["--run-dir", str(run_dir)]
    return shlex.join(parts)


def _cli_value(value) -> str:
    # --set values are parsed as JSON where they parse (recipes.parse_value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return f"{value:g}" if isinstance(value, float) else str(value)


def resume_command(run: Run) -> str:
    return shlex.join(["python", "-m", "asdcore", "train", "--resume", "--run-dir", str(run.path)])


# --- cancelling --------------------------------------------------------------------------------

def cancel(run: Run, owner: str | None = None) -> int:
    """Ask a queued or running run to stop (SIGTERM to the pid in status.json); returns the pid.
    In shared mode only the run's owner (the session name) may cancel it.

    A waiting run ends at once; a training run ends "cancelled" after its current batch.  The
    evaluation after the last epoch is not interrupted: such a run ends "finished"."""
    _check_shared_control(owner, run, "cancel")
    if run.bundled:
        raise LaunchError(f"{run.id} is a bundled run: nothing to cancel")
    status = run.status  # a vanished process already reads as failed here
    state = status.get("state", "unknown")
    if state not in ACTIVE_STATES:
        raise LaunchError(f"{run.id} is {state}: nothing to cancel")
    pid = status.get("pid")
    if not pid or not pid_alive(pid):
        raise LaunchError(f"{run.id}: its process (pid {pid}) is not running")
    pid = int(pid)
    if pid == os.getpid():
        raise LaunchError(f"{run.id}: status.json names this process (pid {pid}), not a training process; "
                          "its process has not started yet, try again in a second")
    if not _is_training_process(pid):
        # pids are reused: never signal a process that is not one of ours
        raise LaunchError(f"{run.id}: pid {pid} is not an asdcore training process; not signalling it")
    os.kill(pid, signal.SIGTERM)
    if state == "queued":
        _record_queued_cancel(run, pid)
    return pid


def _record_queued_cancel(run: Run, pid: int, grace: float = 3.0) -> None:
    """A queued process records its own cancel; one killed in its first instants (before its
    handler was installed) cannot: record it here, so it reads "cancelled", not "failed"."""
    deadline = time.time() + grace
    while time.time() < deadline and pid_alive(pid):
        time.sleep(0.05)
    on_disk = read_json(run.path / "status.json", {}) or {}
    if not pid_alive(pid) and on_disk.get("state") == "queued":
        _set_status(run.path, state="cancelled", phase="done", message="cancelled while queued")


def _is_training_process(pid: int, grace: float = 3.0) -> bool:
    """True when the pid's command line runs asdcore (Linux /proc; elsewhere trust the pid).

    A child spawned an instant ago may not have exec'd yet: until then its command line is its
    parent's (the app's, or a test's), so it is read again for up to `grace` seconds."""
    if not Path("/proc/self").exists():  # no procfs (macOS): the pid is all we have
        return True
    deadline = time.time() + grace
    while True:
        try:
            if b"asdcore" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:  # gone in the meantime
            return False
        if time.time() > deadline:
            return False
        time.sleep(0.05)


def wait_for(run: Run, states=("finished", "failed", "cancelled"), timeout: float = 120.0,
             poll: float = 0.5) -> str:
    """Block until the run reaches one of `states` (or raise TimeoutError); returns the state."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = run.state
        if state in states:
            return state
        time.sleep(poll)
    raise TimeoutError(f"{run.id} still {run.state} after {timeout:g} s")


# --- the background process --------------------------------------------------------------------

class _Terminated(Exception):
    """SIGTERM after the wait, before the CLI's own handler is installed (or after it is removed)."""


def main(argv=None) -> int:
    """`python -m asdcore.jobs.launcher RUN_DIR`: wait for the turn (cancellable), then train."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m asdcore.jobs.launcher RUN_DIR  (a folder made by start_training)", file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    if not (run_dir / "config.json").exists():
        print(f"error: {run_dir} is not a queued run folder (no config.json)", file=sys.stderr)
        return 2
    terminated = threading.Event()
    waiting = {"now": True}

    def on_term(signum, frame):
        terminated.set()
        if not waiting["now"]:  # past the queue: stop right here (train_run installs its own handler)
            raise _Terminated()

    signal.signal(signal.SIGTERM, on_term)  # first thing: a SIGTERM must never kill us unrecorded
    wait_turn(run_dir, cancelled=terminated.is_set)
    waiting["now"] = False
    if terminated.is_set():
        _set_status(run_dir, state="cancelled", phase="done", message="cancelled while queued", pid=os.getpid())
        print("cancelled while queued", file=sys.stderr)
        return CANCELLED_EXIT
    try:
        from .pipeline import Cancelled, train_queued  # torch: only now, past the queue

        try:
            train_queued(run_dir)  # installs its own SIGTERM handling for the training
            code = 0
        except Cancelled:
            code = CANCELLED_EXIT
        except (OSError, ValueError) as exc:  # recorded in status.json too, with the traceback in train.log
            print(f"error: {exc}", file=sys.stderr)
            code = 1
    except _Terminated:
        code = CANCELLED_EXIT
    if terminated.is_set() and Run(run_dir).state in ACTIVE_STATES:
        # stopped between the queue and the training loop: say so (a finished run stays finished)
        _set_status(run_dir, state="cancelled", phase="done", message="cancelled by the user")
    return code


if __name__ == "__main__":
    sys.exit(main())
