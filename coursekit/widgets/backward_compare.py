"""Side by side: the hand-written layer backward passes (02) and the engine's gradients (05).

For a small MLP on a few samples, :func:`compare_gradients` computes each parameter's
gradient twice -- with the student's engine (``MLP``, ``cross_entropy``, ``backward()``) and
with assignment 02's affine / ReLU / softmax-loss backward passes -- and the relative error
between them. :class:`BackwardCompare` shows one parameter at a time as two heat maps and
their difference; a dropdown picks the parameter, a slider the random network.

Usage in a notebook::

    from coursekit.widgets.backward_compare import BackwardCompare
    BackwardCompare(MLP, cross_entropy, mlp_by_layers, X, y)
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from coursekit.widgets.base import FigureWidget, timed

__all__ = ["compare_gradients", "BackwardCompare", "PARAM_NAMES"]


def PARAM_NAMES(n: int) -> list[str]:
    """``['W1', 'b1', 'W2', 'b2', ...]`` for ``n`` parameters."""
    return [f"{'W' if i % 2 == 0 else 'b'}{i // 2 + 1}" for i in range(n)]


def _rel_error(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def compare_gradients(MLP, cross_entropy, mlp_by_layers, X, y, dims=(2, 8, 3), seed=0, n=12) -> dict:
    """The engine's and the layers' gradients of one random MLP on ``n`` samples.

    Returns dict: ``names``, ``engine`` and ``layers`` (lists of arrays), ``errors`` (relative
    error per parameter), ``loss_engine``, ``loss_layers``, ``error`` (text, if the engine failed).
    """
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(X), size=min(n, len(X)), replace=False)
    Xs, ys = np.asarray(X)[pick], np.asarray(y)[pick]
    net = MLP(list(dims), rng)
    params = list(net.parameters())
    arrays = [np.array(p.data, dtype=float) for p in params]
    loss_layers, layers = mlp_by_layers(arrays, Xs, ys)
    out = {"names": PARAM_NAMES(len(arrays)), "layers": [np.asarray(g, dtype=float) for g in layers],
           "loss_layers": float(loss_layers), "engine": None, "errors": None, "loss_engine": None,
           "error": None}
    try:
        loss = cross_entropy(net(Xs), ys)
        loss.backward()
        out["engine"] = [np.array(p.grad, dtype=float) for p in params]
        out["loss_engine"] = float(np.reshape(loss.data, ()))
        out["errors"] = [_rel_error(a, b) for a, b in zip(out["engine"], out["layers"])]
    except Exception as err:  # noqa: BLE001 - the student's engine
        out["error"] = f"{type(err).__name__}: {err}"
    return out


class BackwardCompare(FigureWidget):
    """Widget: one parameter's gradient by 02's layers, by the engine, and their difference."""

    def __init__(self, MLP, cross_entropy, mlp_by_layers, X, y, *, dims=(2, 8, 3), figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        self.args = (MLP, cross_entropy, mlp_by_layers, X, y)
        self.dims = tuple(dims)
        n_params = 2 * (len(self.dims) - 1)
        self.param = widgets.Dropdown(options=PARAM_NAMES(n_params), value="W1", description="parameter")
        self.seed = widgets.IntSlider(value=0, min=0, max=20, description="network", continuous_update=False)
        self.result = None
        self.make_figure((8.5, 3.0))
        self.watch(self.param, handler=lambda change: self.update(recompute=False))
        self.start(widgets.HBox([self.param, self.seed]), watch=[self.seed])

    def _build_figure(self):
        self.axes = [self.fig.add_subplot(1, 3, k + 1) for k in range(3)]
        titles = ("02: hand-written backward", "05: your engine", "difference")
        self.images = []
        for ax, title in zip(self.axes, titles):
            self.images.append(ax.imshow(np.zeros((2, 2)), cmap="RdBu_r", aspect="auto"))
            ax.set_title(title, fontsize=9)
            ax.set_xticks([]); ax.set_yticks([])
        self.fig.subplots_adjust(left=0.02, right=0.98, bottom=0.05, top=0.85, wspace=0.08)

    @timed
    def update(self, recompute=True):
        """Recompute (new network) if asked, then redraw the chosen parameter; returns the result."""
        if recompute or self.result is None:
            self.result = compare_gradients(*self.args, dims=self.dims, seed=self.seed.value)
        r = self.result
        k = r["names"].index(self.param.value)
        layers = np.atleast_2d(r["layers"][k])
        engine = np.atleast_2d(r["engine"][k]) if r["engine"] is not None else np.zeros_like(layers)
        scale = float(np.max(np.abs(layers))) or 1.0
        for img, data in zip(self.images, (layers, engine, engine - layers)):
            img.set_data(data)
            img.set_clim(-scale, scale)
            img.set_extent((-0.5, data.shape[1] - 0.5, data.shape[0] - 0.5, -0.5))
        if r["error"]:
            self.say("error", html.escape(f"your engine failed: {r['error']}"))
        else:
            err = r["errors"][k]
            good = err < 1e-7
            self.say("ok" if good else "error",
                     html.escape(f"{self.param.value}: relative error {err:.1e}; loss "
                                 f"{r['loss_engine']:.6f} (engine) vs {r['loss_layers']:.6f} (02 layers)"))
        self.redraw()
        return r
