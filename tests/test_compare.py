"""The Compare page's table logic (asdcore.compare): numbers out of metrics.json, ranks, the
published reference rows, and the CSV / LaTeX exports a user pastes into a paper."""
import io
import math

import pandas as pd
import pytest

from asdcore import compare
from asdcore.reference_results import PUBLISHED


def result(aucs: dict, paucs: dict, mauc: float = 0.5) -> dict:
    """One protocol's result as asdcore.evaluation.metrics.evaluate writes it (fractions)."""
    per_type = {t: {"auc": aucs[t], "pauc": paucs[t], "mauc": mauc} for t in aucs}
    average = {"auc": sum(aucs.values()) / len(aucs), "pauc": sum(paucs.values()) / len(paucs), "mauc": mauc}
    return {"per_type": per_type, "average": average}


def metrics(backends: dict, default: str = "softmax") -> dict:
    """A metrics.json: {backend: (dcase result, pooled result)}."""
    by_backend = {name: {"dcase": d, "pooled": p} for name, (d, p) in backends.items()}
    return {"backend": default, "protocol": "dcase", **by_backend[default]["dcase"], "by_backend": by_backend}


def entry(name, m, run_id=None, data="data/toy"):
    return compare.RunEntry(method=name, metrics=m, run_id=run_id or name.lower(), recipe="r", preset="tiny",
                            data=data)


# three runs: A best on fan, C best on pump, B ties A on ToyCar
A = result({"fan": 0.90, "pump": 0.60, "ToyCar": 0.80}, {"fan": 0.70, "pump": 0.55, "ToyCar": 0.60}, mauc=0.7)
B = result({"fan": 0.80, "pump": 0.70, "ToyCar": 0.80}, {"fan": 0.65, "pump": 0.60, "ToyCar": 0.61}, mauc=0.6)
C = result({"fan": 0.70, "pump": 0.95, "ToyCar": 0.50}, {"fan": 0.60, "pump": 0.80, "ToyCar": 0.52}, mauc=0.4)
POOLED = result({"fan": 0.5, "pump": 0.5, "ToyCar": 0.5}, {"fan": 0.5, "pump": 0.5, "ToyCar": 0.5})


@pytest.fixture
def table():
    entries = [entry("A", metrics({"softmax": (A, POOLED), "gmm": (C, POOLED)})),
               entry("B", metrics({"softmax": (B, POOLED)})),
               entry("C", metrics({"softmax": (C, POOLED)}))]
    return compare.build_table(entries, "default", "dcase", reference=True)


def test_columns_follow_table_1_types_in_dcase_order_then_averages(table):
    groups = list(dict.fromkeys(table.values.columns.get_level_values(0)))
    assert groups == ["fan", "pump", "ToyCar", "Average"]
    assert list(table.values["fan"].columns) == ["AUC", "pAUC"]
    assert list(table.values["Average"].columns) == ["AUC", "pAUC", "mAUC"]
    assert table.values.at["A", ("fan", "AUC")] == pytest.approx(90.0)  # percent, as in the papers


def test_best_and_top_three_per_column_with_ties(table):
    ranks = table.ranks
    assert ranks.at["A", ("fan", "AUC")] == 1 and ranks.at["B", ("fan", "AUC")] == 2
    assert ranks.at["C", ("fan", "AUC")] == 3
    assert ranks.at["C", ("pump", "AUC")] == 1
    # a tie shares the better rank; the next one is third, not second
    assert ranks.at["A", ("ToyCar", "AUC")] == ranks.at["B", ("ToyCar", "AUC")] == 1
    assert ranks.at["C", ("ToyCar", "AUC")] == 3
    assert table.best.at["A", ("Average", "mAUC")] and not table.best.at["C", ("Average", "mAUC")]
    shown = compare.display_frame(table)
    assert shown.at["A", ("fan", "AUC")] == "90.00¹"
    assert shown.at["B", ("fan", "AUC")] == "80.00²"
    assert shown.at["C", ("fan", "AUC")] == "70.00³"


