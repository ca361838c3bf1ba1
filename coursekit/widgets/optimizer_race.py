"""The optimizer race: your six update rules, same start, same surface.

Every rule ``rule(w, dw, config=None) -> (next_w, config)`` runs on a 2-D test
surface (:mod:`coursekit.surfaces`) from the surface's starting point; the widget
draws each path over the contours and ``f - f_min`` against the step beside it.
coursekit ships no update rule but plain ``sgd``: pass yours::

    from coursekit.widgets.optimizer_race import OptimizerRace
    OptimizerRace({"sgd": sgd, "momentum": sgd_momentum, "nesterov": nesterov_momentum,
                   "adagrad": adagrad, "rmsprop": rmsprop, "adam": adam})

- :func:`race_config` and :func:`run_race` are the computation as plain functions
  (tests call them without a browser).
- :class:`OptimizerRace` is the widget. Paths are cached per rule and per setting
  of the sliders that rule reads, so moving the momentum slider re-runs only the
  two momentum rules, and the steps slider only extends or cuts cached paths.
"""

from __future__ import annotations

import copy
import html
import warnings

import ipywidgets as widgets
import numpy as np

from coursekit.plots import CLASS_COLORS
from coursekit.surfaces import SURFACES, get_surface
from coursekit.widgets.base import FigureWidget, timed

__all__ = ["RULE_NAMES", "DEFAULT_SETTINGS", "race_config", "run_race", "RacePath",
           "OptimizerRace"]

#: The six rules, in racing order, with the names the contract gives them and
#: short aliases accepted as keys of ``rules``.
RULE_NAMES = ("sgd", "sgd_momentum", "nesterov_momentum", "adagrad", "rmsprop", "adam")
_ALIASES = {"momentum": "sgd_momentum", "nesterov": "nesterov_momentum"}
_LABELS = {"sgd": "SGD", "sgd_momentum": "momentum", "nesterov_momentum": "Nesterov",
           "adagrad": "AdaGrad", "rmsprop": "RMSProp", "adam": "Adam"}
_COLORS = dict(zip(RULE_NAMES, (CLASS_COLORS[7], CLASS_COLORS[0], CLASS_COLORS[9],
                                CLASS_COLORS[2], CLASS_COLORS[1], CLASS_COLORS[3])))
#: Which slider values each rule reads (its cache key).
_READS = {"sgd": ("lr_sgd",), "sgd_momentum": ("lr_sgd", "momentum"),
          "nesterov_momentum": ("lr_sgd", "momentum"), "adagrad": ("lr_adaptive",),
          "rmsprop": ("lr_adaptive", "decay_rate"), "adam": ("lr_adaptive", "beta1", "beta2")}

#: Slider defaults; the learning rates default to the surface's suggestions.
DEFAULT_SETTINGS = {"momentum": 0.9, "decay_rate": 0.99, "beta1": 0.9, "beta2": 0.999,
                    "steps": 150}

NOT_IMPLEMENTED = "not implemented yet"


def _canonical(name):
    key = _ALIASES.get(name, name)
    if key not in RULE_NAMES:
        raise ValueError(f"unknown rule {name!r}: the race knows {', '.join(RULE_NAMES)} "
                         f"(or 'momentum', 'nesterov')")
    return key


def race_config(name, settings):
    """The starting config of rule ``name`` for the slider values in ``settings``.

    ``settings`` has ``lr_sgd`` (sgd, momentum, Nesterov: a step is ``lr * gradient``),
    ``lr_adaptive`` (AdaGrad, RMSProp, Adam: a step is about ``lr`` per coordinate),
    ``momentum``, ``decay_rate``, ``beta1`` and ``beta2``. Only the keys the rule's
    contract names are set; the rule creates its own state (velocity, cache, m, v, t).
    """
    name = _canonical(name)
    if name in ("sgd", "sgd_momentum", "nesterov_momentum"):
        config = {"learning_rate": float(settings["lr_sgd"])}
    else:
        config = {"learning_rate": float(settings["lr_adaptive"])}
    if name in ("sgd_momentum", "nesterov_momentum"):
        config["momentum"] = float(settings["momentum"])
    elif name == "rmsprop":
        config["decay_rate"] = float(settings["decay_rate"])
    elif name == "adam":
        config.update(beta1=float(settings["beta1"]), beta2=float(settings["beta2"]))
    return config


