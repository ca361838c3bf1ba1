"""The softmax simplex: move three logits and watch *your* softmax move a point.

``p = softmax(z / T)`` maps any logits ``z`` in R^3 to a point of the simplex
``{p >= 0, p_0 + p_1 + p_2 = 1}``, drawn as a triangle whose corners are the
one-hot vectors. The classifier answers ``argmax p``, so the triangle splits into
three convex decision regions ``P_c = {p_c >= p_j}`` meeting at the centroid.

- :func:`simplex_state` is the whole computation as a plain function (tests call
  it with no browser).
- :class:`SimplexExplorer` is the widget: sliders for ``z_0, z_1, z_2`` and the
  temperature ``T``, the simplex with the moving point and its recent trail, and
  a bar chart of ``p``. It calls the student's ``softmax``; coursekit ships none.

Usage in a notebook::

    from coursekit.widgets.simplex import SimplexExplorer
    SimplexExplorer(softmax)          # your softmax drives the widget
"""

from __future__ import annotations

import html
from collections import deque

import ipywidgets as widgets
import numpy as np

from coursekit.plots import CLASS_COLORS, draw_simplex, simplex_xy
from coursekit.widgets.base import FigureWidget, timed

__all__ = ["simplex_state", "SimplexExplorer", "SoftmaxOutputError"]


class SoftmaxOutputError(ValueError):
    """The student's softmax returned something that is not a probability vector."""


def _fmt(v, digits=2):
    return "(" + ", ".join(f"{x:.{digits}f}" for x in v) + ")"


