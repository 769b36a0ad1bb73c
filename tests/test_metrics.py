"""AUC / pAUC / mAUC under both protocols, checked against hand-computed numbers and an
independent ROC integration (plain numpy, no sklearn)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from asdcore.evaluation.metrics import PAUC_NOTE, evaluate, evaluate_all, metrics_table, pauc


def partial_roc_area(label: np.ndarray, score: np.ndarray, max_fpr: float) -> float:
    """Raw area under the ROC curve from FPR 0 to max_fpr (scores without ties)."""
    order = np.argsort(-score)
    y = label[order]
    tpr = np.concatenate([[0.0], np.cumsum(y == 1) / (y == 1).sum()])
    fpr = np.concatenate([[0.0], np.cumsum(y == 0) / (y == 0).sum()])
    grid = np.linspace(0.0, max_fpr, 20001)
    # the staircase ROC: at each FPR the highest TPR reached (vertical steps count at their top)
    tpr_at = np.array([tpr[fpr <= f].max() for f in grid])
    return float(np.sum((tpr_at[1:] + tpr_at[:-1]) / 2 * np.diff(grid)))


def mcclish(area: float, p: float) -> float:
    """McClish (1989): 0.5 * (1 + (A - p^2/2) / (p - p^2/2))."""
    return 0.5 * (1 + (area - p ** 2 / 2) / (p - p ** 2 / 2))


def clips(rows) -> pd.DataFrame:
    """rows: (machine_type, machine_id, label, score)."""
    return pd.DataFrame(rows, columns=["machine_type", "machine_id", "label", "score"])


def offset_example() -> pd.DataFrame:
    """Two IDs, each perfectly separated (AUC 1), but id_02's scores are 2.5 higher, so pooled
    over the type its normals (2.5, 3.5) outrank some of id_00's anomalies (2, 3)."""
    rows = []
    for machine_type in ("fan", "pump"):
        for machine_id, offset in (("id_00", 0.0), ("id_02", 2.5)):
            rows += [(machine_type, machine_id, 0, offset + s) for s in (0.0, 1.0)]
            rows += [(machine_type, machine_id, 1, offset + s) for s in (2.0, 3.0)]
    return clips(rows)


def test_pauc_is_mcclish_standardised_partial_area():
    rng = np.random.default_rng(0)
    label = np.r_[np.zeros(200, int), np.ones(60, int)]
    score = rng.normal(size=260) + 1.2 * label
    expected = mcclish(partial_roc_area(label, score, 0.1), 0.1)
    assert pauc(label, score) == pytest.approx(expected, abs=1e-4)
    assert "McClish" in PAUC_NOTE and "max_fpr=0.1" in PAUC_NOTE


def test_dcase_and_pooled_protocols_differ_with_per_id_offsets():
    df = offset_example()
    dcase, pooled = evaluate(df, protocol="dcase"), evaluate(df, protocol="pooled")
    # per ID: perfect.  Pooled: anomalies 2, 3, 4.5, 5.5 beat 2, 3, 4, 4 of the 4 normals -> 13/16.
    # Pooled ROC (descending: 5.5 A, 4.5 A, 3.5 N, 3 A, ...) sits at TPR 0.5 from FPR 0 to 0.25, so
    # up to FPR 0.1: A = 0.1 * 0.5 = 0.05 -> McClish 0.5 * (1 + (0.05 - 0.005) / (0.1 - 0.005)) = 14/19.
    for machine_type in ("fan", "pump"):
        assert dcase["per_type"][machine_type]["auc"] == pytest.approx(1.0)
        assert dcase["per_type"][machine_type]["pauc"] == pytest.approx(1.0)
        assert pooled["per_type"][machine_type]["auc"] == pytest.approx(13 / 16)
        assert pooled["per_type"][machine_type]["pauc"] == pytest.approx(14 / 19)
        assert pooled["per_type"][machine_type]["mauc"] == dcase["per_type"][machine_type]["mauc"] == 1.0
    assert pooled["average"] == pytest.approx({"auc": 13 / 16, "pauc": 14 / 19, "mauc": 1.0})
    assert dcase["average"] == pytest.approx({"auc": 1.0, "pauc": 1.0, "mauc": 1.0})
    assert dcase["notes"] == [] and pooled["notes"] == []
    json.dumps(dcase), json.dumps(pooled)  # plain JSON


