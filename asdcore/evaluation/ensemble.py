"""Evaluating the sub-cluster AdaCos ensemble (Wilkinghoff, DCASE 2021): the report's final systems.

    evaluate_ensemble(run_dir)

An ensemble run folder holds one member run per number of sub-clusters K (the report's 2^0..2^4),
trained by asdcore.jobs.ensemble into

    <run>/members/k01/, k02/, k04/, k08/, k16/     ordinary run folders (asdcore/runs.py) whose
                                                  snapshots/epoch-NNN.pt keep the weights of every
                                                  train.snapshot_every-th epoch

Each snapshot of each member embeds the test clips and the training normals and scores them as the
single system does (asdcore.evaluation.subcluster_scores, eqs. 2-3; a GMM per class on data
without source/target domains), and the ensemble's score is the sum over members and snapshots:

    Z_ensemble(x) = sum_K sum_snapshots Z_{K, snapshot}(x)

in two forms, as the report's per-type choice needs them:

    ensemble            "both heads": eq. 2 with its attribute term (source clips), eq. 3 (target)
    ensemble_sections   "sections head only": the source clips without eq. 2's attribute term
    ensemble_choice     per machine type, whichever of the two has the higher AUC on these test
                        clips: what the report did on the development set's labelled test clips.
                        It is chosen with the labels it is then scored on, so it is optimistic:
                        the page and metrics.json say so; `ensemble` is the default score.

Decisions (thresholds) sum the members' decision scores the same way (target clips on eq. 3's first
term, asdcore.alarms).  eval/ is written in the layout of asdcore/runs.py, so every page reads it;
an ensemble has no single embedding, so the angles, centres and maps there are those of one member
(the 4-sub-cluster one where there is one, at its last snapshot), as metrics.json's "ensemble" entry
says, beside each member snapshot's own AUC.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics as metrics_mod
from .domain_metrics import domain_shift_summary
from .evaluate import (_attribute_centres, _centres, _clip_table, _device_name, _infer_all,
                       _score, _subcluster_scores, angles, derived_summaries, fault_metadata, load_selected,
                       projections, write_eval_files)
from ..config import RunConfig
from ..features import LogMel
from ..runs import Run, write_json_atomic
from ..runtime import SNAPSHOTS, feature_config, pick_device, prepare_splits

MEMBERS = "members"
BOTH, SECTIONS, CHOICE = "ensemble", "ensemble_sections", "ensemble_choice"
HEADS = {BOTH: "both heads", SECTIONS: "sections head only"}
GEOMETRY_MEMBER = 4  # the single system's number of sub-clusters (recipe subcluster-adacos)
# eval/<this>: every member snapshot's training-normal embeddings, row i the member row i of metrics.json's
# ensemble.members: what scoring a new clip fits each snapshot's eqs. 2-3 on (asdcore.clip_scoring)
MEMBER_TRAIN_EMBEDDINGS = "member_train_embeddings.npz"
CHOICE_NOTE = ("ensemble_choice takes, per machine type, the better of 'both heads' and 'sections head only' by "
               "the AUC on these very test clips, as the report chose on its development set: optimistic, since "
               "it is chosen with the labels it is scored on; 'ensemble' (both heads for every type) is not.")


def member_dir(run_dir: str | Path, k: int) -> Path:
    return Path(run_dir) / MEMBERS / f"k{k:02d}"


def member_config(config: RunConfig, k: int) -> RunConfig:
    """The member network with k sub-clusters per class: the ensemble's settings for one network,
    scored as the single system is (every back-end of recipe subcluster-adacos)."""
    d = config.to_dict()
    d["recipe"] = "subcluster-adacos"
    d["label"] = f"{config.label}: member with {k} sub-cluster{'s' if k > 1 else ''}"
    d["model"]["num_subcentres"] = k
    d["loss"]["num_subclusters"] = k
    d["ensemble"] = {"subclusters": []}
    d["eval"]["backend"] = "subcluster"
    d["eval"]["backends"] = ["softmax", "cosine", "gmm", "knn", "lof"]
    member = RunConfig.from_dict(d)
    member.validate()
    return member


def snapshots(run_dir: str | Path, k: int) -> list[Path]:
    """A member's snapshot files, in epoch order; its model.pt alone when it kept none."""
    folder = member_dir(run_dir, k)
    found = sorted((folder / SNAPSHOTS).glob("epoch-*.pt"))
    if found:
        return found
    if (folder / "model.pt").exists():
        return [folder / "model.pt"]
    raise FileNotFoundError(f"{folder}: no snapshots and no model.pt (the member has not trained an epoch: "
                            f"resume the ensemble run)")


