"""A gradient check drawn as bars: one per parameter, log scale, the threshold as a line.

:func:`coursekit.gradcheck.check_model` compares every parameter's analytic
gradient with centred differences and reports one relative error per parameter.
Drawn as bars on a log scale, a correct network is a row of short bars around
1e-10, far below the threshold; a layer with a wrong backward pass sticks out
by many orders of magnitude -- and so, usually, do the parameters *below* it,
because the wrong gradient flows on towards the input. The first red bar seen
from the output is the layer to look at.

- :func:`gradcheck_bars` turns a :class:`~coursekit.gradcheck.GradCheckReport`
  into what is drawn (plain function; tests call it).
- :class:`GradCheckReportView` is the widget: it checks one or several models
  (a dropdown picks which), with a slider for the step ``h`` of the centred
  differences, and redraws the bars in place.

Usage in a notebook::

    from coursekit.widgets.gradcheck_report import GradCheckReportView
    GradCheckReportView({"my network": model}, X, y)
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from coursekit.gradcheck import GradCheckReport, check_model
from coursekit.widgets.base import FigureWidget, timed

__all__ = ["gradcheck_bars", "GradCheckReportView"]

PASS_COLOR = "#2ca02c"
FAIL_COLOR = "#d62728"
FLOOR = 1e-16   # errors below this (exact zeros too) are drawn at the floor
CEILING = 1.0   # relative errors never exceed 1 (inf: no usable gradient)


def gradcheck_bars(report):
    """What the bar chart shows for one report.

    Parameters
    ----------
    report : GradCheckReport

    Returns
    -------
    dict with
        ``names``, ``errors`` (the raw relative errors), ``heights`` (clipped to
        ``[FLOOR, CEILING]`` for the log scale; nan and inf drawn at the ceiling),
        ``passed`` (per bar), ``colors``, ``labels`` (the error, or the note of a
        failed check), ``threshold``, ``all_passed``, ``first_failure`` (the last
        failing parameter in the report's order: the one closest to the output,
        since parameters are listed from input to output), and ``summary``.
    """
    if not isinstance(report, GradCheckReport):
        raise TypeError(f"gradcheck_bars needs a GradCheckReport, got {type(report).__name__}")
    rows = list(report)
    names = [r.name for r in rows]
    errors = np.array([r.error for r in rows], dtype=float)
    heights = np.where(np.isfinite(errors), np.clip(errors, FLOOR, CEILING), CEILING)
    passed = [r.passed for r in rows]
    labels = [f"{r.error:.1e}" if not r.note else r.note for r in rows]
    threshold = rows[0].threshold if rows else float("nan")
    failing = [r for r in rows if not r.passed]
    first = failing[-1].name if failing else None
    if not rows:
        summary = "nothing was checked"
    elif not failing:
        summary = (f"all {len(rows)} parameters pass: the largest relative error is "
                   f"{np.nanmax(errors):.1e}, below the threshold {threshold:.0e}")
    else:
        worst = failing[-1]
        where = ("" if worst.worst_index is None else
                 f" (worst at index {worst.worst_index}: analytic {worst.analytic:.4g}, "
                 f"numerical {worst.numeric:.4g})")
        summary = (f"{len(failing)} of {len(rows)} parameters fail: "
                   f"{', '.join(r.name for r in failing)}. Start with {worst.name}, the one "
                   f"closest to the output{where}: the layer it belongs to, or the one just "
                   f"above it, has a wrong backward pass.")
    return {"names": names, "errors": errors, "heights": heights, "passed": passed,
            "colors": [PASS_COLOR if p else FAIL_COLOR for p in passed], "labels": labels,
            "threshold": threshold, "all_passed": not failing and bool(rows),
            "first_failure": first, "summary": summary}


class GradCheckReportView(FigureWidget):
    """Widget: per-parameter relative errors of a gradient check, as bars on a log scale.

    Parameters
    ----------
    sources : model, GradCheckReport, or dict of name -> model or report
        Models are checked with :func:`coursekit.gradcheck.check_model` on ``X, y``
        (they need ``params`` and ``loss(X, y) -> (loss, grads)``); reports are shown
        as they are. With several, a dropdown picks one. All must have the same
        parameter names (they share the bars).
    X, y : ndarray, optional
        The data the models are checked on (needed for models).
    threshold : float
        Pass threshold of each parameter's relative error.
    h : float
        Initial step of the centred differences (slider 1e-9 .. 1e-1, logarithmic).
    num_checks : int, optional
        Check only this many random entries per parameter (for big models).

    Attributes
    ----------
    controls : dict
        ``"source"`` (Dropdown) and ``"h"`` (FloatLogSlider).
    report : GradCheckReport or None
    state : dict or None
        The last :func:`gradcheck_bars`.
    fig, artists, status, output
    """

    def __init__(self, sources, X=None, y=None, *, threshold=1e-7, h=1e-5, num_checks=None,
                 figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        if not isinstance(sources, dict):
            sources = {"your network": sources}
        if not sources:
            raise ValueError("give at least one model or report")
        for name, src in sources.items():
            if not isinstance(src, GradCheckReport) and not (
                    hasattr(src, "params") and callable(getattr(src, "loss", None))):
                raise TypeError(f"{name!r} is neither a model (params + loss) nor a "
                                f"GradCheckReport, but a {type(src).__name__}")
            if not isinstance(src, GradCheckReport) and (X is None or y is None):
                raise ValueError("checking a model needs the data: pass X and y")
        self.sources = dict(sources)
        self.X, self.y = X, y
        self.threshold, self.num_checks = float(threshold), num_checks
        self.report = self.state = None
        first = next(iter(self.sources.values()))
        self.names = ([r.name for r in first] if isinstance(first, GradCheckReport)
                      else list(first.params))

        self.make_figure((max(4.5, 1.1 * len(self.names) + 2.5), 3.4))
        style = {"description_width": "4em"}
        self.controls = {
            "source": widgets.Dropdown(options=list(self.sources), description="check",
                                       style=style, layout=widgets.Layout(width="360px")),
            "h": widgets.FloatLogSlider(value=float(h), base=10, min=-9, max=-1, step=1,
                                        description="step h", readout_format=".0e",
                                        continuous_update=False, style=style,
                                        layout=widgets.Layout(width="300px")),
        }
        if len(self.sources) == 1:
            self.controls["source"].layout.display = "none"
        self.start(widgets.HBox(list(self.controls.values())), watch=self.controls.values())

    # -- figure -------------------------------------------------------------------------
    def _build_figure(self):
        ax = self.fig.add_axes([0.13, 0.14, 0.84, 0.74])
        k = np.arange(len(self.names))
        bars = ax.bar(k, np.full(len(k), FLOOR), width=0.6, color=PASS_COLOR, bottom=0)
        labels = [ax.text(i, FLOOR, "", ha="center", va="bottom", fontsize=8) for i in k]
        ax.set_yscale("log")
        ax.set_ylim(FLOOR / 3, 30.0)
        ax.set_xlim(-0.6, len(k) - 0.4)
        ax.set_xticks(k, self.names)
        ax.set_ylabel("relative error")
        ax.grid(axis="y", alpha=0.25)
        threshold = ax.axhline(self.threshold, color="0.25", lw=1.2, ls="--")
        threshold_text = ax.text(len(k) - 0.45, self.threshold, f"threshold {self.threshold:.0e}",
                                 ha="right", va="bottom", fontsize=8, color="0.25")
        title = ax.set_title("", fontsize=10)
        self.artists = {"ax": ax, "bars": list(bars), "labels": labels, "threshold": threshold,
                        "threshold_text": threshold_text, "title": title}

    # -- updates ------------------------------------------------------------------------
    def run_check(self):
        """Check the selected source at the current ``h``; returns its report."""
        src = self.sources[self.controls["source"].value]
        if isinstance(src, GradCheckReport):
            return src
        return check_model(src, self.X, self.y, num_checks=self.num_checks,
                           threshold=self.threshold, h=self.controls["h"].value)

    @timed
    def update(self):
        """Run the check for the current controls and redraw the bars; returns the state."""
        name = self.controls["source"].value
        report, failure = self.run_student(
            self.run_check, raised="The check raised",
            todo=("<b>A function this network uses is not implemented yet.</b> "
                  "Implement the layers first; the bars appear here."))
        if failure:
            self.report = self.state = None
            self.redraw()
            return None
        return self.show(report, title=name)

    def show(self, report, title=None):
        """Draw ``report``'s bars (no checking); returns :func:`gradcheck_bars`."""
        s = gradcheck_bars(report)
        if s["names"] != self.names:
            raise ValueError(f"this view draws parameters {self.names}, the report has {s['names']}")
        a = self.artists
        for bar, label, height, color, text in zip(a["bars"], a["labels"], s["heights"],
                                                   s["colors"], s["labels"]):
            bar.set_height(height)
            bar.set_color(color)
            label.set_position((label.get_position()[0], height * 1.4))
            label.set_text(text)
        a["threshold"].set_ydata([s["threshold"], s["threshold"]])
        a["threshold_text"].set_y(s["threshold"])
        a["threshold_text"].set_text(f"threshold {s['threshold']:.0e}")
        h = getattr(report, "h", None)
        a["title"].set_text(f"gradient check: {title or report.title}" +
                            (f"  (h = {h:.0e})" if h else ""))
        self.say("ok" if s["all_passed"] else "error", html.escape(s["summary"]))
        self.clear_errors()
        self.report, self.state = report, s
        self.redraw()
        return s
