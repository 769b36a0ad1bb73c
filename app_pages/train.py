"""Train: start a run in the background, watch it live, cancel or resume it.

Every run is its own process (asdcore.jobs.launcher), so it keeps going when the browser reloads or
the app restarts; this page only reads the run folders.  The selected run lives in the URL
(?run=<id>).  One training runs at a time per runs folder; later ones wait their turn.
"""
import math
from urllib.parse import quote
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from asdcore.data.mimii import describe_split
from asdcore import shared_mode
from asdcore.jobs import launcher
from asdcore import compare, plots
from asdcore.paths import default_data_root, runs_root
from asdcore.recipes import PRESETS, RECIPES, describe_preset, resolve
from asdcore.runs import ACTIVE_STATES, Run, list_runs, queue_position, run_summary
from app_pages.shared.data_folders import data_check
from app_pages.shared.url_state import select_run

REFRESH_SECONDS = 2.0
STATE_COLOURS = {"queued": "gray", "running": "blue", "finished": "green", "failed": "red", "cancelled": "orange"}


# --- shared mode (asdcore.shared_mode; off unless ASD_SHARED=1) --------------------------------

def session_name() -> str | None:
    """This browser session's name in shared mode (None when off): typed, or session-xxxx.

    Not a password: it only tells the class's runs apart (anyone can type any name)."""
    if not shared_mode.settings().enabled:
        return None
    # kept under a plain key, copied into the widget each run: Streamlit drops a widget's own state
    # when another page is shown, and the session would lose its name (and its runs) on the way back
    if not str(st.session_state.get("shared_owner", "")).strip():
        st.session_state["shared_owner"] = shared_mode.new_session_name()
    st.session_state["_shared_owner_input"] = st.session_state["shared_owner"]
    st.text_input("Your name on this shared server", key="_shared_owner_input", on_change=_keep_name,
                  help="Shown on your runs; only this name may cancel or resume them. Not a password.")
    return st.session_state["shared_owner"]


def _keep_name() -> None:
    typed = st.session_state["_shared_owner_input"].strip()
    if typed:  # an emptied field keeps the old name rather than leaving the session nameless
        st.session_state["shared_owner"] = typed


def _owner() -> str | None:
    # the name without drawing the input again (the live view and the buttons read it)
    return str(st.session_state.get("shared_owner", "")).strip() or None


# --- the data set ------------------------------------------------------------------------------

