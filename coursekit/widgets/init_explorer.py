"""Weight initialization: watch activations and gradients layer by layer.

A stack of ``depth`` fully connected layers of ``width`` units, each followed by
tanh or ReLU, gets a batch of unit-Gaussian inputs. Each layer multiplies the
variance of its input by about ``fan_in * Var(w)`` (halved again by a ReLU), so
with a fixed weight scale the activations shrink to zero or blow up with depth,
and tanh units saturate at +-1. Xavier (tanh) and He (ReLU) keep them steady.

- :func:`init_statistics` runs the forward and backward pass and returns, per
  layer, the histogram of the activations, their mean and standard deviation,
  the share of saturated (tanh) or zero (ReLU) units, the norm of the gradient
  flowing back into each layer (``||dx||``), of the weight gradient (``||dW||``),
  and the update-to-weight ratio ``lr * ||dW|| / ||W||`` of one SGD step -- a
  plain function, so tests call it without a browser.
- :class:`InitExplorer` is the widget: initialization (a fixed scale, Xavier or
  He), its scale, the activation and the depth from controls; one histogram per
  layer on top; below, per layer, the std of the activations, ``||dx||`` and the
  update-to-weight ratio (rule of thumb: about 1e-3).

The backward pass starts from the gradient of a *mean* loss over the batch whose
gradient for one sample has norm about 1 (as softmax's ``p - onehot`` has), so the
ratio reads as it would in real training at that learning rate. What a bad
initialization does to it: with tiny weights ``||dx||`` shrinks layer after layer
on its way back and the ratio is far below 1e-3 (nothing moves); with huge tanh
weights most units are saturated, the signal is a code of +-1, and the few
unsaturated units pass on a gradient multiplied by the huge weights, so ``||dx||``
*grows* backwards and the ratio is far above 1e-3 (every step wrecks the weights).

coursekit ships no layers and no initializers: the forward/backward pairs and the
``xavier_init`` / ``he_init`` functions are the notebook's (the student's)::

    InitExplorer(affine=(affine_forward, affine_backward),
                 activations={"tanh": (tanh_forward, tanh_backward),
                              "ReLU": (relu_forward, relu_backward)},
                 inits={"Xavier": xavier_init, "He": he_init})
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from coursekit.plots import CLASS_COLORS
from coursekit.widgets.base import FigureWidget, timed

__all__ = ["INIT_CHOICES", "MAX_DEPTH", "GOOD_RATIO", "init_statistics", "InitExplorer"]

#: The initializations offered: a fixed ``weight_scale * randn``, or one of the given functions.
INIT_CHOICES = ("weight scale", "Xavier", "He")
#: The deepest network the widget draws.
MAX_DEPTH = 10

_SATURATED = 0.99  # |tanh| above this counts as saturated
#: Rule of thumb for the update-to-weight ratio ``lr * ||dW|| / ||W||`` of one step: about 1e-3
#: (the band drawn is a factor of 10 either way).
GOOD_RATIO = 1e-3


def _weights(init, fan_in, fan_out, rng, weight_scale, inits):
    if init == "weight scale":
        return weight_scale * rng.standard_normal((fan_in, fan_out))
    fn = (inits or {}).get(init)
    if fn is None:
        raise ValueError(f"no function for {init!r} initialization: pass inits={{{init!r}: your_function}}")
    W = np.asarray(fn(fan_in, fan_out, rng), dtype=float)
    if W.shape != (fan_in, fan_out):
        raise ValueError(f"the {init} initializer returned shape {W.shape}, expected {(fan_in, fan_out)}")
    return W


def _verdict(activation, std, saturated, input_grad_norms, update_ratio):
    """One sentence on what the statistics show."""
    if not (np.all(np.isfinite(std)) and np.all(np.isfinite(input_grad_norms))):
        return "overflow: the activations or gradients are no longer finite numbers"
    ratio = input_grad_norms[0] / input_grad_norms[-1] if input_grad_norms[-1] > 0 else np.inf
    grads = (f"the gradient reaching layer 1 is {ratio:.2g} times the one reaching the last layer, and one "
             f"step changes layer 1's weights by {update_ratio[0]:.2g} of their size (rule of thumb: ~1e-3)")
    if activation == "tanh" and saturated[-1] > 0.5:
        return (f"saturated: {saturated[-1]:.0%} of the last layer's tanh units are at +-1, where their "
                f"local gradient 1 - tanh^2 is almost 0; {grads}")
    if std[-1] < 0.1 * std[0] or std[-1] < 1e-3:
        return (f"vanishing: the activations' std falls from {std[0]:.2g} (layer 1) to {std[-1]:.2g} "
                f"(last layer); {grads}")
    if std[-1] > 10 * std[0]:
        return (f"exploding: the activations' std grows from {std[0]:.2g} (layer 1) to {std[-1]:.2g} "
                f"(last layer); {grads}")
    return (f"healthy: the activations' std stays between {std.min():.2g} and {std.max():.2g} "
            f"across the layers; {grads}")


def init_statistics(depth, activation, init, *, affine, activations, inits=None,
                    weight_scale=0.01, width=256, batch=500, bins=40, seed=0, learning_rate=0.1):
    """Forward and backward statistics of a deep stack of layers at initialization.

    Parameters
    ----------
    depth : int
        Number of layers (affine + activation), at least 1.
    activation : str
        A key of ``activations`` (e.g. ``"tanh"``, ``"ReLU"``).
    init : str
        ``"weight scale"`` (``weight_scale * randn``) or a key of ``inits``.
    affine : (forward, backward)
        ``affine_forward(x, w, b) -> (out, cache)``, ``affine_backward(dout, cache)
        -> (dx, dw, db)``.
    activations : dict of str -> (forward, backward)
        ``forward(x) -> (out, cache)``, ``backward(dout, cache) -> dx``.
    inits : dict of str -> callable, optional
        ``fn(fan_in, fan_out, rng) -> W (fan_in, fan_out)``, e.g. ``{"Xavier":
        xavier_init, "He": he_init}``.
    weight_scale : float
        Used when ``init == "weight scale"``.
    width, batch : int
        Units per layer; samples in the batch of unit-Gaussian inputs.
    bins : int
        Histogram bins.
    seed : int
        Seed of the ``np.random.Generator`` that draws the inputs, the weights
        (also the one passed to ``inits``) and the upstream gradient.
    learning_rate : float
        The step size of the update-to-weight ratio.

    Returns
    -------
    dict with
        ``depth``, ``activation``, ``init``;
        ``edges`` (bins + 1,): shared histogram edges ([-1, 1] for tanh, [0, the largest
        99.5th percentile] for ReLU);
        ``hist`` (depth, bins): share of each layer's units in each bin (ReLU: the
        exact zeros are left out and counted in ``zero_fraction``, and so are the
        few values beyond the last edge);
        ``mean``, ``std``, ``zero_fraction``, ``saturated`` (depth,): per-layer
        activation statistics (``saturated``: share of tanh units with |a| > 0.99);
        ``grad_norms`` (depth,): Frobenius norm of each layer's weight gradient ``dW``,
        the upstream gradient at the last layer being that of a mean loss with a
        per-sample gradient of norm ~1 (Gaussian, divided by ``batch * sqrt(width)``);
        ``input_grad_norms`` (depth,): norm of the gradient reaching each layer's input
        (``||dx||``, the gradient flowing back through the layers);
        ``update_ratio`` (depth,): ``learning_rate * ||dW|| / ||W||`` per layer;
        ``weight_std`` (depth,): the standard deviation of each weight matrix;
        ``verdict``: a sentence ("vanishing: ...", "saturated: ...", "healthy: ...").
    """
    depth = int(depth)
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    if activation not in activations:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(activations)}")
    if init not in INIT_CHOICES and init not in (inits or {}):
        raise ValueError(f"unknown init {init!r}; choose from {list(INIT_CHOICES)}")
    affine_forward, affine_backward = affine
    act_forward, act_backward = activations[activation]
    rng = np.random.default_rng(seed)

    x = rng.standard_normal((batch, width))
    outs, caches, weight_std, weight_norm = [], [], [], []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(depth):
            W = _weights(init, width, width, rng, weight_scale, inits)
            weight_std.append(W.std())
            weight_norm.append(np.linalg.norm(W))
            h, affine_cache = affine_forward(x, W, np.zeros(width))
            x, act_cache = act_forward(h)
            outs.append(np.asarray(x, dtype=float))
            caches.append((affine_cache, act_cache))

        dout = rng.standard_normal(outs[-1].shape) / (batch * np.sqrt(width))
        grad_norms, input_grad_norms = np.empty(depth), np.empty(depth)
        for layer in range(depth - 1, -1, -1):
            affine_cache, act_cache = caches[layer]
            dh = act_backward(dout, act_cache)
            dout, dW, _ = affine_backward(dh, affine_cache)
            grad_norms[layer] = np.linalg.norm(dW)
            input_grad_norms[layer] = np.linalg.norm(dout)
        update_ratio = learning_rate * grad_norms / np.maximum(np.array(weight_norm), 1e-300)

        A = np.stack(outs)  # (depth, batch, width)
        mean, std = A.mean(axis=(1, 2)), A.std(axis=(1, 2))
        zero_fraction = np.mean(A == 0, axis=(1, 2))
        saturated = np.mean(np.abs(A) > _SATURATED, axis=(1, 2))
        if activation == "tanh":
            edges = np.linspace(-1.0, 1.0, bins + 1)
        else:
            finite = A[np.isfinite(A)]
            top = float(np.max(np.percentile(np.abs(A.reshape(depth, -1)), 99.5, axis=1))) if finite.size else 1.0
            edges = np.linspace(0.0, top if np.isfinite(top) and top > 0 else 1.0, bins + 1)
        hist = np.empty((depth, bins))
        size = A[0].size
        for layer in range(depth):
            values = A[layer].ravel()
            if activation != "tanh":
                values = values[values != 0]
            counts, _ = np.histogram(values, bins=edges)  # the few beyond the edges are left out
            hist[layer] = counts / size

    return {
        "depth": depth, "activation": activation, "init": init, "edges": edges, "hist": hist,
        "mean": mean, "std": std, "zero_fraction": zero_fraction, "saturated": saturated,
        "grad_norms": grad_norms, "input_grad_norms": input_grad_norms, "update_ratio": update_ratio,
        "weight_std": np.array(weight_std), "learning_rate": learning_rate,
        "verdict": _verdict(activation, std, saturated, input_grad_norms, update_ratio),
    }


# --------------------------------------------------------------------------- widget


class InitExplorer(FigureWidget):
    """Widget: per-layer activation histograms and gradient norms for a chosen initialization.

    Parameters
    ----------
    affine, activations, inits
        As in :func:`init_statistics` (the notebook's functions).
    init : str
        Initial choice from :data:`INIT_CHOICES`.
    weight_scale : float
        Initial scale for ``"weight scale"`` (slider from 1e-3 to 10, log scale).
    activation : str
        Initial activation (a key of ``activations``).
    depth : int
        Initial depth (slider 2 .. :data:`MAX_DEPTH`).
    width, batch : int
        As in :func:`init_statistics`.
    figure_backend : {"auto", "ipympl", "static"}
        See :func:`coursekit.plots.interactive_figure`.

    Attributes
    ----------
    controls : dict
        ``"init"``, ``"scale"``, ``"activation"``, ``"depth"`` widgets.
    state : dict or None
        The last :func:`init_statistics` result (None if it could not be computed).
    status : ipywidgets.HTML
        The verdict, or what to implement first.
    fig, artists, output
    """

    def __init__(self, *, affine, activations, inits=None, init="weight scale", weight_scale=0.01,
                 activation=None, depth=MAX_DEPTH, width=256, batch=500, learning_rate=0.1,
                 figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        self.affine, self.activations, self.inits = affine, dict(activations), dict(inits or {})
        self.width, self.batch, self.learning_rate = width, batch, learning_rate
        self.state = None
        self.make_figure((9.0, 5.2))
        live = self.live
        style = {"description_width": "6em"}
        self.controls = {
            "init": widgets.Dropdown(options=list(INIT_CHOICES), value=init, description="init",
                                     style=style, layout=widgets.Layout(width="230px")),
            "scale": widgets.FloatLogSlider(value=weight_scale, base=10, min=-3, max=1, step=0.05,
                                            description="weight scale", readout_format=".3g",
                                            continuous_update=live, style=style),
            "activation": widgets.ToggleButtons(options=list(self.activations),
                                                value=activation or next(iter(self.activations)),
                                                description="activation", style=style),
            "depth": widgets.IntSlider(value=int(depth), min=2, max=MAX_DEPTH, description="depth",
                                       continuous_update=live, style=style),
        }
        self.start(widgets.HBox([self.controls["init"], self.controls["scale"]]),
                   widgets.HBox([self.controls["activation"], self.controls["depth"]]),
                   watch=self.controls.values())

    def _build_figure(self):
        fig = self.fig
        left, right, gap = 0.04, 0.99, 0.008
        w = (right - left - gap * (MAX_DEPTH - 1)) / MAX_DEPTH
        hists, titles, steps = [], [], []
        edges = np.linspace(-1, 1, 41)
        for k in range(MAX_DEPTH):
            ax = fig.add_axes([left + k * (w + gap), 0.50, w, 0.30])
            step = ax.stairs(np.zeros(40), edges, fill=True, color=CLASS_COLORS[0], alpha=0.8)
            ax.set_yticks([])
            ax.tick_params(labelsize=7)
            titles.append(ax.set_title("", fontsize=8))
            hists.append(ax)
            steps.append(step)
        lower = {}
        for key, x0, ylabel, marker, colour in (("std", 0.07, "std of activations", "o-", CLASS_COLORS[0]),
                                                ("dx", 0.40, "||dx|| flowing back", "s-", CLASS_COLORS[3]),
                                                ("ratio", 0.73, "lr ||dW|| / ||W||", "^-", CLASS_COLORS[2])):
            ax = fig.add_axes([x0, 0.09, 0.25, 0.28])
            (line,) = ax.semilogy([], [], marker, color=colour)
            ax.set_xlabel("layer", fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            lower[key] = (ax, line)
        band = lower["ratio"][0].axhspan(GOOD_RATIO / 10, GOOD_RATIO * 10, color=CLASS_COLORS[2], alpha=0.12)
        suptitle = fig.suptitle("", fontsize=10)
        self.artists = {"hist_axes": hists, "hist_titles": titles, "hists": steps,
                        "ax_std": lower["std"][0], "std": lower["std"][1],
                        "ax_dx": lower["dx"][0], "dx": lower["dx"][1],
                        "ax_ratio": lower["ratio"][0], "ratio": lower["ratio"][1], "ratio_band": band,
                        "suptitle": suptitle}

    @timed
    def update(self):
        """Recompute for the current controls and move every artist; returns the state (or None)."""
        c = self.controls
        init, activation, depth = c["init"].value, c["activation"].value, c["depth"].value
        c["scale"].disabled = init != "weight scale"
        s, failure = self.run_student(
            init_statistics, depth, activation, init, affine=self.affine, activations=self.activations,
            inits=self.inits, weight_scale=c["scale"].value, width=self.width, batch=self.batch,
            learning_rate=self.learning_rate, raised="Your code raised",
            todo=(f"<b>Implement the function for {html.escape(init)} initialization first</b> "
                  "(and the layers it uses); the plots will then appear."))
        self.state = s
        if failure:
            return None
        self.clear_errors()
        a = self.artists
        for k, (ax, step, title) in enumerate(zip(a["hist_axes"], a["hists"], a["hist_titles"])):
            ax.set_visible(k < depth)
            if k >= depth:
                continue
            step.set_data(values=s["hist"][k], edges=s["edges"])
            ax.set_xlim(s["edges"][0], s["edges"][-1])
            ax.set_ylim(0, max(float(s["hist"][k].max()), 1e-12) * 1.15)
            ticks = [s["edges"][0], (s["edges"][0] + s["edges"][-1]) / 2, s["edges"][-1]]
            ax.set_xticks(ticks)  # the edges are shared by every layer: label the first histogram only
            ax.set_xticklabels([f"{t:.2g}" for t in ticks] if k == 0 else [])
            extra = f"\n{s['zero_fraction'][k]:.0%} zero" if activation != "tanh" else \
                f"\n{s['saturated'][k]:.0%} at ±1"
            title.set_text(f"layer {k + 1}\nstd {s['std'][k]:.2g}{extra}")
        layers = np.arange(1, depth + 1)
        for line, key, ax in ((a["std"], "std", a["ax_std"]), (a["dx"], "input_grad_norms", a["ax_dx"]),
                              (a["ratio"], "update_ratio", a["ax_ratio"])):
            values = np.where(np.isfinite(s[key]), np.maximum(s[key], 1e-30), np.nan)
            line.set_data(layers, values)
            ax.set_xlim(0.5, depth + 0.5)
            ok = values[np.isfinite(values)]
            if ok.size:
                low, high = ok.min() / 3, ok.max() * 3
                if key == "update_ratio":  # keep the 1e-3 band in view
                    low, high = min(low, GOOD_RATIO / 30), max(high, GOOD_RATIO * 30)
                ax.set_ylim(low, high)
        scale = f" {c['scale'].value:.3g}" if init == "weight scale" else ""
        a["suptitle"].set_text(f"{depth} layers of {self.width} {activation} units, init: {init}{scale} "
                               f"(ratio for lr {self.learning_rate:g}; shaded: 1e-4 to 1e-2)")
        healthy = s["verdict"].startswith("healthy")
        self.say("ok" if healthy else "error", html.escape(s["verdict"]))
        self.redraw()
        return s
