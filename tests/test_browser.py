"""Real-browser end-to-end tests: Debian's Chromium, driven by Playwright, against `streamlit run`.

Every page renders with no error element (first-render times are printed and written to
test-artifacts/render_times.json: a figure to report, not a timed assertion); a training run
started from the Train page reaches "finished" and appears in Compare, while the analysis pages still
open on the bundled runs; a click on an embedding
point opens that clip.
"""
from __future__ import annotations

import json
import re
import time

import pytest

from browser import (PROJECT_ROOT, chromium_page, finished_runs, goto, require_browser, streamlit_server,
                     visit_every_page, wait_for_app)

pytestmark = pytest.mark.browser  # `pytest -m 'not browser'` leaves these out

ARTIFACTS = PROJECT_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def server(tiny_toy_root, tmp_path_factory):
    """The app over the bundled runs (checkpoints/) and the user's runs in a fresh folder; the
    default data set is the tiny toy set (the bundled runs' clips resolve under data/toy when
    `make data` has run)."""
    require_browser()
    runs = tmp_path_factory.mktemp("browser-runs")
    with streamlit_server({"ASD_RUNS": str(runs), "ASD_DATA": str(tiny_toy_root)}) as url:
        yield url, runs


def _no_errors(page) -> list[str]:
    """Exceptions shown on the page, and Streamlit's "Page not found" dialog (a bad URL)."""
    errors = [e.inner_text()[:500] for e in page.query_selector_all('[data-testid="stException"]')]
    errors += [d.inner_text()[:200] for d in page.query_selector_all('[role="dialog"]')
               if "not found" in d.inner_text()]
    return errors


def test_every_page_renders_without_errors(server):
    """A newcomer's visit (browser.visit_every_page): Home on a fresh server, each page from the
    sidebar, each page from a shared link; every page shows no error and is the page asked for.
    The seconds go to test-artifacts/render_times.json: figures to report, not an assertion."""
    url, _ = server
    ARTIFACTS.mkdir(exist_ok=True)

    def check(page, how: str, path: str, title: str) -> None:
        assert page.url.split("?")[0].rstrip("/") == f"{url}/{path}".rstrip("/"), page.url
        assert _no_errors(page) == [], f"{title} ({how}): {_no_errors(page)}"
        assert page.query_selector('[data-testid="stMain"] [data-testid="stElementContainer"]') is not None
        if how == "link":
            page.screenshot(path=str(ARTIFACTS / f"page-{path or 'home'}.png"), full_page=True)

    with chromium_page() as page:
        times = visit_every_page(page, url, check)
    (ARTIFACTS / "render_times.json").write_text(json.dumps(times, indent=2))
    print("\nfirst render per page (s):", json.dumps(times))


def test_a_run_started_from_the_train_page_finishes_and_appears_in_compare(server):
    url, runs = server
    with chromium_page() as page:
        goto(page, f"{url}/train")
        tiny = page.get_by_role("radio", name="tiny")  # the preset that trains in seconds
        if not tiny.is_checked():
            since = finished_runs(page)
            page.get_by_text("tiny", exact=True).first.click()
            wait_for_app(page, since)
        assert tiny.is_checked()
        page.get_by_role("button", name="Start training").click()
        deadline = time.time() + 120
        while time.time() < deadline and not any(p.is_dir() for p in runs.iterdir()):
            time.sleep(0.2)
        run_dirs = [p for p in runs.iterdir() if p.is_dir()]
        assert len(run_dirs) == 1, "the Train page did not create a run folder"
        run_dir = run_dirs[0]
        deadline = time.time() + 900  # a tiny run: 2 epochs on 96 clips, then its evaluation
        state = None
        while time.time() < deadline:
            state = json.loads((run_dir / "status.json").read_text()).get("state")
            if state in ("finished", "failed", "cancelled"):
                break
            time.sleep(1)
        logs = [f"{p.name}:\n{p.read_text()[-3000:]}" for p in (run_dir / "train.log", run_dir / "stdout.log")
                if p.exists()]
        assert state == "finished", f"state {state}\n" + "\n".join(logs)
        # the live view shows it finished (the timed fragment refreshes every few seconds)
        page.wait_for_function("() => document.body.innerText.includes('finished')", timeout=90_000)
        goto(page, f"{url}/compare?runs={run_dir.name}")
        # the results table lists the new run under its method's name
        page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"]').innerText"
                               ".includes('TASTgram-MFN (Noisy-ArcMix)')", timeout=60_000)
        assert _no_errors(page) == []
        page.screenshot(path=str(ARTIFACTS / "compare-after-training.png"), full_page=True)
        # the smoke test changes no analysis page's default: each still opens on a bundled run
        for path in ("attention", "embeddings", "false-alarms"):
            goto(page, f"{url}/{path}")
            shown = page.get_by_role("combobox", name="Run").input_value()
            assert "bundled" in shown and run_dir.name not in shown, (path, shown)
        goto(page, f"{url}/angles")
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert "smoke test" not in main and run_dir.name not in main
        assert "TASTgram-MFN (Noisy-ArcMix)" in main


