"""Angles: Fig. 1 of the Noisy-ArcMix paper, for any runs side by side.

Per run, histograms of the angle between each test clip's embedding and its own machine ID's
class centre, normal against anomalous; the further apart, the better the anomaly score.  The
separation (AUC of the angle as a score, median gap, overlap) is stated per panel and in a table.
"""
import pandas as pd
import streamlit as st

from asdcore import plots
from asdcore.evaluation.intervals import separation_intervals
from asdcore.significance import PairwiseComparer, paired_angle_auc
from asdcore.compare import mixed_data_note
from asdcore.runs import Run, data_of
from asdcore.plots.angles import domain_separation
from asdcore.plots.style import filter_clips
from app_pages.shared.cache import clips
from app_pages.shared.domain_filter import domain_filters, has_domains, machine_filters
from app_pages.shared.empty_states import no_evaluated_runs
from app_pages.shared.url_state import evaluated_runs, select_runs, url_value_key

# Fig. 1's panels, in the paper's order: no margin, then ever more margin-and-mixup
FIG1_LOSSES = ("ce", "arcface", "arcmix", "noisy_arcmix")
ANGLE = "angle_to_centre_deg"


def fig1_default(runs) -> list[str]:
    """The newest CE / ArcFace / ArcMix / Noisy-ArcMix runs of one model family on one data set
    (the family and data set with most of the four, TASTgram-MFN first on a tie, as in the paper)."""
    families: dict[tuple[str, str], dict[str, str]] = {}
    for run in runs:  # newest first: keep the first run of each loss
        if run.is_smoke_test:  # a tiny run has learnt nothing: never a default panel
            continue
        family, loss = run.config.get("model", {}).get("name"), run.config.get("loss", {}).get("name")
        if loss in FIG1_LOSSES:
            families.setdefault((data_of(run), family), {}).setdefault(loss, run.id)
    if not families:
        return []
    best = max(families, key=lambda f: (len(families[f]), f[1] == "tastgram_mfn"))
    return [families[best][loss] for loss in FIG1_LOSSES if loss in families[best]]


@st.cache_data(show_spinner=False, max_entries=128)
def angle_intervals(run_path: str, stamp: float, type_filter, id_filter, domain, attributes) -> dict | None:
    """Bootstrap 95 % intervals of the angle AUC and median gap over the clips shown: those the
    evaluation stored when nothing is filtered, else computed (asdcore.evaluation.intervals)."""
    run = Run(run_path)
    stored = run.eval_metrics().get("intervals", {}).get("angles")
    if stored and not any((type_filter, id_filter, domain, attributes)):
        return stored
    shown = filter_clips(filter_clips(run.clips(), domain=domain, attributes=attributes), type_filter, id_filter)
    return separation_intervals(shown) if ANGLE in shown.columns and shown[ANGLE].notna().any() else None


MAX_PAIRED_RUNS = 6  # 15 pairs at most: beyond that the table stops being read


@st.cache_data(show_spinner="Testing which differences are real…", max_entries=64)
def pair_tests(run_paths: tuple[str, ...], names: tuple[str, ...], stamps: tuple, type_filter, id_filter, domain,
               attributes) -> pd.DataFrame:
    """Per pair of runs: DeLong's paired test of the angle AUC on the clips shown, and of the score AUC
    that Compare tests (its DCASE average, or one machine type's, over all that type's clips)."""
    runs = [Run(p) for p in run_paths]
    shown = [filter_clips(clips(r), type_filter, id_filter, domain, attributes) for r in runs]
    # Compare's test covers whole machine types: one ID, domain or attribute value shown has no counterpart
    comparer = PairwiseComparer(runs) if not (id_filter or domain or attributes) else None
    rows = []
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            angle = paired_angle_auc(runs[i], shown[i], runs[j], shown[j], ANGLE)
            if angle is None:
                continue
            score = comparer(runs[i].id, runs[j].id) if comparer else None
            if score is not None and type_filter:
                by_type = score.per_type.set_index("machine_type")
                score = by_type.loc[type_filter].to_dict() if type_filter in by_type.index else None
            elif score is not None:
                score = score.average
            rows.append({"pair": f"{names[i]} − {names[j]}",
                         "angle AUC difference": f"{angle['difference']:+.3f} [{angle['ci_low']:+.3f}, "
                                                 f"{angle['ci_high']:+.3f}]",
                         "angle AUC": _verdict(angle),
                         "score AUC difference (Compare, %)": "—" if score is None else
                         f"{100 * score['difference']:+.2f} [{100 * score['ci_low']:+.2f}, {100 * score['ci_high']:+.2f}]",
                         "score AUC": "—" if score is None else _verdict(score),
                         "clips": angle["n_clips"]})
    return pd.DataFrame(rows)


