"""Scoring new recordings with a trained run: a WAV the run has never seen (a field recording, the
clip behind an engineer's false alarm) judged as the run's evaluation judged its own test clips.

    scorer = RunScorer.load(run)              the run's model, default back-end and thresholds, once
    result = scorer.score(paths, machine_type=None, machine_id=None)
    result = score_files(run, paths, ...)     the two at once
    result = score_uploads(run, [(name, bytes), ...], ...)   files that came as bytes (the app's uploads)

    result.clips        one row per file: score, threshold, decision, predicted machine ID, angles,
                        diagnosis; or, for a file the run cannot judge, the reason (`status`, `reason`)
    result.details[i]   clip i's log-mel as the model saw it, its TAgram attention, its embedding and
                        its nearest training normals

What is the same as `asdcore evaluate` (so that a clip of the run's own test split gets here what
eval/clips.parquet says of it):
  - the front end: the run's log-mel settings, clip length (cropped from the start), padding and
    channel, the waveform at 16 kHz (asdcore.runtime.Waveforms reads at that rate);
  - the selected weights, loaded by evaluation.evaluate.load_selected and run by its embed();
  - the run's default back-end (metrics.json "backend": the one evaluate scored `score` with), fitted
    on the stored training embeddings (eval/train_embeddings.npy) with the options evaluate gave it;
  - the decision: alarms.threshold_reference and thresholds_per_id at the 90th percentile by the
    run's eval.threshold_rule, on the training normals' scores evaluate stored (train_clips.parquet);
  - the diagnosis: alarms.diagnose, the angle limit being the 90th percentile of the reference
    normals' angles to their centre (as the False alarms page takes it).

What is not: the bundled runs (checkpoints/) keep model.pt and the embeddings in float16, while
their eval/ files are those of the float32 model (scripts/make_checkpoints.py), so a clip scored
here with the float16 weights moves by a few 1e-4 relative (the decisions and diagnoses are those
of eval/clips.parquet unless a score lies that close to its threshold).  A run of yours (float32
weights) gives the same numbers to float rounding.

An ensemble run (the sub-cluster AdaCos ensemble) embeds each clip with every member snapshot and
sums their eqs. 2-3 scores, each fitted on that snapshot's training embeddings, which its evaluation
keeps (eval/member_train_embeddings.npz); the rest (angles, attention, neighbours) is its geometry
member's.  ensemble_problem(run) says why one cannot (no member weights, as in bundled ensembles).

Only the default back-end is computed: fitting a Gaussian mixture per class (gmm) alone takes
seconds to a minute, and the decision and the diagnosis need that one score only.

A file the run cannot judge is not scored, and its row says why, naming the file: unreadable,
too short for the run's clip length, of a machine type or ID the run was not trained on (listing
the ones it was), or of a type / ID its path does not tell (then --type / --id say it).  A file
at another sample rate is resampled, with a note.  Nothing here writes into the run folder:
`save_scoring` does, under <run>/scorings/<name>/, and only when asked.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from . import alarms
from .data.audio import SAMPLE_RATE, AudioError, ResampledWarning, fix_length, read_mono
from .data.classes import attribute_class_key
from .data.dataset import AUDIO_SUFFIXES, audio_error_reason
from .data.layouts import SPLIT_FOLDERS, SUPPLEMENTAL_FOLDER, NameNotUnderstood, parse_name
from .data.mimii import LABEL_FOLDERS as MIMII_LABEL_FOLDERS
from .data.records import ANOMALY, NORMAL, ClipRecord
from .runs import Run, write_json_atomic

SCORED, REFUSED = "scored", "not scored"  # a row's status
CALLED_ANOMALOUS, CALLED_NORMAL = "called anomalous", "called normal"  # outcome of a clip without a label
SCORINGS = "scorings"  # <run>/scorings/<name>/: what --save keeps
DEFAULT_NEIGHBOURS = 5
_MIMII_ID = re.compile(r"^id_\d+$")
_SAVE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ScoringError(ValueError):
    """The run cannot score anything (not evaluated, no weights) or a --save that would overwrite."""


class NotJudged(ValueError):
    """One file the run cannot judge; the message names the file and why."""


@dataclass
class ClipDetails:
    """What a page shows of one scored clip beyond its row."""

    logmel: np.ndarray  # (n_mels, frames) in dB, the model's own front end on the clip as it saw it
    attention: np.ndarray | None  # (frames,) TAgram's temporal weights, TAgram models only
    embedding: np.ndarray | None
    neighbours: pd.DataFrame  # nearest training normals: train_clips.parquet rows + similarity, file


@dataclass
class Scoring:
    """The result: `clips`, one row per file given (in order), and `details` by row for the scored ones."""

    clips: pd.DataFrame
    details: dict[int, ClipDetails] = field(default_factory=dict)
    run: Run | None = None
    backend: str = ""
    threshold_column: str = "score"

    @property
    def scored(self) -> pd.DataFrame:
        return self.clips[self.clips["status"] == SCORED]

    @property
    def refused(self) -> pd.DataFrame:
        return self.clips[self.clips["status"] == REFUSED]


# --- which machine a file is -----------------------------------------------------------------------

def audio_files(paths) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files to score: each file given, and the audio files (.wav, .flac) under each folder given,
    sorted; plus (path, reason) for paths that do not exist or folders holding no audio."""
    files, missing = [], []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
                           and not p.name.startswith("."))
            if not found:
                missing.append((path, f"{path}: a folder with no audio files (.wav, .flac) in it"))
            files += found
        elif path.exists():
            files.append(path)
        else:
            missing.append((path, f"{path}: no such file or folder"))
    return files, missing