def choose_data() -> tuple[list[Path] | None, dict]:
    """The data-set folders, checked and their problems shown (None when nothing usable is found),
    and the data check's result."""
    default = default_data_root()
    cfg = shared_mode.settings()
    if cfg.enabled:  # only the allow-list's folders: no free path on a shared server
        allowed = shared_mode.allowed_data_roots(cfg)
        if not allowed:
            st.error("This shared server allows no data folder that exists: ask the teacher (ASD_SHARED_DATA).")
            return None, {}
        roots = [Path(st.selectbox("Data set (this shared server's list)", allowed, format_func=str))]
        source = None
    else:
        source = st.radio("Data", ["The default data set", "Folders on this machine"], horizontal=True,
                          help=f"The default is `{default}` (`make data` makes it; `ASD_DATA` moves it).")
    if source is None:
        pass
    elif source == "The default data set":
        roots = [default]
        if not default.exists():
            st.error(f"No data set at `{default}` yet: run `make data` (the toy factory's default set, "
                     "about a minute on 2 cores), or choose folders on this machine.")
            return None, {}
    else:
        text = st.text_area("Data-set folders, one per line",
                            placeholder="~/dcase2020/dev_data\n~/dcase2020/add_dev_data",
                            help="Each folder holds machine-type folders (fan/train/...), as DCASE ships them. "
                                 "Several folders combine into one data set (dev + additional training data).")
        roots = [Path(line.strip()).expanduser() for line in text.splitlines() if line.strip()]
        if not roots:
            st.info("Type the path of at least one data-set folder.")
            return None, {}
    with st.spinner("Checking the data set ..."):
        check = data_check(roots)  # the default settings first: what the data is (the warm-up's result)
    if check["error"]:
        st.error(f"Cannot use this data: {check['error']}.")
        return None, check
    settings = data_settings(check)
    if settings:  # checked again as the run will read it: another split, another channel
        with st.spinner("Checking the data set ..."):
            check = data_check(roots, settings.get("data.mimii_test_normals"), settings.get("data.channel", 0))
        if check["error"]:
            st.error(f"Cannot use this data: {check['error']}.")
            return None, check
    # a copy: the data check's dict is kept for every session; the run gets these as --set overrides
    check = dict(check, overrides=settings)
    summary = (f"{check['clips']} usable clips, {check['classes']} machine IDs / sections "
               f"({', '.join(check['machine_types']) or 'none'}), {check['train_normals']} training normals, "
               f"{check['labelled_test']} labelled test clips")
    with st.expander(f"Data check: {summary}" + (f"; {len(check['problems'])} problem file(s)" if check["problems"]
                                                   else "")):
        st.code(check["report"], language=None)
    if check["channel_missing"]:
        # a run reading a channel some files lack would stop at the first of them
        missing = check["channel_missing"]
        st.error(f"{len(missing)} file(s) have no channel {settings.get('data.channel', 0)} (e.g. `{missing[0]}`): choose a "
                 "channel every file has, or leave those files out.")
        return None, check
    if check["train_normals"] == 0:
        # the data check's text: the training-file pattern of the layout found (or of every layout
        # read), what to add, and for MIMII the split setting that left nothing to train
        st.error(f"Nothing to train on: {check['no_train_normals']} The data check above lists what was found "
                 "and every problem file.")
        if check.get("labelled_test") or check.get("clips"):
            # test clips without training normals: what a user usually wants is to judge them with a run
            # that is trained already, which the Score page does (a folder per machine type, as here)
            st.info("To judge these clips with a run that is already trained, open **[Score a clip](score?path="
                    f"{quote(str(roots[0]))})** with this folder: each clip gets its score, decision and diagnosis.")
        return None, check
    if check["problems"]:
        st.warning(f"{len(check['problems'])} file(s) cannot be used and will be skipped; the other clips still "
                   "train:\n\n" + file_list(check["problems"]))
    if check.get("warnings"):
        # one line per note, with the files it applies to: 40 eight-channel files are one line, not 40
        st.info(f"{len(check['warnings'])} usable file(s) to look at (they train, read as said):\n\n"
                + note_list(check["note_groups"]))
    if check["mimii_untrained"]:
        # the split sent every normal of these IDs to test: nothing learns them, their test clips are left out
        st.warning(f"Every normal clip of {', '.join(check['mimii_untrained'])} goes to test in the MIMII split, so no "
                   "model learns that machine and its test clips are left out: lower \"MIMII normals tested per "
                   "machine ID\".")
    if check["labelled_test"] == 0:
        st.warning("No labelled test clips: the run will train, but there is nothing to compute AUC on.")
    if check["class_mode"] == "attributes":
        st.caption(f"Classifier recipes: {check['classifier_classes']}. Every machine type has a single section "
                   "here (DCASE 2023), so the attribute values in the file names are the classes; the metrics "
                   "stay per section.")
    return roots, check


def data_settings(check: dict) -> dict:
    """The data settings this data needs chosen, drawn only where they apply, as run overrides that
    differ from the defaults: how MIMII folders are split, and which channel multi-channel files give."""
    settings = {}
    if "mimii" in check["layouts"]:
        # MIMII has no split of its own: say how it is made, and let it be changed (20 normal and 20
        # abnormal clips per machine ID would otherwise leave no normal to train on)
        tested = st.number_input("MIMII normals tested per machine ID", min_value=0, value=None, step=1,
                                 key="mimii-test-normals", placeholder="as many as its abnormal clips",
                                 help="Normal clips per machine ID that go to test (the last ones by name); the "
                                      "other normals train. Empty: as many as its abnormal clips, as DCASE 2020 "
                                      "did (data.mimii_test_normals).")
        st.caption(describe_split(tested))
        if tested is not None:
            settings["data.mimii_test_normals"] = int(tested)
    if check["max_channels"] > 1:
        # the key carries the channel count, so another folder starts again from channel 0
        n = check["max_channels"]
        channel = st.number_input("channel", min_value=0, max_value=n - 1, value=0, step=1, key=f"data-channel-{n}",
                                  help=f"Which channel of the multi-channel files is read (0 to {n - 1}; DCASE 2020 "
                                       "used channel 0 of MIMII's 8): data.channel.")
        if channel:
            settings["data.channel"] = int(channel)
    return settings


