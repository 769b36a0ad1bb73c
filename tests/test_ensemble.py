"""Issue 27 part 3: the sub-cluster AdaCos system's ensemble (asdcore.jobs.ensemble, asdcore.evaluation.ensemble)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from asdcore.recipes import resolve
from asdcore.runs import Run


def test_ensemble_settings_that_cannot_work_are_refused_by_name():
    with pytest.raises(ValueError, match="ensemble.subclusters needs a sub-cluster AdaCos loss"):
        resolve("tastgram-arcface", "tiny", {"ensemble.subclusters": [1, 2], "eval.backend": "ensemble",
                                             "eval.backends": ["ensemble"]})
    with pytest.raises(ValueError, match="ensemble.subclusters must be distinct whole numbers"):
        resolve("subcluster-adacos-ensemble", "tiny", {"ensemble.subclusters": [2, 2]})
    with pytest.raises(ValueError, match="score ensembles only"):
        resolve("subcluster-adacos", "tiny", {"eval.backend": "ensemble"})
    with pytest.raises(ValueError, match="snapshot_every must be >= 1"):
        resolve("subcluster-adacos-ensemble", "tiny", {"train.snapshot_every": 0})
    # the report's form: 2^0..2^4 sub-clusters, snapshots every 100 of 400 epochs
    paper = resolve("subcluster-adacos-ensemble", "paper")
    assert paper.ensemble.subclusters == [1, 2, 4, 8, 16]
    assert (paper.train.epochs, paper.train.snapshot_every) == (400, 100)


@pytest.mark.slow  # makes a small domain-shift data set, trains two member networks and scores four snapshots
def test_ensemble_score_is_the_sum_of_its_members_snapshots_scored_as_the_single_system(tmp_path):
    from asdcore.cli import main
    from asdcore.compare import ensemble_members_table, results_table
    from asdcore.evaluation.ensemble import member_dir
    from asdcore.evaluation.evaluate import evaluate_run
    from asdcore.jobs.pipeline import train_run

    root = tmp_path / "shift"
    assert main(["data", "toy", "--out", str(root), "--preset", "tiny-shift", "--seed", "0", "--quiet"]) == 0
    settings = {"data.roots": [str(root)], "eval.umap": False, "data.max_test_clips_per_class": None}
    config = resolve("subcluster-adacos-ensemble", "tiny", settings)
    assert config.ensemble.subclusters == [1, 2] and config.train.snapshot_every == 1
    run = Run(train_run(config, tmp_path / "ensemble", progress=False))
    assert run.status["state"] == "finished"
    metrics = run.eval_metrics()
    assert metrics["backend"] == "ensemble"
    assert set(metrics["by_backend"]) == {"ensemble", "ensemble_sections", "ensemble_choice"}
    assert [(m["subclusters"], m["epoch"]) for m in metrics["ensemble"]["members"]] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    # the ensemble folder follows its members: every member epoch is in its metrics.jsonl
    assert [row["member"] for row in run.metrics_history()] == [1, 1, 2, 2]

    # each snapshot scored alone by the single system's evaluation (eqs. 2-3), then summed
    summed = 0.0
    for k in (1, 2):
        for epoch in (1, 2):
            single = tmp_path / f"single-k{k}-e{epoch}"
            shutil.copytree(member_dir(run.path, k), single)
            shutil.copy(single / "snapshots" / f"epoch-{epoch:03d}.pt", single / "model.pt")
            evaluate_run(single, progress=False)
            summed = summed + Run(single).clips()["score_subcluster"].to_numpy()
    clips = run.clips()
    np.testing.assert_allclose(clips["score_ensemble"].to_numpy(), summed, rtol=1e-5)
    assert (clips["score"] == clips["score_ensemble"]).all()

    # "sections head only" drops eq. 2's attribute term: source clips change, target clips (eq. 3) do not
    source = clips["domain"] == "source"
    assert (clips.loc[source, "score_ensemble_sections"] != clips.loc[source, "score_ensemble"]).all()
    np.testing.assert_allclose(clips.loc[~source, "score_ensemble_sections"], clips.loc[~source, "score_ensemble"])
    # the report's per-type choice takes, per machine type, the sum it names
    names = {"both heads": "score_ensemble", "sections head only": "score_ensemble_sections"}
    for machine_type, heads in metrics["ensemble"]["choice"].items():
        rows = clips["machine_type"] == machine_type
        assert (clips.loc[rows, "score_ensemble_choice"] == clips.loc[rows, names[heads]]).all()
    assert "optimistic" in metrics["ensemble"]["choice_note"]

    # Compare puts the ensemble's row beside the single model's, and its members one by one
    table = results_table([run, Run(tmp_path / "single-k2-e2")])
    assert list(table.rows.loc[table.rows["kind"] == "run", "backend"]) == ["ensemble", "subcluster"]
    members = ensemble_members_table(run)
    assert list(members.index) == ["1 sub-cluster, epoch 1", "1 sub-cluster, epoch 2", "2 sub-clusters, epoch 1",
                                   "2 sub-clusters, epoch 2", "sum: ensemble", "sum: ensemble_sections",
                                   "sum: ensemble_choice"]
    last = Run(tmp_path / "single-k2-e2").eval_metrics()["by_backend"]["subcluster"]["dcase"]["average"]["auc"]
    assert members.loc["2 sub-clusters, epoch 2", "AUC"] == round(100 * last, 2)
    assert ensemble_members_table(Run(tmp_path / "single-k2-e2")) is None

    # a new clip is scored as the evaluation scored its test clips: every member snapshot's eqs. 2-3,
    # summed, against the ensemble's thresholds (here: clips of its own test split, whose scores are known)
    from asdcore.clip_scoring import ensemble_problem, score_files

    assert ensemble_problem(run) is None
    picked = clips.groupby(["machine_type", "domain"]).head(2)
    scored = score_files(run, [root / p for p in picked["path"]]).clips
    assert len(scored) == len(picked) >= 4 and (scored["status"] == "scored").all(), scored["reason"].tolist()
    np.testing.assert_allclose(scored["score"].to_numpy(), picked["score"].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(scored["decision"].to_numpy(), picked["decision"].to_numpy(), rtol=1e-4)
    # without one member snapshot's weights (as bundled ensembles are) the run says so, naming the file
    shutil.copytree(run.path, tmp_path / "no-weights")
    (tmp_path / "no-weights" / "members" / "k02" / "snapshots" / "epoch-001.pt").unlink()
    problem = ensemble_problem(Run(tmp_path / "no-weights"))
    assert "members/k02/snapshots/epoch-001.pt" in problem and "shift-subcluster-adacos" in problem
