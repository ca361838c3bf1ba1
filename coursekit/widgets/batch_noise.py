"""Batch, stochastic and minibatch learning: gradient noise against wall time.

One problem (your network on the digits), one update rule, one learning rate,
and the batch size ``B`` from 1 (stochastic) to ``N`` (batch). For every ``B`` the
widget shows

- the **gradient noise**: how far a minibatch gradient lies from the full one,
  ``E ||g_B - g||**2 / ||g||**2``, measured, next to the sampling theory
  ``sigma**2 / B * (N - B) / (N - 1)`` (sampling without replacement);
- the **training loss after each epoch** (on the whole training set): small
  batches take many cheap, noisy steps per epoch, the full batch one exact step;
- the **wall time per epoch**: ``N / B`` updates, each costing a fixed overhead
  plus work proportional to ``B``.

Everything is computed when the widget is built; the slider only restyles.
It uses your ``minibatches`` and your update rule::

    from coursekit.widgets.batch_noise import BatchNoiseExplorer
    BatchNoiseExplorer(make_model, data, update_rule=sgd, minibatches=minibatches)

:func:`gradient_noise` and :func:`train_with_batch_size` are the computation as
plain functions (tests call them without a browser).
"""

from __future__ import annotations

import html
import time
import warnings

import ipywidgets as widgets
import numpy as np

from coursekit.plots import CLASS_COLORS
from coursekit.widgets.base import FigureWidget, timed

__all__ = ["default_batch_sizes", "flat_gradient", "gradient_noise", "train_with_batch_size",
           "BatchNoiseExplorer"]


def default_batch_sizes(N):
    """``1, 2, 4, ...`` below ``N``, then ``N`` itself."""
    sizes = [1]
    while sizes[-1] * 2 < N:
        sizes.append(sizes[-1] * 2)
    return sizes + [int(N)] if sizes[-1] != N else sizes


def flat_gradient(model, X, y):
    """The gradient of ``model.loss(X, y)`` as one vector (parameters in ``model.params`` order)."""
    _, grads = model.loss(X, y)
    return np.concatenate([np.ravel(grads[p]) for p in model.params])


def _batches(minibatches, X, y, batch_size, rng, count):
    """``count`` full-size batches from successive epochs of ``minibatches``."""
    out = []
    while len(out) < count:
        before = len(out)
        for Xb, yb in minibatches(X, y, batch_size, rng=rng):
            if len(yb) == batch_size:
                out.append((Xb, yb))
                if len(out) == count:
                    break
        if len(out) == before:
            raise ValueError(f"minibatches yielded no batch of {batch_size} samples")
    return out


def gradient_noise(model, X, y, batch_sizes, minibatches, *, probes=16, seed=0):
    """Relative noise of minibatch gradients at the model's current parameters.

    Parameters
    ----------
    model : object with ``params`` and ``loss(X, y) -> (loss, grads)``
    X, y : ndarray (N, ...), (N,)
    batch_sizes : sequence of int
        Sizes below ``N`` are probed (at ``N`` the noise is 0).
    minibatches : callable
        ``minibatches(X, y, batch_size, rng=...)`` (yours).
    probes : int
        Batches drawn per size (four times as many for ``B = 1``, which also
        estimates ``sigma**2``).
    seed : int

    Returns
    -------
    dict
        ``batch_sizes`` (the probed ones), ``noise`` (measured
        ``mean ||g_B - g||**2 / ||g||**2``), ``theory`` (``sigma**2 / B * (N - B) /
        (N - 1) / ||g||**2``), ``sigma2`` (``mean_n ||g_n - g||**2``), ``grad_norm2``.
    """
    rng = np.random.default_rng(seed)
    N = len(y)
    g = flat_gradient(model, X, y)
    norm2 = float(g @ g)
    sizes = [int(b) for b in batch_sizes if 1 <= b < N]
    noise = []
    for B in sizes:
        count = 4 * probes if B == 1 else probes
        d = [flat_gradient(model, Xb, yb) - g for Xb, yb in _batches(minibatches, X, y, B, rng, count)]
        noise.append(float(np.mean([v @ v for v in d])))
    sigma2 = noise[0] if sizes and sizes[0] == 1 else float("nan")
    B = np.array(sizes, dtype=float)
    theory = sigma2 / B * (N - B) / max(N - 1, 1)
    scale = norm2 if norm2 > 0 else 1.0
    return {"batch_sizes": np.array(sizes), "noise": np.array(noise) / scale,
            "theory": theory / scale, "sigma2": sigma2, "grad_norm2": norm2}