def test_mauc_is_the_worst_id_and_averaged_over_types():
    rows = [("fan", "id_00", 0, 0.0), ("fan", "id_00", 0, 1.0), ("fan", "id_00", 1, 2.0), ("fan", "id_00", 1, 3.0),
            # id_02: anomalies 0.5, 3 vs normals 1, 2 -> pairs won 0 + 2 of 4 -> AUC 0.5
            ("fan", "id_02", 0, 1.0), ("fan", "id_02", 0, 2.0), ("fan", "id_02", 1, 0.5), ("fan", "id_02", 1, 3.0),
            # valve id_00: anomaly 1.5 vs normals 1, 2 -> AUC 0.5; id_04 perfect
            ("valve", "id_00", 0, 1.0), ("valve", "id_00", 0, 2.0), ("valve", "id_00", 1, 1.5),
            ("valve", "id_04", 0, 0.0), ("valve", "id_04", 1, 1.0)]
    result = evaluate(clips(rows), protocol="dcase")
    assert result["per_type"]["fan"]["mauc"] == pytest.approx(0.5)
    assert result["per_type"]["fan"]["per_id"]["id_02"]["auc"] == pytest.approx(0.5)
    assert result["per_type"]["fan"]["auc"] == pytest.approx(0.75)
    assert result["per_type"]["valve"]["mauc"] == pytest.approx(0.5)
    assert result["average"]["mauc"] == pytest.approx(0.5)
    assert evaluate(clips(rows), protocol="pooled")["per_type"]["fan"]["mauc"] == pytest.approx(0.5)


def test_single_label_ids_and_nan_scores_are_left_out_with_a_note():
    df = offset_example()
    df = pd.concat([df, clips([("fan", "id_04", 0, 0.3), ("fan", "id_04", 0, 0.7),
                               ("fan", "id_00", 1, np.nan)])], ignore_index=True)
    for protocol in ("dcase", "pooled"):
        result = evaluate(df, protocol=protocol)
        fan = result["per_type"]["fan"]
        assert fan["n_ids"] == 2 and "id_04" not in fan["per_id"]
        assert fan["n_normal"] == 4 and fan["n_anomaly"] == 4  # neither id_04 nor the NaN clip counted
        assert any("id_04" in note and "only normal" in note for note in result["notes"])
        assert any("id_00" in note and "1 clip" in note for note in result["notes"])
        assert fan["auc"] == pytest.approx(1.0 if protocol == "dcase" else 13 / 16)


def test_type_with_no_usable_id_is_left_out_and_averages_survive():
    df = clips([("fan", "id_00", 0, 0.1), ("fan", "id_00", 0, 0.2), ("ToyCar", "id_01", 1, np.nan)])
    result = evaluate(df)
    assert result["per_type"] == {} and result["average"]["auc"] is None
    assert any("fan: no machine ID" in note for note in result["notes"])


def test_types_follow_dcase2020_order_then_alphabetical():
    rows = []
    for machine_type in ("valve", "zebra", "fan", "ToyCar", "alpha"):
        rows += [(machine_type, "id_00", 0, 0.0), (machine_type, "id_00", 1, 1.0)]
    assert list(evaluate(clips(rows))["per_type"]) == ["fan", "valve", "ToyCar", "alpha", "zebra"]


def test_evaluate_all_and_table_have_every_backend_and_the_average_row():
    df = offset_example().rename(columns={"score": "score_softmax"})
    df["score_knn"] = -df["score_softmax"]
    result = evaluate_all(df, {"softmax": "score_softmax", "knn": "score_knn", "lof": "score_lof"})
    assert result["pauc_note"] == PAUC_NOTE
    assert set(result["by_backend"]) == {"softmax", "knn"}
    assert set(result["by_backend"]["softmax"]) == {"dcase", "pooled"}
    assert any("lof" in note for note in result["notes"])
    json.dumps(result)

    table = metrics_table(result["by_backend"]["softmax"]["pooled"], percent=True)
    assert list(table.index) == ["fan", "pump", "Average"]
    assert list(table.columns) == ["AUC", "pAUC", "mAUC"]
    assert table.loc["Average", "AUC"] == pytest.approx(100 * 13 / 16)
    assert metrics_table(result["by_backend"]["softmax"]["dcase"]).loc["fan", "pAUC"] == pytest.approx(1.0)
