"""The run folder: the one contract between the engine and the app.

    runs/<run_id>/                     (bundled runs: checkpoints/<run_id>/, same layout, read-only)
      config.json        the resolved configuration (recipe + preset + overrides): RunConfig.to_dict()
      status.json        {"state": queued|running|finished|failed|cancelled, "pid", "epoch",
                          "epochs", "progress" (0..1), "phase" (waiting|loading|training|evaluating|done),
                          "message", "error" (text, when failed), "created", "updated" (unix s)}
      metrics.jsonl      one JSON object per finished epoch: {"epoch", "lr", "train_loss", "train_acc",
                          "val_loss", "val_acc", "seconds", "selected"}
      train.log          the training process's output (the app shows its tail)
      timings.json       where the training process's time went (asdcore.timings): {"wall_seconds" (its start
                         to the last write), "phases": {name: seconds}, "other" (wall less the phases),
                         "epochs": [{"epoch", phase: seconds, ..., "seconds"}]}; phases do not overlap:
                         startup (process start to training: imports, config), train.data (splits, audio
                         cache fill), train.setup, train.read_clips, train.steps, train.bn_refresh,
                         train.validation, train.save, then eval.* (setup, embed_test, embed_train,
                         score.<backend>, tables, pca, umap_import, umap, metrics, attention, intervals,
                         write; also in eval/metrics.json as "eval_timings").  Of the last process that
                         trained the run (a resumed run's lists the epochs it trained)
      checkpoint.pt      the last epoch, for --resume: {"config", "epoch", "best", "groups": {name:
                         {"model", "loss", "optimizer", "scheduler", "ema"}}}, one group per trained
                         network (the autoencoder has one per machine type); torch.load(weights_only=True)
      model.pt           the selected weights, what evaluation uses: {"config", "epoch", "groups":
                         {name: {"model", "loss"}}} (the EMA's weights where there is one)
      eval/
        metrics.json       AUC / pAUC / mAUC per machine type and average, every back-end, both protocols;
                           on DCASE 2021-2023 data also "domain_shift" (asdcore.evaluation.domain_metrics);
                           for TAgram models also "attention", the summary of attention.npy against the
                           fault spans (asdcore.evaluation.attention): {"n_clips", "saturated", "mean",
                           "within_clip_std", "short_span", "inside", "outside", "n_short",
                           "inside_higher"}; and "intervals", bootstrap 95 % intervals of the default
                           score's AUC per type and on average ("auc") and of Fig. 1's angle AUC and
                           median gap ("angles"), each {"value", "low", "high"} (asdcore.evaluation.
                           intervals).  Runs evaluated before these were stored lack them
        clips.parquet      one row per labelled test clip (columns below)
        train_clips.parquet one row per training normal (same columns where they apply; `role` is
                           "train" or "val"), the reference set for nearest neighbours and thresholds
        embeddings.npy     (N_test, D) float32 test embeddings, row i = clips.parquet row i (float16 in
                           the bundled runs; Run.embeddings() returns float32 either way)
        train_embeddings.npy (N_train, D) float32, row i = train_clips.parquet row i (likewise)
        centres.npy        (C, D) float32 L2-normalised class centres (classifiers only)
        attention.npy      (N_test, T) float16 TAgram per-frame weights (TAgram models only)

clips.parquet / train_clips.parquet columns:
    path                  clip path relative to its data-set root (posix)
    root_index            which of config["data"]["roots"] it is under
    machine_type, machine_id, class_index
    label                 0 normal, 1 anomaly
    score                 the recipe's default back-end's anomaly score (higher = more anomalous)
    score_<backend>       one column per back-end (softmax, cosine, gmm, knn, lof; mean_cosine where the
                          recipe asks for it (JLESS); reconstruction for the autoencoder; subcluster,
                          eqs. 2-3 of the sub-cluster AdaCos system, on data with source/target domains).
                          On such data also decision_subcluster (and decision, when subcluster is the
                          default): the score decisions use, target clips on eq. 3's first term
                          (asdcore.alarms.decision_column)
    predicted_class, predicted_machine_type, predicted_machine_id   argmax of the cosine head
    angle_to_centre_deg   angle between the embedding and its own class centre, degrees
    angle_to_nearest_other_deg, nearest_other_class, nearest_other_machine_type,
    nearest_other_machine_id   the closest other centre (IDs repeat across types: use the class or type)
    umap_x, umap_y, pca_x, pca_y   2-D projections (fitted on train + test embeddings together)
    section, domain, attributes   DCASE 2021-2023 names: section, source/target, "key=value;..." (else null)
    fault_kind, fault_onset_s, fault_offset_s, severity   from the toy factory's metadata (else null)
    role                  "test", or "train"/"val" in train_clips.parquet

Test clips without a label in their names (a DCASE evaluation set's) are scored too, never counted:
their rows (the clip columns, score and score_<backend>; role "unlabelled") go to
eval/unlabelled_clips.parquet, and metrics.json counts them as "n_unlabelled_clips".  Test clips of
machine IDs / sections without a training clip are not scored at all (no model learnt them):
metrics.json names them, {"fan id_00": clips, ...}, as "untrained_left_out".  Files of the data
roots that cannot be used (not audio, empty, truncated, NaN samples, a name no layout knows) are
skipped by training and evaluation alike: metrics.json lists them, "<path>: <why>", as
"skipped_files".

Clips are referred to by paths relative to the data set's root, and the roots in config.json
are relative to the project folder when they lie inside it (data/toy), so bundled runs resolve
on any machine once `make data` has run.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .paths import PROJECT_ROOT, bundled_runs_root, runs_root

if TYPE_CHECKING:  # only for annotations: the config module imports torch, run folders are read without it
    from .config import RunConfig

STATES = ("queued", "running", "finished", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running")
# presets that check that training runs end to end, and learn nothing worth showing (the analysis pages
# never pick such a run by default, and its name says what it is)
SMOKE_TEST_PRESETS = ("tiny",)


def write_json_atomic(path: str | os.PathLike, data) -> None:
    """Write JSON to a temporary file beside `path`, then rename: no reader sees half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, default=_json_default)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | os.PathLike, default=None):
    path = Path(path)
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return default