def train_with_batch_size(make_model, data, update_rule, minibatches, batch_size, *,
                          learning_rate=0.1, num_epochs=4, seed=0):
    """The minibatch SGD loop with one batch size; times each epoch.

    Each epoch: shuffle into batches with ``minibatches``, and for every batch run the
    forward and backward pass (``model.loss``) and update each parameter with
    ``update_rule`` (its own config). After each epoch the loss on the whole
    training set is recorded (not timed).

    Returns
    -------
    dict
        ``batch_size``; ``loss`` (``num_epochs + 1`` values, before training and
        after each epoch; stops early at nan/inf); ``seconds`` (training time of
        each epoch); ``seconds_per_epoch`` (their median); ``updates_per_epoch``.
    """
    X, y = data["X_train"], data["y_train"]
    model = make_model()
    rng = np.random.default_rng(seed)
    configs = {p: {"learning_rate": float(learning_rate)} for p in model.params}
    losses, seconds, updates = [float(model.loss(X, y)[0])], [], 0
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(num_epochs):
            updates = 0
            start = time.perf_counter()
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                _, grads = model.loss(Xb, yb)
                for p in model.params:
                    model.params[p], configs[p] = update_rule(model.params[p], grads[p], configs[p])
                updates += 1
            seconds.append(time.perf_counter() - start)
            losses.append(float(model.loss(X, y)[0]))
            if not np.isfinite(losses[-1]):
                break
    return {"batch_size": int(batch_size), "loss": np.array(losses), "seconds": np.array(seconds),
            "seconds_per_epoch": float(np.median(seconds)), "updates_per_epoch": updates}


