"""The margin lab's teaching figures: what an additive angular margin does to logits, to the
decision boundary, and to a mixed sample (ArcMix vs Noisy-ArcMix); AdaCos's adaptive scale over
a training, and an embedding whose classes have several sub-centres (sub-cluster AdaCos).

The margin itself is never re-derived here: every curve calls asdcore.losses (ArcFace's
target_cosine, the mixed_loss of CrossEntropy / ArcMix / NoisyArcMix), so the figures show
exactly what training optimises.  asdcore.losses (and torch) load on the first call only, so
pages that never open the lab do not pay for the import.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..evaluation.scoring import l2_normalise
from .style import COLORS, apply_style, category_color

MIXED_LOSSES = (("mixup CE: no margin", "cross_entropy", "dot"),
                ("ArcMix: margin on y_a and on y_b", "arcmix", "dash"),
                ("Noisy-ArcMix: margin on y_a only", "noisy_arcmix", "solid"))


def _torch():
    # torch (and asdcore.losses, which needs it) load when a margin-lab figure is drawn, not when
    # asdcore.plots is imported: every page imports the plots, and torch takes seconds to load
    import torch

    return torch


def arcface_target_cosine(cos_theta: np.ndarray, s: float, m: float) -> np.ndarray:
    """psi(theta) = cos(theta + m), or cos(theta) - m sin(pi - m) past theta = pi - m, from
    asdcore.losses.ArcFace itself (float64, so the curve is the training code's own)."""
    from ..losses import ArcFace

    torch = _torch()
    return ArcFace(s, m).target_cosine(torch.as_tensor(cos_theta, dtype=torch.float64)).numpy()


def arcface_fallback_jump(s: float, m: float) -> tuple[float, float]:
    """ArcFace's target logit s psi(theta) just before and just past theta = pi - m (from the loss).

    Before: s cos(theta + m) -> s cos(pi) = -s.  Past: the continuation s (cos theta - m sin(pi - m)),
    which at theta = pi - m is s (-cos m - m sin m).  cos theta - m sin(pi - m) is the first-order
    Taylor form of cos(theta + m) ~ cos theta - m sin theta with sin theta frozen at its value at
    pi - m, so it does not meet cos(theta + m) there: the logit steps by s (1 - cos m - m sin m)
    (-6.5 for s = 30, m = 0.7; 0 only for m = 0)."""
    eps = 1e-9  # either side of the threshold (the loss takes the margin branch strictly before it)
    before, after = arcface_target_cosine(np.cos([math.pi - m - eps, math.pi - m + eps]), s, m)
    return float(s * before), float(s * after)


def mixed_sample_losses(s: float, m: float, lam: float, centre_gap_deg: float = 90.0, n: int = 361):
    """Loss of one mixed sample (weight lam on y_a) as its embedding moves along the arc from
    y_a's centre (phi = 0) to y_b's (phi = centre_gap_deg), two classes.  theta_a = phi,
    theta_b = gap - phi.  Returns (phi_deg, {curve name: per-position loss}).

    ArcMix:        lam CE(z_a, y_a) + (1 - lam) CE(z_b, y_b), margin at y_a in z_a, at y_b in z_b
    Noisy-ArcMix:  lam CE(z, y_a) + (1 - lam) CE(z, y_b), one z with the margin at y_a only
    """
    from ..losses import ArcMix, CrossEntropy, NoisyArcMix

    torch = _torch()
    phi = np.linspace(0.0, centre_gap_deg, n)
    theta_a, theta_b = np.radians(phi), np.radians(centre_gap_deg - phi)
    cosine = torch.as_tensor(np.stack([np.cos(theta_a), np.cos(theta_b)], axis=1), dtype=torch.float64)
    y_a, y_b = torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)
    lam_t = torch.full((n,), float(lam), dtype=torch.float64)
    losses = dict(cross_entropy=CrossEntropy(s), arcmix=ArcMix(s, m), noisy_arcmix=NoisyArcMix(s, m))
    with torch.no_grad():
        return phi, {name: loss.mixed_loss(cosine, y_a, y_b, lam_t).numpy() for name, loss in losses.items()}


