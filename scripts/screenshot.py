"""The README's picture of the app: the Angles page (Fig. 1 of the Noisy-ArcMix paper) on the bundled
runs, as a newcomer first sees it after `make run`.

    make screenshot          (or: .venv/bin/python scripts/screenshot.py [--page angles] [--out PATH])

Serves the app as `make run` does (browser_driver.py: scripts/serve.py on a free port, the default data
set, an empty runs folder so only the bundled runs show), opens the page in Debian's Chromium, waits
until its script run has finished and every chart has drawn, and saves the viewport as a PNG.  The PNG
is reduced to a 256-colour palette (the page is flat colours and text, so it looks the same) to stay
under --max-kb; the script fails, writing nothing, when it cannot.
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

from PIL import Image

from browser_driver import chromium_page, goto, streamlit_server  # scripts/, beside this file

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "images" / "angles.png"


def shrink(png: bytes) -> bytes:
    """The same picture as a 256-colour palette PNG (the app's flat colours survive it unchanged)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, "PNG", optimize=True)
    return out.getvalue()


def capture(page_path: str, width: int, height: int) -> bytes:
    env = {"ASD_DATA": str(ROOT / "data" / "toy"), "ASD_RUNS": tempfile.mkdtemp(prefix="screenshot-runs-")}
    with streamlit_server(env) as url, chromium_page(viewport=(width, height)) as page:
        goto(page, f"{url}/{page_path}", timeout_ms=120_000)
        page.wait_for_timeout(500)  # the plotly charts' own fade-in
        return page.screenshot(full_page=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--page", default="angles", help="the page's URL path (default: angles)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--max-kb", type=int, default=300, help="refuse a PNG larger than this (KB)")
    args = parser.parse_args()
    if not (ROOT / "data" / "toy").is_dir():
        sys.exit("error: data/toy is missing: run `make data` first (the bundled runs' clips live there)")
    png = shrink(capture(args.page, args.width, args.height))
    kb = len(png) / 1024
    if kb > args.max_kb:
        sys.exit(f"error: the screenshot is {kb:.0f} KB, over --max-kb {args.max_kb}: nothing written")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(png)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} "
          f"({args.width}x{args.height}, {kb:.0f} KB)")


if __name__ == "__main__":
    main()
