"""Activation functions, their derivatives, and the gradient that survives depth.

Pick one of *your* activation layers and a range of pre-activations ``x``. The
left panel draws ``f(x)`` and the ``dx`` your backward pass returns for
``dout = 1`` (that is ``f'(x)``), with the centred difference of your forward pass
dotted on top, and shades where the function is *saturated*: where
``|f'(x)|`` is below a threshold, almost no gradient gets through. The right panel
stacks ``n`` such layers: if each of them sits at the same pre-activation ``x``, the
chain rule multiplies their local derivatives, so the gradient reaching the first
layer is ``f'(x)**n``, on a log scale. A sigmoid passes at most ``0.25**n``: with 10
layers, less than one millionth. ReLU passes 1 where ``x > 0`` and nothing where
``x < 0``.

- :func:`activation_curves` is the computation as a plain function (tests call it).
- :class:`ActivationExplorer` is the widget. It calls the student's forward/backward
  pairs; coursekit ships no activation function.

Usage in a notebook::

    from coursekit.widgets.activations import ActivationExplorer
    ActivationExplorer({"sigmoid": (sigmoid_forward, sigmoid_backward),
                        "tanh": (tanh_forward, tanh_backward),
                        "relu": (relu_forward, relu_backward),
                        "leaky_relu": (leaky_relu_forward, leaky_relu_backward, {"alpha": 0.1}),
                        "elu": (elu_forward, elu_backward)})
"""

from __future__ import annotations

import html
import warnings

import ipywidgets as widgets
import numpy as np

from coursekit.plots import CLASS_COLORS
from coursekit.widgets.base import FigureWidget, timed

__all__ = ["activation_curves", "saturated_intervals", "ActivationExplorer"]

NOT_IMPLEMENTED = "not implemented yet"
LOG_FLOOR = 1e-30  # the right panel's log scale stops here (0 is drawn at the floor)


def saturated_intervals(x, mask):
    """Runs of ``True`` in ``mask`` as ``[(x_start, x_end), ...]`` over the sorted grid ``x``."""
    x = np.asarray(x, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return [(float(x[a]), float(x[b - 1])) for a, b in zip(edges[::2], edges[1::2])]


def _call_pair(forward, backward, x, hyper):
    """Run the student's forward and backward on ``x`` with ``dout = 1``; returns (f, df)."""
    result = forward(x.copy(), **hyper)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"{getattr(forward, '__name__', 'forward')} must return (out, cache), "
                        f"got {type(result).__name__}")
    out, cache = result
    dx = backward(np.ones_like(x), cache)
    out = np.asarray(out, dtype=float)
    dx = np.asarray(dx, dtype=float)
    for what, arr in (("out", out), ("dx", dx)):
        if arr.shape != x.shape:
            raise TypeError(f"{what} has shape {arr.shape}; an activation keeps x's shape {x.shape}")
    return out, dx