def target_logit_curves(s: float = 30.0, m: float = 0.7, lam: float = 0.7, centre_gap_deg: float = 90.0,
                        title: str | None = None) -> go.Figure:
    """Two panels.
    Left: the label's logit against theta_y (0-180 degrees): CE s cos(theta), ArcFace
    s psi(theta) with psi = cos(theta + m) up to pi - m and the linear fallback past it.
    Right: a mixed sample (weight lam on y_a): its loss as the embedding moves from y_a's
    centre towards y_b's, for mixup CE, ArcMix and Noisy-ArcMix, each minimum marked: where
    each loss puts the mixed sample.  Mixup CE: near the bisector.  ArcMix: at the margin
    boundary of the class with the larger weight (y_a's if lam > 0.5, else y_b's).
    Noisy-ArcMix: at y_a's margin boundary (m/2 from the bisector towards y_a) whatever lam
    is, so for lam < 0.5 against the mixing weights: the "noise" it is named after.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    m_deg = math.degrees(m)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=[
        "the label's logit", f"a mixed sample (λ = {lam:.2f} on y_a) between two centres"])
    theta = np.linspace(0.0, 180.0, 721)
    cos_theta = np.cos(np.radians(theta))
    fig.add_trace(go.Scatter(x=theta, y=s * cos_theta, name="CE: s cos θ", legendgroup="left",
                             line=dict(color=COLORS["neutral"], dash="dot", width=2)), row=1, col=1)
    fig.add_trace(go.Scatter(x=theta, y=s * arcface_target_cosine(cos_theta, s, m), legendgroup="left",
                             name="ArcFace: s cos(θ + m), linear past π − m",
                             line=dict(color=category_color(0), width=3)), row=1, col=1)
    before, after = arcface_fallback_jump(s, m)
    fig.add_vline(x=180.0 - m_deg, line=dict(color=COLORS["boundary"], dash="dash", width=1), row=1, col=1,
                  annotation_text=f"π − m: continued as<br>cos θ − m sin(π − m);<br>the logit steps {before:.1f} → "
                                  f"{after:.1f}", annotation_position="top left")

    phi, losses = mixed_sample_losses(s, m, lam, centre_gap_deg)
    for i, (name, key, dash) in enumerate(MIXED_LOSSES):
        color = category_color(i + 1)
        loss = losses[key]
        best = int(np.argmin(loss))
        fig.add_trace(go.Scatter(x=phi, y=loss, name=name, legendgroup=key, legend="legend2",
                                 line=dict(color=color, dash=dash, width=3)),
                      row=1, col=2)
        fig.add_trace(go.Scatter(x=[phi[best]], y=[loss[best]], mode="markers", legendgroup=key, legend="legend2",
                                 showlegend=False,
                                 marker=dict(symbol="star", size=15, color=color, line=dict(color="black", width=1)),
                                 hovertemplate=f"{name}<br>minimum at %{{x:.1f}}° from y_a<extra></extra>"),
                      row=1, col=2)
    if lam < 0.5:
        fig.add_annotation(text="λ < 0.5: Noisy-ArcMix's margin sits on the minor class (its 'noise')",
                           xref="x2 domain", yref="y2 domain", x=0.5, y=0.98, yanchor="top", showarrow=False,
                           font=dict(size=11, color=COLORS["neutral"]))
    fig.update_xaxes(title_text="θ_y, angle to the label's centre (degrees)", range=[0, 180], dtick=30, row=1, col=1)
    fig.update_yaxes(title_text="logit of the label", row=1, col=1)
    fig.update_xaxes(title_text=f"angle from y_a's centre (degrees; y_b's at {centre_gap_deg:g}°)",
                     range=[0, centre_gap_deg], row=1, col=2)
    fig.update_yaxes(title_text="loss of the mixed sample", row=1, col=2)
    fig.update_layout(title=title or f"Additive angular margin: s = {s:g}, m = {m:.2f} rad ({m_deg:.1f}°)",
                      # one legend under each panel
                      legend=dict(x=0.0, y=-0.2, yanchor="top"), legend2=dict(x=0.56, y=-0.2, yanchor="top"))
    fig = apply_style(fig, height=500)
    fig.update_layout(margin=dict(b=130))
    return fig


# --- the decision boundary on the unit circle ------------------------------------------------

def _unit(angle_deg) -> tuple[np.ndarray, np.ndarray]:
    a = np.radians(angle_deg)
    return np.cos(a), np.sin(a)


def _margin_gap(phi_deg: np.ndarray, own_deg: float, other_deg: float, s: float, m: float) -> np.ndarray:
    """psi(cos theta_own) - cos theta_other at each direction phi: > 0 where the own class wins
    even with the margin (ArcFace's decision rule with the margin applied, cos(theta_own + m) > cos theta_other)."""
    own = np.cos(np.radians(phi_deg - own_deg))
    other = np.cos(np.radians(phi_deg - other_deg))
    return arcface_target_cosine(own, s, m) - other


def arcface_boundary_angles(m: float, centres_deg=(0.0, 90.0), s: float = 30.0, steps: int = 3600) -> list[list[float]]:
    """Directions (degrees, in [0, 360)) where each class's margin condition changes sign:
    [class 1's boundaries, class 2's].  Found on a grid, then refined by bisection."""
    out = []
    for own, other in ((centres_deg[0], centres_deg[1]), (centres_deg[1], centres_deg[0])):
        phi = np.linspace(0.0, 360.0, steps + 1)
        gap = _margin_gap(phi, own, other, s, m)
        crossings = np.nonzero(np.sign(gap[:-1]) != np.sign(gap[1:]))[0]
        angles = []
        for i in crossings:
            lo, hi = phi[i], phi[i + 1]
            for _ in range(50):  # bisection: the sign of the gap at lo is kept
                mid = 0.5 * (lo + hi)
                same = np.sign(_margin_gap(np.array([mid]), own, other, s, m)[0]) == np.sign(gap[i])
                lo, hi = (mid, hi) if same else (lo, mid)
            angles.append(round(float(0.5 * (lo + hi)) % 360.0, 9))
        out.append(sorted(set(angles)))
    return out


def _sector(a0: float, a1: float, **trace) -> go.Scatter:
    """A filled pie slice of the unit disc from direction a0 to a1 (degrees)."""
    x, y = _unit(np.linspace(a0, a1, max(2, int(abs(a1 - a0)) + 2)))
    return go.Scatter(x=np.r_[0.0, x, 0.0], y=np.r_[0.0, y, 0.0], mode="lines", fill="toself",
                      line=dict(width=0), hoverinfo="skip", **trace)


def decision_boundaries(m: float = 0.7, s: float | None = None, centres_deg=(0.0, 90.0),
                        title: str | None = None) -> go.Figure:
    """Two class centres W1, W2 on the unit circle, and which class an embedding direction
    goes to.  Softmax / CE: the bisector (cos theta_1 = cos theta_2).  ArcFace: class k wins
    with the margin where cos(theta_k + m) > cos theta_other; its boundary lies m/2 from the
    bisector on class k's side, leaving a gap of angle m where neither class wins with the
    margin.  s does not move any boundary (it only sharpens the softmax); when given, the hover
    on the circle shows the probabilities.
    """
    c1, c2 = (float(c) for c in centres_deg)
    scale = 30.0 if s is None else float(s)
    fig = go.Figure()
    # shaded regions along the circle, from the sign of each class's margin condition
    phi = np.linspace(0.0, 360.0, 1441)
    region = np.where(_margin_gap(phi, c1, c2, scale, m) > 0, 1, np.where(_margin_gap(phi, c2, c1, scale, m) > 0, 2, 0))
    names = {1: "class 1 wins with the margin", 2: "class 2 wins with the margin",
             0: "no class wins with the margin"}
    fills = {1: category_color(0), 2: category_color(1), 0: COLORS["train"]}
    shown = set()
    start = 0
    for i in range(1, len(phi) + 1):
        if i == len(phi) or region[i] != region[start]:
            r = int(region[start])
            fig.add_trace(_sector(phi[start], phi[min(i, len(phi) - 1)], name=names[r], legendgroup=f"region{r}",
                                  showlegend=r not in shown, fillcolor=fills[r], opacity=0.3))
            shown.add(r)
            start = i
    _add_circle_with_hover(fig, c1, c2, s, m)
    # softmax / CE boundary: the line through the origin along the bisector
    bx, by = _unit(_bisector(c1, c2))
    fig.add_trace(go.Scatter(x=[-bx, bx], y=[-by, by], mode="lines", name="softmax / CE boundary: cos θ1 = cos θ2",
                             line=dict(color=COLORS["boundary"], dash="dash", width=2), hoverinfo="skip"))
    for k, angles in enumerate(arcface_boundary_angles(m, (c1, c2), scale)):
        xs, ys = [], []
        for a in angles:
            ux, uy = _unit(a)
            xs += [0.0, float(ux), None]
            ys += [0.0, float(uy), None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"ArcFace boundary of class {k + 1}",
                                 meta=dict(angles_deg=angles), line=dict(color=category_color(k), width=3),
                                 hovertemplate=f"class {k + 1}: cos(θ{k + 1} + m) = cos θ{2 - k}<extra></extra>"))
    for k, c in enumerate((c1, c2)):
        ux, uy = _unit(c)
        fig.add_trace(go.Scatter(x=[0, ux], y=[0, uy], mode="lines+markers+text", name=f"centre W{k + 1}",
                                 text=["", f"W{k + 1}"], textposition="top right", textfont=dict(size=15),
                                 line=dict(color=category_color(k), width=2),
                                 marker=dict(size=[0, 14], symbol="star", color=category_color(k),
                                             line=dict(color="black", width=1)), showlegend=False))
    m_deg = math.degrees(m)
    fig.update_layout(title=title or f"Decision boundaries for two classes: m = {m:.2f} rad ({m_deg:.1f}°), "
                                     f"a gap of m between the ArcFace boundaries")
    _equal_axes(fig)
    return apply_style(fig, height=560)