def _machine_from_path(path: Path) -> tuple[str | None, dict]:
    """(machine type or None, the fields of its name) as the data layouts say: the DCASE folders
    <type>/<split>/<name> (split: train, test, source_test, ...), MIMII's <type>/id_XX/{normal,abnormal}/,
    else the file's own folder.  The name's fields are parse_name's (empty when it is none of the
    DCASE schemes, or, for MIMII, the ID and label of the folders)."""
    parent = path.parent
    if parent.name in MIMII_LABEL_FOLDERS and _MIMII_ID.match(parent.parent.name):
        return parent.parent.parent.name, {"machine_id": parent.parent.name, "label": MIMII_LABEL_FOLDERS[parent.name],
                                           "clip_index": path.stem, "layout": "mimii"}
    try:
        parsed = parse_name(path.name)
        fields = {"machine_id": parsed.machine_id, "label": parsed.label, "clip_index": parsed.clip_index,
                  "layout": parsed.layout, "section": parsed.section, "domain": parsed.domain,
                  "attributes": parsed.attributes}
    except NameNotUnderstood:
        fields = {}
    # (a DCASE 2025 supplemental clip, scored on request, is named by its type folder too)
    folder = parent.parent.name if parent.name in (*SPLIT_FOLDERS, SUPPLEMENTAL_FOLDER) else parent.name
    return folder or None, fields


def run_machines(train: pd.DataFrame) -> dict[str, list[str]]:
    """{machine type: [machine IDs / sections]} of a run's training normals (train_clips.parquet), in
    the run's class order (fan, pump, ... as DCASE 2020 lists them)."""
    pairs = train.sort_values("class_index", kind="stable")[alarms.MACHINE].drop_duplicates()
    out: dict[str, list[str]] = {}
    for machine_type, machine_id in pairs.itertuples(index=False):
        out.setdefault(str(machine_type), []).append(str(machine_id))
    return out


# --- the run, loaded once -------------------------------------------------------------------------

def ensemble_problem(run: Run) -> str | None:
    """Why an evaluated ensemble run cannot score new clips here (None when it can, or is no
    ensemble): read from its files alone, before any model loads (the Score page asks first)."""
    if not (run.config.get("ensemble") or {}).get("subclusters"):
        return None
    from .evaluation.ensemble import MEMBER_TRAIN_EMBEDDINGS, MEMBERS

    rows = (run.eval_metrics().get("ensemble") or {}).get("members") or []
    if not (run.path / MEMBERS).is_dir():
        return (f"{run.path.name} is an ensemble whose member networks' weights are not here (a bundled ensemble "
                f"keeps none, they are too large): score with the single-system run (shift-subcluster-adacos), "
                f"or train the ensemble here")
    if not rows or not all(row.get("weights") for row in rows) or \
            not (run.path / "eval" / MEMBER_TRAIN_EMBEDDINGS).exists():
        return (f"{run.path} is an ensemble evaluated before its members' training embeddings were kept: "
                f"evaluate it again (`python -m asdcore evaluate {run.path}`) to score new clips with it")
    missing = [row["weights"] for row in rows if not (run.path / row["weights"]).exists()]
    if missing:
        return (f"{run.path.name} is an ensemble of {len(rows)} member snapshots, and the weights of {len(missing)} "
                f"of them are not here (e.g. {missing[0]}; a bundled ensemble keeps none, they are too large): score "
                f"with the single-system run (shift-subcluster-adacos), or train the ensemble here")
    train = run.train_clips()
    if "domain" not in train.columns or not train["domain"].notna().any():
        return (f"{run.path.name}: scoring new clips with an ensemble is built for data with domains (DCASE "
                f"2021-2023 layouts), where its members' scores are eqs. 2-3")
    return None