def _verdict(test: dict) -> str:
    return "within the noise" if test["ci_low"] <= 0 <= test["ci_high"] else "real"


def interval_text(found: dict | None, key: str, spec: str) -> str:
    if not found or key not in found:
        return "—"
    return f"[{found[key]['low']:{spec}}, {found[key]['high']:{spec}}]"


def panel_names(runs) -> list[str]:
    """Panel titles: the run's label, with its id where two runs share a label (and "bundled"
    where a run of yours shares that id too)."""
    labels = [r.label for r in runs]
    names = [r.label if labels.count(r.label) == 1 else f"{r.label} ({r.id})" for r in runs]
    return [f"{n[:-1]}, bundled)" if r.bundled and names.count(n) > 1 else n for n, r in zip(names, runs)]


st.title("Angles to the class centres")
st.markdown(
    "Fig. 1 of the Noisy-ArcMix paper: for each test clip, the angle between its embedding and its own "
    "machine ID's class centre. Training pulls **normal** clips towards their centre; **anomalous** clips "
    "should stay farther out. A margin (ArcFace), mixup with margins (ArcMix) and the noisy margin "
    "(Noisy-ArcMix) should push the two histograms apart.")

runs = evaluated_runs()
if not runs:
    no_evaluated_runs()
    st.stop()
chosen = select_runs("Runs (one panel each)", key="runs", default=fig1_default(runs), runs=runs)
if not chosen:
    st.info("Pick one or more runs above.")
    st.stop()
mixed = mixed_data_note(data_of(run) for run in chosen)
if mixed:
    st.warning(mixed[0].upper() + mixed[1:] + ".")
tables = {name: clips(run) for name, run in zip(panel_names(chosen), chosen)}
domain_data = has_domains(list(tables.values()))

# machine type / ID filters (and, on DCASE 2021-2023 data, domain and attributes), kept in the URL
c_type, c_id, c_domain, c_attr = st.columns(4)
type_filter, id_filter = machine_filters(list(tables.values()), c_type, c_id)
in_scope = pd.concat([filter_clips(t, type_filter, id_filter) for t in tables.values()])
domain, attributes = domain_filters(list(tables.values()), c_domain, c_attr, scope=in_scope)
c_density, c_split = st.columns(2)
density = c_density.toggle("Density (compare shapes, not counts)", value=False,
                           help="normal and anomalous clips are not equally many: a density per degree "
                                "compares the shapes of the two histograms")
split = domain_data and c_split.toggle(
    "Source and target apart", key=url_value_key("split", st.query_params.get("split") == "1"),
    help="one histogram per label and domain, the target domain's hatched: do the target normals sit "
         "farther from their centre than the source normals?")
if domain_data:
    st.query_params["split"] = "1" if split else "0"
tables = {name: filter_clips(t, domain=domain, attributes=attributes) for name, t in tables.items()}
what = " ".join(v for v in (type_filter, id_filter, domain, attributes) if v) or "all machines"

st.plotly_chart(plots.angle_histograms(tables, type_filter, id_filter, density=density, split_domain=split,
                                       title=f"Angle between each test clip's embedding and its class centre ({what})"),
                config={"displaylogo": False})

rows = []
for (name, table), run in zip(tables.items(), chosen):
    has_angles = ANGLE in table.columns and table[ANGLE].notna().any()
    shown = filter_clips(table, type_filter, id_filter)
    sep = plots.angle_separation(shown.loc[shown["label"] == 0, ANGLE], shown.loc[shown["label"] == 1, ANGLE]) \
        if has_angles else {}
    # on domain data, each domain's normals against all the anomalies shown, as DCASE scores a domain
    per_domain = domain_separation(shown) if has_angles and domain_data else {}
    by_domain = {d: per_domain.get(d, {}) for d in ("source", "target")} if domain_data else {}
    clips_file = run.path / "eval" / "clips.parquet"
    found = angle_intervals(str(run.path), clips_file.stat().st_mtime, type_filter, id_filter, domain, attributes) \
        if has_angles else None
    rows.append({"run": name, "loss": run.config.get("loss", {}).get("name"),
                 "angle AUC": sep.get("auc"), "95 % CI": interval_text(found, "auc", ".3f"),
                 **{f"angle AUC {d}": v.get("auc") for d, v in by_domain.items()},
                 "median gap (°)": sep.get("median_gap_deg"), "gap 95 % CI": interval_text(found, "median_gap_deg", "+.1f"),
                 "overlap": sep.get("overlap"),
                 "median normal (°)": sep.get("median_normal_deg"),
                 **{f"median normal {d} (°)": v.get("median_normal_deg") for d, v in by_domain.items()},
                 "median anomaly (°)": sep.get("median_anomaly_deg"),
                 "normal / anomalous clips": f"{sep['n_normal']} / {sep['n_anomaly']}" if sep else "—",
                 "note": "" if has_angles else "no class centres: no angles"})
