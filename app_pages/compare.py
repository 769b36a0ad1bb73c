"""Compare: AUC / pAUC / mAUC of runs per machine type, laid out like Table 1 of the Noisy-ArcMix
paper, with the papers' published numbers as reference rows; CSV and LaTeX export.

The table itself (numbers, ranks, LaTeX) is asdcore.compare; this page picks the runs, the
scoring back-end and the protocol (all kept in the URL) and draws it.
"""
import pandas as pd
import streamlit as st

from asdcore import compare
from asdcore.evaluation.intervals import auc_intervals
from asdcore.significance import PairwiseComparer, score_column, seed_spread, seed_spread_display
from asdcore.runs import Run, runs_by_data
from asdcore.evaluation.metrics import PAUC_NOTE, PROTOCOL_DESCRIPTIONS, PROTOCOLS
from asdcore.evaluation.scoring import BACKEND_DESCRIPTIONS
from app_pages.shared.empty_states import no_runs_yet
from app_pages.shared.url_state import evaluated_runs, run_keys, select_runs, url_choice_key, url_value_key

# top three of each column: darkest for the best (colour-blind safe greens, text stays legible)
RANK_SHADES = {1: "#8fd19e", 2: "#c3e6cb", 3: "#e6f4ea"}
PUBLISHED_STYLE = "color: #555555; font-style: italic"
TABLE_CSS = [
    {"selector": "", "props": "border-collapse: collapse; font-size: 0.8rem; margin-bottom: 0.5rem"},
    {"selector": "th, td", "props": "border: 1px solid rgba(49, 51, 63, 0.15); padding: 0.2rem 0.3rem"},
    {"selector": "thead th", "props": "text-align: center; background: rgba(49, 51, 63, 0.04)"},
    {"selector": "tbody th", "props": "text-align: left; font-weight: normal; min-width: 11rem; max-width: 15rem"},
    {"selector": "td", "props": "text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums"},
]
MARKS_CAPTION = ("In each AUC column the best value among the runs is in **bold** with ¹ and the darkest shade; "
                 "² and ³ (lighter shades) mark the second and third, but only where the test clips can tell a "
                 "run from the runs ranked next to it: **≈** marks a run whose paired 95 % confidence interval "
                 "(DeLong's test on the test clips both runs scored, `python -m asdcore compare`) against a "
                 "neighbour includes 0, and such runs get no bold and no rank. pAUC and mAUC have no paired test "
                 "here and are not ranked. The intervals count the test clips, not the spread over training "
                 "seeds (below). Published rows are never ranked: they were measured on the real DCASE 2020 data "
                 "(10 s clips, 300 epochs), not on this data set. – means no number (no such back-end for that "
                 "run, or a published table that gives only the averages).")


def styled(table: compare.ResultsTable):
    """The text table with the ranks drawn: bold best, shaded top three, published rows greyed."""
    text = compare.display_frame(table)
    published = table.rows["kind"] == "published"

    def cell_styles(_):
        out = pd.DataFrame("", index=text.index, columns=text.columns)
        for col in text.columns:
            for name in text.index:
                rank = table.ranks.at[name, col]
                if rank == rank and int(rank) in RANK_SHADES:  # rank == rank: not NaN
                    out.at[name, col] = f"background-color: {RANK_SHADES[int(rank)]}" + (
                        "; font-weight: bold" if int(rank) == 1 else "")
                elif published[name]:
                    out.at[name, col] = PUBLISHED_STYLE
        if published.any():  # a rule between your runs and the published rows, as in the paper
            first = published.idxmax()
            out.loc[first] = out.loc[first] + "; border-top: 2px solid #888888"
        return out

    return (text.style.apply(cell_styles, axis=None)
            .hide(names=True, axis="columns").hide(names=True, axis="index")
            .set_table_styles(TABLE_CSS)
            .set_table_attributes('class="results-table"'))


def table_html(table: compare.ResultsTable) -> str:
    """The table as HTML: merged machine-type headers over AUC / pAUC, as in the paper;
    scrolls sideways on a narrow screen."""
    return f'<div style="overflow-x: auto">{styled(table).to_html()}</div>'


ALL_DATA = "all data sets"


@st.cache_data(show_spinner="Testing which differences lie within the noise of the test clips…", max_entries=32)
def noise_marks(run_paths: tuple[str, ...], stamps: tuple, backend: str, protocol: str, reference: bool):
    """The table with asdcore.compare.mark_within_noise applied, until a run's clips change."""
    runs = [Run(p) for p in run_paths]
    return compare.mark_within_noise(compare.results_table(runs, backend, protocol, reference),
                                     PairwiseComparer(runs, backend, protocol))