class RacePath:
    """One rule's path on one surface: grows step by step, can be extended later.

    Attributes
    ----------
    points : ndarray (k + 1, 2)
        The start, then ``w`` after each of the ``k`` steps taken so far.
    gaps : ndarray (k + 1,)
        ``f(w) - f_min`` at each point (>= 0 up to round-off).
    status : str
        ``"ok"``, ``"diverged at step k"``, ``"not implemented yet"`` or
        ``"error at step k: ..."``. A path that is not ``"ok"`` never grows again.
    """

    def __init__(self, rule, surface, config):
        self.rule, self.surface = rule, surface
        self._w = np.array(surface.start, dtype=float)
        self._config = copy.deepcopy(config)
        self._points = [self._w.copy()]
        self._gaps = [float(surface.value(self._w) - surface.f_min)]
        self.status = "ok"
        span = max(np.ptp(surface.xlim), np.ptp(surface.ylim))
        self._center = np.array([np.mean(surface.xlim), np.mean(surface.ylim)])
        self._escape = 50.0 * span  # farther than this from the window: diverged

    @property
    def steps_taken(self):
        return len(self._points) - 1

    def extend(self, steps):
        """Take steps until ``steps`` have been taken (or the path stops)."""
        surface, rule = self.surface, self.rule
        while self.status == "ok" and len(self._points) <= steps:
            k = len(self._points)
            try:
                next_w, self._config = rule(self._w.copy(), surface.gradient(self._w), self._config)
                next_w = np.asarray(next_w, dtype=float)
            except NotImplementedError:
                self.status = NOT_IMPLEMENTED
                break
            except Exception as err:  # the student's rule broke: say so, keep racing others
                self.status = f"error at step {k}: {type(err).__name__}: {err}"
                break
            if next_w.shape != (2,):
                self.status = (f"error at step {k}: next_w has shape {next_w.shape}, "
                               f"but w has shape (2,)")
                break
            if not np.all(np.isfinite(next_w)) or np.max(np.abs(next_w - self._center)) > self._escape:
                self.status = f"diverged at step {k}"
                break
            self._w = next_w
            self._points.append(next_w)
            self._gaps.append(float(surface.value(next_w) - surface.f_min))
        return self

    def view(self, steps):
        """``(points, gaps)`` for the first ``steps`` steps (fewer if the path stopped)."""
        n = min(steps, self.steps_taken) + 1
        return np.array(self._points[:n]), np.array(self._gaps[:n])


def run_race(rules, surface="ravine", settings=None, steps=None):
    """Race ``rules`` on ``surface`` from its starting point; no widget, no drawing.

    Parameters
    ----------
    rules : dict of str -> callable
        Update rules keyed by name (``"sgd"``, ``"sgd_momentum"`` or ``"momentum"``,
        ``"nesterov_momentum"`` or ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``, ``"adam"``).
    surface : str or Surface
    settings : dict, optional
        Slider values (see :func:`race_config`); missing ones take
        :data:`DEFAULT_SETTINGS` and the surface's suggested learning rates.
    steps : int, optional
        Steps per rule (default ``settings["steps"]``).

    Returns
    -------
    dict of name -> dict
        ``points (k+1, 2)``, ``gaps (k+1,)`` (``f - f_min``), ``status`` (see
        :class:`RacePath`) and ``final_gap``.
    """
    surface = get_surface(surface)
    settings = _full_settings(surface, settings)
    steps = int(settings["steps"] if steps is None else steps)
    out = {}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, rule in rules.items():
            key = _canonical(name)
            path = RacePath(rule, surface, race_config(key, settings)).extend(steps)
            points, gaps = path.view(steps)
            out[key] = {"points": points, "gaps": gaps, "status": path.status,
                        "final_gap": float(gaps[-1])}
    return out


def _full_settings(surface, settings):
    full = {"lr_sgd": surface.lr["sgd"], "lr_adaptive": surface.lr["adaptive"], **DEFAULT_SETTINGS}
    full.update(settings or {})
    return full


def _legend_text(name, status, gap, steps):
    label = _LABELS[name]
    if status == NOT_IMPLEMENTED:
        return f"{label}: not implemented yet"
    if status.startswith("error"):
        return f"{label}: raised an error"
    if status.startswith("diverged"):
        return f"{label}: {status}"
    return f"{label}: f - f* = {gap:.1e} after {steps}"


