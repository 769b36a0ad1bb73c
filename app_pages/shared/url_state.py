"""Choices kept in the URL's query parameters, so that a reload or a shared link shows the same
view: the run pickers, and a parameter read back when it is valid."""
from __future__ import annotations

import hashlib

import streamlit as st

from asdcore.runs import Run, data_of, list_runs, runs_by_data
from app_pages.shared.empty_states import no_evaluated_runs


def query_int(key: str, default: int | None = None) -> int | None:
    try:
        return int(st.query_params[key])
    except (KeyError, ValueError):
        return default


def query_choice(key: str, options: list, default):
    """The query parameter `key` when it is one of `options`, else `default`."""
    value = st.query_params.get(key)
    return value if value in options else default


# A widget whose choice lives in the URL takes its first value from the query parameter through its
# session state, never through index= / value=: Streamlit names a widget without a key by its
# arguments, so an index read from the URL made a new widget whenever the URL's choice changed, and
# every second pick was lost (type=fan, then pump, read fan again).  With a key and no index, the
# widget keeps what the user picked.

def url_choice_key(param: str, options: list, default) -> str:
    """The key of a selectbox / radio over `options` whose choice is the query parameter `param`:
    its state starts from the URL (else `default`) and starts again where the options changed."""
    key = f"url_{param}"
    if st.session_state.get(key) not in options:
        st.session_state[key] = query_choice(param, options, default)
    return key


def url_value_key(param: str, value) -> str:
    """The key of a toggle, slider or number input whose value is the query parameter `param`: its
    state starts from `value` (what the caller read from the URL) on the widget's first render."""
    key = f"url_{param}"
    if key not in st.session_state:
        st.session_state[key] = value
    return key


def evaluated_runs() -> list[Run]:
    """Runs with evaluation artefacts: the user's (newest first), then the bundled ones.  Damaged
    run folders (asdcore.runs.Run.damage) are left out, with a warning naming each and why."""
    runs, damaged = [], []
    for run in list_runs():
        if run.has_eval:
            why = run.damage()
            if why:
                damaged.append(f"{run.id} ({why})")
            else:
                runs.append(run)
    if damaged:
        st.warning(f"{len(damaged)} run folder(s) cannot be read and are left out: " + "; ".join(damaged))
    return runs


def run_keys(runs: list[Run]) -> dict[str, Run]:
    """Each run by the name the URL uses: its folder's name, except a bundled run whose name one of
    your runs also has, which is `bundled:<name>` (a run folder of yours may be named like a recipe)."""
    mine = {r.id for r in runs if not r.bundled}
    return {(f"bundled:{r.id}" if r.bundled and r.id in mine else r.id): r for r in runs}


def run_title(run: Run) -> str:
    tag = " · bundled" if run.bundled else ""
    return f"{run.label} — {run.id}{tag}"


def default_run(by_id: dict[str, Run], recipe: str, skip_smoke_tests: bool = True) -> str:
    """The run a page opens on: your newest run of the recipe that is not a smoke test (its name says it
    is yours), else the bundled one on the data set most runs share (the default toy set, not the
    domain-shift one), else any run of the recipe that is not a smoke test, else the first run.  A tiny
    run never replaces a bundled one by default: it has learnt nothing."""
    learnt = {i: r for i, r in by_id.items() if not (skip_smoke_tests and r.is_smoke_test)}
    main_data = next(iter(runs_by_data(list(learnt.values()) or list(by_id.values()))))
    of_recipe = {i: r for i, r in learnt.items() if r.recipe == recipe}
    preferred = ([i for i, r in of_recipe.items() if not r.bundled]
                 + [i for i, r in of_recipe.items() if data_of(r) == main_data] + list(of_recipe) + list(learnt))
    return preferred[0] if preferred else next(iter(by_id))


def select_run(label: str = "Run", key: str = "run", runs: list[Run] | None = None,
               default_recipe: str = "tastgram-noisy-arcmix", skip_smoke_tests: bool = True) -> Run | None:
    """A run picker whose choice lives in the query parameter `key`; without one it opens on
    default_run (the Train page, which watches any run, passes skip_smoke_tests=False)."""
    runs = evaluated_runs() if runs is None else runs
    if not runs:
        return None
    by_id = run_keys(runs)
    ids = list(by_id)
    wanted = st.query_params.get(key)
    if wanted not in ids:
        wanted = default_run(by_id, default_recipe, skip_smoke_tests)
    chosen = st.selectbox(label, ids, index=ids.index(wanted), format_func=lambda i: run_title(by_id[i]),
                          key=f"select_{key}")
    st.query_params[key] = chosen
    return by_id[chosen]


def select_runs(label: str = "Runs", key: str = "runs", default=None, runs: list[Run] | None = None) -> list[Run]:
    """A multi-run picker whose choice lives in the query parameter `key` (comma-separated ids);
    it offers `runs` (every evaluated run by default)."""
    if runs is None:
        runs = evaluated_runs()
    if not runs:
        return []
    by_id = run_keys(runs)
    ids = list(by_id)
    wanted = [i for i in dict.fromkeys(st.query_params.get(key, "").split(",")) if i in by_id]
    if not wanted:
        wanted = [i for i in dict.fromkeys(default or []) if i in by_id] or ids[:4]
    # one widget per set of runs offered: when the offer changes (Compare's data set), a widget kept
    # from the old offer would hold runs that are no longer options and show none; a new one starts
    # from the URL's runs that are offered, else the default
    offer = hashlib.sha1(",".join(ids).encode()).hexdigest()[:10]
    chosen = st.multiselect(label, ids, default=wanted, format_func=lambda i: run_title(by_id[i]),
                            key=f"select_{key}_{offer}")
    st.query_params[key] = ",".join(chosen)
    return [by_id[i] for i in chosen]


def select_evaluated_run() -> Run:
    """The analysis pages' run picker (select_run); with no evaluated run, their empty state and
    the end of the page."""
    run = select_run()
    if run is None:
        no_evaluated_runs()
        st.stop()
    return run