@dataclass
class RunScorer:
    """A run ready to score new clips: its config, selected weights, front end, default back-end
    (fitted), thresholds and the tables they come from.  Load with RunScorer.load(run)."""

    run: Run
    config: object  # RunConfig
    models: dict  # {group name: (model, loss)}, as evaluation.evaluate.load_selected gives them
    front: object  # features.LogMel
    device: object
    classes: list[tuple[str, str]]  # class index -> (machine type, ID or "section_00 attributes")
    class_mode: str  # "section" or "attributes" (asdcore.data.classes)
    train: pd.DataFrame  # eval/train_clips.parquet
    train_embeddings: np.ndarray
    backend: str  # the run's default back-end
    score_column: str  # score_<backend>
    threshold_column: str  # the column decisions use (decision_<backend> where the run wrote one)
    thresholds: pd.DataFrame
    angle_limits: pd.Series  # (type, ID) -> the 90th percentile of its reference normals' angles
    names: dict[int, tuple[str, str]]
    fitted: object = None  # the back-end fitted on the training embeddings (class-conditional ones)
    # an ensemble run's member snapshots: [(models, training-normal embeddings)], their scores summed
    members: list = field(default_factory=list)

    @classmethod
    def load(cls, run: Run | str | os.PathLike, device: str | None = None) -> RunScorer:
        # torch and the models load here, not with the module: the app's pages import this module
        # and the Score page must draw before torch has loaded
        import torch

        from .config import RunConfig
        from .evaluation.evaluate import load_selected
        from .features import LogMel
        from .runtime import SELECTED, feature_config, pick_device

        run = run if isinstance(run, Run) else Run(run)
        if not (run.path / "config.json").exists():
            raise ScoringError(f"{run.path} is not a run folder (no config.json)")
        if not run.has_eval:
            raise ScoringError(f"{run.path} is not evaluated yet (no eval/metrics.json): its thresholds come from "
                               f"the evaluation; run `python -m asdcore evaluate {run.path}` first")
        if (run.config.get("ensemble") or {}).get("subclusters"):
            return cls._load_ensemble(run, device)
        if not (run.path / SELECTED).exists():
            raise ScoringError(f"{run.path}: no {SELECTED} (the run has not finished an epoch)")
        config = RunConfig.from_dict(run.config)
        test, train = run.clips(), run.train_clips()
        train_embeddings = run.train_embeddings()
        names = alarms.class_names(train, test)
        classes = [names[k] for k in sorted(names)]
        if sorted(names) != list(range(len(names))):
            raise ScoringError(f"{run.path}: the clips tables name classes {sorted(names)}, not 0..{len(names) - 1}")
        dev = torch.device(device) if device else pick_device(config.device)
        models, _ = load_selected(run.path, config, _reference_splits(train, classes, run), dev)
        scorer = cls(run=run, config=config, models=models, front=LogMel(feature_config(config)).to(dev), device=dev,
                     classes=classes, class_mode=_class_mode(train, classes), train=train,
                     train_embeddings=train_embeddings, names=names, **_decision_rule(run, config, train))
        scorer.fitted = scorer._fit_backend()
        return scorer

    @classmethod
    def _load_ensemble(cls, run: Run, device: str | None) -> RunScorer:
        """The sub-cluster AdaCos ensemble (asdcore.evaluation.ensemble): a new clip is embedded by every
        member snapshot and its eqs. 2-3 scores, each fitted on that snapshot's own training-normal
        embeddings (kept by the evaluation), are summed as the evaluation summed them.  What the page
        shows of the clip beyond its score (angles, attention, neighbours, the embedding) comes from the
        member the evaluation drew its geometry from, its last snapshot."""
        import torch

        from .config import RunConfig
        from .evaluation.ensemble import GEOMETRY_MEMBER, MEMBER_TRAIN_EMBEDDINGS, member_config, member_dir, snapshots
        from .evaluation.evaluate import load_selected
        from .features import LogMel
        from .runtime import feature_config, pick_device

        problem = ensemble_problem(run)
        if problem:
            raise ScoringError(problem)
        config = RunConfig.from_dict(run.config)
        rows = run.eval_metrics()["ensemble"]["members"]
        weights = [run.path / row["weights"] for row in rows]
        stored = run.path / "eval" / MEMBER_TRAIN_EMBEDDINGS
        test, train = run.clips(), run.train_clips()
        names = alarms.class_names(train, test)
        classes = [names[k] for k in sorted(names)]
        dev = torch.device(device) if device else pick_device(config.device)
        splits = _reference_splits(train, classes, run)
        with np.load(stored) as kept:
            embeddings = [kept[f"arr_{i}"] for i in range(len(rows))]
        members = []
        for row, path, member_embeddings in zip(rows, weights, embeddings):
            models, _ = load_selected(member_dir(run.path, row["subclusters"]), member_config(config, row["subclusters"]),
                                      splits, dev, weights=path)
            members.append((models, member_embeddings))
        ks = list(config.ensemble.subclusters)
        geometry_k = GEOMETRY_MEMBER if GEOMETRY_MEMBER in ks else ks[len(ks) // 2]
        geometry_config = member_config(config, geometry_k)
        models, _ = load_selected(member_dir(run.path, geometry_k), geometry_config, splits, dev,
                                  weights=snapshots(run.path, geometry_k)[-1])
        # the geometry member's config embeds (its model), the ensemble's names the back-end and thresholds
        return cls(run=run, config=geometry_config, models=models, front=LogMel(feature_config(config)).to(dev),
                   device=dev, classes=classes, class_mode=_class_mode(train, classes), train=train,
                   train_embeddings=run.train_embeddings(), names=names, members=members,
                   **_decision_rule(run, config, train))

    # --- what the run knows ---

    @property
    def familiarity_floors(self) -> dict[str, float]:
        """alarms.familiarity_floor of the run's training normals, computed once."""
        if getattr(self, "_floors", None) is None:
            self._floors = ({} if self.train_embeddings is None
                            else alarms.familiarity_floor(self.train_embeddings, self.train))
        return self._floors

    @property
    def machines(self) -> dict[str, list[str]]:
        """{machine type: [machine IDs / sections]} of the run's training normals."""
        return run_machines(self.train)

    @property
    def has_domains(self) -> bool:
        return "domain" in self.thresholds.columns

    @property
    def clip_seconds(self) -> float:
        return float(self.config.data.clip_seconds)

    def _fit_backend(self):
        """The default back-end fitted as evaluate fitted it, for the back-ends fitted per class on the
        training embeddings (gmm, knn, lof, mean_cosine); None for those read off the network (softmax,
        cosine, reconstruction) and for subcluster (fitted with the clips it scores)."""
        from .evaluation import scoring

        if self.backend not in scoring.BACKEND_REGISTRY:
            return None
        e = self.config.eval
        model, _ = next(iter(self.models.values()))
        options = {"knn": {"k": e.knn_k}, "lof": {"n_neighbors": e.lof_neighbors},
                   "gmm": {"subcentres": _subcentres(model)}}.get(self.backend, {})
        backend = scoring.create_backend(self.backend, **options)
        if not backend.class_conditional:
            return backend
        # ClassConditional.fit would also score the training normals (gmm cross-fitted: ten more fits
        # per class); those scores are in train_clips.parquet already, so only each class's model is
        # fitted here, by the back-end's own fit_class on the same normalised embeddings
        x = scoring.l2_normalise(self.train_embeddings)
        y = self.train["class_index"].to_numpy()
        with _one_blas_thread(self.backend):
            backend.models = {int(c): backend.fit_class(int(c), x[y == c]) for c in np.unique(y)}
        return backend

    # --- reading and naming one file ---

    def identify(self, path: Path, machine_type: str | None = None, machine_id: str | None = None
                 ) -> tuple[ClipRecord, list[str]]:
        """The clip's record (machine type, ID, class, label, domain) and notes; NotJudged when the
        run cannot tell which of its machines the file is."""
        machines = self.machines
        folder_type, fields = _machine_from_path(path)
        notes = []
        known_types = ", ".join(machines)
        if machine_type is None:
            if folder_type not in machines and path.parent.name in SPLIT_FOLDERS:  # the DCASE layout names it
                raise NotJudged(f"{path}: machine type {folder_type!r} (its folder) is not one this run was "
                                f"trained on (its types: {known_types})")
            if folder_type not in machines:
                raise NotJudged(f"{path}: cannot tell its machine type: its folder {folder_type!r} is none of this "
                                f"run's machine types ({known_types}); give it (--type)")
            machine_type = folder_type
        elif machine_type not in machines:
            raise NotJudged(f"{path}: machine type {machine_type!r} is not one this run was trained on "
                            f"(its types: {known_types})")
        known_ids = ", ".join(machines[machine_type])
        named_id = fields.get("machine_id")
        if machine_id is None:
            if named_id is None:
                raise NotJudged(f"{path}: cannot tell its machine ID from its name (none of the DCASE 2020-2023 "
                                f"schemes, e.g. normal_id_00_00000000.wav); give it (--id; this run's "
                                f"{machine_type} IDs: {known_ids})")
            machine_id = named_id
        elif named_id is not None and named_id != machine_id:
            notes.append(f"its name says {named_id}; scored as {machine_id}, as asked")
        if machine_id not in machines[machine_type]:
            raise NotJudged(f"{path}: {machine_type} {machine_id} is not a machine this run was trained on (its "
                            f"{machine_type} IDs: {known_ids}; its types: {known_types})")
        domain = fields.get("domain")
        if self.has_domains and domain is None:
            domain = "source"
            notes.append("its name gives no domain: decided against the source-domain threshold")
        record = ClipRecord(path=str(path), root=str(path.parent), relpath=path.name, machine_type=machine_type,
                            machine_id=machine_id, split="test", label=fields.get("label"),
                            clip_index=fields.get("clip_index", ""), layout=fields.get("layout", "unknown"),
                            section=fields.get("section"), domain=domain, attributes=fields.get("attributes", ()))
        key = attribute_class_key(record) if self.class_mode == "attributes" else record.class_key
        class_index = self.classes.index(key) if key in self.classes else -1
        if class_index < 0:
            notes.append("no training normal has its attribute values: scored as the most normal of its "
                         "section's classes")
        return replace(record, class_index=class_index), notes

    def read(self, path: Path) -> tuple[np.ndarray, list[str]]:
        """The clip's waveform as the run's model reads its clips (16 kHz, channel data.channel,
        cropped from the start / padded to data.clip_seconds), and notes; NotJudged when it cannot be
        read or is too short."""
        d = self.config.data
        try:
            rate = sf.info(str(path)).samplerate
        except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / OSError
            raise NotJudged(f"{path}: unreadable as audio ({audio_error_reason(exc)})") from exc
        notes = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResampledWarning)  # said once, in the notes
            try:
                x = read_mono(path, SAMPLE_RATE, d.channel)
            except AudioError as exc:
                raise NotJudged(str(exc)) from exc
        if rate != SAMPLE_RATE:
            notes.append(f"recorded at {rate} Hz: resampled to {SAMPLE_RATE} Hz, the run's rate")
        n_samples = int(round(d.clip_seconds * SAMPLE_RATE))
        hop = int(self.config.features.logmel().hop_length)
        seconds = len(x) / SAMPLE_RATE
        # one hop short (a few samples lost in a conversion) still fills every frame but the last;
        # shorter, the model would hear padding no training clip had
        if len(x) < n_samples - hop:
            raise NotJudged(f"{path}: too short: {seconds:.2f} s of audio, and this run judges clips of "
                            f"{d.clip_seconds:g} s (its data.clip_seconds); record at least that long")
        if len(x) > n_samples:
            notes.append(f"{seconds:.2f} s long: its first {d.clip_seconds:g} s scored (the run's clip length)")
        elif len(x) < n_samples:
            notes.append(f"{n_samples - len(x)} samples short of {d.clip_seconds:g} s: padded ({d.pad_mode})")
        return fix_length(x, n_samples, d.pad_mode), notes

    # --- scoring ---

    def score(self, paths, machine_type: str | None = None, machine_id: str | None = None,
              k: int = DEFAULT_NEIGHBOURS, on_clip=None) -> Scoring:
        """Score audio files and the audio files under folders.  machine_type / machine_id: the
        machine every file is of (else each file's path says, as the data layouts do).  on_clip(done,
        total, path) is called as each file has been judged (progress).  Returns a Scoring.

        Files go through in batches of eval.batch_size: a folder of thousands of clips never holds
        more than one batch of waveforms."""
        files, missing = audio_files(paths)
        rows, scored_parts, positions, details = [], [], [], {}
        batch = max(1, int(self.config.eval.batch_size))
        for start in range(0, len(files), batch):
            records, waves, where = [], [], []
            for path in files[start:start + batch]:
                row = {"file": str(path), "name": path.name}
                try:
                    record, notes = self.identify(path, machine_type, machine_id)
                    wave, read_notes = self.read(path)
                except NotJudged as exc:
                    rows.append(row | {"status": REFUSED, "reason": str(exc), "notes": ""})
                    continue
                where.append(len(rows))
                rows.append(row | _record_columns(record) | {"status": SCORED, "reason": "",
                                                             "notes": "; ".join(notes + read_notes)})
                records.append(record)
                waves.append(wave)
            if records:
                scored, outputs, neighbours = self._judge(records, np.stack(waves), k)
                scored_parts.append(scored)
                positions += where
                for j, row_index in enumerate(where):
                    details[row_index] = ClipDetails(
                        logmel=outputs["logmel"][j],
                        attention=outputs["attention"][j] if "attention" in outputs else None,
                        embedding=outputs["embedding"][j] if "embedding" in outputs else None,
                        neighbours=neighbours[j])
            if on_clip is not None:
                done = min(start + batch, len(files))
                on_clip(done, len(files), files[done - 1])
        rows += [{"file": str(p), "name": p.name, "status": REFUSED, "reason": why, "notes": ""} for p, why in missing]
        table = pd.DataFrame(rows, columns=["file", "name", "status", "reason", "notes", *_record_columns(None)])
        if scored_parts:  # the scored files' columns beside their rows; NaN in the rows not scored
            scored = pd.concat(scored_parts, ignore_index=True)
            table = table.join(scored.drop(columns=[c for c in scored.columns if c in table.columns])
                               .set_axis(positions))
        return Scoring(clips=table, details=details, run=self.run, backend=self.backend,
                       threshold_column=self.threshold_column)

    def _judge(self, records: list[ClipRecord], waves: np.ndarray, k: int) -> tuple[pd.DataFrame, dict, list]:
        """The scored clips' table (score, threshold, outcome, angles, diagnosis), the model's outputs
        and each clip's k nearest training normals."""
        from .evaluation.evaluate import angles

        outputs = self._infer(records, waves)
        clips = pd.DataFrame([_record_columns(r) for r in records])
        scores, decision = self._backend_scores(clips, outputs, records, waves)
        clips[self.score_column] = scores
        clips["score"] = scores
        if decision is not None:
            clips["decision_" + self.backend] = decision
            clips["decision"] = decision
        if "cosine" in outputs:
            clips = pd.concat([clips, angles(outputs["cosine"], clips["class_index"].to_numpy(), self.classes)], axis=1)
        labelled = clips["label"].notna()
        decided = alarms.decide(clips.assign(label=clips["label"].fillna(-1)), self.thresholds,
                                alarms.decision_column(clips, self.score_column))
        decided["label"] = clips["label"]
        # a clip without a label in its name is neither a false alarm nor a passed normal: only called
        unlabelled = ~labelled & (decided["outcome"] != alarms.NO_THRESHOLD)
        decided.loc[unlabelled, "outcome"] = np.where(decided.loc[unlabelled, "called_anomalous"].astype(bool),
                                                      CALLED_ANOMALOUS, CALLED_NORMAL)
        neighbours = [self.neighbours(outputs["embedding"][j] if "embedding" in outputs else None, r.machine_type, k)
                      for j, r in enumerate(records)]
        decided["predicted"] = [alarms.predicted_machine(row, self.names) for _, row in decided.iterrows()]
        # the diagnosis as the False alarms page words it: the angle limit of the clip's ID, and its
        # nearest training normals (a clip far from every centre yet among its own machine's normals)
        decided["diagnosis"] = [
            alarms.diagnose(row, self.angle_limits.get((row["machine_type"], row["machine_id"])), self.names,
                            neighbours=near) for (_, row), near in zip(decided.iterrows(), neighbours)]
        # a recording unlike all the run learnt from says so first: a strong fault, or other recording conditions
        floors = self.familiarity_floors
        notes = [alarms.unfamiliar_note(float(near["similarity"].iloc[0]) if len(near) else np.nan,
                                        floors.get(str(row["machine_type"])))
                 for (_, row), near in zip(decided.iterrows(), neighbours)]
        decided["diagnosis"] = [note + text[:1].upper() + text[1:] if note else text  # a new sentence after the note
                                for note, text in zip(notes, decided["diagnosis"])]
        return decided, outputs, neighbours

    def _infer(self, records: list[ClipRecord], waves: np.ndarray) -> dict:
        """The model's outputs for each clip (evaluation.evaluate.embed with each clip's group: the
        autoencoder has one network per machine type) and the log-mel its front end made."""
        import torch

        from .evaluation.evaluate import embed

        batch = _WaveBatch(torch.from_numpy(waves))
        labels = np.array([r.class_index for r in records], dtype=np.int64)
        result: dict[str, np.ndarray] = {}
        for name, (model, loss) in self.models.items():
            index = np.array([i for i, r in enumerate(records) if name == "all" or r.machine_type == name], dtype=np.int64)
            if len(index) == 0:
                continue
            part = embed(model, loss, batch, labels, self.front, self.config, self.device, index)
            for key, value in part.items():
                result.setdefault(key, np.full((len(records),) + value.shape[1:], np.nan, dtype=np.float32))
                result[key][index] = value
        with torch.no_grad():
            result["logmel"] = self.front(batch.waves.to(self.device)).float().cpu().numpy()
        return result

    def _backend_scores(self, clips: pd.DataFrame, outputs: dict, records: list[ClipRecord], waves: np.ndarray):
        """(scores, decision scores or None) of the run's default back-end."""
        from .evaluation import scoring

        if self.backend == "reconstruction":  # the autoencoder's own score
            return outputs["reconstruction_error"], None
        if self.backend == "subcluster":
            return self._subcluster_scores(clips, outputs)
        if self.members:
            return self._ensemble_scores(clips, records, waves)
        model, _ = next(iter(self.models.values()))
        candidates = None
        if (clips["class_index"] < 0).any():  # no class: scored as the most normal of its section's classes
            from .data.classes import section_candidates

            candidates = section_candidates(records, self.classes)
        embedded = scoring.EmbeddingSet(embedding=outputs.get("embedding"), class_index=clips["class_index"].to_numpy(),
                                        cosine=outputs.get("cosine"), logits=outputs.get("logits"),
                                        subcentres=_subcentres(model), candidates=candidates)
        with _one_blas_thread(self.backend):
            return scoring.score_with_candidates(self.fitted, embedded), None

    def _subcluster_scores(self, clips: pd.DataFrame, outputs: dict):
        """Eqs. 2-3 of the sub-cluster AdaCos system, fitted as evaluate fits them (its own function)."""
        from .evaluation import evaluate

        if self.config.eval.tmax_types:
            raise ScoringError(f"{self.run.path}: eq. 4's term (eval.tmax_types) needs the training normals' "
                               "temporal maxima of the log-mel, which the run folder does not keep")
        model, _ = next(iter(self.models.values()))
        scores = evaluate._subcluster_scores(clips, self.train, outputs, {"embedding": self.train_embeddings},
                                             _subcentres(model),
                                             self.class_mode, int(self.config.seed), evaluate._attribute_centres(model))
        return scores.test, scores.test_decision

    def _ensemble_scores(self, clips: pd.DataFrame, records: list[ClipRecord], waves: np.ndarray):
        """The ensemble's scores and decision scores: each member snapshot's eqs. 2-3, both heads and
        sections head only (asdcore.evaluation.ensemble._member_scores), summed over the snapshots;
        the back-end picks the sum (ensemble, ensemble_sections) or, per machine type, the report's
        choice recorded by the evaluation (ensemble_choice)."""
        import torch

        from .evaluation import evaluate
        from .evaluation.ensemble import BOTH, CHOICE, HEADS, SECTIONS

        batch = _WaveBatch(torch.from_numpy(waves))
        labels = np.array([r.class_index for r in records], dtype=np.int64)
        sums = {BOTH: [0.0, 0.0], SECTIONS: [0.0, 0.0]}
        for models, train_embeddings in self.members:
            model, loss = next(iter(models.values()))
            outputs = evaluate.embed(model, loss, batch, labels, self.front, self.config, self.device)
            sub = _subcentres(model)
            for name, attributes in ((BOTH, True), (SECTIONS, False)):
                found = evaluate._subcluster_scores(clips, self.train, outputs, {"embedding": train_embeddings}, sub,
                                                    self.class_mode, int(self.config.seed),
                                                    evaluate._attribute_centres(model), attributes=attributes)
                decision = found.test_decision if found.test_decision is not None else found.test
                sums[name][0] = sums[name][0] + np.asarray(found.test, dtype=np.float64)
                sums[name][1] = sums[name][1] + np.asarray(decision, dtype=np.float64)
        if self.backend in sums:
            return sums[self.backend][0], sums[self.backend][1]
        if self.backend != CHOICE:
            raise ScoringError(f"{self.run.path}: unknown ensemble back-end {self.backend!r}")
        choice = (self.run.eval_metrics().get("ensemble") or {}).get("choice") or {}
        by_heads = {heads: name for name, heads in HEADS.items()}
        take_sections = clips["machine_type"].map(lambda t: by_heads.get(choice.get(t)) == SECTIONS).to_numpy()
        return tuple(np.where(take_sections, sums[SECTIONS][i], sums[BOTH][i]) for i in (0, 1))

    def neighbours(self, embedding, machine_type: str, k: int = DEFAULT_NEIGHBOURS) -> pd.DataFrame:
        """The k training normals of `machine_type` nearest (cosine) to the embedding, with `file`, each
        one's audio file (None where its data root is gone or its path refused)."""
        if embedding is None or self.train_embeddings is None or not np.isfinite(embedding).all():
            return self.train.iloc[[]].assign(similarity=pd.Series(dtype=float), file=pd.Series(dtype=object))
        near = alarms.nearest_training_clips(embedding, self.train_embeddings, self.train, machine_type, k)
        return near.assign(file=[_clip_file(self.run, row) for _, row in near.iterrows()])