def _bisector(c1: float, c2: float) -> float:
    """The direction halfway between c1 and c2 along the shorter arc."""
    return c1 + ((c2 - c1 + 180.0) % 360.0 - 180.0) / 2.0


def _add_circle_with_hover(fig: go.Figure, c1: float, c2: float, s: float | None, m: float) -> None:
    phi = np.linspace(0.0, 360.0, 361)
    x, y = _unit(phi)
    theta1 = np.abs((phi - c1 + 180.0) % 360.0 - 180.0)
    theta2 = np.abs((phi - c2 + 180.0) % 360.0 - 180.0)
    text = [f"θ1 = {a:.0f}°, θ2 = {b:.0f}°" for a, b in zip(theta1, theta2)]
    if s is not None:
        cos1, cos2 = np.cos(np.radians(theta1)), np.cos(np.radians(theta2))
        # p(class 1) under softmax(s cos), and with ArcFace's margin on class 1 (label = class 1)
        p_ce = 1.0 / (1.0 + np.exp(s * (cos2 - cos1)))
        p_arc = 1.0 / (1.0 + np.exp(s * (cos2 - arcface_target_cosine(cos1, s, m))))
        text = [f"{t}<br>CE p(class 1) = {a:.3f}<br>ArcFace p(class 1 | label 1) = {b:.3f}"
                for t, a, b in zip(text, p_ce, p_arc)]
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="unit circle", showlegend=False, hovertext=text,
                             hovertemplate="%{hovertext}<extra></extra>",
                             line=dict(color=COLORS["neutral"], width=1.5)))


