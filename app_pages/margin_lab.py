"""Margin lab: what an additive angular margin does, in equations, figures and a live toy; and
AdaCos, which has no margin: its adaptive scale over a live training, and what sub-clusters do
to a class's region.

The equations match asdcore/losses.py; the figures call the loss classes themselves
(asdcore.plots.margins); the live toy trains a small network with the real losses
(asdcore.marginlab) and redraws its embedding as it learns.
"""
import importlib
import sys
import time
from dataclasses import replace

import pandas as pd
import streamlit as st

from asdcore import marginlab, plots

CHART = {"displaylogo": False}

EQUATIONS = {
    "ce": (r"L_{\mathrm{CE}} = -\log \frac{e^{s\cos\theta_{y}}}{\sum_{j=1}^{C} e^{s\cos\theta_j}},"
           r"\qquad \cos\theta_j = \frac{\langle x, W_j\rangle}{\lVert x\rVert\,\lVert W_j\rVert}",
           "Cross-entropy on scaled cosines: a clip only has to be closer (by angle) to its own machine's "
           "centre W_y than to the others. Nothing pulls it tight around W_y."),
    "arcface": (r"L_{\mathrm{ArcFace}} = -\log \frac{e^{s\,\psi(\theta_{y})}}{e^{s\,\psi(\theta_{y})} + "
                r"\sum_{j \neq y} e^{s\cos\theta_j}},\qquad \psi(\theta) = \begin{cases} \cos(\theta + m) & "
                r"\theta < \pi - m \\ \cos\theta - m\sin(\pi - m) & \text{otherwise} \end{cases}",
                "ArcFace adds the margin m to the angle of the own class: a clip must beat the other centres "
                "by m radians, so normal clips are pulled into a tight cone around W_y. Past π − m the "
                "linear continuation keeps the target logit decreasing."),
    "arcmix": (r"\tilde{x} = \lambda x_a + (1-\lambda) x_b,\ \lambda \sim \mathrm{Beta}(\alpha, \alpha),\qquad "
               r"L_{\mathrm{ArcMix}} = \lambda\, \mathrm{CE}(z_a, y_a) + (1-\lambda)\, \mathrm{CE}(z_b, y_b)",
               "ArcMix: mixup with ArcFace on both partners. z_a are the logits with the margin at y_a, "
               "z_b with the margin at y_b: two forward passes through the head, each with its own margin."),
    "noisy_arcmix": (r"L_{\mathrm{Noisy\text{-}ArcMix}} = -\lambda \log \frac{e^{s\cos(\theta_{y_a} + m)}}"
                     r"{e^{s\cos(\theta_{y_a} + m)} + \sum_{j \neq y_a} e^{s\cos\theta_j}}"
                     r" - (1-\lambda) \log \frac{e^{s\cos\theta_{y_b}}}"
                     r"{e^{s\cos(\theta_{y_a} + m)} + \sum_{j \neq y_a} e^{s\cos\theta_j}}",
                     "Noisy-ArcMix (its paper's eq. 4): one set of logits with the margin at y_a only. "
                     "λ ~ Beta(0.5, 0.5) is symmetric, so y_a is the minor component about half the time: "
                     "the margin then lands on the 'wrong' class, the noise the method is named after."),
}