class _WaveBatch:
    """Preloaded waveforms as evaluation.evaluate.embed reads them (asdcore.runtime.Waveforms' batch()):
    new files are read once, here, and never enter a data root's audio cache."""

    def __init__(self, waves):
        self.waves = waves

    def __len__(self) -> int:
        return len(self.waves)

    def batch(self, index):
        return self.waves[index]


def _one_blas_thread(backend: str):
    """gmm's EM, as evaluation.scoring.GMM does: one BLAS thread (many small Choleskys)."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas") if backend == "gmm" else nullcontext()


def _decision_rule(run: Run, config, train: pd.DataFrame) -> dict:
    """The run's default back-end, its score and decision columns, the thresholds per ID and the angle
    limits, as evaluate and the False alarms page set them: RunScorer's fields of the same names."""
    backend = run.eval_metrics().get("backend") or config.eval.backend  # what evaluate scored `score` with
    score_column = f"score_{backend}"
    threshold_column = alarms.decision_column(train, score_column)
    reference = alarms.threshold_reference(train)  # held-out validation normals where an ID has enough
    rule = getattr(config.eval, "threshold_rule", "percentile")
    limits = alarms.per_id_percentile(reference, "angle_to_centre_deg", alarms.DEFAULT_PERCENTILE, keys=alarms.MACHINE)
    return {"backend": backend, "score_column": score_column, "threshold_column": threshold_column,
            "thresholds": alarms.thresholds_per_id(reference, threshold_column, alarms.DEFAULT_PERCENTILE, rule=rule),
            "angle_limits": limits.set_index(alarms.MACHINE)["value"]}