def _equal_axes(fig: go.Figure) -> None:
    fig.update_xaxes(range=[-1.3, 1.3], visible=False)
    fig.update_yaxes(range=[-1.3, 1.3], visible=False, scaleanchor="x", scaleratio=1)


# --- the toy embedding of the live margin lab ------------------------------------------------

def _numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def embedding_circle(points, labels, centres=None, class_names=None, normalise: bool = True,
                     title: str = "Toy embedding") -> go.Figure:
    """2-D embeddings on the unit circle (or 3-D on the sphere), one colour per class, each
    class centre W_k a star joined to the origin.  Points and centres are L2-normalised first
    (normalise=True): the margin losses only see directions."""
    points, labels = _numpy(points).astype(float), _numpy(labels).astype(int).ravel()
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"points must be (N, 2) or (N, 3), got shape {points.shape}")
    dim = points.shape[1]
    centres = None if centres is None else _numpy(centres).astype(float)
    if normalise:
        points = l2_normalise(points)
        centres = None if centres is None else l2_normalise(centres)
    n_classes = max(int(labels.max(initial=-1)) + 1, 0 if centres is None else len(centres))
    names = list(class_names) if class_names is not None else [f"class {k}" for k in range(n_classes)]
    fig = go.Figure()
    fig.add_trace(_reference_shape(dim))
    for k in range(n_classes):
        p = points[labels == k]
        fig.add_trace(_points_trace(dim, p, names[k], dict(color=category_color(k), size=6 if dim == 2 else 3,
                                                           opacity=0.7), legendgroup=f"class{k}"))
        if centres is not None and k < len(centres):
            line = np.stack([np.zeros(dim), centres[k]])
            fig.add_trace(_points_trace(dim, line, f"centre W{k}", dict(
                color=category_color(k), size=[0, 16 if dim == 2 else 7], symbol="diamond" if dim == 3 else "star",
                line=dict(color="black", width=1)), mode="lines+markers", legendgroup=f"class{k}", showlegend=False,
                line=dict(color=category_color(k), width=3)))
    fig.update_layout(title=title, uirevision="embedding_circle")
    if dim == 2:
        _equal_axes(fig)
    else:
        axis = dict(range=[-1.2, 1.2], visible=False)
        fig.update_layout(scene=dict(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube"))
    return apply_style(fig, height=520)


def _points_trace(dim: int, p: np.ndarray, name: str, marker: dict, mode: str = "markers", **kw):
    if dim == 2:
        return go.Scatter(x=p[:, 0], y=p[:, 1], mode=mode, name=name, marker=marker, **kw)
    return go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode=mode, name=name, marker=marker, **kw)


def _reference_shape(dim: int):
    """The unit circle, or a wireframe sphere (6 meridians, 5 parallels) for 3-D."""
    t = np.linspace(0.0, 2 * np.pi, 121)
    style = dict(mode="lines", name="unit sphere" if dim == 3 else "unit circle", showlegend=False,
                 hoverinfo="skip", line=dict(color=COLORS["train"], width=1.5))
    if dim == 2:
        return go.Scatter(x=np.cos(t), y=np.sin(t), **style)
    xs, ys, zs = [], [], []
    for lon in np.linspace(0.0, np.pi, 6, endpoint=False):  # meridians
        xs += list(np.cos(lon) * np.sin(t)) + [None]
        ys += list(np.sin(lon) * np.sin(t)) + [None]
        zs += list(np.cos(t)) + [None]
    for lat in np.linspace(-60.0, 60.0, 5):  # parallels
        r, z = math.cos(math.radians(lat)), math.sin(math.radians(lat))
        xs += list(r * np.cos(t)) + [None]
        ys += list(r * np.sin(t)) + [None]
        zs += [z] * len(t) + [None]
    return go.Scatter3d(x=xs, y=ys, z=zs, **style)


# --- AdaCos: the adaptive scale, and sub-clusters -----------------------------------------------

def adacos_initial_scale(n_centres: int) -> float:
    """AdaCos's starting scale sqrt(2) ln(n - 1), n = C*S centres (asdcore.losses.AdaCos's own)."""
    from ..losses import AdaCos

    return AdaCos().initial_scale(int(n_centres))


def adaptive_scale_curves(curves: dict, n_centres: dict, max_scale: float | None = None,
                          title: str = "AdaCos's adaptive scale s over the training steps") -> go.Figure:
    """One line per loss: s at steps 0, 1, 2, ... (curves[name], a Snapshot's `scales`), each
    loss's initial value sqrt(2) ln(C*S - 1) (n_centres[name] = C*S) drawn as a dotted line with
    a marker at step 0, and the lab's cap on s when the curves reach it.  The y axis turns
    logarithmic when s spans more than a factor of 10 (sub-cluster AdaCos's estimate grows
    geometrically), and its range is the data's (curves, initial values, cap) with some room."""
    fig = go.Figure()
    values, initial = [], []
    for i, (name, scales) in enumerate(curves.items()):
        scales = np.asarray(scales, dtype=float)
        color = category_color(i)
        s0 = adacos_initial_scale(n_centres[name])
        values += [s0, *scales[np.isfinite(scales)]]
        fig.add_trace(go.Scatter(x=np.arange(len(scales)), y=scales, mode="lines", name=name, legendgroup=name,
                                 line=dict(color=color, width=3),
                                 hovertemplate=f"{name}<br>step %{{x}}: s = %{{y:.3g}}<extra></extra>"))
        fig.add_hline(y=s0, line=dict(color=color, dash="dot", width=1.5))
        fig.add_trace(go.Scatter(x=[0], y=[s0], mode="markers", name=f"{name}: initial s", legendgroup=name,
                                 showlegend=False, meta=dict(initial_scale=s0),
                                 marker=dict(symbol="diamond", size=11, color=color, line=dict(color="black", width=1)),
                                 hovertemplate=f"{name}<br>initial s = √2 ln({n_centres[name]} − 1) = {s0:.3f}"
                                               "<extra></extra>"))
        initial.append((s0, color, n_centres[name]))
    cap = max_scale is not None and values and max(values) >= max_scale * (1 - 1e-9)
    log_y = _spans_decade(values)
    # Annotations on a log axis are placed by log10 of the value (shapes such as add_hline's line
    # by the value itself): plotly's add_hline(annotation_text=...) gets this wrong, putting a label
    # for s = 30 at 10^30 and stretching the axis there, so every label here is placed by hand.
    at = (lambda v: math.log10(v)) if log_y else (lambda v: v)  # noqa: E731
    if cap:
        # only when reached: the cap is the lab's, not AdaCos's, so it is shown where it acted;
        # its label sits on its line, at the right end
        fig.add_hline(y=max_scale, line=dict(color=COLORS["boundary"], dash="dash", width=1.5))
        fig.add_annotation(x=1.0, xref="x domain", y=at(max_scale), xanchor="right", yanchor="bottom",
                           showarrow=False, font=dict(size=11, color=COLORS["boundary"]),
                           text=f"the lab's cap, s = {max_scale:g}", name="cap")
    for i, (s0, color, n) in enumerate(initial):
        # each label on its own dotted line, the k-th one k/n of the way across (past the first
        # steps, where s moves most): two losses whose initial values are close (or equal:
        # sub-cluster AdaCos with S = 1) never overprint
        fig.add_annotation(x=0.15 + 0.85 * i / len(initial), xref="x domain", y=at(s0), xanchor="left",
                           yanchor="bottom",
                           showarrow=False, font=dict(size=11, color=color), name="initial s",
                           text=f"initial s = √2 ln(C·S − 1) = {s0:.2f} (C·S = {n})")
    shown = [v for v in values + ([max_scale] if cap else []) if np.isfinite(v) and v > 0]
    if shown:
        # the data's range with room above for the labels that sit on the top line
        lo, hi = min(shown), max(shown)
        fig.update_yaxes(range=[math.log10(lo / 1.4), math.log10(hi * 1.6)] if log_y
                         else [min(0.0, *[v for v in values if np.isfinite(v)]), hi * 1.2])
    if log_y:
        # ticks at 1-2-5 steps, written out in full (plotly's default log ticks label 20 and 30 as "2", "3")
        lo, hi = (10 ** v for v in fig.layout.yaxis.range)
        ticks = [k * 10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
                 for k in (1, 2, 5) if lo <= k * 10.0 ** e <= hi]
        fig.update_yaxes(type="log", tickvals=ticks, ticktext=[f"{v:g}" for v in ticks])
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="scale s")
    fig.update_layout(title=title)
    return apply_style(fig, height=380)