# AdaCos and sub-cluster AdaCos (asdcore.losses.AdaCos, SubclusterAdaCos): no margin, no s to set.
# Each tab: its equations (one st.latex each), then the text.
ADAPTIVE_EQUATIONS = {
    "adacos": (
        [r"L_{\mathrm{AdaCos}} = -\log \frac{e^{\tilde{s}\cos\theta_{y}}}{\sum_{j=1}^{C} e^{\tilde{s}\cos\theta_j}},"
         r"\qquad \tilde{s}_{\mathrm{init}} = \sqrt{2}\, \ln(C - 1)",
         r"\tilde{s} = \frac{\log B_{\mathrm{avg}}}{\cos\left(\min\left(\frac{\pi}{4},\ \theta_{\mathrm{med}}\right)"
         r"\right)},\qquad B_{\mathrm{avg}} = \frac{1}{B} \sum_{i=1}^{B} \sum_{j \neq y_i} "
         r"e^{\tilde{s}_{\mathrm{old}} \cos\theta_{i,j}}"],
        "AdaCos has no margin and no s to tune: before each training step it re-estimates the scale from "
        "the batch (θ_med is the median angle of the batch's samples to their own centres). Once θ_med is "
        "under π/4 the rule settles where s·cos θ_med = log B_avg: a sample at the median angle gets its "
        "class probability ½, where "
        "the softmax is steepest, so the loss keeps pushing the typical sample rather than saturating. "
        "Below it is the scale over the live training."),
    "subcluster_adacos": (
        [r"p(c \mid x) = \sum_{k=1}^{S} \frac{e^{\tilde{s}\cos\theta_{c,k}}}{\sum_{c'=1}^{C}\sum_{k'=1}^{S}"
         r"e^{\tilde{s}\cos\theta_{c',k'}}},\qquad L = -\sum_{c} t_c \log p(c \mid x),\qquad "
         r"t = \lambda e_{y_a} + (1-\lambda)\, e_{y_b},\ \lambda \sim \mathcal{U}(0, 1)",
         r"\tilde{s} = \frac{\log B_{\mathrm{avg}}}{\cos\left(\min\left(\frac{\pi}{4},\ \theta_{\mathrm{med}}\right)"
         r"\right)},\qquad B_{\mathrm{avg}} = \frac{1}{B}\sum_{i=1}^{B}\sum_{c=1}^{C}\sum_{k=1}^{S} "
         r"e^{\tilde{s}_{\mathrm{old}}\cos\theta_{i,c,k}},\qquad \tilde{s}_{\mathrm{init}} = \sqrt{2}\,\ln(C S - 1)"],
        "Sub-cluster AdaCos gives each class S centres W_c,k; the probability of a class is the softmax summed "
        "over its sub-clusters, so a class may occupy several directions: a machine with several operating "
        "modes is not forced into one cone, and an anomalous clip is one far from every sub-centre of its "
        "class. As in the authors' code, B_avg sums over all C·S sub-clusters, the target's own included "
        "(θ_med: the median of the mixup-weighted mean angle to the target classes' sub-clusters); mixup "
        "draws λ ~ U(0, 1) per sample."),
}


def show_equations() -> None:
    st.subheader("The losses")
    tabs = st.tabs([marginlab.LOSSES[k] for k in EQUATIONS])
    for tab, (latex, text) in zip(tabs, EQUATIONS.values()):
        with tab:
            st.latex(latex)
            st.markdown(text)
    st.caption("θ_j is the angle between the embedding x and class centre W_j; s scales the logits; m is the "
               "additive angular margin in radians; (y_a, y_b, λ) are a mixed sample's two labels and the "
               "weight of y_a. The code: `asdcore/losses.py`.")
    st.subheader("An adaptive scale instead of a margin: AdaCos")
    tabs = st.tabs([marginlab.LOSSES[k] for k in ADAPTIVE_EQUATIONS])
    for tab, (equations, text) in zip(tabs, ADAPTIVE_EQUATIONS.values()):
        with tab:
            for equation in equations:
                st.latex(equation)
            st.markdown(text)
    st.caption("The s and m sliders do not apply to AdaCos: it has no margin, and its scale is set by the rule "
               "above from each batch.")