def note_list(groups, shown: int = 8) -> str:
    """A markdown list of the data check's grouped notes (asdcore.data.check.NoteGroup): a note of one
    file names it, a note shared by several gives their count and two of them."""
    items = []
    for group in groups[:shown]:
        if len(group.paths) == 1:
            items.append(f"- `{group.paths[0]}`: {group.note}")
        else:
            examples = ", ".join(f"`{p}`" for p in group.paths[:2])
            items.append(f"- {len(group.paths)} files: {group.note} (e.g. {examples})")
    if len(groups) > shown:
        items.append(f"- ... and {len(groups) - shown} more (the data check above lists them all)")
    return "\n".join(items)


def file_list(lines: list[str], shown: int = 8) -> str:
    """A markdown list of "<path>: <why>" lines, the first `shown` of them."""
    items = [f"- `{line.split(': ', 1)[0]}`: {line.split(': ', 1)[1] if ': ' in line else ''}" for line in lines[:shown]]
    if len(lines) > shown:
        items.append(f"- ... and {len(lines) - shown} more (the data check above lists them all)")
    return "\n".join(items)


# --- recipe, preset, hyper-parameters ----------------------------------------------------------

def choose_settings() -> tuple[str, str, dict, str]:
    """(recipe, preset, overrides that differ from the preset's values, device)."""
    c_recipe, c_preset = st.columns([3, 2])
    names = list(RECIPES)
    recipe = c_recipe.selectbox("Recipe", names, index=names.index("tastgram-noisy-arcmix"),
                                format_func=lambda n: f"{RECIPES[n].label}  ({n})")
    preset = c_preset.radio("Preset", list(PRESETS), index=0, horizontal=True,
                            help="\n\n".join(f"**{k}**: {describe_preset(k)}" for k in PRESETS))
    r = RECIPES[recipe]
    c_recipe.caption(f"{r.description}. Model `{r.model['name']}`, loss `{r.loss['name']}`, mixup "
                     f"`{r.mixup or 'none'}`, log-mel `{r.features}`, score `{r.backend}`.")
    c_preset.caption(describe_preset(preset))
    defaults = resolve(recipe, preset).to_dict()
    # keys carry the recipe and preset: switching either refills the boxes with its values
    key = f"{recipe}-{preset}"
    loss, mixup, train = defaults["loss"], defaults["mixup"], defaults["train"]
    values = {}
    cols = st.columns(7)
    if "m" in loss:
        values["m"] = cols[0].number_input("m (margin, rad)", 0.0, 3.14, float(loss["m"]), 0.05, format="%.2f",
                                           key=f"m-{key}", help="additive angular margin (0.7 rad = 40°)")
    else:
        cols[0].text_input("m (margin, rad)", "no margin", disabled=True, key=f"m-{key}-none")
    if "s" in loss:
        values["s"] = cols[1].number_input("s (scale)", 1.0, 128.0, float(loss["s"]), 1.0, format="%.1f",
                                           key=f"s-{key}", help="logits are s·cos θ")
    else:
        cols[1].text_input("s (scale)", "not used", disabled=True, key=f"s-{key}-none")
    if mixup["mode"]:
        values["alpha"] = cols[2].number_input("alpha (mixup)", 0.0, 10.0, float(mixup["alpha"]), 0.1, format="%.2f",
                                               key=f"alpha-{key}", help="λ ~ Beta(alpha, alpha)")
    else:
        cols[2].text_input("alpha (mixup)", "no mixup", disabled=True, key=f"alpha-{key}-none")
    values["epochs"] = cols[3].number_input("epochs", 1, 10000, int(train["epochs"]), 1, key=f"epochs-{key}")
    values["batch_size"] = cols[4].number_input("batch size", 2, 4096, int(train["batch_size"]), 1,
                                                key=f"batch-{key}")
    values["lr"] = cols[5].number_input("learning rate", 1e-7, 1.0, float(train["lr"]), 1e-4, format="%.1e",
                                        key=f"lr-{key}")
    device = cols[6].selectbox("device", launcher.DEVICES, key=f"device-{key}",
                               help="auto: CUDA when torch sees a GPU, else the CPU")
    base = {"m": loss.get("m"), "s": loss.get("s"), "alpha": mixup["alpha"], "epochs": train["epochs"],
            "batch_size": train["batch_size"], "lr": train["lr"]}
    overrides = {k: v for k, v in values.items() if not _same(v, base[k])}
    return recipe, preset, overrides, device


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def start_section() -> None:
    st.subheader("Start a run")
    owner = session_name()
    roots, check = choose_data()
    recipe, preset, overrides, device = choose_settings()
    overrides = {**check.get("overrides", {}), **overrides}  # the data settings choose_data drew (data.channel ...)
    if device == "cuda" and not _cuda_available():
        st.warning("torch sees no CUDA device on this machine: a run on `cuda` will fail. Choose `auto` or `cpu`.")
    if preset == "paper" and device != "cuda" and not _cuda_available():
        st.warning("The paper preset trains 300 epochs on 10 s clips: days on a CPU. Try `quick` first.")
    if roots:
        st.caption("The same run from a terminal (changed settings only):")
        st.code(launcher.cli_command(recipe, preset, roots, overrides, device), language="bash")
    one_class = roots is not None and RECIPES[recipe].classifier and check["trained_classes"] < 2
    if one_class:
        st.error(f"`{recipe}` learns to tell classes of normal sound apart, but this data's training normals form "
                 "a single class (one machine ID or section, no attribute values to tell apart). Add another "
                 "machine's recordings, or choose the autoencoder recipe `dcase-ae`, which learns from one machine.")
    clicked = st.button("Start training", type="primary", disabled=roots is None or one_class,
                        help=None if roots and not one_class else "choose a usable data set (and recipe) first")
    if clicked and roots:
        try:
            run_dir = launcher.start_training(recipe, preset, roots, overrides, device, runs_root(), owner=owner)
        except launcher.LaunchError as exc:
            st.error(f"Not started: {exc}")
            return
        st.query_params["run"] = run_dir.name
        # the run picker (app_pages.shared.url_state.select_run, widget key "select_run") shows the new run
        st.session_state["select_run"] = run_dir.name
        st.session_state["just_started"] = run_dir.name
        st.rerun()