def _subcentres(model) -> np.ndarray | None:
    """(C, S, D) head (sub-)centres, for the gmm's initial means, as evaluate gives them."""
    head = getattr(model, "head", None)
    if head is None:
        return None
    return head.weight.detach().float().cpu().numpy().reshape(head.num_classes, head.num_subcentres, -1)


def _reference_splits(train: pd.DataFrame, classes: list[tuple[str, str]], run: Run):
    """The run's training normals as the Splits load_selected reads (class count, attribute classes,
    the autoencoder's machine types), from train_clips.parquet: no scan of the data set, which a run
    scores new clips without."""
    from .runtime import Splits

    def attributes(text) -> tuple[tuple[str, str], ...]:
        if not isinstance(text, str) or not text:
            return ()
        return tuple(tuple(pair.split("=", 1)) if "=" in pair else (pair, "") for pair in text.split(";"))

    records = [ClipRecord(path=str(p), root="", relpath=str(p), machine_type=str(t), machine_id=str(i), split="train",
                          label=NORMAL, clip_index="", layout="", attributes=attributes(a), class_index=int(k))
               for p, t, i, a, k in zip(train["path"], train["machine_type"], train["machine_id"],
                                        train["attributes"] if "attributes" in train.columns else [None] * len(train),
                                        train["class_index"])]
    return Splits(train=records, val=[], test=[], classes=classes, roots=[str(r) for r in run.data_roots()])


