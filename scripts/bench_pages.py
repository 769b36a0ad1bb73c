"""How long each app page takes to render in a real browser, as a newcomer meets them.

    .venv/bin/python scripts/bench_pages.py [--rounds 3] [--data data/toy] [--runs DIR]

Each round starts a fresh server as `make run` does (the bundled runs, the given data set) and
one Chromium session, then times (browser_driver.py: visit_every_page):
  fresh   Home, the first page the fresh server shows;
  sidebar every other page opened from the sidebar, in the sidebar's order, straight after
          Home, then Home again (each page's first render in that session);
  link    every page opened again from its URL (a shared link: a full page load).
A render ends when the server has sent the run's `script_finished` message, the page shows no
run going on and every plotly chart has drawn (browser_driver.py: wait_for_app).  Prints each
round and, per page, the median and the worst.
Needs Chromium (/usr/bin/chromium or ASD_CHROMIUM) and the Playwright package.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from browser_driver import chromium_page, streamlit_server, visit_every_page  # scripts/, beside this file

ROOT = Path(__file__).resolve().parent.parent

def one_round(env: dict) -> dict:
    with streamlit_server(env) as url, chromium_page() as page:
        return visit_every_page(page, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", default=str(ROOT / "data" / "toy"), help="the default data set (ASD_DATA)")
    parser.add_argument("--runs", default=None, help="the user's runs folder (ASD_RUNS); default: an empty one")
    args = parser.parse_args()
    env = {"ASD_DATA": args.data, "ASD_RUNS": args.runs or tempfile.mkdtemp(prefix="bench-runs-")}
    rounds = []
    for i in range(args.rounds):
        rounds.append(one_round(env))
        print(f"round {i + 1}: {json.dumps(rounds[-1])}", flush=True)
    print(f"\nseconds per page over {len(rounds)} fresh servers (median / worst):")
    for kind in ("fresh", "sidebar", "link"):
        cells = []
        for page in rounds[0][kind]:
            values = [r[kind][page] for r in rounds]
            cells.append(f"{page} {statistics.median(values):.2f} / {max(values):.2f}")
        print(f"  {kind:8s} " + ", ".join(cells))


if __name__ == "__main__":
    main()