@st.cache_resource(show_spinner=False)
def _cuda_available() -> bool:
    import torch  # here, not at the top: ~2.5 s on a 2-core CPU, and only a cuda or paper choice asks

    return torch.cuda.is_available()


# --- the selected run, live ----------------------------------------------------------------------

def state_badge(state: str) -> str:
    return f":{STATE_COLOURS.get(state, 'gray')}[**{state}**]"


def live_view(run_path: str, was_active: bool) -> None:
    """State, progress, curves and log of one run; refreshed every REFRESH_SECONDS while active."""
    run = Run(run_path)
    status = run.status
    state = status.get("state", "unknown")
    if was_active and state not in ACTIVE_STATES:
        st.rerun(scope="app")  # it just ended: redraw the page once, without the timer
    epoch, epochs = status.get("epoch", 0), status.get("epochs", "?")
    st.markdown(f"### {run.label}\n`{run.id}` · {state_badge(state)} · epoch {epoch}/{epochs} · "
                f"updated {_ago(status.get('updated'))}")
    progress = float(status.get("progress") or 0.0)
    text = f"{status.get('phase', '?')}: {status.get('message', '')}"
    if state == "queued":
        text = f"queued: number {queue_position(run)} in line (one training at a time)"
    st.progress(min(max(progress, 0.0), 1.0), text=text)
    if st.session_state.get("just_started") == run.id:
        started_notice(run, state)
    owner = shared_mode.owner_of(run)
    if owner:
        st.caption(f"Started by **{owner}**")
    mine = shared_mode.may_control(shared_mode.settings(), _owner(), run)
    if state in ACTIVE_STATES and not run.bundled and not mine:
        st.caption(f"Only {owner or 'its owner'} may cancel this run (shared server).")
    if state in ACTIVE_STATES and not run.bundled and mine:
        if st.button("Cancel this run", key=f"cancel-{run.id}",
                     help="SIGTERM: a waiting run ends at once, a training run after its current batch"):
            try:
                pid = launcher.cancel(run, owner=_owner())
            except launcher.LaunchError as exc:
                st.error(str(exc))
            else:
                # train.py checks for a cancel between batches; the evaluation runs to its end
                st.info(f"Cancel sent (pid {pid}): " + ("the evaluation is not interrupted, the run will finish."
                                                        if status.get("phase") == "evaluating"
                                                        else "the run stops after its current batch."))
    if state == "failed":
        show_failure(run, status)
    elif state == "cancelled":
        st.warning("Cancelled. Resume it from its last finished epoch with the button below, or from a terminal: "
                   f"`{launcher.resume_command(run)}`")
        resume_button(run)
    elif state == "finished":
        show_result(run)
    history = run.metrics_history()
    if history:
        st.plotly_chart(plots.training_curves(history, title=f"Training curves: {run.label}"),
                        config={"displaylogo": False}, key=f"curves-{run.id}")
    else:
        st.caption("Loss and accuracy curves appear here after the first finished epoch.")
    log = run.log_tail(40)
    st.caption("train.log (last lines)")
    st.code(log or "(nothing written yet)", language=None)