def show_margin_figures(s: float, m: float, lam: float) -> None:
    st.subheader("What the margin does to one sample")
    st.plotly_chart(plots.target_logit_curves(s, m, lam), config=CHART)
    before, after = plots.margins.arcface_fallback_jump(s, m)
    st.caption("Left: the label's logit as the embedding turns away from its centre; ArcFace's is lower by the "
               "margin, so the loss stays high until the clip is well inside its class. Right: where each loss "
               "puts a mixed sample between two centres (stars mark the minima).")
    st.markdown(
        f"**The step at π − m.** Past θ = π − m the angle θ + m passes π, and cos(θ + m) would turn back *up*: "
        "a clip pointing nearly away from its centre would gain logit by turning farther away. So ArcFace (the "
        "reference code and insightface, `asdcore/losses.py`) switches there to cos θ − m·sin(π − m), which keeps "
        "falling as θ grows. It is the first-order form cos θ − m·sin θ of cos(θ + m) with sin θ frozen at π − m, "
        f"and it does not meet the curve: here the logit steps from {before:.1f} to {after:.1f} (s·(cos m + "
        f"m·sin m − 1) = {before - after:.1f} lower). Its slope in cos θ is still s, so the gradient keeps pulling "
        "such a clip back towards its centre; only clips more than π − m from their own centre ever see it.")
    st.plotly_chart(plots.decision_boundaries(m, s), config=CHART)
    st.caption("Softmax decides at the bisector; with ArcFace each class must win by m, leaving a no-man's "
               "land of width m between the classes. Hover over the circle for the probabilities.")


# --- the live toy ------------------------------------------------------------------------------

# the picker's groups: each trains its losses side by side from the same start
GROUPS = {"all four side by side": list(marginlab.MARGIN_LOSSES),
          "AdaCos and sub-cluster AdaCos side by side": list(marginlab.ADAPTIVE_LOSSES)}


# Live frames per training.  Training costs the same in 2-D and 3-D (about a second per loss for
# 300 steps, one thread); the spheres cost the browser, which redraws four 3-D (WebGL) charts per
# frame.  Measured in Chromium on a busy 2-core machine, Train to a settled page, 4 losses x 300
# steps: 2-D (13 frames) 13.5-19.1 s; 3-D with 13 frames 49.7-66.4 s, with 5 frames 18.7-21.6 s
# (a user saw 22 s in 3-D against 6 s in 2-D with 13 frames each).  So 3-D redraws less often.
LIVE_FRAMES = {2: 12, 3: 4}