def test_published_rows_are_labelled_and_never_ranked(table):
    published = table.rows[table.rows["kind"] == "published"]
    assert len(published) == len(PUBLISHED)
    name = "TASTgram-MFN (Noisy-ArcMix) [published]"
    assert name in published.index
    assert table.values.at[name, ("Average", "AUC")] == pytest.approx(94.65)
    assert table.values.at[name, ("Average", "mAUC")] == pytest.approx(89.78)
    assert math.isnan(table.values.at[name, ("fan", "AUC")])  # the papers' averages only
    # 94.65 beats every run's average, yet the best mark stays with the runs
    assert table.ranks.loc[published.index].isna().all().all()
    assert table.ranks.at["A", ("Average", "AUC")] == 1
    assert "not comparable" in compare.PUBLISHED_LABEL
    assert compare.display_frame(table).at[name, ("fan", "AUC")] == compare.MISSING


def test_backend_and_protocol_choice(table):
    entries = [entry("A", metrics({"softmax": (A, POOLED), "gmm": (C, POOLED)})),
               entry("B", metrics({"softmax": (B, POOLED)}))]
    gmm = compare.build_table(entries, "gmm", "dcase", reference=False)
    assert gmm.values.at["A", ("pump", "AUC")] == pytest.approx(95.0)  # A's gmm numbers are C's
    assert gmm.values.loc["B"].isna().all()  # B has no gmm: "-" everywhere, and a note says why
    assert any("b" in n and "'gmm'" in n for n in gmm.notes)
    assert compare.display_frame(gmm).at["B", ("fan", "AUC")] == compare.MISSING
    pooled = compare.build_table(entries, "default", "pooled", reference=False)
    assert pooled.values.at["A", ("fan", "AUC")] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="protocol"):
        compare.build_table(entries, "default", "per-clip")


def test_available_backends_in_scoring_order():
    assert compare.available_backends([metrics({"gmm": (A, A), "softmax": (A, A)}), {}]) == ["softmax", "gmm"]


def test_runs_sharing_a_label_get_their_ids_and_different_data_is_flagged():
    entries = [entry("Same", metrics({"softmax": (A, A)}), run_id="run-1"),
               entry("Same", metrics({"softmax": (B, B)}), run_id="run-2", data="/elsewhere/dcase")]
    t = compare.build_table(entries, reference=False)
    assert list(t.values.index) == ["Same · run-1", "Same · run-2"]
    assert any("different data" in n for n in t.notes)


def test_csv_round_trips_with_descriptions_and_empty_cells(table):
    frame = pd.read_csv(io.StringIO(compare.to_csv(table)))
    assert list(frame.columns[:3]) == ["method", "kind", "run_id"]
    assert {"protocol", "backend", "fan AUC", "fan pAUC", "Average mAUC"} <= set(frame.columns)
    a = frame.set_index("method").loc["A"]
    assert a["fan AUC"] == pytest.approx(90.0) and a["kind"] == "run" and a["protocol"] == "dcase"
    published = frame[frame["kind"] == "published"]
    assert len(published) == len(PUBLISHED) and published["fan AUC"].isna().all()


def test_latex_bolds_only_the_best_and_escapes_names():
    entries = [entry("Ours & theirs_50%", metrics({"softmax": (A, A)})), entry("B", metrics({"softmax": (B, B)}))]
    t = compare.build_table(entries, reference=True)
    latex = compare.to_latex(t)
    assert r"\begin{tabular}" in latex and latex.count(r"\multicolumn{2}{c}") == 3
    assert r"\multicolumn{3}{c}{Average}" in latex
    assert r"Ours \& theirs\_50\%" in latex and "Ours & theirs" not in latex
    cells = {line.split(" & ")[0]: line.rstrip(" \\").split(" & ")[1:] for line in latex.splitlines()
             if line.startswith(("Ours", "B &"))}
    ours, b_row = cells[r"Ours \& theirs\_50\%"], cells["B"]
    assert ours[0] == r"\textbf{90.00}" and b_row[0] == "80.00"  # fan AUC: A best
    assert ours[2] == "60.00" and b_row[2] == r"\textbf{70.00}"  # pump AUC: B best
    assert ours[4] == b_row[4] == r"\textbf{80.00}"  # ToyCar AUC: a tie, both bold
    published = latex[latex.index("not comparable"):]
    assert "94.65" in published and r"\textbf" not in published
    assert "--" in published  # no number: -- rather than an empty cell