def started_notice(run: Run, state: str) -> None:
    """The notice for the run this session just started, saying what it is doing now: it lives in
    the live view's fragment, so it changes with the run (queued, training, evaluating) instead of
    staying as it was when the button was pressed; it goes once the run has ended."""
    if state == "queued":
        st.success(f"Started `{run.id}`: it is queued, number {queue_position(run)} in line, and starts as soon "
                   "as no other run is training.")
    elif state == "running":
        doing = "trained, now being evaluated" if run.status.get("phase") == "evaluating" else "training now"
        st.success(f"Started `{run.id}`: it is {doing}.")
    else:  # finished, failed or cancelled: the view below says so, the notice has done its job
        st.session_state.pop("just_started", None)


def _ago(stamp) -> str:
    if not stamp:
        return "never"
    seconds = max(0.0, time.time() - float(stamp))
    return f"{seconds:.0f} s ago" if seconds < 120 else time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def show_failure(run: Run, status: dict) -> None:
    st.error(f"The run failed: {status.get('error') or 'no error text was recorded'}")
    st.markdown(
        "**What to do:** read the error and the log below. A data problem (a missing folder, no training "
        "clips) needs the data fixed, then a new run. A run killed or stopped mid-way (the machine restarted, "
        "out of memory) continues from its last finished epoch with **Resume**, or from a terminal:")
    st.code(launcher.resume_command(run), language="bash")
    resume_button(run)
    stdout = run.path / launcher.STDOUT_LOG
    if stdout.exists() and stdout.stat().st_size:
        with st.expander("The process's own output (stdout.log)"):
            st.code("\n".join(stdout.read_text(errors="replace").splitlines()[-40:]), language=None)


def resume_button(run: Run) -> None:
    if run.bundled or not shared_mode.may_control(shared_mode.settings(), _owner(), run):
        return  # in shared mode another session's run has no Resume button (the launcher refuses too)
    if st.button("Resume", key=f"resume-{run.id}"):
        try:
            launcher.resume_training(run, owner=_owner())
        except launcher.LaunchError as exc:
            st.error(str(exc))
        else:
            st.rerun(scope="app")