def _class_mode(train: pd.DataFrame, classes: list[tuple[str, str]]) -> str:
    """"section" where every class is a (machine type, machine ID) of the training normals, else
    "attributes" (classes named "section_00 key=value;...")."""
    own = {(str(t), str(i)) for t, i in train[alarms.MACHINE].itertuples(index=False)}
    return "section" if set(classes) <= own else "attributes"


def _record_columns(record: ClipRecord | None) -> dict:
    """The clips-table columns of a record (the names of eval/clips.parquet)."""
    if record is None:
        return dict.fromkeys(["machine_type", "machine_id", "class_index", "label", "section", "domain", "attributes"])
    return {"machine_type": record.machine_type, "machine_id": record.machine_id, "class_index": record.class_index,
            "label": np.nan if record.is_anomaly is None else float(record.is_anomaly),
            "section": record.section, "domain": record.domain, "attributes": record.attributes_text or None}


def _clip_file(run: Run, row) -> str | None:
    try:
        return str(run.clip_path(row))
    except ValueError:
        return None


# --- the two ways in, and keeping a scoring -----------------------------------------------------

def score_files(run: Run | str | os.PathLike, paths, machine_type: str | None = None, machine_id: str | None = None,
                k: int = DEFAULT_NEIGHBOURS, on_clip=None, device: str | None = None) -> Scoring:
    """Score WAV files (and the audio files under folders) with a trained run: RunScorer.load(run).score(...)."""
    return RunScorer.load(run, device).score(paths, machine_type, machine_id, k, on_clip)