def simplex_state(logits, temperature, softmax):
    """Everything the simplex widget shows, for one setting of the sliders.

    Parameters
    ----------
    logits : array_like, shape (3,)
        The scores ``z`` of the three classes (finite).
    temperature : float
        ``T > 0``; the probabilities are ``softmax(z / T)``. Large ``T`` pulls
        ``p`` to the centroid, small ``T`` pushes it to the winning corner.
    softmax : callable
        ``softmax(z) -> p``, probabilities along the last axis (the student's).

    Returns
    -------
    dict with
        ``p`` : ndarray (3,), ``softmax(z / T)``;
        ``xy`` : ndarray (2,), its point in the triangle (:func:`coursekit.plots.simplex_xy`);
        ``region`` : int, ``argmax p`` (the decision region ``P_region`` the point is in);
        ``entropy`` : float, ``-sum p log p`` in nats (0 at a corner, log 3 at the centroid);
        ``logits``, ``temperature`` : the inputs; ``caption`` : str, a one-line summary.

    Raises
    ------
    NotImplementedError
        Passed on from a ``softmax`` that is still a stub.
    SoftmaxOutputError
        If ``softmax`` returns the wrong shape, non-finite values, negative
        entries or rows that do not sum to 1 (the message says which).
    ValueError, TypeError
        For bad ``logits`` / ``temperature`` / ``softmax`` arguments.
    """
    if not callable(softmax):
        raise TypeError(f"softmax must be a function, got {type(softmax).__name__}")
    z = np.asarray(logits, dtype=float)
    if z.shape != (3,):
        raise ValueError(f"logits must have shape (3,), got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"logits must be finite, got {z}")
    T = float(temperature)
    if not (np.isfinite(T) and T > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")

    scaled = z / T
    p = softmax(scaled.copy())  # a copy: a softmax that edits its input in place stays harmless
    if p is None:
        raise SoftmaxOutputError("softmax returned None: did you forget `return`?")
    p = np.asarray(p, dtype=float)
    if p.shape != (3,):
        raise SoftmaxOutputError(
            f"softmax(z) returned shape {p.shape} for z of shape (3,); it should return "
            "the same shape as its input")
    if not np.all(np.isfinite(p)):
        raise SoftmaxOutputError(
            f"softmax(z) returned {p} for z = {_fmt(scaled)}: not finite. Subtract max(z) "
            "before exponentiating")
    if np.any(p < 0) or abs(p.sum() - 1.0) > 1e-6:
        raise SoftmaxOutputError(
            f"softmax(z) returned {_fmt(p, 3)} for z = {_fmt(scaled)}, which sums to "
            f"{p.sum():.4g}: probabilities must be >= 0 and sum to 1 along the last axis")

    region = int(np.argmax(p))
    nz = p[p > 0]
    entropy = float(-np.sum(nz * np.log(nz)))
    caption = (f"z = {_fmt(z, 1)}, T = {T:.2f}  ->  p = {_fmt(p, 3)}:  class {region} wins "
               f"(region P{region}),  entropy {entropy:.2f} nats (max {np.log(3):.2f})")
    return {"p": p, "xy": simplex_xy(p), "region": region, "entropy": entropy,
            "logits": z, "temperature": T, "caption": caption}


_NOT_IMPLEMENTED = (
    "<b>Implement <code>softmax</code> first.</b> This widget calls <i>your</i> "
    "<code>softmax(z)</code>; it still raises <code>NotImplementedError</code>. Fill in "
    "its cell, run it, then run this cell again.")


class SimplexExplorer(FigureWidget):
    """Widget: three logit sliders and a temperature move ``p = softmax(z / T)`` on the simplex.

    A :class:`~coursekit.widgets.base.FigureWidget` (sliders, figure, status line, error
    output), so it displays as the last expression of a cell or with ``display(...)``.

    Parameters
    ----------
    softmax : callable
        The student's ``softmax(z)``; called with a ``(3,)`` array.
    logits : sequence of 3 floats
        Initial ``z`` (sliders span -10..10).
    temperature : float
        Initial ``T`` (slider 0.1..10, logarithmic).
    class_names : sequence of 3 str
    trail : int
        How many recent points the faint trail keeps.
    figure_backend : {"auto", "ipympl", "static"}
        See :func:`coursekit.plots.interactive_figure`.

    Attributes
    ----------
    sliders : dict of str -> slider
        ``"z0"``, ``"z1"``, ``"z2"`` and ``"temperature"``; set ``.value`` to drive it.
    state : dict or None
        The last :func:`simplex_state`, or ``None`` while the softmax fails.
    fig : matplotlib Figure
    artists : dict
        ``point``, ``trail``, ``bars``, ``bar_labels``, ``caption``, ``regions``.
    status : ipywidgets.HTML
        Friendly messages ("implement softmax first", bad outputs).
    output : ipywidgets.Output
        Tracebacks of unexpected errors in callbacks (otherwise lost by ipywidgets).
    """

    def __init__(self, softmax, logits=(2.0, 1.0, 0.1), temperature=1.0, *,
                 class_names=("class 0", "class 1", "class 2"), trail=40,
                 figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        if not callable(softmax):
            raise TypeError(f"SimplexExplorer needs your softmax function, got "
                            f"{type(softmax).__name__}")
        logits = np.asarray(logits, dtype=float)
        if logits.shape != (3,):
            raise ValueError(f"logits must be 3 numbers, got shape {logits.shape}")
        self.softmax = softmax
        self.class_names = tuple(class_names)
        self.state = None
        self._trail = deque(maxlen=int(trail))

        self.make_figure((8.6, 3.9))
        live = self.live  # ipympl: redraw while dragging; PNG fallback: on release
        style = {"description_width": "3.5em"}
        self.sliders = {
            f"z{c}": widgets.FloatSlider(
                value=float(np.clip(logits[c], -10, 10)), min=-10.0, max=10.0, step=0.1,
                description=f"z{c}", readout_format=".1f", continuous_update=live,
                style=style, layout=widgets.Layout(width="300px"))
            for c in range(3)
        }
        self.sliders["temperature"] = widgets.FloatLogSlider(
            value=float(temperature), base=10, min=-1, max=1, step=0.02, description="T",
            readout_format=".2f", continuous_update=live, style=style,
            layout=widgets.Layout(width="300px"))
        reset = widgets.Button(description="clear trail", layout=widgets.Layout(width="110px"))
        reset.on_click(self._clear_trail)
        controls = widgets.HBox([
            widgets.VBox([self.sliders["z0"], self.sliders["z1"], self.sliders["z2"]]),
            widgets.VBox([self.sliders["temperature"], reset,
                          widgets.HTML("<small>p = softmax(z / T): add the same number to "
                                       "all z and nothing moves.</small>",
                                       layout=widgets.Layout(width="320px"))]),
        ])
        self.start(controls, watch=self.sliders.values())

    # -- figure -------------------------------------------------------------------------
    def _build_figure(self):
        fig = self.fig
        ax_s = fig.add_axes([0.02, 0.1, 0.5, 0.8])
        draw_simplex(ax_s, labels=self.class_names)
        (trail,) = ax_s.plot([], [], "-", color="0.2", alpha=0.25, lw=1.2, zorder=4)
        (point,) = ax_s.plot([], [], "o", ms=10, mfc="white", mec="k", mew=2, zorder=5)

        ax_b = fig.add_axes([0.62, 0.24, 0.35, 0.64])
        bars = ax_b.bar(range(3), [1 / 3] * 3, color=CLASS_COLORS[:3], width=0.6)
        bar_labels = [ax_b.text(c, 0.0, "", ha="center", va="bottom", fontsize=9)
                      for c in range(3)]
        ax_b.set_xticks(range(3), self.class_names, fontsize=9)
        ax_b.set_ylim(0, 1.12)
        ax_b.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax_b.axhline(1 / 3, color="0.5", lw=0.8, ls=":")
        ax_b.text(2.45, 1 / 3, "1/3", fontsize=7, color="0.4", va="bottom", ha="right")
        ax_b.set_ylabel("probability")
        ax_b.set_title("p = softmax(z / T)", fontsize=10)
        for side in ("top", "right"):
            ax_b.spines[side].set_visible(False)
        caption = fig.text(0.5, 0.025, "", ha="center", va="bottom", fontsize=9)
        self.artists = {"point": point, "trail": trail, "bars": list(bars),
                        "bar_labels": bar_labels, "caption": caption,
                        "regions": ax_s.simplex_regions}

    def _clear_trail(self, _button=None):
        self._trail.clear()
        if self.state is not None:
            self._trail.append(self.state["xy"])
        self._draw_trail()
        self.redraw()

    def _draw_trail(self):
        pts = np.array(self._trail).reshape(-1, 2)
        self.artists["trail"].set_data(pts[:, 0], pts[:, 1])

    # -- updates --------------------------------------------------------------------------
    def _show_problem(self, caption):
        self.state = None
        self.artists["point"].set_visible(False)
        for bar, label in zip(self.artists["bars"], self.artists["bar_labels"]):
            bar.set_height(0.0)
            label.set_text("")
        for patch in self.artists["regions"]:
            patch.set_alpha(0.22)
        self.artists["caption"].set_text(caption)
        self.redraw()

    @timed
    def update(self):
        """Recompute from the sliders and move the artists; returns the new state (or None)."""
        z = [self.sliders[f"z{c}"].value for c in range(3)]
        T = self.sliders["temperature"].value
        try:
            state, failure = self.run_student(simplex_state, z, T, self.softmax,
                                               todo=_NOT_IMPLEMENTED, raised="Your softmax raised",
                                               passes=SoftmaxOutputError)
        except SoftmaxOutputError as exc:
            self.say("error", f"<b>Your softmax returned something unexpected:</b> "
                              f"{html.escape(str(exc))}")
            failure = "output"
        if failure is not None:
            self._show_problem({"todo": "implement softmax first",
                                "output": "softmax output is not a probability vector",
                                "error": "softmax raised an error (traceback below)"}[failure])
            return None

        self.state = state
        if self.status.value:
            self.status.value = ""
        self.clear_errors()
        a = self.artists
        x, y = state["xy"]
        a["point"].set_data([x], [y])
        a["point"].set_visible(True)
        a["point"].set_markeredgecolor(CLASS_COLORS[state["region"]])
        self._trail.append(state["xy"])
        self._draw_trail()
        for c, (bar, label) in enumerate(zip(a["bars"], a["bar_labels"])):
            bar.set_height(state["p"][c])
            label.set_position((c, state["p"][c] + 0.01))
            label.set_text(f"{state['p'][c]:.3f}")
        for c, patch in enumerate(a["regions"]):
            patch.set_alpha(0.45 if c == state["region"] else 0.15)
        a["caption"].set_text(state["caption"])
        self.redraw()
        return state