def _member_scores(models: dict, config: RunConfig, test: pd.DataFrame, train: pd.DataFrame, test_out: dict,
                   train_out: dict, class_mode: str) -> dict:
    """{BOTH: BackendScores, SECTIONS: BackendScores} of one member snapshot.  On data without
    domains both are the per-class GMM (the system's DCASE 2020 back-end), as in evaluate_run."""
    model, _ = next(iter(models.values()))
    head = model.head
    sub = head.weight.detach().float().cpu().numpy().reshape(head.num_classes, head.num_subcentres, -1)
    if not test["domain"].notna().any():
        d = config.to_dict()
        d["eval"]["backends"] = ["gmm"]
        gmm = _score(RunConfig.from_dict(d), test, train, test_out, train_out, models)["gmm"]
        return {BOTH: gmm, SECTIONS: gmm}
    common = (test, train, test_out, train_out, sub, class_mode, int(config.seed), _attribute_centres(model))
    return {BOTH: _subcluster_scores(*common), SECTIONS: _subcluster_scores(*common, attributes=False)}


def _add(total: dict, name: str, scores) -> None:
    """Sum a member's scores into the ensemble's (decision scores where the back-end has them)."""
    parts = {"test": scores.test, "train": scores.train,
             "test_decision": scores.test_decision if scores.test_decision is not None else scores.test,
             "train_decision": scores.train_decision if scores.train_decision is not None else scores.train}
    into = total.setdefault(name, {key: np.zeros(len(value)) for key, value in parts.items()})
    for key, value in parts.items():
        into[key] += np.asarray(value, dtype=np.float64)


def _average(test: pd.DataFrame, column: str) -> dict:
    """The DCASE-protocol average AUC / pAUC of one score column and its per-type AUCs."""
    result = metrics_mod.evaluate_all(test, {"x": column})["by_backend"]["x"]["dcase"]
    return {"auc": result["average"]["auc"], "pauc": result["average"]["pauc"],
            "per_type": {t: v["auc"] for t, v in result["per_type"].items()}}