def test_clicking_an_embedding_point_opens_that_clip(server):
    url, _ = server
    with chromium_page() as page:
        # one machine type: few enough points for an SVG map (past plots.embedding.WEBGL_ABOVE points the
        # bundled run, the page's default, is drawn on a WebGL canvas with no point elements to click)
        goto(page, f"{url}/embeddings?type=fan")
        assert "clip=" not in page.url
        # the test clips' traces come after the grey training normals: click one of their points
        points = page.locator(".js-plotly-plot .scatterlayer .trace").last.locator("path.point")
        since = finished_runs(page)
        points.first.click(force=True)
        page.wait_for_function("() => window.location.search.includes('clip=')", timeout=30_000)
        clip = int(page.url.split("clip=")[1].split("&")[0])
        # the rerun that follows the click opens the clip: "Clip #N" with its audio and neighbours
        page.wait_for_function(f"() => document.querySelector('[data-testid=\"stMain\"]').innerText"
                               f".includes('#{clip}')", timeout=30_000)
        wait_for_app(page, since)
        # the clip's audio player (and its neighbours'): WAV bytes the page serves
        page.wait_for_selector("audio", state="attached", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "embeddings-clicked.png"), full_page=True)
        assert _no_errors(page) == []
        page.screenshot(path=str(ARTIFACTS / "embeddings-clicked.png"), full_page=True)


def test_every_lesson_renders_in_chromium_and_its_next_link_opens_the_next(server):
    """Each lesson from its shared link (?lesson=N): no error element, its header, its figures drawn;
    the first lesson's "next" link opens lesson 2.  Render times go to test-artifacts/lesson_times.json."""
    url, _ = server
    ARTIFACTS.mkdir(exist_ok=True)
    times = {}
    with chromium_page() as page:
        for number in range(1, 9):
            start = time.perf_counter()
            goto(page, f"{url}/lessons?lesson={number}")
            times[number] = round(time.perf_counter() - start, 2)
            main = page.locator('[data-testid="stMain"]')
            assert f"Lesson {number}:" in main.inner_text()
            assert _no_errors(page) == [], f"lesson {number}: {_no_errors(page)}"
            assert page.locator('[data-testid="stPlotlyChart"] .main-svg').count() > 0
            if number in (3, 7):
                page.screenshot(path=str(ARTIFACTS / f"lesson-{number}.png"), full_page=True)
        goto(page, f"{url}/lessons?lesson=1")
        since = finished_runs(page)
        page.get_by_role("link", name=re.compile("^2\\. ")).click()
        wait_for_app(page, since)
        page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"]').innerText"
                               ".includes('Lesson 2:')", timeout=30_000)
    (ARTIFACTS / "lesson_times.json").write_text(json.dumps(times, indent=2))
    print("\nlesson render from its link (s):", json.dumps(times))


def test_false_alarms_clip_picker_follows_the_run_and_a_row_click_opens_its_clip(server):
    """Switching the run keeps the clip picker true to the run shown (it once kept the old run's
    "score 40.7" over the new run's 32.87), and a click on a row of the list opens that clip."""
    url, _ = server

    def picker(page) -> str:
        return page.get_by_role("combobox", name="Open a clip").input_value()

    def body_score(page) -> float:
        caption = page.locator("text=against the threshold").first.inner_text()
        return float(re.match(r"score (\S+) against", caption)[1])

    def picker_score(page) -> float:
        return float(re.search(r"· score (\S+) ·", picker(page))[1])

    with chromium_page() as page:
        goto(page, f"{url}/false-alarms?run=tastgram-arcface")
        first = picker(page)
        assert picker_score(page) == pytest.approx(body_score(page), rel=0.01)
        since = finished_runs(page)
        page.get_by_role("combobox", name="Run").click()
        page.get_by_role("option", name=re.compile(r"— tastgram-noisy-arcmix ·")).click()
        wait_for_app(page, since)
        assert "run=tastgram-noisy-arcmix" in page.url
        # the picker and the body name the same clip with the same (new) score
        clip = int(page.url.split("clip=")[1].split("&")[0])
        assert picker(page).startswith(f"#{clip} ")
        assert picker_score(page) == pytest.approx(body_score(page), rel=0.01), (first, picker(page))
        # a click on the third row's selection box opens that row's clip (rows are 35 px high)
        grid = page.locator('[data-testid="stDataFrame"]').last
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        since = finished_runs(page)
        page.mouse.click(box["x"] + 10, box["y"] + 35 * 3 + 17)
        wait_for_app(page, since)
        opened = int(page.url.split("clip=")[1].split("&")[0])
        assert opened != clip and picker(page).startswith(f"#{opened} ")
        assert picker_score(page) == pytest.approx(body_score(page), rel=0.01)
        assert _no_errors(page) == []


def test_an_uploaded_clip_is_scored_as_the_score_command_scores_it(server, default_toy_root):
    """The Score page's upload view in Chromium (st.file_uploader fed a real file) against
    `asdcore score --json` on the same WAV: one score, decision and diagnosis."""
    import subprocess
    import sys

    url, _ = server
    wav = default_toy_root / "fan" / "test" / "anomaly_id_00_00000006.wav"  # a detected fault
    cli = subprocess.run([sys.executable, "-m", "asdcore", "score", "tastgram-noisy-arcmix", str(wav), "--json",
                          "--quiet"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    want = json.loads(cli.stdout)[0]
    with chromium_page() as page:
        goto(page, f"{url}/score?run=tastgram-noisy-arcmix&source=upload&type=fan&id=id_00")
        since = finished_runs(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(wav))
        page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"]').innerText"
                               ".includes('Diagnosis:')", timeout=180_000)
        wait_for_app(page, since, timeout_ms=180_000)
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert f"Diagnosis: {want['diagnosis']}" in main, main[:2000]
        caption = page.locator("text=against the threshold").first.inner_text()
        got = float(re.match(r"score (\S+) against", caption)[1])
        assert got == pytest.approx(want["score"], rel=1e-3)
        assert f": {want['decision']} ({want['outcome']})" in caption, caption
        # the difference view of what is new in the clip is drawn
        assert "What is new in this clip" in main
        page.screenshot(path=str(ARTIFACTS / "score-upload.png"), full_page=True)
        assert _no_errors(page) == []