def resolve_root(root: str) -> Path:
    """A data root from config.json: relative paths are relative to the project folder."""
    p = Path(root).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


def portable_root(root: str | os.PathLike) -> str:
    """The form stored in config.json: relative to the project folder when inside it."""
    p = Path(root).expanduser().resolve()
    try:
        return p.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(p)


def pid_alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


VALID, MISSING, INVALID = "valid", "missing", "invalid"  # what Run.json_file found


class Run:
    """Read access to one run folder (the app and notebooks use only this).

    Its JSON files (config.json, status.json, eval/metrics.json) are read through json_file: each
    is parsed once and again only when it changes, however often a page asks for it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.id = self.path.name
        self.bundled = self.path.parent.resolve() == bundled_runs_root().resolve()
        self._json: dict[str, tuple[tuple, object]] = {}  # name -> (the file's stamp, what it parsed to)

    def __repr__(self) -> str:
        return f"Run({self.id!r}, state={self.state!r})"

    def json_file(self, name: str) -> tuple[str, object]:
        """(VALID, the parsed JSON), (MISSING, None) or (INVALID, None) for the file `name` of the run
        folder ("config.json", "eval/metrics.json").  Parsed once per version of the file: the file's
        (mtime_ns, size, inode) says when it has changed (the engine replaces its JSON files by a
        rename, so a rewrite is a new inode), and only then is it read again."""
        path = self.path / name
        try:
            stat = path.stat()
        except OSError:  # no such file (or folder)
            self._json.pop(name, None)
            return MISSING, None
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = self._json.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        # stat before reading: a file replaced in between is read new under the old stamp, and read
        # again next time; never the reverse (an old content kept under a new stamp)
        try:
            answer = (VALID, json.loads(path.read_text()))
        except (OSError, ValueError):  # unreadable, cut short, not JSON (JSONDecodeError is a ValueError)
            answer = (INVALID, None)
        self._json[name] = (stamp, answer)
        return answer

    def _read(self, name: str, default):
        """The parsed file, or `default` when it is missing or not valid JSON (as read_json does); a
        dict comes back as a shallow copy, so a caller that sets a key changes no later read."""
        state, value = self.json_file(name)
        if state != VALID:
            return default
        return dict(value) if isinstance(value, dict) else value

    @property
    def config(self) -> dict:
        return self._read("config.json", {})

    @property
    def status(self) -> dict:
        status = self._read("status.json", {}) or {}
        # a process that died without saying so (killed, machine restarted) is not running
        if status.get("state") in ACTIVE_STATES and status.get("pid") and not pid_alive(status["pid"]):
            status = dict(status, state="failed", error=status.get("error") or
                          "the training process ended without finishing (killed?); resume it with --resume")
        return status

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")

    @property
    def recipe(self) -> str:
        return self.config.get("recipe", "?")

    @property
    def method(self) -> str:
        """The method in the papers' words (the recipe's label), e.g. "TASTgram-MFN (Noisy-ArcMix)"."""
        return self.config.get("label") or self.id

    @property
    def is_smoke_test(self) -> bool:
        """A run of yours with a smoke-test preset (tiny): it checks that training works and has learnt
        nothing.  (Bundled runs are the project's chosen results, whatever their preset.)"""
        return not self.bundled and self.config.get("preset") in SMOKE_TEST_PRESETS

    @property
    def label(self) -> str:
        """The name for tables, legends and pickers: what the run is.  A bundled run is its method; a run
        of yours adds its preset (a tiny run marked as a smoke test), its data and its date, so it never
        shows under a bundled run's name."""
        parts = [self.method]
        if not self.bundled:
            preset = self.config.get("preset")
            parts.append(f"{preset} smoke test" if self.is_smoke_test else (preset or "custom"))
            data = "+".join(Path(str(r)).name for r in self.config.get("data", {}).get("roots", []))
            if data:
                parts.append(data)
            created = self.status.get("created")
            if created:
                parts.append(time.strftime("%Y-%m-%d %H:%M", time.localtime(float(created))))
        return " · ".join(parts)

    def metrics_history(self) -> list[dict]:
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # a line being written right now
        return rows

    def log_tail(self, lines: int = 40) -> str:
        path = self.path / "train.log"
        if not path.exists():
            return ""
        text = path.read_text(errors="replace")
        # tqdm redraws with carriage returns: keep the last state of each line
        return "\n".join(line.rsplit("\r", 1)[-1] for line in text.splitlines()[-lines:])

    @property
    def has_eval(self) -> bool:
        return (self.path / "eval" / "metrics.json").exists()

    def damage(self) -> str | None:
        """Why this folder cannot be read as the contract above says (a file edited by hand, deleted,
        or cut short), or None when it can.  The app leaves a damaged run out of its pickers and
        says why; the run tables show it as "damaged"."""
        for name in ("config.json", "status.json"):
            if self.json_file(name)[0] == INVALID:
                return f"{name} is not valid JSON"
        if self.json_file("config.json")[0] == MISSING:
            return "config.json is missing"
        if not (self.path / "eval").is_dir():
            return None  # not evaluated (yet): nothing more to read
        if self.json_file("eval/metrics.json")[0] != VALID:
            return "eval/metrics.json is missing or not valid JSON"
        for name in EVAL_FILES:
            if not (self.path / "eval" / name).exists():
                return f"eval/{name} is missing (evaluate it again: python -m asdcore evaluate RUN --recompute)"
        return None

    def eval_metrics(self) -> dict:
        return self._read("eval/metrics.json", {})

    def clips(self):
        # pandas and numpy load here, not at module level: the launcher's background process reads
        # run folders before its SIGTERM handler is in place, and must get there fast
        import pandas as pd

        return pd.read_parquet(self.path / "eval" / "clips.parquet")

    def train_clips(self):
        import pandas as pd

        return pd.read_parquet(self.path / "eval" / "train_clips.parquet")

    def array(self, name: str):
        """An eval/ array by file name, or None.  Embeddings come back as float32 whatever they were
        stored in (the bundled runs keep them in float16 to stay small)."""
        import numpy as np

        path = self.path / "eval" / name
        if not path.exists():
            return None
        array = np.load(path)
        return array.astype(np.float32, copy=False) if name.endswith("embeddings.npy") else array

    def embeddings(self):
        return self.array("embeddings.npy")

    def train_embeddings(self):
        return self.array("train_embeddings.npy")

    def centres(self):
        return self.array("centres.npy")

    def attention(self):
        return self.array("attention.npy")

    def data_roots(self) -> list[Path]:
        return [resolve_root(r) for r in self.config.get("data", {}).get("roots", [])]

    def clip_path(self, row) -> Path:
        """Absolute path of a clip from a clips.parquet row (needs `path` and `root_index`).

        Raises ValueError for a row that names no data root of the run or a path that leaves its
        root ("../..", an absolute path): a run folder edited by hand, or made to read other files
        on the machine, never selects a file outside the data roots it was trained on."""
        roots = self.data_roots()
        index, relpath = row["root_index"], str(row["path"])
        if not 0 <= int(index) < len(roots):
            raise ValueError(f"{self.id}: a clip names data root {index}, but config.json lists {len(roots)} "
                             "root(s): refused (was the run folder edited?)")
        root = roots[int(index)]
        path = Path(os.path.normpath(root / relpath))
        if Path(relpath).is_absolute() or not path.is_relative_to(os.path.normpath(root)):
            raise ValueError(f"{self.id}: clip path {relpath!r} leaves its data root {root}: refused (was the run "
                             "folder edited?)")
        return path


# what every evaluated run's eval/ holds (centres.npy and attention.npy only for some models)
EVAL_FILES = ("metrics.json", "clips.parquet", "train_clips.parquet", "embeddings.npy", "train_embeddings.npy")


def list_runs(include_bundled: bool = True, roots=None) -> list[Run]:
    """Runs under runs/ (newest first), then the bundled ones under checkpoints/."""
    folders = list(roots) if roots is not None else [runs_root()] + ([bundled_runs_root()] if include_bundled else [])
    out = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        runs = [Run(p) for p in folder.iterdir() if not p.name.startswith(".") and (p / "config.json").exists()]
        runs.sort(key=lambda r: r.status.get("created", 0), reverse=True)
        out += runs
    return out


def data_of(run) -> str:
    """The data set a run was trained and evaluated on, as its config names it ("data/toy")."""
    return ", ".join(str(r) for r in run.config.get("data", {}).get("roots", []))


def runs_by_data(runs) -> dict[str, list]:
    """The runs grouped by the data set they were evaluated on, the data set with most runs first
    (on a tie, the one of the run listed first: the newest).  Numbers compare only within a group."""
    groups: dict[str, list] = {}
    for run in runs:
        groups.setdefault(data_of(run), []).append(run)
    return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))  # a stable sort keeps ties in order


