"""Cross-entropy as a soft hinge in the logits (not in p).

Take ``K`` classes, the correct one first (``y = 0``), its logit ``z_0 = m`` and
the ``K - 1`` other logits ``s_j`` spread evenly over ``[-spread, spread]``
(all 0 when ``spread = 0``). The margin ``m`` is how far the correct logit sits
above the centre of the others. Then

    CE(m) = -log p_0 = log(e^m + sum_j e^{s_j}) - m = log(1 + e^{log S - m}),
    log S = logsumexp(s),

a softplus of ``log S - m``: for very negative margins it grows like the hinge
(slope -1), for large margins it decays smoothly to 0. With ``spread = 0``,
``log S = log(K - 1)``. As a function of ``p_0`` the same loss is ``-log p_0``,
with no hinge at all.

- :func:`soft_hinge_curves` computes the curves (analytic cross-entropy, hinge,
  0-1 loss) and, given the student's ``softmax_loss``, theirs and a verdict.
- :class:`SoftHingeExplorer` is the widget (K, spread and a margin marker).
"""

from __future__ import annotations

import html
import traceback
import warnings

import ipywidgets as widgets
import numpy as np

from coursekit.plots import CLASS_COLORS
from coursekit.widgets.base import FigureWidget, timed

__all__ = ["competitor_logits", "soft_hinge_curves", "SoftHingeExplorer"]

NOT_IMPLEMENTED = "not implemented yet"
MATCHES = "your softmax_loss matches the analytic curve"


def competitor_logits(num_classes, spread=0.0):
    """The ``K - 1`` wrong-class logits, shape (K-1,): evenly spaced on ``[-spread, spread]``."""
    n = int(num_classes) - 1
    if n < 1:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if not (np.isfinite(spread) and spread >= 0):
        raise ValueError(f"spread must be a number >= 0, got {spread!r}")
    return float(spread) * np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)


