"""scripts/bench_load.py's logic (issue 28's load benchmark): the percentiles it reports, when it
calls a page's render finished and what it counts as an error, its summary rows and its
--sessions parsing; and, against one real server, that its websocket client gets finished renders of
the real pages and sees an unknown page as an error.  No timings are asserted: the figures are the
benchmark's, not the tests'.
"""
from __future__ import annotations

import argparse
import asyncio

import bench_load
import pytest
from browser_driver import streamlit_server
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from apptest import PROJECT_ROOT


# --- percentiles ---------------------------------------------------------------------------------

def test_nearest_rank_percentiles_are_measured_values():
    values = list(range(20, 0, -1))  # 20 .. 1, unsorted on purpose
    assert bench_load.percentile(values, 50) == 10
    assert bench_load.percentile(values, 95) == 19  # 95 % of 20 values: the 19th smallest
    assert bench_load.percentile(values, 100) == 20
    assert bench_load.percentile([3.5], 95) == 3.5
    assert bench_load.percentile([1.0, 9.0], 50) == 1.0  # a measured value, not an interpolated 5.0
    assert bench_load.percentile([], 95) is None


def test_a_percentile_outside_0_to_100_is_refused():
    with pytest.raises(ValueError, match="must be in"):
        bench_load.percentile([1, 2], 0)


# --- a finished render, and the errors -----------------------------------------------------------

def _finished(status) -> ForwardMsg:
    msg = ForwardMsg()
    msg.script_finished = status
    return msg


def _element(kind: str, **fields) -> ForwardMsg:
    msg = ForwardMsg()
    element = getattr(msg.delta.new_element, kind)
    for name, value in fields.items():
        setattr(element, name, value)
    return msg


def test_a_render_is_finished_only_by_a_full_successful_run():
    watch = bench_load.RenderWatch()
    assert not watch.feed(_element("markdown", body="# Compare"))
    assert not watch.feed(_finished(ForwardMsg.FINISHED_EARLY_FOR_RERUN))  # st.rerun: another run follows
    assert not watch.feed(_finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY))  # a fragment only
    assert not watch.finished
    assert watch.feed(_finished(ForwardMsg.FINISHED_SUCCESSFULLY))
    assert watch.errors == []


def test_exceptions_error_alerts_compile_errors_and_unknown_pages_are_errors():
    watch = bench_load.RenderWatch()
    watch.feed(_element("exception", type="KeyError", message="'auc'"))
    watch.feed(_element("alert", body="run folder damaged", format=Alert.ERROR))
    watch.feed(_element("alert", body="only one run", format=Alert.WARNING))  # a warning is not an error
    watch.feed(_finished(ForwardMsg.FINISHED_SUCCESSFULLY))
    assert watch.errors == ["exception: KeyError: 'auc'", "st.error: run folder damaged"]

    compile_error = bench_load.RenderWatch()
    assert compile_error.feed(_finished(ForwardMsg.FINISHED_WITH_COMPILE_ERROR))
    assert compile_error.errors == ["compile error"]

    not_found = bench_load.RenderWatch("nowhere")
    msg = ForwardMsg()
    msg.page_not_found.SetInParent()  # the server leaves its page_name empty: the asked-for name is said
    assert not_found.feed(msg) and not_found.errors == ["page not found: 'nowhere'"]


# --- the summary rows ----------------------------------------------------------------------------

def test_summary_rows_leave_failed_visits_out_of_the_times_and_count_them():
    visits = [{"page": "Home", "seconds": s, "errors": []} for s in (1.0, 2.0, 3.0)]
    visits += [{"page": "Home", "seconds": 0.1, "errors": ["exception: KeyError"]},  # fast but wrong
               {"page": "Compare", "seconds": None, "errors": ["no finished render in 60 s"]}]
    samples = [{"rss_mb": 300.0, "cpu_percent": 50.0}, {"rss_mb": 420.4, "cpu_percent": 150.0}]
    rows = {r["page"]: r for r in bench_load.summarise("N=5", visits, samples)}
    assert [r["page"] for r in bench_load.summarise("N=5", visits, samples)] == ["Home", "Compare", "Angles",
                                                                                 "Embeddings"]
    home = rows["Home"]
    assert (home["visits"], home["p50_s"], home["p95_s"], home["max_s"], home["errors"]) == (4, 2.0, 3.0, 3.0, 1)
    assert (home["server_peak_rss_mb"], home["server_mean_cpu_percent"]) == (420, 100)
    compare = rows["Compare"]
    assert (compare["p50_s"], compare["p95_s"], compare["errors"]) == (None, None, 1)
    table = bench_load.format_table(list(rows.values()))
    assert "Compare" in table.splitlines()[2] and " - " in table.splitlines()[2]  # no time: a dash


def test_sessions_are_parsed_and_bad_counts_named():
    assert bench_load.parse_sessions("1,10,30") == [1, 10, 30]
    for bad in ("", "0,10", "ten"):
        with pytest.raises(argparse.ArgumentTypeError, match="--sessions"):
            bench_load.parse_sessions(bad)


# --- against a real server -----------------------------------------------------------------------

@pytest.mark.slow
def test_the_websocket_client_gets_real_renders_and_sees_an_unknown_page(tiny_toy_root, tmp_path):
    env = {"ASD_DATA": str(tiny_toy_root), "ASD_RUNS": str(tmp_path / "runs"),
           "ASD_BUNDLED": str(PROJECT_ROOT / "checkpoints")}
    with streamlit_server(env) as url:
        async def visit(pages):
            start = asyncio.Event()
            start.set()
            return await bench_load.session(url, 120, start, pages)

        visits = asyncio.run(visit(bench_load.PAGES))
        assert [v["page"] for v in visits] == ["Home", "Compare", "Angles", "Embeddings"]
        assert all(v["errors"] == [] and v["seconds"] is not None for v in visits), visits
        unknown = asyncio.run(visit([("no-such-page", "Nowhere")]))
        assert unknown[0]["errors"] and "no-such-page" in unknown[0]["errors"][0], unknown