def run_summary(runs) -> list[dict]:
    """One row per run: what the run tables show (`python -m asdcore runs`, the Home and Train
    pages), read here once so the three agree; each picks and formats its own columns.

        id, method (the run's label), recipe, preset, bundled (bool)
        state, epoch, epochs (None when unknown), progress (0..1), created (unix s, None when unknown);
                            state "damaged" for a folder Run.damage() cannot read
        auc_pct, pauc_pct   the recipe's default back-end's average over machine types (DCASE
                            protocol, eval/metrics.json "average"), in %, rounded to 2 decimals as
                            every table shows them; None before evaluation
    """
    rows = []
    for run in runs:
        status = run.status  # read once: the state, epoch and progress of one moment
        average = (run.eval_metrics() or {}).get("average") or {}
        rows.append({"id": run.id, "method": run.method, "recipe": run.recipe,
                     "preset": run.config.get("preset"), "bundled": run.bundled,
                     "state": "damaged" if run.damage() else status.get("state", "unknown"),
                     "epoch": status.get("epoch", 0),
                     "epochs": status.get("epochs"), "progress": float(status.get("progress") or 0.0),
                     "created": status.get("created"),
                     "auc_pct": _percent(average.get("auc")), "pauc_pct": _percent(average.get("pauc"))})
    return rows