def test_latex_escape_all_specials():
    assert compare.latex_escape(r"a_b&c%d$e#f{g}h~i^j\k") == (
        r"a\_b\&c\%d\$e\#f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k")


def test_backend_result_reads_old_metrics_without_by_backend():
    old = {"backend": "softmax", "protocol": "dcase", **A}
    assert compare.backend_result(old, "default", "dcase")["average"] == A["average"]
    assert compare.backend_result(old, "default", "pooled") is None
    assert compare.backend_result({}, "default", "dcase") is None


def _domain_block(official, per_type):
    """A metrics.json domain_shift block: per type (source AUC, target AUC, pAUC) harmonic means."""
    rows = [{"machine_type": t, "mean": "harmonic", "auc_source": s, "auc_target": g, "pauc": p}
            for t, (s, g, p) in per_type.items()]
    rows += [{"machine_type": t, "mean": "arithmetic", "auc_source": 0.0, "auc_target": 0.0, "pauc": 0.0}
             for t in per_type]
    return {"by_backend": {"softmax": {"official_score": official, "hmean_source": 0.9, "hmean_target": 0.5,
                                       "arithmetic_mean": 0.7, "machine_types": rows}}}


def test_domain_shift_table_lists_source_target_and_the_official_score():
    a = compare.RunEntry("A", {"backend": "softmax", "domain_shift": _domain_block(0.62, {"valve": (0.9, 0.4, 0.6),
                                                                                   "fan": (0.8, 0.5, 0.7)})})
    plain = compare.RunEntry("B", {"backend": "softmax", "by_backend": {}})
    table = compare.domain_shift_table([a, plain])
    assert list(table.index) == ["A"]  # only runs on domain-shift data
    # the scores first, then the types in DCASE's order
    assert list(table.columns.get_level_values(0)) == ["Score"] * 4 + ["fan"] * 3 + ["valve"] * 3
    assert table.loc["A", ("valve", "AUC target")] == pytest.approx(40.0)  # harmonic means, not arithmetic
    assert table.loc["A", ("Score", "official score")] == pytest.approx(62.0)
    assert table.loc["A", ("Score", "h-mean target")] == pytest.approx(50.0)
    assert compare.domain_shift_table([plain]) is None


def test_two_runs_with_the_same_label_and_id_get_rows_of_their_own():
    m = {"backend": "softmax", "by_backend": {"softmax": {"dcase": {"per_type": {"fan": {"auc": 0.8, "pauc": 0.6}},
                                                                    "average": {"auc": 0.8, "pauc": 0.6, "mauc": 0.8}}}}}
    mine, shipped = compare.RunEntry("A", m, run_id="x"), compare.RunEntry("A", m, run_id="x")
    table = compare.build_table([mine, shipped], reference=False)
    assert list(table.values.index) == ["A · x", "A · x (2)"] and table.ranks.notna().any().any()


def test_the_domain_shift_systems_published_numbers_are_one_row_per_method_with_what_the_cells_hold():
    from asdcore.reference_results import PUBLISHED_DOMAIN_SHIFT

    table = compare.published_domain_shift_table()
    assert list(table.index) == [method for method, *_ in PUBLISHED_DOMAIN_SHIFT]
    subcluster = table.loc["Sub-cluster AdaCos system (ensemble)"]
    assert subcluster["data set"] == "DCASE 2021 dev" and subcluster["cells"] == "AUC / pAUC"
    assert subcluster["valve"] == "81.13 / 64.92" and subcluster["bearing"] == "-"  # no bearing in 2021
    jless = table.loc[[m for m in table.index if m.startswith("JLESS, MFN log-mel")][0]]
    assert jless["cells"] == "AUC source / target" and jless["gearbox"] == "86.97 / 86.56" and jless["all"] == "-"
    assert list(table.columns[-1:]) == ["all"]