def toy_settings(s: float, m: float) -> tuple[marginlab.LabConfig, list[str]]:
    c_loss, c_dim, c_steps, c_alpha, c_seed = st.columns([3, 1, 2, 2, 1])
    choice = c_loss.selectbox("Loss", list(GROUPS) + list(marginlab.LOSSES),
                              format_func=lambda k: marginlab.LOSSES.get(k, k))
    dim = c_dim.radio("Embedding", [2, 3], format_func=lambda d: f"{d}-D", horizontal=True)
    steps = c_steps.slider("Training steps", 50, 1000, 300, 50)
    alpha = c_alpha.slider("mixup α (ArcMix, Noisy-ArcMix)", 0.1, 2.0, 0.5, 0.1,
                           help="λ ~ Beta(α, α): α < 1 mostly mixes a little, α > 1 mixes evenly")
    seed = c_seed.number_input("Seed", 0, 9999, 0, 1)
    losses = GROUPS.get(choice, [choice])
    subclusters = marginlab.LabConfig.subclusters
    if "subcluster_adacos" in losses:
        subclusters = st.slider("Sub-clusters per class S (sub-cluster AdaCos)", 1, 8, subclusters, 1,
                                help="each class gets S centres; S = 1 is AdaCos with mixup and B_avg over all "
                                     "centres")
    config = marginlab.LabConfig(s=s, m=m, alpha=alpha, embedding_dim=dim, steps=steps, subclusters=subclusters,
                                 snapshot_every=max(10, steps // LIVE_FRAMES[dim]), seed=int(seed))
    return config, losses


def draw(snapshots: dict, circles, histograms, frame: str, scales=None, config: marginlab.LabConfig | None = None) -> None:
    """The embeddings on the circle (one chart per loss), the angle histograms (one panel per loss)
    and, for AdaCos and sub-cluster AdaCos, their scale s so far (into `scales`)."""
    with circles.container():
        columns = st.columns(min(len(snapshots), 2))
        for i, (name, snap) in enumerate(snapshots.items()):
            points, labels, centres, names = snap.circle_inputs()
            title = f"{marginlab.LOSSES[name]}: step {snap.step}, loss {snap.loss:.3g}"
            if snap.scale is not None:
                title += f", s = {snap.scale:.3g}"
            if centres is None:  # sub-clusters: every sub-centre a ray, the disc shaded by the winning class
                fig = plots.margins.embedding_subclusters(points, labels, snap.subcentres, names, normalise=False,
                                                          title=title)
            else:
                fig = plots.embedding_circle(points, labels, centres, names, normalise=False, title=title)
            columns[i % len(columns)].plotly_chart(fig, config=CHART, key=f"circle-{frame}-{name}")
    adaptive = {name: snap for name, snap in snapshots.items() if snap.scales is not None}
    if scales is not None and adaptive:
        with scales.container():
            # C*S centres: what AdaCos's initial scale sqrt(2) ln(C*S - 1) counts
            n_centres = {marginlab.LOSSES[name]: snap.subcentres.shape[0] * snap.subcentres.shape[1]
                         for name, snap in adaptive.items()}
            st.plotly_chart(plots.margins.adaptive_scale_curves(
                {marginlab.LOSSES[name]: snap.scales for name, snap in adaptive.items()}, n_centres,
                max_scale=None if config is None else config.max_scale), config=CHART, key=f"scales-{frame}")
    with histograms.container():
        panels = {marginlab.LOSSES[name]: snap.angles_frame() for name, snap in snapshots.items()}
        step = next(iter(snapshots.values())).step
        st.plotly_chart(plots.angle_histograms(panels, max_deg=180.0, bins_deg=5.0,
                                               title=f"Angle to the own class centre at step {step}: "
                                                     "held-out normals vs anomalies"),
                        config=CHART, key=f"angles-{frame}")


# The results table: short headers (the page's columns are narrow), each explained in its tooltip.
# Angles are medians over the held-out clips; geometry() in asdcore.marginlab computes them.
SUMMARY_COLUMNS = {
    "loss": ("loss", "the loss the toy was trained with"),
    "normals, start (°)": ("start_normal_deg", "median angle of the held-out normals to their own class centre W at "
                                               "step 0 (the untrained network)"),
    "normals (°)": ("normal_deg", "median angle of the held-out normals to their own class centre W at the end"),
    "anomalies (°)": ("anomaly_deg", "median angle of the anomalies to the centre W of the class they claim"),
    "gap (°)": ("gap_deg", "anomalies' median angle minus normals' median angle: > 0 when anomalies lie farther "
                           "from W"),
    "AUC": ("auc", "AUC of the angle to W as the anomaly score: 1 when every anomaly lies farther from its centre "
                   "than every normal, 0.5 when the angle tells them apart no better than chance"),
    "class spread (°)": ("spread_deg", "median angle of the normals to their class's own direction (the mean of the "
                                       "class's embeddings): how tight a class is, wherever its centre W lies"),
    "W off class (°)": ("centre_offset_deg", "angle from each class's own direction to its centre W (nearest "
                                             "sub-centre), mean over the classes: 0 when W sits in its class"),
    "accuracy": ("accuracy", "held-out normals classified to their own class"),
    "s (adaptive)": ("scale", "AdaCos's learnt scale at the end (the fixed-scale losses use the s slider)"),
}


def summary_table(history: dict) -> pd.DataFrame:
    rows = []
    for name, snaps in history.items():
        first, last = snaps[0], snaps[-1]
        values = marginlab.geometry(last) | {"loss": marginlab.LOSSES[name], "accuracy": last.accuracy,
                                             "start_normal_deg": marginlab.geometry(first)["normal_deg"],
                                             "scale": last.scale}
        row = {header: values[key] for header, (key, _) in SUMMARY_COLUMNS.items()}
        if last.scale is None:  # AdaCos learnt its s; the fixed-scale losses use the slider's
            del row["s (adaptive)"]
        rows.append(row)
    return pd.DataFrame(rows)


def show_summary(history: dict, config: marginlab.LabConfig) -> None:
    """The results table, then what its numbers say (asdcore.marginlab.explain, from this run)."""
    table = summary_table(history)
    number = {"AUC": "%.3f", "accuracy": "%.3f", "s (adaptive)": "%.3g"}
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        header: (st.column_config.TextColumn(header, help=text, width="medium") if header == "loss" else
                 st.column_config.NumberColumn(header, help=text, format=number.get(header, "%.1f")))
        for header, (_, text) in SUMMARY_COLUMNS.items() if header in table.columns})
    st.markdown("\n\n".join(marginlab.explain(history, config)))