class BatchNoiseExplorer(FigureWidget):
    """Widget: pick a batch size; see its gradient noise, its loss per epoch and its cost.

    Parameters
    ----------
    make_model : callable
        ``make_model() -> model``, freshly and identically initialised per call.
    data : dict
        ``X_train`` and ``y_train`` are used.
    update_rule : callable
        Your ``sgd`` (reads ``config["learning_rate"]``).
    minibatches : callable
        Your ``minibatches(X, y, batch_size, rng=None, shuffle=True)``.
    batch_sizes : sequence of int, optional
        Default :func:`default_batch_sizes` of ``N``; 1 and ``N`` are always added.
    learning_rate : float
        The same for every batch size.
    num_epochs : int
    probes : int
        Batches per size for the noise estimate.
    batch_size : int, optional
        Initial slider position (default the size nearest 32).
    seed : int
    figure_backend : {"auto", "ipympl", "static"}

    Attributes
    ----------
    noise : dict
        :func:`gradient_noise` at the initial parameters.
    runs : dict of int -> dict
        :func:`train_with_batch_size` per batch size.
    slider, last_update_ms, fig, artists, status, output
    """

    def __init__(self, make_model, data, update_rule, minibatches, *, batch_sizes=None,
                 learning_rate=0.1, num_epochs=4, probes=16, batch_size=None, seed=0,
                 figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        for name, fn in (("make_model", make_model), ("update_rule", update_rule),
                         ("minibatches", minibatches)):
            if not callable(fn):
                raise TypeError(f"{name} must be a function, got {type(fn).__name__}")
        X, y = data["X_train"], data["y_train"]
        N = len(y)
        sizes = sorted({1, N, *[int(b) for b in (batch_sizes or default_batch_sizes(N)) if 1 <= b <= N]})
        self.batch_sizes = sizes
        self.learning_rate = float(learning_rate)
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.noise = gradient_noise(make_model(), X, y, sizes, minibatches, probes=probes,
                                            seed=seed)
            self.runs = {B: train_with_batch_size(make_model, data, update_rule, minibatches, B,
                                                  learning_rate=learning_rate,
                                                  num_epochs=num_epochs, seed=seed)
                         for B in sizes}
        except NotImplementedError:
            self.noise, self.runs = None, {}
            self.show_only_status("todo", "<b>Implement <code>minibatches</code> and <code>sgd</code> "
                                          "first.</b> This widget runs them; one still raises "
                                          "NotImplementedError.")
            return
        start = batch_size if batch_size in sizes else min(sizes, key=lambda b: abs(np.log(b / 32)))
        self.make_figure((9.0, 3.7))
        self.slider = widgets.SelectionSlider(
            options=[(str(b), b) for b in sizes], value=start, description="batch size B",
            continuous_update=self.live, style={"description_width": "7em"},
            layout=widgets.Layout(width="480px"))
        self.start(self.slider, watch=[self.slider])

    def _build_figure(self):
        fig, N = self.fig, self.batch_sizes[-1]
        ax_n = fig.add_axes([0.075, 0.15, 0.245, 0.72])
        ax_l = fig.add_axes([0.395, 0.15, 0.255, 0.72])
        ax_t = fig.add_axes([0.725, 0.15, 0.26, 0.72])
        nz = self.noise
        ax_n.loglog(nz["batch_sizes"], nz["theory"], "-", color="0.6", lw=1.5,
                    label="theory  \u03c3\u00b2/B \u00b7 (N-B)/(N-1)")
        ax_n.loglog(nz["batch_sizes"], nz["noise"], "o", color=CLASS_COLORS[0], ms=5, label="measured")
        (n_mark,) = ax_n.plot([], [], "o", ms=12, mfc="none", mec="k", mew=1.5)
        ax_n.set_xlabel("batch size B")
        ax_n.set_ylabel("E|g_B - g|\u00b2 / |g|\u00b2")
        ax_n.set_title("gradient noise (at the start)", fontsize=10)
        ax_n.legend(fontsize=7.5, loc="lower left")
        ax_n.grid(alpha=0.3, which="both")

        curves = {}
        top = 0.0
        for B, run in self.runs.items():
            loss = np.where(np.isfinite(run["loss"]), run["loss"], np.nan)
            (curves[B],) = ax_l.plot(np.arange(loss.size), loss, "-", color="0.75", lw=1.0)
            top = max(top, float(np.nanmax(loss[:1])))
        for B, color, label in ((1, CLASS_COLORS[3], "stochastic, B = 1"),
                                (N, CLASS_COLORS[7], f"batch, B = N = {N}")):
            curves[B].set_color(color)
            curves[B].set_linewidth(2.0)
            curves[B].set_label(label)
        (selected,) = ax_l.plot([], [], "-o", color=CLASS_COLORS[0], lw=2.4, ms=4, label="minibatch")
        ax_l.set_ylim(0, 1.15 * top)
        ax_l.set_xlabel("epoch")
        ax_l.set_ylabel("training loss (all of it)")
        ax_l.set_title("loss after each epoch", fontsize=10)
        ax_l.legend(fontsize=7.5, loc="upper right")
        ax_l.grid(alpha=0.3)

        sizes = np.array(self.batch_sizes)
        per_epoch = np.array([self.runs[B]["seconds_per_epoch"] for B in self.batch_sizes]) * 1e3
        ax_t.loglog(sizes, per_epoch, "-o", color=CLASS_COLORS[2], ms=4)
        (t_mark,) = ax_t.plot([], [], "o", ms=12, mfc="none", mec="k", mew=1.5)
        ax_t.set_xlabel("batch size B")
        ax_t.set_ylabel("ms per epoch")
        ax_t.set_title("wall time per epoch (N/B updates)", fontsize=10)
        ax_t.grid(alpha=0.3, which="both")
        self.artists = {"noise_marker": n_mark, "curves": curves, "selected": selected,
                        "time_marker": t_mark, "ax_noise": ax_n, "ax_loss": ax_l, "ax_time": ax_t}

    @timed
    def update(self):
        """Highlight the selected batch size everywhere; returns its run."""
        B, N = int(self.slider.value), self.batch_sizes[-1]
        run, a = self.runs[B], self.artists
        loss = np.where(np.isfinite(run["loss"]), run["loss"], np.nan)
        a["selected"].set_data(np.arange(loss.size), loss)
        a["selected"].set_label(f"minibatch, B = {B}")
        sizes = list(self.noise["batch_sizes"])
        if B in sizes:
            k = sizes.index(B)
            a["noise_marker"].set_data([B], [self.noise["noise"][k]])
        else:
            a["noise_marker"].set_data([], [])
        a["time_marker"].set_data([B], [1e3 * run["seconds_per_epoch"]])
        a["ax_loss"].legend(fontsize=7.5, loc="upper right")
        sgd_run, full = self.runs[1], self.runs[N]
        noise = (f"gradient noise {self.noise['noise'][sizes.index(B)]:.3g} |g|\u00b2"
                 if B in sizes else "no gradient noise (the full batch)")
        self.status.value = html.escape(
            f"B = {B}: {run['updates_per_epoch']} updates per epoch, "
            f"{1e3 * run['seconds_per_epoch']:.1f} ms per epoch, {noise}, loss after "
            f"{loss.size - 1} epochs {loss[-1]:.3f}. For comparison: stochastic (B = 1) "
            f"{1e3 * sgd_run['seconds_per_epoch']:.0f} ms per epoch, loss {sgd_run['loss'][-1]:.3f}; "
            f"batch (B = {N}) {1e3 * full['seconds_per_epoch']:.1f} ms per epoch, "
            f"loss {full['loss'][-1]:.3f}.")
        self.redraw()
        return run