def score_uploads(scorer: RunScorer, uploads, machine_type: str | None = None, machine_id: str | None = None,
                  k: int = DEFAULT_NEIGHBOURS, on_clip=None) -> Scoring:
    """Score files given as (file name, bytes) (the app's uploads): written to a temporary folder
    under their own names (so the names still say the machine ID and label), scored, and deleted;
    they never join a data set.  `file` in the result is the name alone."""
    with tempfile.TemporaryDirectory(prefix="asd-upload-") as folder:
        paths = []
        for i, (name, data) in enumerate(uploads):
            # the name only (no folders: an upload cannot write elsewhere), in a folder of its own
            # so that two uploads of the same name do not overwrite each other
            safe = Path(str(name).replace("\\", "/")).name or f"upload-{i}.wav"
            path = Path(folder) / str(i) / safe
            path.parent.mkdir()
            path.write_bytes(bytes(data))
            paths.append(path)
        result = scorer.score(paths, machine_type, machine_id, k, on_clip)
    for column in ("file", "reason"):  # the temporary folder is gone: name the upload as it was called
        result.clips[column] = [_strip_folder(str(v), folder) for v in result.clips[column]]
    result.clips["file"] = result.clips["name"]
    return result


def _strip_folder(text: str, folder: str) -> str:
    return re.sub(re.escape(folder) + r"/\d+/", "", text)


