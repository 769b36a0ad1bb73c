"""Margin lab: what an additive angular margin does, in equations, figures and a live toy.

The equations match asdcore/losses.py; the figures call the loss classes themselves
(asdcore.plots.margins); the live toy trains a small network with the real losses
(asdcore.marginlab) and redraws its embedding as it learns.
"""
import importlib
import sys
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


def show_margin_figures(s: float, m: float, lam: float) -> None:
    st.subheader("What the margin does to one sample")
    st.plotly_chart(plots.target_logit_curves(s, m, lam), config=CHART)
    st.caption("Left: the label's logit as the embedding turns away from its centre; ArcFace's is lower by the "
               "margin, so the loss stays high until the clip is well inside its class. Right: where each loss "
               "puts a mixed sample between two centres (stars mark the minima).")
    st.plotly_chart(plots.decision_boundaries(m, s), config=CHART)
    st.caption("Softmax decides at the bisector; with ArcFace each class must win by m, leaving a no-man's "
               "land of width m between the classes. Hover over the circle for the probabilities.")


# --- the live toy ------------------------------------------------------------------------------

def toy_settings(s: float, m: float) -> tuple[marginlab.LabConfig, list[str]]:
    c_loss, c_dim, c_steps, c_alpha, c_seed = st.columns([3, 1, 2, 2, 1])
    choice = c_loss.selectbox("Loss", ["all four side by side"] + list(marginlab.LOSSES),
                              format_func=lambda k: marginlab.LOSSES.get(k, k))
    dim = c_dim.radio("Embedding", [2, 3], format_func=lambda d: f"{d}-D", horizontal=True)
    steps = c_steps.slider("Training steps", 50, 1000, 300, 50)
    alpha = c_alpha.slider("mixup α (ArcMix, Noisy-ArcMix)", 0.1, 2.0, 0.5, 0.1,
                           help="λ ~ Beta(α, α): α < 1 mostly mixes a little, α > 1 mixes evenly")
    seed = c_seed.number_input("Seed", 0, 9999, 0, 1)
    config = marginlab.LabConfig(s=s, m=m, alpha=alpha, embedding_dim=dim, steps=steps,
                                 snapshot_every=max(10, steps // 12), seed=int(seed))
    losses = list(marginlab.LOSSES) if choice == "all four side by side" else [choice]
    return config, losses


def draw(snapshots: dict, circles, histograms, frame: str) -> None:
    """The embeddings on the circle (one chart per loss) and the angle histograms (one panel per loss)."""
    with circles.container():
        columns = st.columns(min(len(snapshots), 2))
        for i, (name, snap) in enumerate(snapshots.items()):
            points, labels, centres, names = snap.circle_inputs()
            fig = plots.embedding_circle(points, labels, centres, names, normalise=False, title=(
                f"{marginlab.LOSSES[name]}: step {snap.step}, loss {snap.loss:.3g}"))
            columns[i % len(columns)].plotly_chart(fig, config=CHART, key=f"circle-{frame}-{name}")
    with histograms.container():
        panels = {marginlab.LOSSES[name]: snap.angles_frame() for name, snap in snapshots.items()}
        step = next(iter(snapshots.values())).step
        st.plotly_chart(plots.angle_histograms(panels, max_deg=180.0, bins_deg=5.0,
                                               title=f"Angle to the own class centre at step {step}: "
                                                     "held-out normals vs anomalies"),
                        config=CHART, key=f"angles-{frame}")


def summary_table(history: dict) -> pd.DataFrame:
    rows = []
    for name, snaps in history.items():
        first, last = snaps[0], snaps[-1]
        sep = plots.angle_separation(last.normal_angles_deg, last.anomaly_angles_deg, max_deg=180.0)
        rows.append({"loss": marginlab.LOSSES[name],
                     "normals' mean angle, start (°)": round(float(first.normal_angles_deg.mean()), 1),
                     "normals' mean angle, end (°)": round(float(last.normal_angles_deg.mean()), 1),
                     "anomalies' mean angle, end (°)": round(float(last.anomaly_angles_deg.mean()), 1),
                     "AUC of the angle as anomaly score": round(sep["auc"], 3),
                     "accuracy (held-out normals)": round(last.accuracy, 3)})
    return pd.DataFrame(rows)


def show_toy(s: float, m: float) -> None:
    st.subheader("Live: train a toy embedding with each loss")
    st.markdown("Four Gaussian blobs in a 16-D input space stand in for four machine IDs; a small network maps "
                "them to a 2-D (or 3-D) embedding, trained with the real losses (s and m from the sliders above). "
                "Held-out **normal** points come from the same blobs, **anomalous** points from each blob shifted "
                "(a machine whose sound changed): they were never trained on. Watch the normals gather around "
                "their centres, and the angles of the anomalies stay larger.")
    st.caption("On each circle: held-out normals by class, the anomalies (any class) on the inner ring so they "
               "hide no normal, and each class centre W_k as a star. Only directions matter to the losses.")
    config, losses = toy_settings(s, m)
    key = (config, tuple(losses))
    start = st.button("Train", type="primary", icon=":material/play_arrow:")
    stored = st.session_state.get("margin_lab")
    replay = None
    if not start and stored is not None and stored[0] == key:
        steps = [snap.step for snap in next(iter(stored[1].values()))]
        replay = st.select_slider("Replay: step", steps, value=steps[-1])
    progress, circles, histograms = st.empty(), st.empty(), st.empty()
    if start:
        if "torch._dynamo" not in sys.modules:  # a process's first torch optimizer imports it (~2.5 s)
            with st.spinner("Loading torch's optimiser code (once per server, a few seconds) ..."):
                importlib.import_module("torch._dynamo")
        generators = {name: marginlab.train_steps(replace(config, loss=name)) for name in losses}
        history = {name: [] for name in losses}
        for frame, snaps in enumerate(zip(*generators.values())):
            current = dict(zip(losses, snaps))
            for name, snap in current.items():
                history[name].append(snap)
            step = snaps[0].step
            progress.progress(step / config.steps, text=f"step {step} / {config.steps}")
            draw(current, circles, histograms, f"live{frame}")
        st.session_state["margin_lab"] = stored = (key, history)
    if stored is None or stored[0] != key:
        # before any training: the initial embedding, so there is something to compare with
        progress.info("Press **Train** to watch the embedding learn (a few seconds).")
        draw({name: next(marginlab.train_steps(replace(config, loss=name))) for name in losses},
             circles, histograms, "initial")
        return
    history = stored[1]
    if replay is not None:
        index = [snap.step for snap in next(iter(history.values()))].index(replay)
        progress.progress(replay / config.steps, text=f"step {replay} / {config.steps} (replay)")
        draw({name: snaps[index] for name, snaps in history.items()}, circles, histograms, "replay")
    st.dataframe(summary_table(history), hide_index=True, width="stretch")
    st.caption("The AUC of the angle as an anomaly score: 1 when every anomaly lies farther from its centre "
               "than every normal, 0.5 when angles tell them apart no better than chance. In 2-D or 3-D the "
               "mixup losses (ArcMix, Noisy-ArcMix) cannot pull every class tight: mixed samples need room "
               "between the centres, so their normals stay wider than ArcFace's here. The papers' embeddings "
               "have 128 dimensions, with room for both.")


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