def _percent(fraction) -> float | None:
    return None if fraction is None else round(100.0 * float(fraction), 2)


def new_run_id(recipe: str, preset: str, parent: str | os.PathLike | None = None) -> str:
    """A readable, unique id: time, recipe, preset (and a counter if that folder exists)."""
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{recipe}-{preset}"
    parent = Path(parent) if parent is not None else runs_root()
    run_id, n = base, 2
    while (parent / run_id).exists():
        run_id, n = f"{base}-{n}", n + 1
    return run_id


def mark_queued(run_dir: str | os.PathLike, config: RunConfig) -> None:
    """A new run folder waiting for its turn: config.json and status.json (queued)."""
    run_dir = Path(run_dir)
    if run_dir.exists():
        raise FileExistsError(f"{run_dir} already exists: not overwriting it")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    # both files are written in a hidden folder that is then renamed: whoever lists the runs
    # sees the folder whole or not at all, never a run without its status
    staging = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
    write_json_atomic(staging / "config.json", config.to_dict())
    now = time.time()
    write_json_atomic(staging / "status.json", {"state": "queued", "pid": os.getpid(), "phase": "waiting",
                                                "epoch": 0, "epochs": config.train.epochs, "progress": 0.0,
                                                "message": "queued: waiting for earlier runs to finish",
                                                "created": now, "updated": now, "error": None})
    os.chmod(staging, 0o755)  # mkdtemp makes it private; a run folder is as readable as any other
    try:
        os.rename(staging, run_dir)
    except OSError as exc:  # made by someone else in the meantime
        shutil.rmtree(staging, ignore_errors=True)
        raise FileExistsError(f"{run_dir} already exists: not overwriting it") from exc


def wait_turn(run_dir: str | os.PathLike, poll_seconds: float = 1.0, cancelled=lambda: False) -> None:
    """Block until no run in the same folder is running or queued ahead of this one
    (first come, first served: one training at a time per runs folder)."""
    me = Run(run_dir)
    write_json_atomic(me.path / "status.json", dict(me.status, pid=os.getpid()))
    while runs_ahead(me) and not cancelled():
        time.sleep(poll_seconds)


def runs_ahead(run: Run) -> list[Run]:
    """The runs of the same folder that go before this one: one running, or queued before it
    (first come, first served by their `created` time; a run without one counts as queued now)."""
    created = run.status.get("created", time.time())
    return [r for r in list_runs(roots=[run.path.parent]) if r.id != run.id and (
        r.state == "running" or (r.state == "queued" and r.status.get("created", 0) < created))]


def queue_position(run: Run) -> int:
    """Where a queued run stands in its folder's line: 1 when it is next to train."""
    return 1 + len(runs_ahead(run))
