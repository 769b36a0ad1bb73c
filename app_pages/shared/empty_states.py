"""What a page says when it has nothing to show (no evaluated run, a clip's audio missing):
why, and what to do next."""
from __future__ import annotations

import streamlit as st

from asdcore.runs import Run, list_runs


def no_runs_yet() -> None:
    st.info("No evaluated runs yet. Start one on the **Train** page, or run "
            "`python -m asdcore train --recipe tastgram-noisy-arcmix --preset quick`; the bundled runs "
            "under `checkpoints/` appear here once `make checkpoints` has made them.")


def no_evaluated_runs() -> None:
    """The empty state of the analysis pages: what to do, and why existing runs are not listed."""
    no_runs_yet()
    for run in list_runs():
        if not run.has_eval:
            why = run.status.get("error") or run.status.get("message") or "not evaluated"
            st.caption(f"`{run.id}` is not listed: {run.state} ({why}). "
                       + ("Evaluate it with `python -m asdcore evaluate " + str(run.path) + "`."
                          if run.state == "finished" else "See the **Train** page."))


def missing_audio(run: Run, row) -> None:
    try:
        path = run.clip_path(row)
    except ValueError as exc:  # a path that leaves the data root (asdcore.runs.Run.clip_path)
        st.error(str(exc))
        return
    st.warning(f"The audio of this clip is not at `{path}`, so there is no spectrogram to draw. "
               "The run was evaluated on a data set that is not on this machine: run `make data` to make "
               "the default toy data set (the bundled runs use it; `make data-shift` makes the domain-shift "
               "set the bundled shift-* runs use), or make / copy the data set this run "
               f"names in its config.json (`{', '.join(map(str, run.data_roots()))}`).")
