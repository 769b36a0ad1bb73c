"""Write notebooks/lessons/NN-<slug>.ipynb, one per lesson of asdcore.lessons.

The notebooks hold no lesson text of their own: each cell calls asdcore.lessons, the same objects
the app's Lessons page renders, so a lesson has one source.  Run this after adding or renaming a
lesson; tests/test_lessons.py checks the notebooks are what it writes, and executes them.

    python scripts/make_lesson_notebooks.py [--out notebooks/lessons]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from asdcore import lessons  # noqa: E402

SETUP = """\
# Lesson {number} of the lab's guided path: the same lesson as the app's Lessons page (`make run`, then
# Lessons, ?lesson={number}). Its text, figures and answer come from asdcore.lessons; edit a cell below to explore.
from asdcore import lessons

context = lessons.Context()  # the bundled runs (checkpoints/) and the data set they were evaluated on
lesson = lessons.get({number})
lessons.show({number}, context, "intro")"""


def notebook(lesson: lessons.Lesson) -> nbformat.NotebookNode:
    n = lesson.number
    cells = [
        nbformat.v4.new_code_cell(SETUP.format(number=n)),
        nbformat.v4.new_code_cell(f"# the figures, drawn live from the runs (interactive: hover, zoom, click the legend)\n"
                                  f"lessons.show({n}, context, \"figures\")"),
        nbformat.v4.new_code_cell(f"# the question and its answer, computed now; answer.values holds the numbers\n"
                                  f"answer = lessons.show({n}, context, \"answer\")\nanswer.values"),
        nbformat.v4.new_code_cell(f"lessons.show({n}, context, \"try_it\")\nlessons.show({n}, context, \"conclusion\")"),
    ]
    for i, cell in enumerate(cells):
        cell["id"] = f"lesson-{n:02d}-{i}"  # fixed ids (nbformat draws random ones): the same text on every run
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def expected() -> dict[str, str]:
    """file name -> the notebook's JSON text, without outputs."""
    return {f"{lesson.name}.ipynb": nbformat.writes(notebook(lesson)) + "\n" for lesson in lessons.LESSONS}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(PROJECT_ROOT / "notebooks" / "lessons"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = expected()
    for name, text in wanted.items():
        (out / name).write_text(text)
    for stale in sorted(set(p.name for p in out.glob("*.ipynb")) - set(wanted)):
        print(f"not a lesson any more (left in place, delete it if it is not yours): {out / stale}")
    print(f"wrote {len(wanted)} notebooks to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