def activation_curves(forward, backward, x, *, n_layers=1, saturation=0.05, h=1e-5,
                      hyper=None):
    """Everything the activation explorer draws, for one activation on one grid.

    Parameters
    ----------
    forward, backward : callable
        The student's ``<name>_forward(x, **hyper) -> (out, cache)`` and
        ``<name>_backward(dout, cache) -> dx``.
    x : array_like, shape (M,)
        Pre-activations, increasing.
    n_layers : int
        How many layers are stacked for the surviving gradient ``|f'(x)|**n``.
    saturation : float
        ``x`` counts as saturated where ``|f'(x)| < saturation``.
    h : float
        Step of the centred difference of ``forward``.
    hyper : dict, optional
        Keyword arguments for ``forward`` (``{"alpha": 0.1}``).

    Returns
    -------
    dict with
        ``x``, ``f``, ``df`` (your backward with ``dout = 1``), ``numeric`` (centred
        differences of your forward), ``saturated`` (bool mask) and
        ``saturated_intervals``; ``surviving`` (``|df|**n``), ``best`` (its maximum)
        and ``best_x`` (where); ``max_diff`` (largest ``|df - numeric|`` away from
        kinks, ``|x| > 100 h``) and ``matches``; ``warnings`` (NumPy warnings your
        code raised) and ``verdict`` (a sentence).

    Raises
    ------
    NotImplementedError
        Passed on from a stub.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 2 or not np.all(np.diff(x) > 0):
        raise ValueError("x must be an increasing 1-D grid of at least 2 points")
    n = int(n_layers)
    if n < 1:
        raise ValueError(f"n_layers must be at least 1, got {n_layers}")
    hyper = dict(hyper or {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(all="warn", under="ignore"):
            f, df = _call_pair(forward, backward, x, hyper)
            f_plus = np.asarray(forward(x + h, **hyper)[0], dtype=float)
            f_minus = np.asarray(forward(x - h, **hyper)[0], dtype=float)
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    numeric = (f_plus - f_minus) / (2 * h)
    smooth = np.abs(x) > 100 * h  # kinks (ReLU, leaky ReLU) sit at 0
    with np.errstate(invalid="ignore"):
        diff = np.where(smooth & np.isfinite(df) & np.isfinite(numeric),
                        np.abs(df - numeric), np.where(smooth, np.inf, 0.0))
    max_diff = float(diff.max())
    scale = max(1.0, float(np.nanmax(np.abs(numeric[np.isfinite(numeric)]), initial=0.0)))
    matches = bool(max_diff <= 1e-5 * scale)
    saturated = np.abs(df) < saturation
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        surviving = np.abs(df) ** n
    surviving = np.where(np.isfinite(surviving), surviving, np.nan)
    k = int(np.nanargmax(surviving)) if np.any(np.isfinite(surviving)) else 0
    best = float(surviving[k]) if np.isfinite(surviving[k]) else float("nan")
    if matches:
        verdict = "your backward matches the centred differences of your forward"
    else:
        worst = int(np.argmax(diff))
        verdict = (f"your backward differs from the centred differences of your forward by up "
                   f"to {max_diff:.3g} (at x = {x[worst]:.3g}: backward {df[worst]:.6g}, "
                   f"numerical {numeric[worst]:.6g})")
    if messages:
        verdict += f" [NumPy warned: {'; '.join(messages[:2])}]"
    return {"x": x, "f": f, "df": df, "numeric": numeric, "saturated": saturated,
            "saturated_intervals": saturated_intervals(x, saturated), "n_layers": n,
            "surviving": surviving, "best": best, "best_x": float(x[k]),
            "max_diff": max_diff, "matches": matches, "warnings": messages, "verdict": verdict}


# --------------------------------------------------------------------------- widget

def _normalise(activations):
    pairs = {}
    for name, spec in dict(activations).items():
        if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3):
            raise TypeError(f"activations[{name!r}] must be (forward, backward) or "
                            "(forward, backward, hyper)")
        forward, backward = spec[0], spec[1]
        hyper = dict(spec[2]) if len(spec) == 3 else {}
        if not (callable(forward) and callable(backward)):
            raise TypeError(f"activations[{name!r}] must hold your forward and backward functions")
        pairs[str(name)] = (forward, backward, hyper)
    if not pairs:
        raise ValueError("give at least one activation: {name: (forward, backward)}")
    return pairs


class ActivationExplorer(FigureWidget):
    """Widget: an activation, its derivative, its saturated regions, and ``f'(x)**n``.

    Parameters
    ----------
    activations : dict
        ``{name: (forward, backward)}`` or ``{name: (forward, backward, hyper)}``
        with the student's functions.
    x_range : (float, float)
        Initial range of pre-activations (the slider spans -20..20).
    n_layers : int
        Initial number of stacked layers (slider 1..30).
    saturation : float
        Threshold on ``|f'(x)|`` below which a region is shaded as saturated.
    points : int
        Grid points.

    Attributes
    ----------
    controls : dict
        ``"activation"`` (Dropdown), ``"range"`` (FloatRangeSlider), ``"layers"`` (IntSlider).
    state : dict or None
        The last :func:`activation_curves` (None while the activation fails).
    fig, artists, status, output
    """

    def __init__(self, activations, *, x_range=(-6.0, 6.0), n_layers=5, saturation=0.05,
                 points=401, figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        self.activations = _normalise(activations)
        self.saturation = float(saturation)
        self.points = int(points)
        self.state = None
        self.make_figure((9.0, 3.4))
        live = self.live
        style = {"description_width": "5.5em"}
        self.controls = {
            "activation": widgets.Dropdown(options=list(self.activations), description="activation",
                                           style=style, layout=widgets.Layout(width="260px")),
            "range": widgets.FloatRangeSlider(value=tuple(map(float, x_range)), min=-20.0,
                                              max=20.0, step=0.5, description="x range",
                                              continuous_update=live, style=style,
                                              layout=widgets.Layout(width="360px")),
            "layers": widgets.IntSlider(value=int(n_layers), min=1, max=30,
                                        description="n layers", continuous_update=live,
                                        style=style, layout=widgets.Layout(width="300px")),
        }
        self.start(widgets.HBox(list(self.controls.values())), watch=self.controls.values())

    # -- figure -------------------------------------------------------------------------
    def _build_figure(self):
        fig = self.fig
        ax = fig.add_axes([0.06, 0.15, 0.42, 0.72])
        shade = ax.imshow(np.zeros((1, 2)), extent=(0, 1, 0, 1), aspect="auto", origin="lower",
                          cmap="Greys", vmin=0, vmax=1, alpha=0.22, zorder=0,
                          transform=ax.get_xaxis_transform(), interpolation="nearest")
        (f_line,) = ax.plot([], [], color=CLASS_COLORS[0], lw=2.2, label="f(x): your forward")
        (df_line,) = ax.plot([], [], color=CLASS_COLORS[3], lw=2.0,
                             label="f'(x): your backward, dout = 1")
        (num_line,) = ax.plot([], [], color="k", lw=1.2, ls=":",
                              label="centred difference of f")
        ax.axhline(0, color="0.6", lw=0.7)
        ax.axvline(0, color="0.6", lw=0.7)
        ax.set_xlabel("pre-activation x")
        ax.grid(alpha=0.2)
        ax.legend(loc="upper left", fontsize=7.5, framealpha=0.9)
        title = ax.set_title("", fontsize=10)

        ax_n = fig.add_axes([0.57, 0.15, 0.41, 0.72])
        (surv_line,) = ax_n.plot([], [], color=CLASS_COLORS[2], lw=2.2)
        (best_dot,) = ax_n.plot([], [], "o", color=CLASS_COLORS[2], ms=6)
        ax_n.axhline(1.0, color="0.5", lw=0.8, ls="--")
        ax_n.set_yscale("log")
        ax_n.set_ylim(LOG_FLOOR, 10.0)
        ax_n.set_xlabel("pre-activation x of every layer")
        ax_n.grid(alpha=0.2, which="major")
        title_n = ax_n.set_title("", fontsize=10)
        info = ax_n.text(0.03, 0.05, "", transform=ax_n.transAxes, fontsize=8.5, va="bottom",
                         bbox=dict(boxstyle="round", fc="white", ec="0.8", alpha=0.9))
        self.artists = {"ax": ax, "ax_layers": ax_n, "shade": shade, "f": f_line,
                        "df": df_line, "numeric": num_line, "surviving": surv_line,
                        "best": best_dot, "title": title, "title_layers": title_n, "info": info}

    # -- updates ------------------------------------------------------------------------
    def _clear(self):
        self.state = None
        for key in ("f", "df", "numeric", "surviving", "best"):
            self.artists[key].set_data([], [])
        self.artists["shade"].set_data(np.zeros((1, 2)))
        self.artists["info"].set_text("")
        self.redraw()
        return None

    @timed
    def update(self):
        """Recompute for the current controls and move every artist; returns the state."""
        name = self.controls["activation"].value
        lo, hi = self.controls["range"].value
        if hi <= lo:
            hi = lo + 1.0
        n = self.controls["layers"].value
        forward, backward, hyper = self.activations[name]
        x = np.linspace(lo, hi, self.points)
        a = self.artists
        hyper_text = "".join(f", {k}={v}" for k, v in hyper.items())
        a["title"].set_text(f"{name}{hyper_text}: f, f' and saturated regions (grey)")
        a["title_layers"].set_text(f"gradient through {n} stacked {name} layers: |f'(x)|^{n}")
        s, failure = self.run_student(
            activation_curves, forward, backward, x, n_layers=n, saturation=self.saturation,
            hyper=hyper, raised=f"Your {name} raised",
            todo=(f"<b>Implement <code>{html.escape(name)}_forward</code> and "
                  f"<code>{html.escape(name)}_backward</code> first.</b> Their curves appear here."))
        if failure:
            return self._clear()
        self.state = s
        finite = np.where(np.isfinite(s["f"]), s["f"], np.nan)
        a["f"].set_data(x, finite)
        a["df"].set_data(x, np.where(np.isfinite(s["df"]), s["df"], np.nan))
        a["numeric"].set_data(x, np.where(np.isfinite(s["numeric"]), s["numeric"], np.nan))
        a["shade"].set_data(s["saturated"][None, :].astype(float))
        step = (hi - lo) / (len(x) - 1)
        a["shade"].set_extent((lo - step / 2, hi + step / 2, 0, 1))
        ax = a["ax"]
        ax.set_xlim(lo, hi)
        values = np.concatenate([finite[np.isfinite(finite)], s["df"][np.isfinite(s["df"])]])
        top = float(values.max(initial=1.0))
        bottom = float(values.min(initial=0.0))
        pad = 0.08 * max(top - bottom, 1e-6)
        ax.set_ylim(bottom - pad, top + pad)

        a["surviving"].set_data(x, np.maximum(np.nan_to_num(s["surviving"], nan=LOG_FLOOR),
                                              LOG_FLOOR))
        a["best"].set_data([s["best_x"]], [max(s["best"], LOG_FLOOR)])
        a["ax_layers"].set_xlim(lo, hi)
        share = float(np.mean(s["saturated"]))
        a["info"].set_text(f"best over this range: {s['best']:.3g} at x = {s['best_x']:.3g}\n"
                           f"saturated (|f'| < {self.saturation:g}): {100 * share:.0f}% of the range")
        if s["matches"]:
            self.status.value = ""
        else:
            self.say("error", html.escape(s["verdict"]))
        self.clear_errors()
        self.redraw()
        return s
