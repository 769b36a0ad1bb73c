"""Guided lessons through the lab: the app's Lessons page and the notebooks under notebooks/lessons/
render the same `Lesson` objects (text, live figures, computed answers), so each lesson has one source.

    from asdcore import lessons
    context = lessons.Context()            # the bundled runs and the default data set
    lesson = lessons.get(3)
    lesson.answer(context).text            # the question's answer, computed now
    lessons.show(3)                        # in a notebook: the whole lesson, figures interactive
"""
from __future__ import annotations

from .base import Answer, Context, Lesson, Link, RunButton, missing_runs, wilson_interval
from .basics import DETECTOR, MARGIN, TASK
from .methods import FAILURES, MIXUP
from .practice import ALARM, OWN, SHIFT

LESSONS: list[Lesson] = [TASK, DETECTOR, MARGIN, MIXUP, FAILURES, SHIFT, ALARM, OWN]

APP_URL = "http://localhost:8501"  # `make run`'s address: where a notebook's links point


def get(number: int) -> Lesson:
    for lesson in LESSONS:
        if lesson.number == number:
            return lesson
    raise KeyError(f"no lesson {number}: the lessons are 1-{len(LESSONS)}")


def try_it_markdown(lesson: Lesson, context: Context, app_url: str | None = None) -> str:
    """The "try it" steps as markdown: links to the app (absolute when app_url is given, as in a
    notebook), and each run button as the command that queues the same run."""
    from ..jobs.launcher import cli_command

    lines = []
    for step in lesson.links(context):
        if isinstance(step, Link):
            url = step.url if app_url is None else f"{app_url.rstrip('/')}/{step.url.removeprefix('./')}"
            lines.append(f"- [{step.text}]({url})")
        else:
            command = cli_command(step.recipe, step.preset, [str(context.data_root)], step.overrides)
            lines.append(f"- {step.text} ({step.minutes}): `{command}`")
    return "\n".join(lines)


PARTS = ("intro", "figures", "answer", "try_it", "conclusion")


def show(number: int, context: Context | None = None, part: str | None = None, app_url: str = APP_URL):
    """Display a lesson, or one `part` of it (PARTS), in a notebook: its text, its interactive figures,
    the computed answer, the try-it steps (links to the app at app_url, commands for the runs) and the
    conclusion.  Returns the Answer when the answer is shown (its .values hold the numbers)."""
    from IPython.display import Markdown, display

    context = context or Context()
    lesson = get(number)
    answer = None
    for name in (PARTS if part is None else (part,)):
        if name == "intro":
            display(Markdown(f"# Lesson {lesson.number}: {lesson.title}\n\n**Goal.** {lesson.goal}\n\n"
                             f"**What to look at.** {lesson.look}"))
        elif name == "figures":
            for figure in lesson.figures(context):
                display(figure)
        elif name == "answer":
            answer = lesson.answer(context)
            display(Markdown(f"**Question.** {lesson.question}\n\n**Answer (computed from the runs now).** "
                             f"{answer.text}"))
        elif name == "try_it":
            steps = try_it_markdown(lesson, context, app_url)
            if steps:
                display(Markdown(f"**Try it** (with `make run` serving the app at {app_url}):\n\n{steps}"))
        elif name == "conclusion":
            display(Markdown(f"**What to conclude.** {lesson.conclude(context, answer or lesson.answer(context))}"))
        else:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, got {name!r}")
    return answer


__all__ = ["LESSONS", "Lesson", "Answer", "Context", "Link", "RunButton", "get", "show", "PARTS", "try_it_markdown",
           "missing_runs", "wilson_interval"]
