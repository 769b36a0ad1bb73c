"""Shared mode: the rules for a teacher serving the lab to a class (off by default).

Turned on by the environment (`make serve-shared` sets ASD_SHARED=1):

    ASD_SHARED=1                     shared mode on (anything else: off)
    ASD_SHARED_DATA=/a:/b            data folders visitors may train on (the default data set is always allowed)
    ASD_SHARED_MAX_PRESET=quick      the largest preset allowed (quick; `paper` allows every preset)
    ASD_SHARED_QUOTA=3               queued + running runs per session
    ASD_SHARED_QUEUE_CAP=20          queued + running runs on the whole server
    ASD_SHARED_MIN_FREE_GB=5         new runs are refused below this free space on the runs folder's disk

There is no authentication: a session's name is not a password, anyone can type any name.  These
rules keep a class from trampling each other by mistake on a trusted network, not an attacker out.
No streamlit import here: the Train page and the launcher call these functions, the tests too.
"""
from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

OWNER_FILE = "owner.json"  # not status.json: the training process rewrites that one whole
PRESET_ORDER = ("tiny", "quick", "paper")  # smallest to largest
ACTIVE = ("queued", "running")


class SharedModeError(ValueError):
    """A run that shared mode refuses; the message names the value and the rule."""


@dataclass(frozen=True)
class SharedSettings:
    enabled: bool = False
    data_roots: tuple[Path, ...] = ()
    max_preset: str = "quick"
    quota: int = 3
    queue_cap: int = 20
    min_free_gb: float = 5.0


def _default_data_roots() -> list[Path]:
    # the default data sets `make run` makes; always allowed so a class has something to train on
    from .paths import PROJECT_ROOT, default_data_root
    return [default_data_root(), PROJECT_ROOT / "data" / "toy", PROJECT_ROOT / "data" / "toy-domain"]


def settings(environ=None) -> SharedSettings:
    """The shared-mode settings from the environment (os.environ unless given)."""
    env = os.environ if environ is None else environ
    enabled = env.get("ASD_SHARED", "") == "1"
    listed = [Path(p).expanduser() for p in env.get("ASD_SHARED_DATA", "").split(os.pathsep) if p.strip()]
    roots = []
    for root in [*_default_data_roots(), *listed]:
        real = Path(os.path.realpath(root))
        if real not in roots:
            roots.append(real)
    max_preset = env.get("ASD_SHARED_MAX_PRESET", "quick")
    if max_preset not in PRESET_ORDER:
        raise SharedModeError(f"ASD_SHARED_MAX_PRESET={max_preset!r}: must be one of {', '.join(PRESET_ORDER)}")
    return SharedSettings(enabled=enabled, data_roots=tuple(roots), max_preset=max_preset,
                          quota=int(env.get("ASD_SHARED_QUOTA", "3")),
                          queue_cap=int(env.get("ASD_SHARED_QUEUE_CAP", "20")),
                          min_free_gb=float(env.get("ASD_SHARED_MIN_FREE_GB", "5")))


def new_session_name() -> str:
    """A name for a browser session that gave none, e.g. session-7f3a."""
    return f"session-{secrets.token_hex(2)}"


def allowed_data_roots(cfg: SharedSettings) -> list[Path]:
    """The allow-list's folders that exist (what the Train page offers)."""
    return [root for root in cfg.data_roots if root.is_dir()]


def check_data_root(cfg: SharedSettings, root) -> Path:
    """The real path of `root` when it lies in an allowed folder; else SharedModeError.

    Real paths on both sides: `..` and symlinks (even one inside an allowed folder pointing out) are
    followed before comparing, so neither leaves the list."""
    real = Path(os.path.realpath(Path(root).expanduser()))
    for allowed in cfg.data_roots:
        if real == allowed or allowed in real.parents:
            return real
    listed = ", ".join(str(r) for r in cfg.data_roots) or "(none)"
    raise SharedModeError(f"data folder {root} (really {real}) is not on this shared server's allow-list: {listed}")


def check_preset(cfg: SharedSettings, preset: str) -> None:
    if preset in PRESET_ORDER and PRESET_ORDER.index(preset) > PRESET_ORDER.index(cfg.max_preset):
        raise SharedModeError(f"preset {preset!r} is larger than this shared server allows "
                              f"(up to {cfg.max_preset!r}; the teacher sets ASD_SHARED_MAX_PRESET)")


def check_disk(cfg: SharedSettings, runs_dir) -> None:
    """Refuses new runs when the runs folder's disk has less free space than the floor."""
    path = Path(runs_dir)
    while not path.exists() and path != path.parent:  # the runs folder may not exist yet
        path = path.parent
    free_gb = shutil.disk_usage(path).free / 1e9
    if free_gb < cfg.min_free_gb:
        raise SharedModeError(f"only {free_gb:.1f} GB free on the disk of {runs_dir}, below this shared "
                              f"server's floor of {cfg.min_free_gb:g} GB: no new runs until space is freed")


def owner_of(run) -> str | None:
    """The session name that started the run (None for runs started outside shared mode)."""
    from .runs import read_json
    data = read_json(Path(run.path) / OWNER_FILE, {}) or {}
    return data.get("owner") if isinstance(data, dict) else None


def write_owner(run_dir, owner: str) -> None:
    from .runs import write_json_atomic
    write_json_atomic(Path(run_dir) / OWNER_FILE, {"owner": owner})


def check_capacity(cfg: SharedSettings, owner: str, runs) -> None:
    """The session's quota and the server's queue cap, counted over queued and running runs."""
    active = [r for r in runs if not r.bundled and r.state in ACTIVE]
    mine = [r for r in active if owner_of(r) == owner]
    if len(mine) >= cfg.quota:
        raise SharedModeError(f"{owner} already has {len(mine)} runs queued or running, the quota per "
                              f"session is {cfg.quota}: wait for one to end or cancel one")
    if len(active) >= cfg.queue_cap:
        raise SharedModeError(f"the server already has {len(active)} runs queued or running, its cap is "
                              f"{cfg.queue_cap}: try again when some have finished")


def check_new_run(cfg: SharedSettings, owner: str | None, preset: str, data_roots, runs_dir, runs) -> None:
    """Every rule for a new run, in the order a visitor can act on; no-op when shared mode is off."""
    if not cfg.enabled:
        return
    if not owner:
        raise SharedModeError("shared mode: a run needs its session's name (owner)")
    for root in data_roots:
        check_data_root(cfg, root)
    check_preset(cfg, preset)
    check_capacity(cfg, owner, runs)
    check_disk(cfg, runs_dir)


def may_control(cfg: SharedSettings, owner: str | None, run) -> bool:
    """Whether this session may cancel or resume the run: its own only, in shared mode."""
    return not cfg.enabled or (owner is not None and owner_of(run) == owner)


def check_control(cfg: SharedSettings, owner: str | None, run, action: str) -> None:
    if not may_control(cfg, owner, run):
        raise SharedModeError(f"{run.id} belongs to {owner_of(run) or 'nobody named'}, not to "
                              f"{owner or 'this session'}: only its owner may {action} it")


def banner_text(cfg: SharedSettings) -> str:
    """What the banner on every page says in shared mode."""
    return (f"Shared lab: this server is shared with your class. You train only on the listed data sets, "
            f"presets up to `{cfg.max_preset}`, at most {cfg.quota} runs of yours queued or running "
            f"({cfg.queue_cap} on the server), and you may cancel or resume only your own runs. "
            "Your session's name is not a password: anyone can use any name.")
