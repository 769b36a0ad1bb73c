"""Lessons: a guided path through the lab, one lesson at a time (?lesson=N in the URL).

Every lesson is an asdcore.lessons.Lesson: its text, figures (asdcore.plots, drawn live from the
bundled runs), computed answer and conclusion come from there, and the notebooks under
notebooks/lessons/ render the same objects.  This page only lays them out, and turns each "try it"
step into a link to another page (its URL state set) or a button that queues a run.
"""
import html

import streamlit as st

from asdcore import lessons
from asdcore.jobs import launcher
from asdcore.paths import bundled_runs_root, default_data_root, runs_root
from app_pages.shared.url_state import query_int

CHART = {"displaylogo": False}
NUMBERS = [lesson.number for lesson in lessons.LESSONS]


@st.cache_resource(show_spinner=False, max_entries=4)
def context(bundled: str, user_data_root: str) -> lessons.Context:
    """One Context per server (the bundled runs are read-only): a lesson's tables are computed once."""
    return lessons.Context(bundled, user_data_root=user_data_root)


def title(number: int) -> str:
    return f"{number}. {lessons.get(number).title}"


def link(text: str, url: str) -> str:
    """An in-app link that opens in this tab (a markdown link opens a new one): the target page reads
    its state from the URL, so nothing is lost by the page load."""
    return f'<a href="{html.escape(url)}" target="_self">{html.escape(text)}</a>'


def show_step(step, ctx: lessons.Context, key: str) -> None:
    if isinstance(step, lessons.Link):
        st.markdown(f"- {link(step.text, step.url)}", unsafe_allow_html=True)
        return
    # a RunButton: queue the run on the default data set, then point at its live view on Train
    command = launcher.cli_command(step.recipe, step.preset, [str(ctx.data_root)], step.overrides)
    if st.button(f"{step.text} ({step.minutes})", key=key, help=f"queues `{command}`"):
        try:
            run_dir = launcher.start_training(step.recipe, step.preset, [ctx.data_root], step.overrides,
                                              runs_dir=runs_root())
        except launcher.LaunchError as exc:
            st.error(f"Not started: {exc}")
        else:
            st.session_state[f"{key}-started"] = run_dir.name
    started = st.session_state.get(f"{key}-started")
    if started:
        st.success(f"Queued `{started}`: it trains in the background, one run at a time.")
        st.markdown(f"{link('Watch it train', f'train?run={started}')}; when it has finished, put it beside the "
                    f"bundled runs on {link('Compare', 'compare')} and {link('Angles', 'angles')}.",
                    unsafe_allow_html=True)


def show_lesson(lesson: lessons.Lesson, ctx: lessons.Context) -> None:
    st.header(f"Lesson {lesson.number}: {lesson.title}")
    st.markdown(f"**Goal.** {lesson.goal}")
    missing = lessons.missing_runs(lesson, ctx)
    if missing:
        st.error(f"This lesson reads the bundled run(s) {', '.join(missing)}, which are missing under "
                 f"`{ctx.bundled}`. Restore them with `git checkout -- checkpoints/`.")
        return
    st.markdown(f"**What to look at.** {lesson.look}")
    with st.spinner("Drawing the figures from the runs ..."):
        figures = lesson.figures(ctx)
    for i, figure in enumerate(figures):
        st.plotly_chart(figure, config=CHART, key=f"lesson-{lesson.number}-figure-{i}")
    st.markdown(f"**Question.** {lesson.question}")
    answer = lesson.answer(ctx)
    with st.container(border=True):
        st.markdown("**Answer**, computed from the runs just now:")
        st.markdown(answer.text)
    steps = lesson.links(ctx)
    if steps:
        st.markdown("**Try it.**")
        for i, step in enumerate(steps):
            show_step(step, ctx, key=f"lesson-{lesson.number}-try-{i}")
    st.markdown(f"**What to conclude.** {lesson.conclude(ctx, answer)}")
    st.caption(f"The same lesson as a notebook: `notebooks/lessons/{lesson.name}.ipynb` "
               "(`make lab` opens JupyterLab).")


st.title("Lessons")
st.markdown(
    "A path through the lab in eight short lessons. Each has a goal, figures drawn from the bundled runs, one "
    "question whose answer is computed when the lesson opens, a step to try on another page, and what to "
    "conclude, with how sure we can be. Start with 1-3 (about 15 minutes); the intervals are 95 % intervals "
    "throughout.")

# the choice starts from ?lesson= (a link from another lesson or Home) and then follows the picker
if st.session_state.get("url_lesson") not in NUMBERS:
    wanted = query_int("lesson", NUMBERS[0])
    st.session_state["url_lesson"] = wanted if wanted in NUMBERS else NUMBERS[0]
number = st.selectbox("Lesson", NUMBERS, format_func=title, key="url_lesson")
st.query_params["lesson"] = str(number)
ctx = context(str(bundled_runs_root()), str(default_data_root()))
try:
    show_lesson(lessons.get(number), ctx)
except FileNotFoundError as exc:  # the default data set or a run's files are missing: say which
    st.error(str(exc))

previous, following = st.columns(2)
i = NUMBERS.index(number)
if i > 0:
    previous.markdown(link(f"← {title(NUMBERS[i - 1])}", f"lessons?lesson={NUMBERS[i - 1]}"), unsafe_allow_html=True)
if i + 1 < len(NUMBERS):
    following.markdown(link(f"{title(NUMBERS[i + 1])} →", f"lessons?lesson={NUMBERS[i + 1]}"), unsafe_allow_html=True)