class OptimizerRace(FigureWidget):
    """Widget: the update rules race on a 2-D surface; paths over contours, loss beside.

    Parameters
    ----------
    rules : dict of str -> callable
        Your update rules (see :func:`run_race` for the names). Rules still raising
        ``NotImplementedError`` are listed as such and skipped.
    surface : str
        ``"ravine"``, ``"saddle"``, ``"rosenbrock"`` or ``"beale"`` (a dropdown).
    steps : int
        Initial number of steps (slider 10..500).
    figure_backend : {"auto", "ipympl", "static"}
        See :func:`coursekit.plots.interactive_figure`.

    Attributes
    ----------
    controls : dict
        ``"surface"`` dropdown; sliders ``"lr_sgd"``, ``"lr_adaptive"``, ``"momentum"``,
        ``"decay_rate"``, ``"beta1"``, ``"beta2"``, ``"steps"``. Set ``.value`` to drive it.
    results : dict
        The last race, as :func:`run_race` returns it.
    last_update_ms : float
        Time of the last :meth:`update` (computation and artists, not the browser).
    fig, artists, status, output
        The figure, its artists, a status line and an error output.
    """

    def __init__(self, rules, surface="ravine", *, steps=DEFAULT_SETTINGS["steps"],
                 figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        if not isinstance(rules, dict) or not rules:
            raise TypeError("rules must be a dict such as {'sgd': sgd, 'adam': adam}")
        self.rules = {}
        for name, rule in rules.items():
            if not callable(rule):
                raise TypeError(f"rules[{name!r}] must be your update rule, got {type(rule).__name__}")
            self.rules[_canonical(name)] = rule
        self.surface = get_surface(surface)
        self._paths = {}       # (surface, rule, values it reads) -> RacePath
        self._contours = {}    # surface name -> contour set
        self.results = {}

        self.make_figure((9.0, 4.0))
        live = self.live
        style, lay = {"description_width": "7.5em"}, widgets.Layout(width="320px")

        def log_slider(desc, value, lo, hi):
            return widgets.FloatLogSlider(value=value, base=10, min=lo, max=hi, step=0.05,
                                          description=desc, readout_format=".2g",
                                          continuous_update=live, style=style, layout=lay)

        def slider(desc, value, lo, hi, step, fmt):
            return widgets.FloatSlider(value=value, min=lo, max=hi, step=step, description=desc,
                                       readout_format=fmt, continuous_update=live, style=style,
                                       layout=lay)

        s = self.surface
        self.controls = {
            "surface": widgets.Dropdown(options=list(SURFACES), value=s.name, description="surface",
                                        style=style, layout=lay),
            "lr_sgd": log_slider("lr (SGD, mom.)", s.lr["sgd"], -4, 0.5),
            "lr_adaptive": log_slider("lr (adaptive)", s.lr["adaptive"], -3, 0.5),
            "momentum": slider("momentum \u03bc", DEFAULT_SETTINGS["momentum"], 0.0, 0.99, 0.01, ".2f"),
            "decay_rate": slider("RMSProp decay", DEFAULT_SETTINGS["decay_rate"], 0.5, 0.999, 0.001, ".3f"),
            "beta1": slider("Adam \u03b21", DEFAULT_SETTINGS["beta1"], 0.0, 0.99, 0.01, ".2f"),
            "beta2": slider("Adam \u03b22", DEFAULT_SETTINGS["beta2"], 0.5, 0.9999, 0.0001, ".4f"),
            "steps": widgets.IntSlider(value=int(steps), min=10, max=500, step=10, description="steps",
                                       continuous_update=live, style=style, layout=lay),
        }
        self.note = widgets.HTML()
        c = self.controls
        self.watch(c["surface"], handler=self._on_surface)
        self.start(
            widgets.HBox([widgets.VBox([c["surface"], c["lr_sgd"], c["lr_adaptive"], c["steps"]]),
                          widgets.VBox([c["momentum"], c["decay_rate"], c["beta1"], c["beta2"]])]),
            below=[self.note],
            watch=[c[key] for key in ("lr_sgd", "lr_adaptive", "momentum", "decay_rate", "beta1",
                                      "beta2", "steps")])

    # -- figure ------------------------------------------------------------------------
    def _build_figure(self):
        fig = self.fig
        ax = fig.add_axes([0.055, 0.12, 0.42, 0.78])
        ax_loss = fig.add_axes([0.575, 0.12, 0.4, 0.78])
        lines, ends, curves = {}, {}, {}
        for name in RULE_NAMES:
            color = _COLORS[name]
            (lines[name],) = ax.plot([], [], "-", color=color, lw=1.6, marker=".", ms=3,
                                     zorder=4, label=_LABELS[name])
            (ends[name],) = ax.plot([], [], "o", color=color, ms=6, mec="k", mew=0.6, zorder=5)
            (curves[name],) = ax_loss.plot([], [], "-", color=color, lw=1.6, label=_LABELS[name])
        (start,) = ax.plot([], [], "s", color="k", ms=6, zorder=6)
        (minimum,) = ax.plot([], [], "*", color="gold", mec="k", ms=13, zorder=6)
        title = ax.set_title("", fontsize=10)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax_loss.set_yscale("log")
        ax_loss.set_xlabel("step")
        ax_loss.set_ylabel("f(w) - f*")
        ax_loss.grid(alpha=0.3, which="both")
        legend = ax_loss.legend(loc="upper right", fontsize=7.5, framealpha=0.9)
        self.artists = {"ax": ax, "ax_loss": ax_loss, "paths": lines, "ends": ends,
                        "curves": curves, "start": start, "minimum": minimum, "title": title,
                        "legend": legend}
        self._show_surface(self.surface)

    def _show_surface(self, surface):
        """Contours of ``surface`` (drawn once per surface, then only shown or hidden)."""
        ax = self.artists["ax"]
        for name, cs in self._contours.items():
            cs.set_visible(name == surface.name)
        if surface.name not in self._contours:
            X, Y, Z = surface.grid()
            self._contours[surface.name] = ax.contour(X, Y, Z, levels=surface.levels(),
                                                      colors="0.6", linewidths=0.7,
                                                      zorder=1)
        ax.set_xlim(*surface.xlim)
        ax.set_ylim(*surface.ylim)
        self.artists["start"].set_data([surface.start[0]], [surface.start[1]])
        self.artists["minimum"].set_data([surface.minimum[0]], [surface.minimum[1]])
        self.artists["title"].set_text(surface.title)
        self.note.value = f"<small><b>{html.escape(surface.title)}.</b> {html.escape(surface.note)}</small>"

    # -- callbacks ----------------------------------------------------------------------
    def _on_surface(self, change):
        s = get_surface(change["new"])
        self.surface = s
        for key in ("lr_sgd", "lr_adaptive"):  # each surface has its own scale
            self.controls[key].unobserve(self._on_change, names="value")
            self.controls[key].value = s.lr["sgd" if key == "lr_sgd" else "adaptive"]
            self.controls[key].observe(self._on_change, names="value")
        self._show_surface(s)
        self.update()

    # -- the update ---------------------------------------------------------------------
    def settings(self):
        """The current slider values, as :func:`run_race` takes them."""
        return {k: c.value for k, c in self.controls.items() if k != "surface"}

    def compute(self):
        """Run (or fetch from the cache) every rule's path for the current sliders."""
        settings = self.settings()
        steps = int(settings["steps"])
        results = {}
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, rule in self.rules.items():
                key = (self.surface.name, name) + tuple(settings[k] for k in _READS[name])
                path = self._paths.get(key)
                if path is None:
                    path = self._paths[key] = RacePath(rule, self.surface, race_config(name, settings))
                path.extend(steps)
                points, gaps = path.view(steps)
                results[name] = {"points": points, "gaps": gaps, "status": path.status,
                                 "final_gap": float(gaps[-1])}
        self.results = results
        return results

    @timed
    def update(self):
        """Recompute (cached) paths and move every artist; returns :attr:`results`."""
        results = self.compute()
        a, steps = self.artists, int(self.controls["steps"].value)
        texts = a["legend"].get_texts()
        lo, hi, problems = np.inf, 0.0, []
        for i, name in enumerate(RULE_NAMES):
            r = results.get(name)
            if r is None:
                for art in (a["paths"][name], a["ends"][name], a["curves"][name]):
                    art.set_data([], [])
                texts[i].set_text(f"{_LABELS[name]}: not in the race")
                continue
            pts, gaps = r["points"], r["gaps"]
            shown = r["status"] == "ok" or r["status"].startswith("diverged")
            if not shown:
                pts, gaps = pts[:1], gaps[:1]
                if r["status"] != NOT_IMPLEMENTED:
                    problems.append(f"<b>{_LABELS[name]}</b> {html.escape(r['status'])}")
            a["paths"][name].set_data(pts[:, 0], pts[:, 1])
            a["ends"][name].set_data(pts[-1:, 0], pts[-1:, 1])
            positive = np.maximum(gaps, 1e-16)
            a["curves"][name].set_data(np.arange(len(gaps)), positive)
            if shown and len(gaps):
                lo, hi = min(lo, positive.min()), max(hi, positive.max())
            texts[i].set_text(_legend_text(name, r["status"], r["final_gap"], len(gaps) - 1))
        ax_loss = a["ax_loss"]
        ax_loss.set_xlim(0, steps)
        if np.isfinite(lo) and hi > 0:
            ax_loss.set_ylim(max(lo, 1e-12) / 3, hi * 3)
        waiting = [_LABELS[n] for n, r in results.items() if r["status"] == NOT_IMPLEMENTED]
        parts = []
        if waiting:
            parts.append("Not implemented yet (not racing): " + ", ".join(waiting) + ".")
        if problems:
            parts.append("; ".join(problems))
        self.status.value = "<small>" + " ".join(parts) + "</small>" if parts else ""
        self.redraw()
        return results
