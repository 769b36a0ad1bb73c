"""Evaluating a run: every artefact the app reads, written once, so pages only read.

    evaluate_run(run_dir)

loads the selected weights (model.pt), embeds the labelled test clips and the training normals,
scores them with every back-end (asdcore.evaluation.scoring), computes AUC / pAUC / mAUC under both
protocols (asdcore.evaluation.metrics), the angles to the class centres (Fig. 1 of the Noisy-ArcMix
paper), 2-D UMAP and PCA projections, and TAgram's attention weights with their summary
(asdcore.evaluation.attention), and writes them under <run>/eval/ (the layout is in asdcore/runs.py).

    refresh_summaries(run_dir)

recomputes only the metrics.json entries that follow from the stored eval/ files (the attention
summary), every other number as it was: how an evaluated run gets a summary added since.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA

from . import metrics as metrics_mod
from . import scoring, subcluster_scores
from .attention import attention_summary, frame_settings
from .intervals import auc_intervals, separation_intervals
from .domain_metrics import domain_shift_summary
from ..allocator import keep_freed_memory
from ..config import RunConfig
from ..data.classes import section_candidates
from ..data.toy.metadata import read_fault_metadata
from ..features import LogMel
from ..losses import class_cosine
from ..runs import Run, read_json, write_json_atomic
from ..runtime import (SELECTED, Splits, Waveforms, attribute_classes, autocast, build_model, device_description,
                       feature_config, float_output, group_names, load_checkpoint, pick_device, prepare_splits,
                       segment_output)
from ..registry import create_loss
from ..timings import Timings


# --- inference ----------------------------------------------------------------------------------

@torch.no_grad()
def embed(model, loss, waves: Waveforms, labels: np.ndarray, front: LogMel, config: RunConfig,
          device: torch.device, index: np.ndarray | None = None) -> dict:
    """Run the model over clips (eval mode, no mixup), eval.batch_size clips at a time.  Returns numpy
    arrays: embedding, cosine, subcentre_cosine, logits (margin at the own class, as the papers
    score), attention, reconstruction_error (whichever the model has), and logmel_tmax, each clip's
    temporal maximum of the log-mel per mel bin (eq. 4 of the sub-cluster AdaCos system).

    The batch fits the device's memory: when a batch runs out of GPU memory it is halved and tried
    again (down to one clip), and the smaller size is kept for the rest."""
    model.eval()
    loss.eval()
    index = np.arange(len(waves)) if index is None else index
    bs = config.eval.batch_size
    parts: dict[str, list] = {}
    i = 0
    while i < len(index):
        batch = index[i:i + bs]
        try:
            fields = _embed_batch(model, loss, waves, labels, front, config, device, batch)
        except torch.OutOfMemoryError:
            if bs == 1:
                raise
            bs = max(1, bs // 2)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        for name, value in fields.items():
            if value is not None:
                parts.setdefault(name, []).append(value.float().cpu().numpy())
        i += len(batch)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _embed_batch(model, loss, waves: Waveforms, labels: np.ndarray, front: LogMel, config: RunConfig,
                 device: torch.device, batch: np.ndarray) -> dict:
    wave = waves.batch(torch.from_numpy(batch)).to(device)
    y = torch.from_numpy(labels[batch]).to(device)
    mel = front(wave)
    with autocast(device, config):
        out = segment_output(model, wave, mel, config.data.segment_frames)  # whole clips unless segmented
    out = float_output(out)
    fields = {"embedding": out.embedding, "cosine": out.cosine, "subcentre_cosine": out.subcentre_cosine,
              "attention": out.attention, "reconstruction_error": out.reconstruction_error,
              "logmel_tmax": mel.amax(dim=2)}
    if out.cosine is not None and loss.has_logits:
        cos = out.subcentre_cosine if out.subcentre_cosine is not None else out.cosine
        # a clip without a class (-1) gets the margin at its nearest centre, the class it is most
        # likely of (it scores as the most normal of its section's classes: scoring.score_with_candidates)
        nearest = class_cosine(cos).argmax(dim=1)
        fields["logits"] = loss.logits(cos, torch.where(y >= 0, y, nearest))
    return fields


def load_selected(run_dir: Path, config: RunConfig, splits: Splits, device: torch.device,
                  weights: Path | None = None) -> tuple[dict, int]:
    """({group name: (model, loss)} with the selected weights, the epoch they are from); `weights`:
    another file of that form instead of model.pt (an ensemble member's snapshot)."""
    state = load_checkpoint(weights if weights is not None else run_dir / SELECTED)
    out = {}
    attributes = attribute_classes(config, splits)
    for name in group_names(config, splits):
        model = build_model(config, len(splits.classes), len(attributes)).to(device)
        model.attribute_classes = attributes  # what the attribute head's rows are (the subcluster back-end)
        loss = create_loss(config.loss.to_dict()).to(device)
        model.load_state_dict(state["groups"][name]["model"])
        loss.load_state_dict(state["groups"][name]["loss"])
        out[name] = (model, loss)
    return out, state["epoch"]


def _infer_all(models: dict, records, config: RunConfig, device, front, progress_note) -> dict:
    """Embed records with their group's model; rows stay in the records' order."""
    waves = Waveforms.of(records, config)
    labels = np.array([r.class_index for r in records], dtype=np.int64)
    result: dict[str, np.ndarray] = {}
    for name, (model, loss) in models.items():
        index = np.array([i for i, r in enumerate(records) if name == "all" or r.machine_type == name], dtype=np.int64)
        if len(index) == 0:
            continue
        progress_note(f"embedding {len(index)} clips" + (f" ({name})" if name != "all" else ""))
        part = embed(model, loss, waves, labels, front, config, device, index)
        for key, value in part.items():
            if key not in result:
                result[key] = np.full((len(records),) + value.shape[1:], np.nan, dtype=np.float32)
            result[key][index] = value
    return result


UNLABELLED = "unlabelled_clips.parquet"  # the scores of the test clips without a label


# --- angles and projections ---------------------------------------------------------------------

def angles(cosine: np.ndarray, class_index: np.ndarray, classes: list[tuple[str, str]]) -> pd.DataFrame:
    """Angle to the own class centre and to the nearest other centre, in degrees.  A clip without a
    class (class_index -1: attributes no training normal carries) has no angle to its own centre."""
    cos = np.clip(cosine, -1.0, 1.0)
    rows = np.arange(len(cos))
    has_class = class_index >= 0
    own = np.where(has_class, cos[rows, np.maximum(class_index, 0)], np.nan)
    others = cos.copy()
    others[rows[has_class], class_index[has_class]] = -np.inf
    nearest = others.argmax(1)
    predicted = cos.argmax(1)
    return pd.DataFrame({
        "predicted_class": predicted,
        "predicted_machine_type": [classes[k][0] for k in predicted],
        "predicted_machine_id": [classes[k][1] for k in predicted],
        "angle_to_centre_deg": np.degrees(np.arccos(own)),
        "angle_to_nearest_other_deg": np.degrees(np.arccos(cos[rows, nearest])),
        "nearest_other_class": nearest,
        "nearest_other_machine_type": [classes[k][0] for k in nearest],
        "nearest_other_machine_id": [classes[k][1] for k in nearest],
    })


def cache_umap_jit() -> None:
    """Keep umap-learn's and pynndescent's numba-compiled functions on disk (numba's own cache, beside
    their source or in NUMBA_CACHE_DIR): most are compiled without cache=True, so every process
    compiled them again before its first map, 20 s and more of a 2-core CPU, far longer than the map
    itself.  The same machine code, loaded instead of rebuilt: the same map.  Functions numba cannot
    cache are compiled as before."""
    from numba.core.registry import CPUDispatcher
    from pynndescent import distances as nn_distances, graph_utils, pynndescent_, rp_trees, utils as nn_utils
    from umap import distances, layouts, spectral, umap_, utils

    for module in (umap_, layouts, utils, distances, spectral, pynndescent_, rp_trees, nn_utils, nn_distances,
                   graph_utils):
        for function in vars(module).values():
            if isinstance(function, CPUDispatcher) and type(function._cache).__name__ == "NullCache":
                function.enable_caching()


def projections(embeddings: np.ndarray, seed: int, use_umap: bool = True, n_neighbors: int = 15,
                timings: Timings | None = None) -> pd.DataFrame:
    """2-D PCA and UMAP (cosine metric) of L2-normalised embeddings, fitted on all rows together."""
    timings = timings if timings is not None else Timings()
    with timings.phase("eval.pca"):
        x = scoring.l2_normalise(embeddings).astype(np.float32)  # UMAP / PCA in the embeddings' own precision
        out = pd.DataFrame(PCA(n_components=2, random_state=seed).fit_transform(x), columns=["pca_x", "pca_y"])
    if use_umap and len(x) > n_neighbors + 1:
        with timings.phase("eval.umap_import"):
            import umap  # here, not at the top: importing umap costs seconds of numba set-up

            cache_umap_jit()

        # 200 optimisation epochs (umap-learn's own choice above 10 000 points; below it takes 500,
        # 2.5x the time for a map that looks the same)
        reducer = umap.UMAP(n_neighbors=n_neighbors, n_components=2, metric="cosine", random_state=seed,
                            n_epochs=200)
        with warnings.catch_warnings(), timings.phase("eval.umap"):  # "n_jobs overridden by random_state": seeded
            warnings.filterwarnings("ignore", message=".*n_jobs value.*")
            # two of pynndescent's functions cannot be cached (cache_umap_jit): compiled each process, as before
            warnings.filterwarnings("ignore", message="Cannot cache compiled function")
            out[["umap_x", "umap_y"]] = reducer.fit_transform(x)
    else:
        out["umap_x"], out["umap_y"] = out["pca_x"], out["pca_y"]
    return out


def fault_metadata(roots: list[str]) -> pd.DataFrame | None:
    """The toy factory's metadata.csv of each root (fault kind, span, severity), keyed by root and path."""
    frames = []
    for i, root in enumerate(roots):
        meta = read_fault_metadata(root)
        if meta is not None:
            meta = meta.assign(root_index=i)
            frames.append(meta[["root_index", "path", "fault_kind", "fault_onset_s", "fault_offset_s", "severity"]])
    return pd.concat(frames, ignore_index=True) if frames else None


def _clip_table(records, roots: list[str], role) -> pd.DataFrame:
    root_index = {r: i for i, r in enumerate(roots)}
    return pd.DataFrame({
        "path": [r.relpath for r in records],
        "root_index": [root_index[r.root] for r in records],
        "machine_type": [r.machine_type for r in records],
        "machine_id": [r.machine_id for r in records],
        "class_index": [r.class_index for r in records],
        "label": [r.is_anomaly for r in records],
        "role": role,
        # DCASE 2021-2023 names: section, source/target domain, attribute key=value pairs (else null)
        "section": [r.section for r in records],
        "domain": [r.domain for r in records],
        "attributes": [r.attributes_text or None for r in records],
    })


# --- the whole evaluation -----------------------------------------------------------------------

def write_eval_files(run_dir: Path, summary: dict, test: pd.DataFrame, train: pd.DataFrame,
                     test_embeddings: np.ndarray, train_embeddings: np.ndarray, unlabelled: pd.DataFrame,
                     centres: np.ndarray | None, attention: np.ndarray | None = None) -> Path:
    """The files of <run>/eval/ the pages read, but metrics.json (written last, once its timings are in,
    so that a metrics.json always describes complete files); counts the unlabelled clips into `summary`.
    Shared by the single system (evaluate_run) and the ensemble (asdcore.evaluation.ensemble)."""
    out_dir = Path(run_dir) / "eval"
    out_dir.mkdir(exist_ok=True)
    test.to_parquet(out_dir / "clips.parquet", index=False)
    train.to_parquet(out_dir / "train_clips.parquet", index=False)
    np.save(out_dir / "embeddings.npy", test_embeddings.astype(np.float32))
    np.save(out_dir / "train_embeddings.npy", train_embeddings.astype(np.float32))
    if attention is not None:
        np.save(out_dir / "attention.npy", attention)
    if len(unlabelled):
        unlabelled.to_parquet(out_dir / UNLABELLED, index=False)
        summary["n_unlabelled_clips"] = len(unlabelled)
    if centres is not None:
        np.save(out_dir / "centres.npy", centres)
    return out_dir


def evaluate_run(run_dir: str | Path, progress: bool = True, status=None, timings: Timings | None = None) -> dict:
    """Write <run>/eval/ and return the metrics dict.  The eval.* phases' seconds go to `timings`
    (asdcore.timings, the training process's record) and to metrics.json's "eval_timings"."""
    run_dir = Path(run_dir)
    t0 = time.time()
    keep_freed_memory()  # asdcore.allocator: inference reuses its batch buffers too
    timings = timings if timings is not None else Timings()
    known = set(timings.phases)  # a phase of this evaluation is one that is not there yet
    lap = timings.stopwatch()

    def note(message: str) -> None:
        if status is not None:
            status.update(phase="evaluating", message=message)
        if progress:
            print(f"[evaluate] {message}", flush=True)

    config = RunConfig.from_dict(Run(run_dir).config)
    if not (run_dir / SELECTED).exists():
        raise FileNotFoundError(f"{run_dir}: no {SELECTED} (the run has not finished an epoch)")
    device = pick_device(config.device)
    splits = prepare_splits(config)
    models, selected_epoch = load_selected(run_dir, config, splits, device)
    front = LogMel(feature_config(config)).to(device)
    reference = splits.train + splits.val
    scored = splits.test + splits.unlabelled
    left_out = splits.untrained_counts()
    if left_out:
        note(f"{len(splits.untrained)} test clip(s) of {len(left_out)} machine ID(s) / section(s) without training "
             f"clips left out (not scored, not in any average): " + ", ".join(left_out))
    if splits.skipped:
        note(f"{len(splits.skipped)} file(s) that cannot be used were skipped (not scored): "
             + "; ".join(splits.skipped_lines()[:3]) + (" ..." if len(splits.skipped) > 3 else ""))
    classless = sum(r.class_index < 0 for r in scored)
    if classless:
        note(f"{classless} test clip(s) name no attribute values a training normal of their section has: each "
             f"scores as the most normal of its section's classes")
    lap("eval.setup")
    # the labelled test clips, then the unlabelled ones (evaluation sets): all are scored, and the
    # unlabelled ones leave after scoring, for eval/unlabelled_clips.parquet, never the metrics
    n_test = len(splits.test)
    test_out = _infer_all(models, scored, config, device, front, note)
    lap("eval.embed_test")
    train_out = _infer_all(models, reference, config, device, front, note)
    lap("eval.embed_train")

    test = _clip_table(scored, splits.roots,
                       ["test"] * n_test + ["unlabelled"] * len(splits.unlabelled))
    train = _clip_table(reference, splits.roots, ["train"] * len(splits.train) + ["val"] * len(splits.val))

    note("scoring with every back-end")
    backend_scores = _score(config, test, train, test_out, train_out, models,
                            section_candidates(scored, splits.classes) if classless else None, splits.class_mode,
                            timings)
    default = config.eval.backend
    if default == "subcluster" and default not in backend_scores and "gmm" in backend_scores:
        # the sub-cluster AdaCos system on data without domains (DCASE 2020, the default toy set):
        # its eqs. 2-3 need them; a GMM per class is its DCASE 2020 back-end
        note("no source/target domains in these clips: scoring by 'gmm' (a GMM per class) instead of eqs. 2-3")
        default = "gmm"
    if default not in backend_scores:
        raise ValueError(f"eval.backend {default!r} cannot score this data (it has only "
                         f"{', '.join(backend_scores)}): 'subcluster' needs source/target domains in the clip names")
    for name, scores in backend_scores.items():
        test[f"score_{name}"] = scores.test
        train[f"score_{name}"] = scores.train
        if scores.test_decision is not None:  # decided on another score than ranked by (asdcore.alarms)
            test[f"decision_{name}"] = scores.test_decision
            train[f"decision_{name}"] = scores.train_decision
    for table in (test, train):
        table["score"] = table[f"score_{default}"]
        if f"decision_{default}" in table.columns:
            table["decision"] = table[f"decision_{default}"]
    unlabelled = test.iloc[n_test:].drop(columns="label").reset_index(drop=True)
    test = test.iloc[:n_test].reset_index(drop=True).astype({"label": int})
    test_out = {key: value[:n_test] for key, value in test_out.items()}

    if "cosine" in test_out:
        test = pd.concat([test, angles(test_out["cosine"], test["class_index"].to_numpy(), splits.classes)], axis=1)
        train = pd.concat([train, angles(train_out["cosine"], train["class_index"].to_numpy(), splits.classes)],
                          axis=1)
    note("projecting the embeddings (UMAP, PCA)")
    proj = projections(np.concatenate([train_out["embedding"], test_out["embedding"]]), int(config.seed),
                       config.eval.umap, config.eval.umap_neighbors, timings)
    train = pd.concat([train, proj.iloc[:len(train)].reset_index(drop=True)], axis=1)
    test = pd.concat([test, proj.iloc[len(train):].reset_index(drop=True)], axis=1)

    meta = fault_metadata(splits.roots)
    if meta is not None:
        test = test.merge(meta, on=["root_index", "path"], how="left")
        train = train.merge(meta, on=["root_index", "path"], how="left")

    lap("eval.tables")  # the clip tables, the scores' and angles' columns, the metadata joined
    note("computing AUC / pAUC / mAUC")
    columns = {name: f"score_{name}" for name in backend_scores}
    result = metrics_mod.evaluate_all(test, columns)
    history = Run(run_dir).metrics_history()
    summary = {
        "run_id": run_dir.name, "recipe": config.recipe, "label": config.label,
        "preset": config.preset, "backend": default, "protocol": "dcase",
        **{k: result["by_backend"][default]["dcase"][k] for k in ("per_type", "average")},
        "pauc_note": metrics_mod.PAUC_NOTE, "by_backend": result["by_backend"],
        "selected_epoch": selected_epoch, "epochs": len(history),
        "train_seconds": round(sum(row.get("seconds", 0) for row in history), 1),
        "n_test_clips": len(test), "n_train_clips": len(train),
        "device": _device_name(device),
    }
    if left_out:
        summary["untrained_left_out"] = left_out
    if splits.skipped:
        summary["skipped_files"] = splits.skipped_lines()
    domain_shift = domain_shift_summary(test, train, columns)
    if domain_shift is not None:  # DCASE 2021-2023 data: sections, source and target domains
        summary["domain_shift"] = domain_shift
    attention = test_out["attention"].astype(np.float16) if "attention" in test_out else None  # as saved
    lap("eval.metrics")
    summary.update(derived_summaries(test, attention, config.to_dict(), timings))

    out_dir = write_eval_files(run_dir, summary, test, train, test_out["embedding"], train_out["embedding"],
                               unlabelled, _centres(models), attention)
    lap("eval.write")  # metrics.json's own write (milliseconds) is not in it
    summary["eval_seconds"] = round(time.time() - t0, 1)
    summary["eval_timings"] = {name: round(s, 2) for name, s in timings.phases.items() if name not in known}
    write_json_atomic(out_dir / "metrics.json", summary)
    note(f"done in {summary['eval_seconds']:.0f} s")
    return summary


DERIVED = ("attention", "intervals")  # the metrics.json entries derived_summaries makes


def derived_summaries(test: pd.DataFrame, attention: np.ndarray | None, config: dict,
                      timings: Timings | None = None) -> dict:
    """The metrics.json entries that follow from the test clips' table (and attention.npy) alone:

    attention   TAgram's weights against the fault spans (asdcore.evaluation.attention), TAgram models only
    intervals   bootstrap 95 % intervals (asdcore.evaluation.intervals) of the default score's AUC per
                type and on average ("auc"), and of Fig. 1's angle AUC and median gap ("angles", runs
                with class centres)"""
    timings = timings if timings is not None else Timings()
    out = {}
    if attention is not None:
        with timings.phase("eval.attention"):
            out["attention"] = attention_summary(attention, test, *frame_settings(config))
    with timings.phase("eval.intervals"):
        intervals = {"auc": auc_intervals(test, "score")}
        if "angle_to_centre_deg" in test.columns and test["angle_to_centre_deg"].notna().any():
            intervals["angles"] = separation_intervals(test)
    out["intervals"] = intervals
    return out


def refresh_summaries(run_dir: str | Path) -> dict | None:
    """Recompute the metrics.json entries that follow from the stored eval/ files alone, and leave
    every other number as it is: those of derived_summaries (from clips.parquet and attention.npy;
    "attention" removed where there is no attention.npy).  metrics.json is rewritten (atomically) only when an entry changed.
    Returns the metrics, or None for a run that has not been evaluated.

    What a re-evaluation cannot do for a bundled run: its weights are stored in float16, so a new
    evaluation would move its AUCs; its eval/ files are those of the float32 model."""
    run = Run(run_dir)
    path = run.path / "eval" / "metrics.json"
    if not path.exists():
        return None
    metrics = read_json(path)
    if not isinstance(metrics, dict):
        raise ValueError(f"{path} is not valid JSON: evaluate the run again "
                         f"(python -m asdcore evaluate {run.path} --recompute)")
    refreshed = {key: value for key, value in metrics.items() if key not in DERIVED}
    refreshed.update(derived_summaries(run.clips(), run.attention(), run.config))
    if refreshed != metrics:
        write_json_atomic(path, refreshed)
    return refreshed


def _device_name(device: torch.device) -> str:

    return device_description(device)


def _centres(models: dict) -> np.ndarray | None:
    model, _ = next(iter(models.values()))
    head = getattr(model, "head", None)
    if head is None:
        return None
    w = head.weight.detach().float().cpu().numpy()
    w = scoring.l2_normalise(w).astype(np.float32)
    return w.reshape(head.num_classes, head.num_subcentres, -1)[:, 0, :] if head.num_subcentres == 1 else \
        w.reshape(head.num_classes, head.num_subcentres, -1)


def _score(config: RunConfig, test, train, test_out, train_out, models, candidates=None,
           class_mode: str = "section", timings: Timings | None = None) -> dict:
    """{back-end: BackendScores}; each back-end's seconds go to `timings` as eval.score.<name>."""
    timings = timings if timings is not None else Timings()
    if "reconstruction_error" in test_out:
        return {"reconstruction": scoring.BackendScores(test=test_out["reconstruction_error"],
                                                        train=train_out["reconstruction_error"])}
    model, _ = next(iter(models.values()))
    head = model.head
    sub = head.weight.detach().float().cpu().numpy().reshape(head.num_classes, head.num_subcentres, -1)
    test_set = scoring.EmbeddingSet(embedding=test_out["embedding"], class_index=test["class_index"].to_numpy(),
                                    cosine=test_out.get("cosine"), logits=test_out.get("logits"), subcentres=sub,
                                    candidates=candidates)
    train_set = scoring.EmbeddingSet(embedding=train_out["embedding"], class_index=train["class_index"].to_numpy(),
                                     cosine=train_out.get("cosine"), logits=train_out.get("logits"), subcentres=sub)
    wanted = [b for b in config.eval.backends if b not in ("reconstruction", "subcluster")]
    scores = {}
    for name in wanted:  # one at a time, to time each: score_all fits every back-end apart anyway
        with timings.phase(f"eval.score.{name}"):
            scores.update(scoring.score_all(test_set, train_set, backends=[name], k=config.eval.knn_k,
                                            lof_neighbors=config.eval.lof_neighbors))
    if test["domain"].notna().any():  # DCASE 2021-2023 data: the sub-cluster AdaCos system's eqs. 2-3
        tmax = None
        if config.eval.tmax_types:  # eq. 4 for these machine types' source clips
            tmax = subcluster_scores.TemporalMaxima(
                train_out["logmel_tmax"], test_out["logmel_tmax"],
                train["machine_type"].isin(config.eval.tmax_types).to_numpy(),
                test["machine_type"].isin(config.eval.tmax_types).to_numpy())
        with timings.phase("eval.score.subcluster"):
            scores["subcluster"] = _subcluster_scores(test, train, test_out, train_out, sub, class_mode,
                                                      int(config.seed), _attribute_centres(model), tmax)
    return scores


def _attribute_centres(model) -> dict | None:
    """{(type, section, attribute values): (S, D) sub-cluster centres} of the attribute head, or None."""
    head = getattr(model, "attribute_head", None)
    if head is None:
        return None
    classes = model.attribute_classes
    w = head.weight.detach().float().cpu().numpy().reshape(head.num_classes, head.num_subcentres, -1)
    return {tuple(c): w[i] for i, c in enumerate(classes)}


def _subcluster_scores(test, train, test_out, train_out, sub, class_mode: str, seed: int,
                       attribute_head: dict | None = None,
                       tmax: subcluster_scores.TemporalMaxima | None = None,
                       attributes: bool = True) -> scoring.BackendScores:
    """Eqs. 2-3 (asdcore.evaluation.subcluster_scores) with sections as (type, section), attribute
    classes as (type, section, attribute values), mixtures fitted on the "train" normals (the
    held-out "val" ones score as unseen clips); the head's sub-cluster centres start the section
    mixtures where the classes are the sections, the attribute head's (when the model has one)
    the attribute mixtures."""
    both = pd.concat([train, test], ignore_index=True)
    section_key = both["machine_type"].astype(str) + "/" + both["machine_id"].astype(str)
    section = pd.factorize(section_key)[0]
    attribute_values = both["attributes"].fillna("").astype(str)
    attribute, attribute_keys = pd.factorize(section_key + "/" + attribute_values)
    n = len(train)
    centres = None
    if class_mode == "section":  # section code -> its class's centres
        first = pd.Series(both["class_index"].to_numpy()).groupby(section).first()
        centres = sub[first.sort_index().to_numpy()]
    attribute_centres = None
    if attribute_head:  # attribute code -> its class's centres, where every code has a class
        by_key = {"/".join(k): v for k, v in attribute_head.items()}
        if all(k in by_key for k in attribute_keys[np.unique(attribute[:n])]):
            dim = next(iter(by_key.values())).shape
            attribute_centres = np.stack([by_key.get(k, np.full(dim, np.nan)) for k in attribute_keys])
    return subcluster_scores.system_scores(
        train_out["embedding"], section[:n], attribute[:n], train["domain"].to_numpy(), (train["role"] == "train").to_numpy(),
        test_out["embedding"], section[n:], test["domain"].to_numpy(), centres, attribute_centres, seed, tmax,
        attributes)
