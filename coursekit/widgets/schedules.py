"""Learning-rate schedules side by side, and momentum's terminal velocity.

Two small widgets, both driven by your functions (coursekit ships neither):

- :class:`ScheduleExplorer` draws your ``step_decay``, ``exponential_decay`` and
  ``cosine_decay`` next to each other, with sliders for their parameters.
- :class:`TerminalVelocity` rolls your ``sgd_momentum`` down a tilted plane (a
  constant gradient ``g``). The velocity grows to ``-lr * g / (1 - mu)``, the
  plain step divided by ``1 - mu`` (ten times the SGD step at ``mu = 0.9``), and
  a warm-up raises ``mu`` from 0.5 as the lecture suggests::

    from coursekit.widgets.schedules import ScheduleExplorer, TerminalVelocity
    ScheduleExplorer(step_decay, exponential_decay, cosine_decay)
    TerminalVelocity(sgd_momentum)

:func:`schedule_curves` and :func:`tilted_plane` are the computation as plain
functions (tests call them without a browser).
"""

from __future__ import annotations

import html
import warnings

import ipywidgets as widgets
import numpy as np

from coursekit.plots import CLASS_COLORS
from coursekit.widgets.base import FigureWidget, timed

__all__ = ["SCHEDULE_DEFAULTS", "schedule_curves", "ScheduleExplorer", "warmup_momentum",
           "tilted_plane", "TerminalVelocity"]

#: Slider defaults of :class:`ScheduleExplorer`.
SCHEDULE_DEFAULTS = {"lr0": 0.1, "epochs": 60, "drop": 0.5, "every": 10, "k": 0.05, "lr_min": 0.0}

_NAMES = ("step_decay", "exponential_decay", "cosine_decay")
_TITLES = {"step_decay": "step decay", "exponential_decay": "exponential decay",
           "cosine_decay": "cosine decay"}


def schedule_curves(step_decay, exponential_decay, cosine_decay, settings=None):
    """Each schedule's learning rate at epochs ``0 .. epochs`` (cosine: ``step = epoch``,
    ``total_steps = epochs``).

    Parameters
    ----------
    step_decay, exponential_decay, cosine_decay : callable or None
        Your functions (None: skipped). Called with one epoch at a time.
    settings : dict, optional
        ``lr0, epochs, drop, every, k, lr_min`` (defaults :data:`SCHEDULE_DEFAULTS`).

    Returns
    -------
    dict
        ``"epochs"`` (``epochs + 1`` ints), and per schedule name an array of rates,
        or the string ``"not implemented yet"`` / ``"error: ..."``.
    """
    s = {**SCHEDULE_DEFAULTS, **(settings or {})}
    lr0, E = float(s["lr0"]), int(s["epochs"])
    epochs = np.arange(E + 1)
    calls = {
        "step_decay": (step_decay, lambda fn, e: fn(lr0, e, drop=float(s["drop"]), every=int(s["every"]))),
        "exponential_decay": (exponential_decay, lambda fn, e: fn(lr0, e, float(s["k"]))),
        "cosine_decay": (cosine_decay, lambda fn, e: fn(lr0, e, E, lr_min=float(s["lr_min"]))),
    }
    out = {"epochs": epochs}
    for name, (fn, call) in calls.items():
        if fn is None:
            continue
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[name] = np.array([float(call(fn, int(e))) for e in epochs])
        except NotImplementedError:
            out[name] = "not implemented yet"
        except Exception as err:  # the student's function: report, don't crash
            out[name] = f"error: {type(err).__name__}: {err}"
    return out