def show_toy(s: float, m: float) -> None:
    st.subheader("Live: train a toy embedding with each loss")
    st.markdown("Four Gaussian blobs in a 16-D input space stand in for four machine IDs; a small network maps "
                "them to a 2-D (or 3-D) embedding, trained with the real losses (s and m from the sliders above). "
                "Held-out **normal** points come from the same blobs, **anomalous** points from each blob shifted "
                "(a machine whose sound changed): they were never trained on. Watch each class gather, and whether "
                "it gathers around its own centre: the table and the notes under it say, in this run's numbers, "
                "where each loss left the normals and the anomalies.")
    st.caption("On each circle: held-out normals by class, the anomalies (any class) on the inner ring so they "
               "hide no normal, and each class centre W_k as a star. Only directions matter to the losses.")
    config, losses = toy_settings(s, m)
    if "subcluster_adacos" in losses:
        st.caption("Sub-cluster AdaCos: each sub-centre W_c,k is a ray in its class's colour, and the disc (2-D) is "
                   "shaded by the class whose nearest sub-centre wins each direction: a class's region is the union "
                   "of its sub-centres' cones, and may be several separate arcs. A class may occupy several "
                   "directions, so a machine with several operating modes is not forced into one cone; the price "
                   "is a larger region in which an anomaly can land close to *some* sub-centre of its class. "
                   "Here each class is a single blob, so the extra cones buy nothing and cost separation.")
    key = (config, tuple(losses))
    start = st.button("Train", type="primary", icon=":material/play_arrow:")
    stored = st.session_state.get("margin_lab")
    replay = None
    if not start and stored is not None and stored[0] == key:
        steps = [snap.step for snap in next(iter(stored[1].values()))]
        replay = st.select_slider("Replay: step", steps, value=steps[-1])
    # what the run says comes right under the button, above the pictures it explains (under them, it
    # sat a long scroll below the circles it talks about)
    progress, results, circles, histograms = st.empty(), st.empty(), st.empty(), st.empty()
    scales = st.empty() if any(name in marginlab.ADAPTIVE_LOSSES for name in losses) else None
    if start:
        if "torch._dynamo" not in sys.modules:  # a process's first torch optimizer imports it (~2.5 s)
            with st.spinner("Loading torch's optimiser code (once per server, a few seconds) ..."):
                importlib.import_module("torch._dynamo")
        started = time.monotonic()
        generators = {name: marginlab.train_steps(replace(config, loss=name)) for name in losses}
        history = {name: [] for name in losses}
        for frame, snaps in enumerate(zip(*generators.values())):
            current = dict(zip(losses, snaps))
            for name, snap in current.items():
                history[name].append(snap)
            step = snaps[0].step
            progress.progress(step / config.steps, text=f"step {step} / {config.steps}")
            draw(current, circles, histograms, f"live{frame}", scales, config)
        st.session_state["margin_lab"] = stored = (key, history)
        # the time this training took (training and drawing), kept per embedding dimension for the
        # promise before the next one
        st.session_state.setdefault("margin_lab_seconds", {})[config.embedding_dim] = (
            time.monotonic() - started, f"{len(losses)} loss{'es' * (len(losses) > 1)} × {config.steps} steps, "
                                        f"{len(next(iter(history.values())))} frames")
    took, work = st.session_state.get("margin_lab_seconds", {}).get(config.embedding_dim, (None, None))
    if stored is None or stored[0] != key:
        # before any training: the initial embedding, so there is something to compare with
        frames = len(range(0, config.steps, config.snapshot_every)) + 1  # train_steps' snapshots
        expected = (f"{len(losses)} loss{'es' * (len(losses) > 1)} × {config.steps} steps, drawn {frames} times; "
                    "the time it takes is shown afterwards" if took is None else
                    f"your last {config.embedding_dim}-D training here, {work}, took {took:.0f} s")
        progress.info(f"Press **Train** to watch the embedding learn ({expected}).")
        draw({name: next(marginlab.train_steps(replace(config, loss=name))) for name in losses},
             circles, histograms, "initial", scales, config)
        show_scale_text(losses)
        return
    history = stored[1]
    if replay is not None:
        index = [snap.step for snap in next(iter(history.values()))].index(replay)
        progress.progress(replay / config.steps, text=f"step {replay} / {config.steps} (replay)")
        draw({name: snaps[index] for name, snaps in history.items()}, circles, histograms, "replay", scales,
             config)
    show_scale_text(losses)
    with results.container():
        show_summary(history, config)
        if took is not None:
            st.caption(f"This training took {took:.1f} s to train and draw ({work}). The pictures below show it.")