def _spans_decade(values) -> bool:
    values = [v for v in values if np.isfinite(v) and v > 0]
    return bool(values) and max(values) > 10 * min(values)


def subcluster_regions(subcentres) -> list[tuple[int, float, float]]:
    """2-D: the arcs of the circle each class wins, [(class, from_deg, to_deg), ...] going round
    counter-clockwise (to_deg may pass 360 on the arc that wraps).  A direction goes to the class of
    its nearest sub-centre (the largest cosine, the class the head's max-over-sub-centres cosine
    picks), so each sub-centre owns the cone between the bisectors with its two neighbours on the
    circle, and a class's region is the union of its sub-centres' cones: neighbouring cones of one
    class merge into one arc."""
    subcentres = _numpy(subcentres).astype(float)
    if subcentres.ndim != 3 or subcentres.shape[2] != 2:
        raise ValueError(f"regions are drawn on the unit circle: subcentres must be (C, S, 2), got {subcentres.shape}")
    n_sub = subcentres.shape[1]
    flat = subcentres.reshape(-1, 2)
    angle = np.degrees(np.arctan2(flat[:, 1], flat[:, 0])) % 360.0
    order = np.argsort(angle)
    angle, owner = angle[order], order // n_sub  # row k*S + j is sub-centre j of class k
    # each sub-centre's cone ends halfway to the next sub-centre round the circle
    gap_to_next = (np.roll(angle, -1) - angle) % 360.0
    ends = angle + gap_to_next / 2.0
    starts = np.roll(ends, 1)
    starts[0] -= 360.0  # the first cone starts before 0 degrees, where the last one ends
    arcs = []
    for k, a0, a1 in zip(owner, starts, ends):
        if arcs and arcs[-1][0] == k:
            arcs[-1] = (int(k), arcs[-1][1], float(a1))  # the same class next door: one arc
        else:
            arcs.append((int(k), float(a0), float(a1)))
    if len(arcs) > 1 and arcs[0][0] == arcs[-1][0]:  # the arc across 0 degrees
        arcs[0] = (arcs[0][0], arcs[-1][1] - 360.0, arcs[0][2])
        arcs.pop()
    return arcs