def save_scoring(result: Scoring, name: str) -> Path:
    """Keep a scoring under <run>/scorings/<name>/: clips.parquet (the table), neighbours.parquet
    (each clip's nearest training normals, by its row) and scoring.json (run, back-end, threshold
    rule).  Refuses a name already there, a name that is not a plain folder name, and a bundled run
    (read-only).  Written to a hidden folder, then renamed: never half a scoring."""
    run = result.run
    if run is None:
        raise ScoringError("this scoring names no run to save it in")
    if run.bundled:
        raise ScoringError(f"{run.path} is a bundled run (read-only): copy it to runs/ to keep scorings in it")
    if not _SAVE_NAME.match(name):
        raise ScoringError(f"--save {name!r}: a scoring's name is one folder name (letters, digits, . _ -)")
    parent = run.path / SCORINGS
    target = parent / name
    if target.exists():
        raise ScoringError(f"{target} already exists: not overwriting it (choose another --save name)")
    parent.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    try:
        result.clips.to_parquet(staging / "clips.parquet", index=False)
        neighbours = [d.neighbours.assign(clip_row=i) for i, d in result.details.items()]
        if neighbours:
            pd.concat(neighbours, ignore_index=True).to_parquet(staging / "neighbours.parquet", index=False)
        write_json_atomic(staging / "scoring.json", {"run": run.id, "backend": result.backend,
                                                     "threshold_column": result.threshold_column,
                                                     "percentile": alarms.DEFAULT_PERCENTILE,
                                                     "n_files": len(result.clips), "n_scored": len(result.scored)})
        os.chmod(staging, 0o755)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


# --- how the command line and --json show it ------------------------------------------------------

def decision_text(row) -> str:
    """"anomalous" / "normal" (score above / at or below its threshold), or "no threshold"."""
    called = row.get("called_anomalous")
    if called is None or called is pd.NA or (isinstance(called, float) and math.isnan(called)):
        return "no threshold"
    return "anomalous" if bool(called) else "normal"


def as_records(result: Scoring) -> list[dict]:
    """One JSON-ready dict per file (what --json prints): the row's columns, the decision, and the
    nearest training normals (path, machine type and ID, similarity, file)."""
    out = []
    for i, row in result.clips.iterrows():
        item = {k: _plain(v) for k, v in row.items()}
        if row["status"] == SCORED:
            item["decision"] = decision_text(row)
            item["label"] = {0.0: NORMAL, 1.0: ANOMALY}.get(row["label"])
            near = result.details[i].neighbours
            item["nearest_training_normals"] = [
                {"path": n["path"], "machine_type": n["machine_type"], "machine_id": n["machine_id"],
                 "similarity": float(n["similarity"]), "file": n["file"]} for _, n in near.iterrows()]
        out.append(item)
    return out


def _plain(value):
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def format_table(result: Scoring) -> str:
    """The scored files as a readable table (one row per clip), each clip's nearest training
    normals under it, then the files not scored with why, and the notes."""
    lines = []
    scored = result.scored
    if len(scored):
        def angle(value) -> str:
            return "-" if value is None or not np.isfinite(float(value)) else f"{float(value):.1f}°"

        table = pd.DataFrame({
            "clip": scored["name"], "machine": scored["machine_type"] + " " + scored["machine_id"],
            "score": [f"{v:.4g}" for v in scored["score"]],
            "threshold": [f"{v:.4g}" if np.isfinite(v) else "-" for v in scored["threshold"].astype(float)],
            "decision": [decision_text(r) for _, r in scored.iterrows()],
            "predicted": [p if isinstance(p, str) else "-" for p in scored.get("predicted", [None] * len(scored))],
            "own centre": [angle(v) for v in scored.get("angle_to_centre_deg", [None] * len(scored))],
            "nearest other": [angle(v) for v in scored.get("angle_to_nearest_other_deg", [None] * len(scored))],
        })
        table = table.loc[:, [c for c in table.columns if not (table[c] == "-").all()]]  # no centres: no angles
        lines.append(f"back-end {result.backend}; thresholds at the {alarms.DEFAULT_PERCENTILE:g}th percentile of "
                     f"each machine ID's reference normals (run {result.run.id if result.run else '?'})")
        lines.append(table.to_string(index=False))
        for i, row in scored.iterrows():
            lines.append(f"\n{row['name']}: {decision_text(row)} ({row['outcome']}); {row['diagnosis']}")
            for _, n in result.details[i].neighbours.iterrows():
                lines.append(f"    {n['similarity']:.4f}  {n['machine_type']} {n['machine_id']}  {n['path']}")
    for _, row in result.refused.iterrows():
        lines.append(f"not scored: {row['reason']}")
    for _, row in result.clips[result.clips["notes"].fillna("") != ""].iterrows():
        lines.append(f"note: {row['file']}: {row['notes']}")
    return "\n".join(lines)