class ScheduleExplorer(FigureWidget):
    """Widget: your three schedules side by side, one panel each, with their sliders.

    Parameters
    ----------
    step_decay, exponential_decay, cosine_decay : callable or None
    figure_backend : {"auto", "ipympl", "static"}

    Attributes
    ----------
    sliders : dict
        ``lr0, epochs, drop, every, k, lr_min``.
    curves : dict
        The last :func:`schedule_curves`.
    last_update_ms, fig, artists, status, output
    """

    def __init__(self, step_decay=None, exponential_decay=None, cosine_decay=None, *,
                 figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        self.fns = dict(zip(_NAMES, (step_decay, exponential_decay, cosine_decay)))
        self.make_figure((9.0, 3.3))
        live = self.live
        style, lay = {"description_width": "5em"}, widgets.Layout(width="300px")
        d = SCHEDULE_DEFAULTS
        self.sliders = {
            "lr0": widgets.FloatLogSlider(value=d["lr0"], base=10, min=-4, max=0, step=0.1,
                                          description="lr0", readout_format=".2g",
                                          continuous_update=live, style=style, layout=lay),
            "epochs": widgets.IntSlider(value=d["epochs"], min=10, max=200, step=5,
                                        description="epochs", continuous_update=live,
                                        style=style, layout=lay),
            "drop": widgets.FloatSlider(value=d["drop"], min=0.05, max=0.95, step=0.05,
                                        description="drop", continuous_update=live, style=style,
                                        layout=lay),
            "every": widgets.IntSlider(value=d["every"], min=1, max=50, description="every",
                                       continuous_update=live, style=style, layout=lay),
            "k": widgets.FloatSlider(value=d["k"], min=0.0, max=0.3, step=0.005, description="k",
                                     readout_format=".3f", continuous_update=live, style=style,
                                     layout=lay),
            "lr_min": widgets.FloatSlider(value=d["lr_min"], min=0.0, max=0.5, step=0.01,
                                          description="lr_min (\u00d7lr0)", readout_format=".2f",
                                          continuous_update=live, style=style, layout=lay),
        }
        sl = self.sliders
        self.start(widgets.HBox([widgets.VBox([sl["lr0"], sl["epochs"]]),
                                 widgets.VBox([sl["drop"], sl["every"]]),
                                 widgets.VBox([sl["k"], sl["lr_min"]])]), watch=sl.values())

    def _build_figure(self):
        axes, lines, marks = {}, {}, {}
        for i, name in enumerate(_NAMES):
            ax = self.fig.add_axes([0.06 + 0.325 * i, 0.16, 0.26, 0.72])
            (lines[name],) = ax.plot([], [], "-", color=CLASS_COLORS[i], lw=2,
                                    drawstyle="steps-post" if name == "step_decay" else "default")
            marks[name] = ax.text(0.97, 0.95, "", transform=ax.transAxes, ha="right", va="top",
                                  fontsize=8, family="monospace")
            ax.set_xlabel("epoch")
            if i == 0:
                ax.set_ylabel("learning rate")
            ax.grid(alpha=0.3)
            axes[name] = ax
        self.artists = {"axes": axes, "lines": lines, "notes": marks}

    def settings(self):
        """Slider values for :func:`schedule_curves` (``lr_min`` in absolute terms)."""
        s = {k: sl.value for k, sl in self.sliders.items()}
        s["lr_min"] = s["lr_min"] * s["lr0"]
        return s

    @timed
    def update(self):
        """Re-evaluate your schedules and redraw the three curves; returns the curves."""
        s = self.settings()
        self.curves = curves = schedule_curves(*self.fns.values(), settings=s)
        epochs, problems = curves["epochs"], []
        titles = {
            "step_decay": f"step_decay(lr0, e, drop={s['drop']:.2f}, every={s['every']})",
            "exponential_decay": f"exponential_decay(lr0, e, k={s['k']:.3f})",
            "cosine_decay": f"cosine_decay(lr0, e, {s['epochs']}, lr_min={s['lr_min']:.2g})",
        }
        for name in _NAMES:
            ax, line, note = (self.artists[k][name] for k in ("axes", "lines", "notes"))
            ax.set_title(titles[name], fontsize=9)
            ax.set_xlim(0, s["epochs"])
            ax.set_ylim(0, 1.08 * s["lr0"])
            rates = curves.get(name)
            if isinstance(rates, np.ndarray):
                line.set_data(epochs, rates)
                half = np.flatnonzero(rates <= 0.5 * s["lr0"])
                note.set_text(f"end {rates[-1]:.3g}\nhalved at {half[0] if half.size else '-'}")
            else:
                line.set_data([], [])
                note.set_text("not given" if rates is None else rates.split(":")[0])
                if isinstance(rates, str) and rates.startswith("error"):
                    problems.append(f"<b>{name}</b> {html.escape(rates)}")
                elif rates == "not implemented yet":
                    problems.append(f"<b>{name}</b> is not implemented yet")
        self.status.value = "<small>" + "; ".join(problems) + "</small>" if problems else ""
        self.redraw()
        return curves


# --------------------------------------------------------------------- terminal velocity


def warmup_momentum(step, final=0.9, start=0.5, warmup_steps=20):
    """Momentum raised linearly from ``start`` to ``final`` over ``warmup_steps`` steps."""
    if warmup_steps <= 0:
        return final
    frac = min(1.0, max(0.0, step / warmup_steps))
    return start + (final - start) * frac


def tilted_plane(sgd_momentum, *, learning_rate=0.1, momentum=0.9, slope=1.0, steps=60,
                 warmup_steps=0):
    """Roll ``sgd_momentum`` (yours) down the plane ``f(w) = slope * (w_0 + w_1) / sqrt(2)``.

    The gradient is the same everywhere, ``g = slope * (1, 1) / sqrt(2)`` (so
    ``|g| = slope``). Starting at rest, the velocity obeys ``v_t = mu v_(t-1) - lr g``,
    a geometric series that tends to ``-lr g / (1 - mu)``.

    Parameters
    ----------
    sgd_momentum : callable
        ``sgd_momentum(w, dw, config) -> (next_w, config)``.
    learning_rate, momentum, slope : float
    steps : int
    warmup_steps : int
        If positive, ``config["momentum"]`` rises from 0.5 to ``momentum`` over this
        many steps (:func:`warmup_momentum`) instead of being fixed.

    Returns
    -------
    dict
        ``speed`` (``|w_t - w_(t-1)|`` per step, ``(steps,)``), ``momentum`` used at
        each step, ``terminal`` (``lr |g| / (1 - mu)`` for the final ``mu``),
        ``terminal_now`` (the same for each step's ``mu``), ``sgd_step`` (``lr |g|``),
        ``distance`` and ``sgd_distance`` (travelled after each step).
    """
    g = float(slope) * np.array([1.0, 1.0]) / np.sqrt(2.0)
    w = np.zeros(2)
    config = {"learning_rate": float(learning_rate), "momentum": float(momentum)}
    speeds, mus = [], []
    for t in range(int(steps)):
        mu = warmup_momentum(t, momentum, 0.5, warmup_steps) if warmup_steps > 0 else float(momentum)
        config["momentum"] = mu
        next_w, config = sgd_momentum(w.copy(), g.copy(), config)
        next_w = np.asarray(next_w, dtype=float)
        speeds.append(float(np.linalg.norm(next_w - w)))
        mus.append(mu)
        w = next_w
    mus = np.array(mus)
    sgd_step = float(learning_rate) * float(slope)
    speed = np.array(speeds)
    return {"speed": speed, "momentum": mus, "terminal": sgd_step / (1.0 - float(momentum)),
            "terminal_now": sgd_step / (1.0 - mus), "sgd_step": sgd_step,
            "distance": np.cumsum(speed), "sgd_distance": sgd_step * np.arange(1, len(speed) + 1)}


class TerminalVelocity(FigureWidget):
    """Widget: your ``sgd_momentum`` on a tilted plane reaches ``1 / (1 - mu)`` times the SGD step.

    Parameters
    ----------
    sgd_momentum : callable
    learning_rate, momentum : float
        Initial slider values.
    steps : int
    figure_backend : {"auto", "ipympl", "static"}

    Attributes
    ----------
    sliders : dict
        ``momentum``, ``learning_rate``, ``warmup`` (steps; 0 = fixed momentum).
    result : dict
        The last :func:`tilted_plane`.
    last_update_ms, fig, artists, status, output
    """

    def __init__(self, sgd_momentum, *, learning_rate=0.1, momentum=0.9, steps=60,
                 figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        if not callable(sgd_momentum):
            raise TypeError("TerminalVelocity needs your sgd_momentum function")
        self.rule, self.steps = sgd_momentum, int(steps)
        self.make_figure((9.0, 3.4))
        live = self.live
        style, lay = {"description_width": "7em"}, widgets.Layout(width="320px")
        self.sliders = {
            "momentum": widgets.FloatSlider(value=momentum, min=0.0, max=0.98, step=0.01,
                                            description="momentum \u03bc", continuous_update=live,
                                            style=style, layout=lay),
            "learning_rate": widgets.FloatSlider(value=learning_rate, min=0.01, max=0.5, step=0.01,
                                                 description="learning rate", continuous_update=live,
                                                 style=style, layout=lay),
            "warmup": widgets.IntSlider(value=0, min=0, max=self.steps, step=5,
                                        description="warm-up steps", continuous_update=live,
                                        style=style, layout=lay),
        }
        self.result = None
        sl = self.sliders
        self.start(widgets.HBox([sl["momentum"], sl["learning_rate"], sl["warmup"]]), watch=sl.values())

    def _build_figure(self):
        ax = self.fig.add_axes([0.065, 0.16, 0.4, 0.72])
        ax_d = self.fig.add_axes([0.575, 0.16, 0.4, 0.72])
        (speed,) = ax.plot([], [], "o-", color=CLASS_COLORS[0], ms=3, lw=1.5, label="momentum: |step|")
        (terminal,) = ax.plot([], [], "--", color=CLASS_COLORS[3], lw=1.5,
                              label="lr|g| / (1 - \u03bc)  (terminal)")
        (sgd,) = ax.plot([], [], ":", color="0.3", lw=1.5, label="lr|g|  (an SGD step)")
        (dist,) = ax_d.plot([], [], "-", color=CLASS_COLORS[0], lw=2, label="momentum")
        (sgd_dist,) = ax_d.plot([], [], "-", color="0.4", lw=2, label="SGD")
        for axes, ylabel, title, corner in ((ax, "step length", "speed on a tilted plane", "lower right"),
                                            (ax_d, "distance travelled", "how far each gets", "upper left")):
            axes.set_xlabel("step")
            axes.set_ylabel(ylabel)
            axes.set_title(title, fontsize=10)
            axes.legend(fontsize=8, loc=corner)
            axes.grid(alpha=0.3)
        self.artists = {"ax": ax, "ax_distance": ax_d, "speed": speed, "terminal": terminal,
                        "sgd": sgd, "distance": dist, "sgd_distance": sgd_dist}

    @timed
    def update(self):
        """Roll the ball again with the current sliders; returns :func:`tilted_plane`'s result."""
        s = {k: sl.value for k, sl in self.sliders.items()}
        a = self.artists
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r, failure = self.run_student(
                tilted_plane, self.rule, learning_rate=s["learning_rate"], momentum=s["momentum"],
                steps=self.steps, warmup_steps=s["warmup"], raised="Your sgd_momentum raised",
                todo="<b>Implement <code>sgd_momentum</code> first.</b> This widget rolls your rule "
                     "down the plane.")
        if failure:
            return None
        self.clear_errors()
        self.result = r
        t = np.arange(1, self.steps + 1)
        a["speed"].set_data(t, r["speed"])
        a["terminal"].set_data(t, r["terminal_now"])
        a["sgd"].set_data([t[0], t[-1]], [r["sgd_step"]] * 2)
        a["distance"].set_data(t, r["distance"])
        a["sgd_distance"].set_data(t, r["sgd_distance"])
        top = max(float(np.nanmax(r["speed"])), r["terminal"], r["sgd_step"])
        a["ax"].set_xlim(0, self.steps + 1)
        a["ax"].set_ylim(0, 1.1 * top)
        a["ax_distance"].set_xlim(0, self.steps + 1)
        a["ax_distance"].set_ylim(0, 1.05 * max(float(np.nanmax(r["distance"])), r["sgd_distance"][-1]))
        ratio = r["speed"][-1] / r["sgd_step"]
        warm = (f" Momentum warmed up from 0.5 to {s['momentum']:.2f} over {s['warmup']} steps."
                if s["warmup"] else "")
        self.status.value = html.escape(
            f"After {self.steps} steps your step is {r['speed'][-1]:.4g}, {ratio:.2f} times the SGD "
            f"step; 1/(1 - \u03bc) = {1 / (1 - s['momentum']):.2f}.{warm}")
        self.redraw()
        return r