def show_result(run: Run) -> None:
    metrics = run.eval_metrics()
    average = (metrics or {}).get("average") or {}
    if not average:
        st.info("Finished without an evaluation (trained with --no-eval?): evaluate it with "
                f"`python -m asdcore evaluate {run.path}`.")
        return
    c_auc, c_pauc, c_mauc, c_time = st.columns(4)
    for column, key, name in ((c_auc, "auc", "AUC"), (c_pauc, "pauc", "pAUC"), (c_mauc, "mauc", "mAUC")):
        value = average.get(key)
        column.metric(f"average {name}", "-" if value is None else f"{100 * value:.2f} %")
    c_time.metric("training time", f"{metrics.get('train_seconds', 0):.0f} s")
    if metrics.get("skipped_files"):
        st.warning(f"{len(metrics['skipped_files'])} file(s) of the data could not be used and were skipped (the "
                   "others trained and were scored):\n\n" + file_list(metrics["skipped_files"]))
    if metrics.get("untrained_left_out"):
        left = metrics["untrained_left_out"]
        st.warning(f"{sum(left.values())} test clip(s) of machine IDs / sections with no training clips were left "
                   "out (no model learnt them: not scored, not in the averages): "
                   + ", ".join(f"{k} ({n})" for k, n in left.items()))
    under = compare.undertrained_note([run], [f"`{run.id}`"])
    if under:  # a low AUC of a short run says little about its method: say so where the number is shown
        st.warning(under + (" This run's preset is a smoke test; the quick preset trains long enough to compare "
                            "methods." if run.is_smoke_test else ""))
    # relative links (app.py's url paths), as on Home: they resolve beside this page's own URL
    # each link opens this run (the pages' defaults are the bundled runs)
    st.success(f"Finished and evaluated. Open **[Compare](compare?runs={run.id})** for the per-machine-type "
               f"table, **[Angles](angles?runs={run.id})** and **[Embeddings](embeddings?run={run.id})** to see "
               f"what the loss did, **[False alarms](false-alarms?run={run.id})** to debug its mistakes.")


def runs_overview(runs: list[Run]) -> None:
    """One line per run (asdcore.runs.run_summary), with its progress as a bar."""
    rows = [{"run": row["id"], "method": row["method"], "preset": row["preset"], "state": row["state"],
             "epoch": f"{row['epoch']}/{'?' if row['epochs'] is None else row['epochs']}",
             "progress": row["progress"], "AUC (%)": row["auc_pct"],
             "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created"] or 0))}
            for row in run_summary(runs)]
    if shared_mode.settings().enabled:  # whose run is whose on a shared server
        owners = {run.id: shared_mode.owner_of(run) or "" for run in runs}
        for row in rows:
            row["owner"] = owners.get(row["run"], "")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0,
                                                                             max_value=1.0, format="percent")})


# --- the page ------------------------------------------------------------------------------------

st.title("Train")
st.markdown("Train a recipe from the papers on a data set, in the background: the run keeps going when you "
            "reload the page or restart the app, and waits its turn when another one is training.")
st.caption(f"Runs are saved under `{runs_root()}` (`ASD_RUNS` moves it).")

start_section()

st.divider()
st.subheader("Your runs")
user_runs = list_runs(include_bundled=False)
if not user_runs:
    st.info("No runs yet: choose a recipe above and press **Start training** (the tiny preset takes under a "
            "minute on a CPU).")
    st.stop()
selected = select_run("Run to watch", key="run", runs=user_runs, skip_smoke_tests=False)
active = selected.state in ACTIVE_STATES
# the timer runs only while the run is queued or running: a finished run's view stays still
st.fragment(run_every=REFRESH_SECONDS if active else None)(live_view)(str(selected.path), active)
with st.expander(f"All your runs ({len(user_runs)})", expanded=True):
    runs_overview(user_runs)