def show_scale_text(losses: list[str]) -> None:
    """What the scale chart shows (only when AdaCos or sub-cluster AdaCos is trained)."""
    if not any(name in marginlab.ADAPTIVE_LOSSES for name in losses):
        return
    text = ("**The adaptive scale.** AdaCos has no s to tune: each batch sets it so that a sample at the median "
            "angle keeps its class probability near ½, where the softmax is steepest. On the toy, AdaCos's s "
            "jumps on the first steps, then falls well below its start (√2 ln 3 ≈ 1.55) as the classes "
            "separate: with the other centres far away, a small s already gives the median sample ½.")
    if "subcluster_adacos" in losses:
        text += (" Sub-cluster AdaCos counts the target's own sub-clusters in B_avg, and θ_med is the mean angle "
                 "to all of a class's sub-centres, usually past π/4: on a circle crowded with C·S centres each "
                 "batch multiplies s by about 1.4 to 1.9, and it would overflow within ~200 steps. The lab caps "
                 "it at the papers' fixed s = 30 (dashed line).")
    st.markdown(text)


st.title("Margin lab")
st.markdown("What an additive angular margin does to embeddings: the equations, their effect on one sample and "
            "on the decision boundary, and a toy embedding you can train live with each loss.")
c_s, c_m, c_lam = st.columns(3)
s = c_s.slider("s (scale)", 1.0, 64.0, 30.0, 1.0, help="logits are s·cos θ; the papers use 30")
m = c_m.slider("m (margin, radians)", 0.0, 1.5, 0.7, 0.05,
               help="the papers use 0.7 rad (40°); OS-SCL's TFSTgram 0.4")
lam = c_lam.slider("λ (mixing weight of y_a)", 0.0, 1.0, 0.7, 0.05,
                   help="for the mixed-sample panel: the weight of y_a in the mixed input")
st.caption(f"m = {m:.2f} rad = {m * 180 / 3.141592653589793:.1f}°")
show_equations()
show_margin_figures(s, m, lam)
st.divider()
show_toy(s, m)