def _student_losses(loss_fn, logits):
    """Call ``loss_fn`` once per row (N = 1, label 0); returns (M,) losses and warning texts."""
    y = np.zeros(1, dtype=np.int64)
    out = np.empty(logits.shape[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(logits.shape[0]):
            result = loss_fn(logits[i:i + 1].copy(), y)
            if not (isinstance(result, (tuple, list)) and len(result) == 2):
                raise TypeError("softmax_loss(x, y) must return a pair (loss, dx), got "
                                f"{type(result).__name__}")
            loss = np.asarray(result[0], dtype=float)
            if loss.size != 1:
                raise TypeError(f"softmax_loss must return a scalar loss, got shape {loss.shape}")
            out[i] = loss.item()
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    return out, messages


def soft_hinge_curves(margins, num_classes=5, spread=0.0, loss_fn=None, *, rtol=1e-6,
                      atol=1e-8):
    """Losses of the correct class as a function of its logit margin.

    Parameters
    ----------
    margins : array_like, shape (M,)
        Values of ``m = z_y - (centre of the other logits)``.
    num_classes : int
        ``K >= 2``.
    spread : float
        The other logits are spread evenly over ``[-spread, spread]``
        (:func:`competitor_logits`).
    loss_fn : callable, optional
        The student's ``softmax_loss(x, y) -> (loss, dx)``. It is called once per
        margin with ``x`` of shape ``(1, K)`` and ``y = [0]``, so its mean over
        ``N`` is the per-margin loss.
    rtol, atol : float
        The student's curve matches when ``|yours - CE| <= atol + rtol * |CE|`` everywhere.

    Returns
    -------
    dict with
        ``margins`` (M,); ``logits`` (M, K): the rows, correct class in column 0;
        ``cross_entropy`` (M,): ``log(1 + exp(log S - m))`` (``np.logaddexp``);
        ``p_correct`` (M,): ``exp(-cross_entropy)``; ``hinge`` (M,): ``max(0, 1 - m)``;
        ``zero_one`` (M,): 1 where a wrong class has the larger logit;
        ``log_s``: ``logsumexp`` of the other logits; ``tie_margin``: the largest
        other logit (the 0-1 loss jumps there);
        ``student`` (M,) or None; ``max_diff``: ``max |student - cross_entropy|``
        (``inf`` if the student's loss is nan/inf somewhere; None without a
        student curve); ``worst_margin``: where it is largest;
        ``matches``: bool or None; ``verdict``: a sentence for the student;
        ``warnings``: NumPy warnings the student's code raised.
    """
    m = np.asarray(margins, dtype=float)
    if m.ndim != 1 or not np.all(np.isfinite(m)):
        raise ValueError("margins must be a 1-D array of finite numbers")
    K = int(num_classes)
    others = competitor_logits(K, spread)
    top = others.max()
    log_s = float(top + np.log(np.sum(np.exp(others - top))))
    ce = np.logaddexp(0.0, log_s - m)
    logits = np.empty((m.size, K))
    logits[:, 0] = m
    logits[:, 1:] = others

    result = {
        "margins": m, "logits": logits, "num_classes": K, "spread": float(spread),
        "cross_entropy": ce, "p_correct": np.exp(-ce), "hinge": np.maximum(0.0, 1.0 - m),
        "zero_one": (m < top).astype(float), "log_s": log_s, "tie_margin": float(top),
        "student": None, "max_diff": None, "worst_margin": None, "matches": None,
        "warnings": [], "verdict": "no loss_fn given: pass your softmax_loss to compare",
    }
    if loss_fn is None or m.size == 0:
        return result
    try:
        student, messages = _student_losses(loss_fn, logits)
    except NotImplementedError:
        result["verdict"] = NOT_IMPLEMENTED
        return result

    finite = np.isfinite(student)
    diff = np.where(finite, np.abs(student - ce), np.inf)
    worst = int(np.argmax(diff))
    ok = bool(np.all(diff <= atol + rtol * np.abs(ce)))
    result.update(student=student, max_diff=float(diff[worst]), worst_margin=float(m[worst]),
                  matches=ok, warnings=messages)
    if ok:
        result["verdict"] = MATCHES
        return result

    yours, ref = student[worst], ce[worst]
    verdict = (f"your softmax_loss differs by up to {diff[worst]:.3g} at margin {m[worst]:.4g} "
               f"(yours {yours + 0.0:.6g}, expected {ref:.6g})")
    hints = []
    if np.any(np.isnan(student)):
        where = m[np.isnan(student)]
        hints.append(f"A nan (e.g. at margin {where[-1]:.4g}) usually means exp overflowed: "
                     "subtract each row's max logit before exponentiating")
    if np.any(np.isinf(student)):
        where = m[np.isinf(student)]
        hints.append(f"An inf (e.g. at margin {where[0]:.4g}) usually means log(0) of an "
                     "underflowed probability: compute log p with log-sum-exp (log_softmax)")
    if not hints:
        hints.append("Check that each row is normalised (sum over axis 1), that the loss is "
                     "-log p[y], and that you average over N")
    verdict += ". " + "; ".join(hints)
    if messages:
        verdict += f" [NumPy warned: {'; '.join(messages[:2])}]"
    result["verdict"] = verdict
    return result


# --------------------------------------------------------------------------- widget


_CAPTION_HTML = (
    "<small><b>A soft hinge in the logits, not in p.</b> Left: the cross-entropy of the "
    "correct class against its logit margin <i>m</i> is <i>softplus(log S &minus; m)</i>: far "
    "on the wrong side it grows like the hinge (slope &minus;1), past the margin it fades "
    "smoothly to 0 instead of stopping at a kink, and unlike the 0-1 loss it has a useful "
    "gradient everywhere. Right: the same loss against <i>p<sub>y</sub></i> is just "
    "&minus;log <i>p<sub>y</sub></i>, with no hinge at all. K and the spread of the other "
    "logits only shift the curve by log S.</small>")


class SoftHingeExplorer(FigureWidget):
    """Widget: cross-entropy against the logit margin, beside the hinge and 0-1 losses.

    A :class:`~coursekit.widgets.base.FigureWidget` (sliders, figure, caption, status,
    error output).

    Parameters
    ----------
    loss_fn : callable, optional
        The student's ``softmax_loss(x, y) -> (loss, dx)``; once it works its curve
        is drawn dashed over the analytic one, and the status says whether they agree
        (also at margins of +-1000, where unstable code returns nan or inf).
    num_classes : int
        Initial ``K`` (slider 2..10).
    spread : float
        Initial spread of the other logits (slider 0..4).
    margin : float
        Initial position of the marker.
    margin_range : (float, float)
        The plotted margins.
    figure_backend : {"auto", "ipympl", "static"}
        See :func:`coursekit.plots.interactive_figure`.

    Attributes
    ----------
    sliders : dict
        ``"K"``, ``"spread"``, ``"margin"``.
    state : dict
        The last :func:`soft_hinge_curves` result, plus ``"marker"`` (the values at
        the marked margin) and ``"probe"`` (the check at margins +-1000, or None).
    fig, artists, status, output : as in :class:`coursekit.widgets.simplex.SimplexExplorer`.
    """

    PROBE_MARGINS = np.array([-1000.0, 1000.0])

    def __init__(self, loss_fn=None, num_classes=5, *, spread=0.0, margin=1.0,
                 margin_range=(-6.0, 6.0), figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"loss_fn must be your softmax_loss function, got "
                            f"{type(loss_fn).__name__}")
        self.loss_fn = loss_fn
        self.margins = np.linspace(margin_range[0], margin_range[1], 241)
        self.state = None
        self._student_ok = False

        self.make_figure((9.0, 3.7))
        live = self.live
        style = {"description_width": "4em"}
        lay = widgets.Layout(width="300px")
        self.sliders = {
            "K": widgets.IntSlider(value=int(num_classes), min=2, max=10, description="K",
                                   continuous_update=live, style=style, layout=lay),
            "spread": widgets.FloatSlider(value=float(spread), min=0.0, max=4.0, step=0.1,
                                          description="spread", readout_format=".1f",
                                          continuous_update=live, style=style, layout=lay),
            "margin": widgets.FloatSlider(value=float(margin), min=margin_range[0],
                                          max=margin_range[1], step=0.1, description="margin",
                                          readout_format=".1f", continuous_update=live,
                                          style=style, layout=lay),
        }
        self.watch(self.sliders["margin"], handler=self._on_marker_change)
        self.start(widgets.HBox([self.sliders["K"], self.sliders["spread"], self.sliders["margin"]]),
                   below=[widgets.HTML(_CAPTION_HTML, layout=widgets.Layout(max_width="900px"))],
                   watch=[self.sliders["K"], self.sliders["spread"]])

    # -- figure -------------------------------------------------------------------------
    def _build_figure(self):
        fig, m = self.fig, self.margins
        ax = fig.add_axes([0.065, 0.2, 0.5, 0.7])
        nan = np.full_like(m, np.nan)
        (zero_one,) = ax.plot(m, nan, color="0.15", lw=1.5, drawstyle="steps-mid",
                              label="0-1 loss")
        (hinge,) = ax.plot(m, nan, color="0.55", lw=1.5, label="hinge  max(0, 1 - m)")
        (ce,) = ax.plot(m, nan, color=CLASS_COLORS[0], lw=2.5, label="cross-entropy (analytic)")
        (student,) = ax.plot(m, nan, color=CLASS_COLORS[1], lw=2, ls="--",
                             label="your softmax_loss")
        marker_line = ax.axvline(0.0, color="0.4", lw=0.8, ls=":")
        (marker_pts,) = ax.plot([], [], "o", color=CLASS_COLORS[0], ms=6, zorder=5)
        info = ax.text(0.98, 0.66, "", transform=ax.transAxes, ha="right", va="top",
                       fontsize=8.5, family="monospace",
                       bbox=dict(boxstyle="round", fc="white", ec="0.8", alpha=0.9))
        ax.set_xlim(m[0], m[-1])
        ax.set_xlabel("margin m = z_y - (centre of the other logits)")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.25)
        legend = ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
        title = ax.set_title("", fontsize=10)

        ax_p = fig.add_axes([0.665, 0.2, 0.315, 0.7])
        p = np.linspace(1e-3, 1.0, 400)
        ax_p.plot(p, -np.log(p), color=CLASS_COLORS[0], lw=2.5, label="-log p_y")
        (p_zero_one,) = ax_p.plot([], [], color="0.15", lw=1.5, label="0-1 loss")
        (p_marker,) = ax_p.plot([], [], "o", color=CLASS_COLORS[0], ms=6, zorder=5)
        ax_p.set_xlim(0, 1)
        ax_p.set_ylim(-0.2, 7.0)
        ax_p.set_xlabel("p_y = softmax(z)_y")
        ax_p.set_title("the same loss against p_y", fontsize=10)
        ax_p.grid(alpha=0.25)
        ax_p.legend(loc="upper right", fontsize=8)
        formula = fig.text(0.5, 0.015, "", ha="center", va="bottom", fontsize=9)
        self.artists = {
            "cross_entropy": ce, "student": student, "hinge": hinge, "zero_one": zero_one,
            "marker_line": marker_line, "marker_points": marker_pts, "info": info,
            "title": title, "legend": legend, "p_zero_one": p_zero_one, "p_marker": p_marker,
            "formula": formula, "ax": ax, "ax_p": ax_p,
        }

    def _legend_student_text(self, text):
        for label in self.artists["legend"].get_texts():
            if label.get_text().startswith("your softmax_loss"):
                label.set_text(text)

    def _on_marker_change(self, change=None):
        self.update_marker()
        self.redraw()

    # -- updates --------------------------------------------------------------------------
    @timed
    def update(self):
        """Recompute the curves for the current K and spread, move every artist; returns state."""
        K = self.sliders["K"].value
        spread = self.sliders["spread"].value
        a = self.artists
        problem = None
        try:
            curves = soft_hinge_curves(self.margins, K, spread, self.loss_fn)
            probe = None
            if curves["matches"]:
                probe = soft_hinge_curves(self.PROBE_MARGINS, K, spread, self.loss_fn)
        except Exception as exc:  # raised by the student's softmax_loss
            curves = soft_hinge_curves(self.margins, K, spread, None)
            probe = None
            problem = (f"<b>Your softmax_loss raised {type(exc).__name__}:</b> "
                       f"{html.escape(str(exc))} (traceback below)")
            traceback.print_exc()
        curves["probe"] = probe
        self.state = curves

        a["cross_entropy"].set_ydata(curves["cross_entropy"])
        a["hinge"].set_ydata(curves["hinge"])
        a["zero_one"].set_ydata(curves["zero_one"])
        student = curves["student"]
        self._student_ok = student is not None
        if self._student_ok:
            a["student"].set_ydata(np.where(np.isfinite(student), student, np.nan))
        a["student"].set_visible(self._student_ok)
        top = max(curves["cross_entropy"][0], curves["hinge"][0], 1.0)
        a["ax"].set_ylim(-0.3, 1.08 * top)
        others = "the other logits all 0" if spread == 0 else (
            f"the other logits spread over [-{spread:.1f}, {spread:.1f}]")
        a["title"].set_text(f"loss of the correct class: K = {K}, {others}")
        p_tie = float(np.exp(-np.logaddexp(0.0, curves["log_s"] - curves["tie_margin"])))
        a["p_zero_one"].set_data([0, p_tie, p_tie, 1], [1, 1, 0, 0])
        a["formula"].set_text(
            f"CE(m) = log(1 + exp(log S - m)),  log S = logsumexp(other logits) = "
            f"{curves['log_s']:.3f}" + ("  (= log(K-1))" if spread == 0 else "")
            + f";  the 0-1 loss jumps at m = {curves['tie_margin']:.2f}, p_y = {p_tie:.3f}")

        if problem is not None:
            self._legend_student_text("your softmax_loss: raised an error")
            self.say("error", problem)
        elif self.loss_fn is None:
            self._legend_student_text("your softmax_loss: pass loss_fn=softmax_loss")
            self.status.value = ""
        elif curves["verdict"] == NOT_IMPLEMENTED:
            self._legend_student_text("your softmax_loss: not implemented yet")
            self.say("todo", "<b>Implement <code>softmax_loss</code> first.</b> Its curve will "
                             "appear dashed over the analytic one.")
        elif curves["matches"] and probe is not None and not probe["matches"]:
            self._legend_student_text("your softmax_loss")
            self.say(
                "todo",
                "<b>Your softmax_loss matches the analytic curve here, but not at extreme "
                f"margins:</b> {html.escape(probe['verdict'])}")
        elif curves["matches"]:
            self._legend_student_text("your softmax_loss")
            self.say("ok", f"<b>{html.escape(MATCHES)}</b> (max difference "
                           f"{curves['max_diff']:.1e}, also stable at margins +-1000).")
        else:
            self._legend_student_text("your softmax_loss (differs!)")
            self.say("error", html.escape(curves["verdict"]))
        if problem is None:
            self.clear_errors()
        self.update_marker()
        self.redraw()
        return self.state

    def update_marker(self):
        """Move the margin marker (no curve recomputation); returns the marker values."""
        m = float(self.sliders["margin"].value)
        s = self.state
        ce = float(np.logaddexp(0.0, s["log_s"] - m))
        marker = {"margin": m, "cross_entropy": ce, "p_correct": float(np.exp(-ce)),
                  "hinge": max(0.0, 1.0 - m), "zero_one": float(m < s["tie_margin"]),
                  "student": None}
        if self._student_ok:
            try:
                one = soft_hinge_curves(np.array([m]), s["num_classes"], s["spread"],
                                        self.loss_fn)
                marker["student"] = None if one["student"] is None else float(one["student"][0])
            except Exception:  # already reported by update()
                marker["student"] = None
        s["marker"] = marker
        a = self.artists
        a["marker_line"].set_xdata([m, m])
        a["marker_points"].set_data([m], [ce])
        a["p_marker"].set_data([marker["p_correct"]], [ce])
        lines = [f"m = {m:+.2f}", f"CE    {ce:7.3f}", f"hinge {marker['hinge']:7.3f}",
                 f"0-1   {marker['zero_one']:7.0f}", f"p_y   {marker['p_correct']:7.3f}"]
        if marker["student"] is not None:
            lines.insert(2, f"yours {marker['student']:7.3f}")
        a["info"].set_text("\n".join(lines))
        return marker