@st.cache_data(show_spinner=False, max_entries=64)
def run_intervals(run_path: str, stamp: float, backend: str) -> dict | None:
    """Bootstrap 95 % intervals of a run's AUCs (DCASE protocol): those its evaluation stored for its
    own back-end, else computed from its clips (asdcore.evaluation.intervals)."""
    run = Run(run_path)
    stored = run.eval_metrics().get("intervals", {}).get("auc")
    if backend == compare.DEFAULT_BACKEND and stored:
        return stored
    clips = run.clips()
    column = score_column(run, backend)
    return auc_intervals(clips, column) if column in clips.columns else None


def intervals_frame(runs, backend: str) -> pd.DataFrame:
    """One row per run: "AUC [low, high]" per machine type and on average, in %."""
    rows = {}
    for run in runs:
        found = run_intervals(str(run.path), clips_stamp(run), backend)
        if not found:
            continue
        cells = {**found["per_type"], "Average": found["average"]}
        rows[run.label if run.label not in rows else f"{run.label} · {run.id}"] = {
            name: f"{100 * c['value']:.1f} [{100 * c['low']:.1f}, {100 * c['high']:.1f}]" for name, c in cells.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def clips_stamp(run) -> float:
    path = run.path / "eval" / "clips.parquet"
    return path.stat().st_mtime if path.exists() else 0.0


def backend_label(name: str) -> str:
    return "each run's own (its recipe's default)" if name == compare.DEFAULT_BACKEND else name


st.title("Compare runs")
st.markdown("AUC and pAUC per machine type, then the averages over types and mAUC (the mean over types of "
            "the worst machine ID's AUC), in %, laid out like Table 1 of the Noisy-ArcMix paper. "
            "The papers' published numbers sit below as reference rows.")

runs = evaluated_runs()
if not runs:
    no_runs_yet()
chosen = []
if runs:
    # numbers compare only between runs on the same data: one data set at a time, the one with most runs first
    groups = runs_by_data(runs)
    data_sets = [*groups, ALL_DATA]
    # a link that names runs but no data set (Train's "Compare" of a run on your own folder) opens on the
    # data set of the runs it names, not on the one with most runs, where they would be missing
    linked = set(st.query_params.get("runs", "").split(","))
    default = next((d for d in groups if linked & set(run_keys(groups[d]))), data_sets[0])
    data_set = st.selectbox("Data set", data_sets, key=url_choice_key("data", data_sets, default),
                            format_func=lambda d: f"{d} ({len(groups[d])} run{'s' * (len(groups[d]) > 1)})"
                            if d in groups else d,
                            help="the runs evaluated on this data set (as their config.json names it)")
    st.query_params["data"] = data_set
    pool = runs if data_set == ALL_DATA else groups[data_set]
    chosen = select_runs("Runs (one row each)", key="runs", runs=pool, default=list(run_keys(pool)))

backends = [compare.DEFAULT_BACKEND] + compare.available_backends([r.eval_metrics() for r in chosen])
c_backend, c_protocol, c_reference = st.columns([2, 2, 1])
backend = c_backend.selectbox(
    "Scoring back-end", backends, key=url_choice_key("backend", backends, compare.DEFAULT_BACKEND),
    format_func=backend_label,
    help="\n\n".join(f"**{k}**: {v}" for k, v in BACKEND_DESCRIPTIONS.items()))
protocol = c_protocol.radio(
    "Protocol", PROTOCOLS, key=url_choice_key("protocol", list(PROTOCOLS), "dcase"),
    horizontal=True, help="\n\n".join(f"**{k}**: {v}" for k, v in PROTOCOL_DESCRIPTIONS.items()))
reference = c_reference.toggle("Published rows", key=url_value_key("published", st.query_params.get("published", "1") != "0"),
                               help="the papers' DCASE 2020 numbers (asdcore.reference_results)")
st.query_params.update(backend=backend, protocol=protocol, published="1" if reference else "0")

domain = compare.domain_shift_table(chosen, backend)
if domain is not None:  # DCASE 2021-2023 data: source and target domains, as that challenge reports them
    st.subheader("Domain shift (DCASE 2021-2023)")
    st.dataframe(domain.round(2), width="stretch")
    st.caption("Per machine type, the harmonic means over its sections of AUC (source: the source-domain "
               "normals against all the section's anomalies), AUC (target: likewise with the target-domain "
               "normals) and pAUC (both domains); the official score is the harmonic mean of all of them, "
               "beside the source and target harmonic means and the arithmetic mean, in %. The table below "
               "pools the domains, per section.")
    if reference:  # the two domain-shift systems' own reports, on the real data
        st.markdown("**Published: the domain-shift systems on the real DCASE 2021-2022 data**")
        st.dataframe(compare.published_domain_shift_table(), width="stretch")
        st.caption(f"Reference rows: {compare.PUBLISHED_DOMAIN_SHIFT_LABEL}. Harmonic means over sections; "
                   "the sub-cluster AdaCos report gives AUC / pAUC over both domains, the JLESS report the source "
                   "and target AUC.")

# the DCASE 2020 papers' rows measure data without domains: beside domain-shift runs they would read as the
# same task, so there only the domain-shift systems' own published numbers (above) are shown
published_2020 = reference and domain is None
if reference and not published_2020:
    st.caption("The DCASE 2020 papers' published rows are left out of the table below: they were measured on "
               "data without domains. The domain-shift systems' own published numbers are above.")
table = compare.results_table(chosen, backend, protocol, published_2020)
if table.values.empty:
    st.info("Nothing to show: pick runs above, or switch the published rows on.")
    st.stop()
if chosen:
    table = noise_marks(tuple(str(r.path) for r in chosen), tuple(clips_stamp(r) for r in chosen), backend, protocol,
                        published_2020)
st.html(table_html(table))
line = compare.noise_line(table)
names = compare.unique_names([compare.entry_for(r) for r in chosen])  # the table's row names, once
if line:
    losses = {name: r.config.get("loss", {}).get("name") for name, r in zip(names, chosen)}
    order = compare.paper_order_note(table, losses)
    st.info(line + (f"\n\n{order}" if order else ""), icon=":material/balance:")
subset = compare.subset_note(chosen, names)
if subset:
    st.warning(subset, icon=":material/filter_alt:")
under = compare.undertrained_note(chosen, names)
if under:
    st.warning(under, icon=":material/hourglass_bottom:")
st.caption(MARKS_CAPTION)
st.caption(f"Protocol **{protocol}**: {PROTOCOL_DESCRIPTIONS[protocol]}. Back-end **{backend_label(backend)}**"
           + (f": {BACKEND_DESCRIPTIONS[backend]}." if backend in BACKEND_DESCRIPTIONS else ".") + f" {PAUC_NOTE}")
if published_2020:
    st.caption(f"Reference rows: {compare.PUBLISHED_LABEL}.")
for note in table.notes:
    (st.warning if "different data" in note else st.caption)(note)

for name, run in zip(names, chosen):  # an ensemble's members one by one: does summing them help?
    members = compare.ensemble_members_table(run)
    if members is not None:
        ensemble = run.eval_metrics()["ensemble"]
        with st.expander(f"{name}: its {ensemble['snapshots']} member snapshots one by one, and their sums"):
            st.dataframe(members, width="stretch")
            st.caption(f"Average AUC / pAUC in %, DCASE protocol, of each member network's own eqs. 2-3 scores at "
                       f"each snapshot, then of their sums. {ensemble['choice_note']} Per-type choice here: "
                       + ", ".join(f"{t} {h}" for t, h in ensemble["choice"].items())
                       + f". The Angles and Embeddings pages show {ensemble['geometry']}.")
with st.expander("95 % intervals of each run's AUCs (bootstrap over its test clips)"):
    if protocol == "dcase":
        st.dataframe(intervals_frame(chosen, backend), width="stretch")
        st.caption("AUC in %, DCASE protocol, with the 2.5th and 97.5th percentiles over 1000 resamples of the test "
                   "clips drawn within each machine ID and label (asdcore.evaluation.intervals): how much the number "
                   "would move on other test clips from the same machines. Two runs' intervals can overlap while "
                   "their paired test (the ≈ marks) still tells them apart: the paired test compares them on the "
                   "same clips.")
    else:
        st.caption("Intervals are computed for the DCASE protocol: switch the protocol to dcase.")

spread = seed_spread({r.recipe for r in chosen if r.bundled})
if not spread.empty:
    st.subheader("Over training seeds")
    st.dataframe(seed_spread_display(spread), width="stretch")
    st.caption("AUC in %, mean ± standard deviation over training seeds 0, 1 and 2 of the bundled recipes (same data; "
               "other initial weights, batches, mixup and validation split; each recipe's default back-end, DCASE "
               "protocol), from checkpoints/seeds.json, written by `make checkpoints`. A difference smaller than "
               "this spread may belong to the seed, not the method, even when the test clips tell two runs apart.")

c_csv, c_tex, _ = st.columns([1, 1, 3])
stem = f"asd-results-{protocol}-{backend}"
c_csv.download_button("Download CSV", compare.to_csv(table), file_name=f"{stem}.csv", mime="text/csv",
                      icon=":material/download:")
latex = compare.to_latex(table)
c_tex.download_button("Download LaTeX", latex, file_name=f"{stem}.tex", mime="text/x-tex",
                      icon=":material/download:")
with st.expander("Rows: which run, recipe, preset, back-end and data each row is"):
    st.dataframe(table.rows.drop(columns="method"), width="stretch")
with st.expander("LaTeX source (booktabs; the best value of each column in \\textbf)"):
    st.code(latex, language="latex")