st.subheader("Separation of the two histograms")
separation = pd.DataFrame(rows)
if (separation["note"] == "").all():  # every run has angles: nothing to note
    separation = separation.drop(columns="note")
# the run column stays in view when a narrow window scrolls the table sideways (the walkthrough lost it)
st.dataframe(separation, hide_index=True, width="stretch",
             column_config={"run": st.column_config.TextColumn(pinned=True),
                            "angle AUC": st.column_config.NumberColumn(format="%.3f"),
                            "median gap (°)": st.column_config.NumberColumn(format="%+.1f"),
                            "overlap": st.column_config.NumberColumn(format="%.2f"),
                            "median normal (°)": st.column_config.NumberColumn(format="%.1f"),
                            "median anomaly (°)": st.column_config.NumberColumn(format="%.1f")}
             | {f"angle AUC {d}": st.column_config.NumberColumn(format="%.3f") for d in ("source", "target")}
             | {f"median normal {d} (°)": st.column_config.NumberColumn(format="%.1f") for d in ("source", "target")})
st.caption("**angle AUC**: the AUC of the angle used as an anomaly score (0.5 = no separation, 1 = every "
           "anomaly farther than every normal), pooled over the clips shown. It is *not* the AUC on **Compare**: "
           "that one ranks each run's own anomaly score (e.g. −log p of the clip's ID, which also weighs the other "
           "centres) per machine ID, then averages, so two runs can order differently on the two pages. "
           "**median gap**: median anomalous angle minus median normal "
           "angle. **95 % CI**: where the figure would fall on other test clips of the same machines (bootstrap: "
           "1000 resamples of the clips shown, drawn within each machine ID and label; the spread over training "
           "seeds comes on top). Two panels whose intervals overlap widely do not show a real difference; "
           "`python -m asdcore compare` tests two runs on the same clips. **overlap**: the area the two normalised "
           "histograms share (1 = identical, 0 = disjoint)."
           + (" **angle AUC source / target**: that domain's normals against all the anomalies shown, as "
              "DCASE 2021-2023 score a domain; **median normal source / target**: a target normal lying farther "
              "from its centre than a source normal is the domain shift the classifier has not learnt."
              if domain_data else ""))

with_angles = [(name, run) for (name, t), run in zip(tables.items(), chosen) if ANGLE in t.columns
               and t[ANGLE].notna().any()]
if 2 <= len(with_angles) <= MAX_PAIRED_RUNS:
    st.subheader("Which differences are real?")
    pairs = pair_tests(tuple(str(r.path) for _, r in with_angles), tuple(n for n, _ in with_angles),
                       tuple((r.path / "eval" / "clips.parquet").stat().st_mtime for _, r in with_angles),
                       type_filter, id_filter, domain, attributes)
    if not pairs.empty:
        st.dataframe(pairs, hide_index=True, width="stretch", column_config={"pair": st.column_config.TextColumn(pinned=True)})
        split = pairs[(pairs["angle AUC"] == "real") & (pairs["score AUC"] == "within the noise")]
        st.caption(
            "DeLong's paired test on the clips both runs judged: the difference (first minus second) with its "
            "95 % interval; **real** where the interval leaves out 0. Paired, it is much narrower than the two "
            "runs' own intervals above side by side. The score AUC is Compare's (each run's own anomaly score, "
            "per machine ID, then averaged"
            + (f"; for {type_filter} alone" if type_filter else "") + ")."
            + (f" **{', '.join(split['pair'])}**: the histograms sit apart by a real margin, yet the detection "
               "scores are within the noise of each other. The angle to the own centre is only part of the "
               "score (a softmax score also weighs the other centres), so a better angle AUC need not make a "
               "better detector." if not split.empty else ""))
elif len(with_angles) > MAX_PAIRED_RUNS:
    st.caption(f"Paired tests of the differences are shown for up to {MAX_PAIRED_RUNS} runs; pick fewer to see "
               "them (`python -m asdcore compare RUN_A RUN_B` tests any two).")

no_angles = [name for name, t in tables.items() if ANGLE not in t.columns or t[ANGLE].isna().all()]
if no_angles:
    st.info(f"{', '.join(no_angles)}: no angles to draw. An autoencoder (the DCASE 2020 baseline) has no "
            "class centres: it scores a clip by how badly it reconstructs it, not by an angle. Its anomaly "
            "scores are on the **False alarms** and **Compare** pages.")