def evaluate_ensemble(run_dir: str | Path, progress: bool = True, status=None) -> dict:
    """Write <run>/eval/ of an ensemble run (the layout of asdcore/runs.py) and return its metrics."""
    run_dir = Path(run_dir)
    t0 = time.time()

    def note(message: str) -> None:
        if status is not None:
            status.update(phase="evaluating", message=message)
        if progress:
            print(f"[ensemble] {message}", flush=True)

    config = RunConfig.from_dict(Run(run_dir).config)
    ks = list(config.ensemble.subclusters)
    if not ks:
        raise ValueError(f"{run_dir} is not an ensemble run (its ensemble.subclusters is empty)")
    device = pick_device(config.device)
    splits = prepare_splits(member_config(config, ks[0]))
    front = LogMel(feature_config(config)).to(device)
    reference, scored = splits.train + splits.val, splits.test + splits.unlabelled
    n_test = len(splits.test)
    test = _clip_table(scored, splits.roots, ["test"] * n_test + ["unlabelled"] * len(splits.unlabelled))
    train = _clip_table(reference, splits.roots, ["train"] * len(splits.train) + ["val"] * len(splits.val))
    labelled = test.iloc[:n_test].astype({"label": int})

    geometry_k = GEOMETRY_MEMBER if GEOMETRY_MEMBER in ks else ks[len(ks) // 2]
    totals: dict = {}
    members, geometry, member_embeddings = [], None, []
    for k in ks:
        mconfig = member_config(config, k)
        for path in snapshots(run_dir, k):
            models, epoch = load_selected(member_dir(run_dir, k), mconfig, splits, device, weights=path)
            note(f"member with {k} sub-cluster(s), epoch {epoch}: embedding {len(scored)} + {len(reference)} clips")
            test_out = _infer_all(models, scored, mconfig, device, front, lambda _: None)
            train_out = _infer_all(models, reference, mconfig, device, front, lambda _: None)
            found = _member_scores(models, mconfig, test, train, test_out, train_out, splits.class_mode)
            row = {"subclusters": k, "epoch": epoch, "weights": path.relative_to(run_dir).as_posix()}
            member_embeddings.append(train_out["embedding"].astype(np.float32))
            for name, scores in found.items():
                _add(totals, name, scores)
                one = labelled.assign(_member=scores.test[:n_test])
                row[name] = _average(one, "_member")
            members.append(row)
            if k == geometry_k:  # the last snapshot of this member wins
                geometry = (k, epoch, test_out, train_out, _centres(models))

    for name, parts in totals.items():
        test[f"score_{name}"], train[f"score_{name}"] = parts["test"], parts["train"]
        test[f"decision_{name}"], train[f"decision_{name}"] = parts["test_decision"], parts["train_decision"]

    # the report's per-type choice of heads, by each sum's AUC on the labelled test clips (CHOICE_NOTE)
    labelled = test.iloc[:n_test].astype({"label": int})
    per_type = {name: _average(labelled, f"score_{name}")["per_type"] for name in (BOTH, SECTIONS)}
    choice = {t: (BOTH if per_type[BOTH][t] >= per_type[SECTIONS][t] else SECTIONS) for t in per_type[BOTH]}
    chosen = test["machine_type"].map(choice).fillna(BOTH)
    chosen_train = train["machine_type"].map(choice).fillna(BOTH)
    for kind in ("score", "decision"):
        test[f"{kind}_{CHOICE}"] = np.where(chosen == BOTH, test[f"{kind}_{BOTH}"], test[f"{kind}_{SECTIONS}"])
        train[f"{kind}_{CHOICE}"] = np.where(chosen_train == BOTH, train[f"{kind}_{BOTH}"],
                                             train[f"{kind}_{SECTIONS}"])
    default = config.eval.backend
    for table in (test, train):
        table["score"], table["decision"] = table[f"score_{default}"], table[f"decision_{default}"]

    unlabelled = test.iloc[n_test:].drop(columns="label").reset_index(drop=True)
    test = test.iloc[:n_test].reset_index(drop=True).astype({"label": int})
    k, epoch, test_out, train_out, centres = geometry
    test_out = {key: value[:n_test] for key, value in test_out.items()}
    if "cosine" in test_out:
        test = pd.concat([test, angles(test_out["cosine"], test["class_index"].to_numpy(), splits.classes)], axis=1)
        train = pd.concat([train, angles(train_out["cosine"], train["class_index"].to_numpy(), splits.classes)],
                          axis=1)
    note(f"projecting the embeddings of the member with {k} sub-clusters (UMAP, PCA)")
    proj = projections(np.concatenate([train_out["embedding"], test_out["embedding"]]), int(config.seed),
                       config.eval.umap, config.eval.umap_neighbors)
    train = pd.concat([train, proj.iloc[:len(train)].reset_index(drop=True)], axis=1)
    test = pd.concat([test, proj.iloc[len(train):].reset_index(drop=True)], axis=1)
    meta = fault_metadata(splits.roots)
    if meta is not None:
        test = test.merge(meta, on=["root_index", "path"], how="left")
        train = train.merge(meta, on=["root_index", "path"], how="left")

    note("computing AUC / pAUC / mAUC")
    columns = {name: f"score_{name}" for name in (BOTH, SECTIONS, CHOICE)}
    result = metrics_mod.evaluate_all(test, columns)
    histories = [Run(member_dir(run_dir, k)).metrics_history() for k in ks]
    summary = {
        "run_id": run_dir.name, "recipe": config.recipe, "label": config.label, "preset": config.preset,
        "backend": default, "protocol": "dcase",
        **{key: result["by_backend"][default]["dcase"][key] for key in ("per_type", "average")},
        "pauc_note": metrics_mod.PAUC_NOTE, "by_backend": result["by_backend"],
        "selected_epoch": epoch, "epochs": config.train.epochs,
        "train_seconds": round(sum(row.get("seconds", 0) for h in histories for row in h), 1),
        "n_test_clips": len(test), "n_train_clips": len(train), "device": _device_name(device),
        "ensemble": {
            "subclusters": ks, "snapshots": len(members), "members": members,
            "choice": {t: HEADS[name] for t, name in choice.items()}, "choice_note": CHOICE_NOTE,
            "geometry": f"angles, centres and maps of the member with {k} sub-clusters at epoch {epoch} "
                        f"(an ensemble has no single embedding)"},
    }
    if splits.untrained_counts():
        summary["untrained_left_out"] = splits.untrained_counts()
    if splits.skipped:
        summary["skipped_files"] = splits.skipped_lines()
    domain_shift = domain_shift_summary(test, train, columns)
    if domain_shift is not None:
        summary["domain_shift"] = domain_shift
    summary.update(derived_summaries(test, None, config.to_dict()))

    out_dir = write_eval_files(run_dir, summary, test, train, test_out["embedding"], train_out["embedding"],
                               unlabelled, centres)
    np.savez(out_dir / MEMBER_TRAIN_EMBEDDINGS, *member_embeddings)  # arr_0, arr_1, ... as members
    summary["eval_seconds"] = round(time.time() - t0, 1)
    write_json_atomic(out_dir / "metrics.json", summary)
    note(f"done in {summary['eval_seconds']:.0f} s")
    return summary