def embedding_subclusters(points, labels, subcentres, class_names=None, normalise: bool = True,
                          title: str = "Toy embedding with sub-clusters") -> go.Figure:
    """embedding_circle's points, with every sub-centre W_kj (subcentres: (C, S, D)) drawn as a
    ray in its class's colour.  In 2-D the disc is also shaded by the class whose nearest
    sub-centre wins each direction: a class's region is the union of its sub-centres' cones, and
    may be several separate arcs."""
    subcentres = _numpy(subcentres).astype(float)
    if subcentres.ndim != 3:
        raise ValueError(f"subcentres must be (C, S, D), got shape {subcentres.shape}")
    n_classes, n_sub, dim = subcentres.shape
    if normalise:
        subcentres = l2_normalise(subcentres.reshape(-1, dim)).reshape(subcentres.shape)
    fig = embedding_circle(points, labels, None, class_names, normalise=normalise, title=title)
    names = list(class_names) if class_names is not None else [f"class {k}" for k in range(n_classes)]
    n_before = len(fig.data)
    if dim == 2:
        for k, a0, a1 in subcluster_regions(subcentres):
            fig.add_trace(_sector(a0, a1, name=f"{names[k]}'s region", legendgroup=f"class{k}", showlegend=False,
                                  fillcolor=category_color(k), opacity=0.15, meta=dict(region_of=k)))
        # the shading goes under the points: traces are drawn in order, so move it to the front
        n_regions = len(fig.data) - n_before
        fig.data = fig.data[n_before:] + fig.data[:n_before]
        n_before += n_regions
    for k in range(n_classes):
        # one trace per class: a ray from the origin to each of its sub-centres, None between rays
        rays = np.full((3 * n_sub, dim), np.nan)
        rays[0::3] = 0.0
        rays[1::3] = subcentres[k]
        fig.add_trace(_points_trace(dim, rays, f"sub-centres of {names[k]}", dict(
            color=category_color(k), size=np.tile([0, 13 if dim == 2 else 6, 0], n_sub).tolist(),
            symbol="diamond" if dim == 3 else "star", line=dict(color="black", width=1)),
            mode="lines+markers", legendgroup=f"class{k}", showlegend=False, connectgaps=False,
            line=dict(color=category_color(k), width=2), meta=dict(subcentres=n_sub)))
    return fig
