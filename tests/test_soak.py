"""Runs from the Train page in a real browser, over a server's lifetime: a run keeps training when the
app restarts and the new server shows it running, then finished; and a soak of 20 runs queued back
to back all finish while the server's memory stays flat (its resident memory is measured after each
run, printed, and written to test-artifacts/soak_memory.json).

The memory check is a leak check, not a speed target: the server holds no state per run (every run
is its own process and folder), so 20 runs must not cost it more than a generous bound.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from browser import (PROJECT_ROOT, SERVER_PIDS, chromium_page, finished_runs, goto, require_browser, rss_mb,
                     streamlit_server, wait_for_app)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.long]  # minutes each: `make test-all` only

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
SOAK_RUNS = 20
GROWTH_LIMIT_MB = 150  # the server's growth from the 5th finished run to the 20th (a leak check)


def states(runs: Path) -> dict[str, str]:
    out = {}
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()):
        try:
            out[folder.name] = json.loads((folder / "status.json").read_text()).get("state")
        except (OSError, json.JSONDecodeError):  # being written: read next time
            out[folder.name] = "?"
    return out


def set_epochs(page, epochs: int) -> None:
    """The Train page's epochs box (the tiny preset's other settings stay)."""
    box = page.get_by_label("epochs", exact=True)
    since = finished_runs(page)
    box.fill(str(epochs))
    box.press("Enter")
    wait_for_app(page, since)


def start_run(page, runs: Path) -> Path:
    before = {p.name for p in runs.iterdir()}
    since = finished_runs(page)
    page.get_by_role("button", name="Start training").click()
    wait_for_app(page, since)
    new = [p for p in runs.iterdir() if p.name not in before]
    assert len(new) == 1, f"the Train page made {len(new)} run folders for one click"
    return new[0]


def body_text(page) -> str:
    return page.inner_text('[data-testid="stMain"]')


@pytest.fixture
def env(tiny_toy_root, tmp_path):
    require_browser()
    runs = tmp_path / "runs"
    runs.mkdir()
    return {"ASD_RUNS": str(runs), "ASD_DATA": str(tiny_toy_root), "OMP_NUM_THREADS": "1"}, runs


def test_a_run_keeps_training_across_an_app_restart_and_shows_finished_later(env):
    environment, runs = env
    with streamlit_server(environment) as url, chromium_page() as page:
        goto(page, f"{url}/train")
        set_epochs(page, 15)  # long enough to outlive the restart (a tiny epoch: a few seconds)
        run = start_run(page, runs)
        deadline = time.time() + 120
        while time.time() < deadline and states(runs)[run.name] != "running":
            time.sleep(0.2)
    # the first server has stopped; the run is its own process in its own session
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "running", status
    with streamlit_server(environment) as url, chromium_page() as page:
        goto(page, f"{url}/train?run={run.name}")
        text = body_text(page)
        assert run.name in text and "running" in text, text[:2000]
        # the live view refreshes by itself until the run ends
        page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"]').innerText"
                               ".includes('Finished and evaluated')", timeout=600_000)
    assert states(runs)[run.name] == "finished"


def test_soak_twenty_runs_queued_from_the_train_page_finish_and_the_server_does_not_grow(env):
    environment, runs = env
    ARTIFACTS.mkdir(exist_ok=True)
    with streamlit_server(environment) as url, chromium_page() as page:
        pid = SERVER_PIDS[url]
        goto(page, f"{url}/train")
        set_epochs(page, 1)
        memory = {"train page open": rss_mb(pid)}
        started = [start_run(page, runs) for _ in range(SOAK_RUNS)]  # queued: one trains at a time
        memory["20 runs queued"] = rss_mb(pid)
        finished_at: list[float] = []
        deadline = time.time() + 60 * 40
        while time.time() < deadline:
            now = states(runs)
            done = [name for name, state in now.items() if state in ("finished", "failed", "cancelled")]
            while len(finished_at) < len(done):  # the server's memory as each run ends
                finished_at.append(rss_mb(pid))
            if len(done) == SOAK_RUNS:
                break
            time.sleep(1)
        memory.update({f"run {i + 1} finished": mb for i, mb in enumerate(finished_at)})
        goto(page, f"{url}/train")  # a fresh render over the 20 finished runs
        memory["after a render of 20 runs"] = rss_mb(pid)
    assert states(runs) == {p.name: "finished" for p in started}, states(runs)
    growth = finished_at[-1] - finished_at[4]
    (ARTIFACTS / "soak_memory.json").write_text(json.dumps({"rss_mb": memory, "growth_5_to_20_mb": growth}, indent=2))
    print("\nserver resident memory (MB): " + ", ".join(f"{k}: {v:.0f}" for k, v in memory.items())
          + f"; growth from the 5th to the 20th finished run: {growth:+.0f} MB")
    assert growth < GROWTH_LIMIT_MB, memory
