"""Babysitting the learning process: one slider for the learning rate, four verdicts.

The same small network is trained on the same data with a range of learning
rates (your update rule, through :class:`coursekit.solver.Solver`); the widget
shows the loss curves the way the lecture slides draw them:

- **too low**: the loss barely changes;
- **good**: it falls steadily to a low value;
- **too high**: it drops fast, then levels off well above the good runs;
- **diverging**: it grows, or becomes nan/inf.

All runs are computed once when the widget is built (a fraction of a second per
run on the digits), so the slider only restyles curves that already exist::

    from coursekit.widgets.babysitting import BabysittingExplorer
    BabysittingExplorer(make_model, data, update_rule=sgd)

:func:`babysit_run` and :func:`classify_runs` are the computation as plain
functions (tests call them without a browser).
"""

from __future__ import annotations

import html
import time
import warnings

import ipywidgets as widgets
import numpy as np

from coursekit.plots import interactive_figure, is_live, refresh
from coursekit.solver import Solver

__all__ = ["VERDICTS", "DEFAULT_LEARNING_RATES", "babysit_run", "classify_runs",
           "BabysittingExplorer"]

#: The four verdicts, with the colour each is drawn in and what the slides say about it.
VERDICTS = {
    "too low": ("#1f77b4", "the loss barely changes: raise the learning rate"),
    "good": ("#2ca02c", "the loss falls steadily to a low value"),
    "too high": ("#ff7f0e", "a fast drop, then the loss levels off high: lower the rate"),
    "diverging": ("#d62728", "the loss grows (or becomes nan): lower the rate a lot"),
}

#: Half-decades from 1e-3 to 1e2.
DEFAULT_LEARNING_RATES = tuple(float(f"{10 ** e:.2g}") for e in np.arange(-3, 2.01, 0.5))


def _smooth(values, window):
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    window = max(1, min(int(window), values.size))
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    start = np.maximum(idx - window, 0)
    return (c[idx] - c[start]) / (idx - start)


def babysit_run(make_model, data, update_rule, learning_rate, *, num_epochs=8, batch_size=64,
                seed=0):
    """Train ``make_model()`` with one learning rate; warnings of a blow-up are silenced.

    Parameters
    ----------
    make_model : callable
        ``make_model() -> model`` (``params`` and ``loss(X, y=None)``), freshly
        initialised the same way on every call, so runs differ only in the rate.
    data : dict
        ``X_train, y_train, X_val, y_val``.
    update_rule : callable or str
        As :class:`~coursekit.solver.Solver` takes it (your ``sgd``).
    learning_rate : float
    num_epochs, batch_size, seed
        Passed to the Solver (the seed fixes the shuffling).

    Returns
    -------
    dict
        ``learning_rate``; ``loss`` (one per iteration); ``epochs`` (the same
        iterations in epochs, for the x axis); ``val_acc`` (per epoch);
        ``first_loss``, ``final_loss`` (mean of the last tenth of the iterations;
        inf if the loss became nan or inf); ``stopped_reason``; ``seconds``.
    """
    model = make_model()
    start = time.perf_counter()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solver = Solver(model, data, update_rule=update_rule,
                        optim_config={"learning_rate": float(learning_rate)},
                        batch_size=batch_size, num_epochs=num_epochs, num_train_samples=200,
                        verbose=False, progress=False, seed=seed).train()
    loss = np.asarray(solver.loss_history, dtype=float)
    tail = loss[-max(1, loss.size // 10):]
    final = float(np.mean(tail)) if np.all(np.isfinite(tail)) else np.inf
    return {
        "learning_rate": float(learning_rate),
        "loss": loss,
        "epochs": np.arange(loss.size) / solver.iterations_per_epoch,
        "val_acc": np.asarray(solver.val_acc_history, dtype=float),
        "first_loss": float(loss[0]) if loss.size else np.nan,
        "final_loss": final,
        "stopped_reason": solver.stopped_reason,
        "seconds": time.perf_counter() - start,
    }


def classify_runs(runs, good_within=0.1):
    """Give each run a verdict: ``"too low"``, ``"good"``, ``"too high"`` or ``"diverging"``.

    A run **diverges** if its loss became nan/inf or ended above where it started.
    Of the others, the best is the one with the lowest final loss; a run is **good**
    if it got at least ``1 - good_within`` of the best run's improvement
    (``first_loss - final_loss``), else **too low** or **too high** depending on
    which side of the best learning rate it lies.

    Parameters
    ----------
    runs : list of dict
        :func:`babysit_run` results.

    Returns
    -------
    list of str, one verdict per run.
    """
    first = np.array([r["first_loss"] for r in runs], dtype=float)
    final = np.array([r["final_loss"] for r in runs], dtype=float)
    diverged = ~np.isfinite(final) | (final >= first) | np.array(
        [r["stopped_reason"] is not None for r in runs])
    if diverged.all():
        return ["diverging"] * len(runs)
    best = int(np.argmin(np.where(diverged, np.inf, final)))
    best_gain = first[best] - final[best]
    verdicts = []
    for i, run in enumerate(runs):
        if diverged[i]:
            verdicts.append("diverging")
        elif first[i] - final[i] >= (1.0 - good_within) * best_gain:
            verdicts.append("good")
        elif run["learning_rate"] < runs[best]["learning_rate"]:
            verdicts.append("too low")
        else:
            verdicts.append("too high")
    return verdicts


class BabysittingExplorer(widgets.VBox):
    """Widget: a learning-rate slider over precomputed runs, loss curves as on the slides.

    Parameters
    ----------
    make_model : callable
        ``make_model() -> model``, a fresh, identically initialised model per call.
    data : dict
        ``X_train, y_train, X_val, y_val``.
    update_rule : callable or str
        Your ``sgd`` (or any rule that reads ``config["learning_rate"]``).
    learning_rates : sequence of float
        The slider's stops (default :data:`DEFAULT_LEARNING_RATES`).
    learning_rate : float, optional
        Initial slider position (default: the best run's rate).
    num_epochs, batch_size, seed
        For every run (see :func:`babysit_run`).
    figure_backend : {"auto", "ipympl", "static"}

    Attributes
    ----------
    runs : list of dict
        One :func:`babysit_run` per learning rate.
    verdicts : list of str
        :func:`classify_runs` of ``runs``.
    slider : ipywidgets.SelectionSlider
    last_update_ms : float
    fig, artists, status, output
    """

    def __init__(self, make_model, data, update_rule="sgd", *, learning_rates=DEFAULT_LEARNING_RATES,
                 learning_rate=None, num_epochs=8, batch_size=64, seed=0, figure_backend="auto"):
        super().__init__()
        if not callable(make_model):
            raise TypeError("make_model must be a function that builds a fresh model")
        rates = sorted(float(lr) for lr in learning_rates)
        if len(rates) < 2:
            raise ValueError("give at least two learning rates")
        self.status = widgets.HTML()
        self.output = widgets.Output()
        self.last_update_ms = float("nan")
        try:
            self.runs = [babysit_run(make_model, data, update_rule, lr, num_epochs=num_epochs,
                                     batch_size=batch_size, seed=seed) for lr in rates]
        except NotImplementedError:
            self.runs, self.verdicts = [], []
            self.status.value = ("<b>Implement your update rule first.</b> This widget trains "
                                 "with it; it still raises NotImplementedError.")
            self.children = [self.status]
            return
        self.verdicts = classify_runs(self.runs)
        if learning_rate is None:
            finals = [r["final_loss"] if v != "diverging" else np.inf
                      for r, v in zip(self.runs, self.verdicts)]
            start = int(np.argmin(finals))
        else:
            start = int(np.argmin(np.abs(np.log(rates) - np.log(float(learning_rate)))))

        self.fig, self.canvas = interactive_figure(figsize=(10.0, 3.9), backend=figure_backend)
        self.slider = widgets.SelectionSlider(
            options=[(f"{lr:g}", i) for i, lr in enumerate(rates)], value=start,
            description="learning rate", continuous_update=is_live(self.canvas),
            style={"description_width": "7em"}, layout=widgets.Layout(width="480px"))
        self._build_figure()
        self.children = [self.slider, self.canvas, self.status, self.output]
        self.slider.observe(self._on_change, names="value")
        self.update()

    def _build_figure(self):
        fig = self.fig
        ax = fig.add_axes([0.06, 0.14, 0.52, 0.74])
        ax_lr = fig.add_axes([0.68, 0.14, 0.3, 0.74])
        first = np.nanmax([r["first_loss"] for r in self.runs])
        curves = []
        for run, verdict in zip(self.runs, self.verdicts):
            color = VERDICTS[verdict][0]
            loss = np.where(np.isfinite(run["loss"]), run["loss"], np.nan)
            window = max(1, loss.size // 40)
            (line,) = ax.plot(run["epochs"], _smooth(np.nan_to_num(loss, nan=1e6), window),
                              color=color, lw=1.0, alpha=0.35)
            curves.append(line)
        (raw,) = ax.plot([], [], color="0.3", lw=0.5, alpha=0.5, zorder=1)
        ax.set_ylim(0, 1.6 * first)
        ax.set_xlim(0, max(r["epochs"][-1] if r["epochs"].size else 1 for r in self.runs))
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss (moving average)")
        handles = [ax.plot([], [], color=c, lw=2, label=v)[0] for v, (c, _) in VERDICTS.items()]
        ax.legend(handles=handles, loc="upper right", fontsize=8)
        title = ax.set_title("", fontsize=10)

        lrs = np.array([r["learning_rate"] for r in self.runs])
        finals = np.array([min(r["final_loss"], 1.5 * first) for r in self.runs])
        ax_lr.plot(lrs, finals, "-", color="0.7", lw=1, zorder=1)
        ax_lr.scatter(lrs, finals, c=[VERDICTS[v][0] for v in self.verdicts], s=28, zorder=2,
                      edgecolors="k", linewidths=0.4)
        (marker,) = ax_lr.plot([], [], "o", ms=13, mfc="none", mec="k", mew=1.5, zorder=3)
        ax_lr.set_xscale("log")
        ax_lr.set_ylim(0, 1.6 * first)
        ax_lr.set_xlabel("learning rate")
        ax_lr.set_ylabel("final training loss")
        ax_lr.set_title("final loss against the rate", fontsize=10)
        ax_lr.grid(alpha=0.3)
        self.artists = {"ax": ax, "ax_lr": ax_lr, "curves": curves, "raw": raw,
                        "marker": marker, "title": title}

    def _on_change(self, change=None):
        with self.output:
            self.update()

    def update(self):
        """Highlight the selected run; returns its ``(run, verdict)``."""
        t0 = time.perf_counter()
        i = int(self.slider.value)
        run, verdict = self.runs[i], self.verdicts[i]
        a = self.artists
        for j, line in enumerate(a["curves"]):
            line.set_linewidth(2.6 if j == i else 1.0)
            line.set_alpha(1.0 if j == i else 0.3)
            line.set_zorder(3 if j == i else 2)
        a["raw"].set_data(run["epochs"], np.where(np.isfinite(run["loss"]), run["loss"], np.nan))
        final = run["final_loss"] if np.isfinite(run["final_loss"]) else np.nan
        a["marker"].set_data([run["learning_rate"]],
                             [min(final, a["ax_lr"].get_ylim()[1]) if np.isfinite(final)
                              else a["ax_lr"].get_ylim()[1] * 0.95])
        a["title"].set_text(f"learning rate {run['learning_rate']:g}: {verdict}")
        color, advice = VERDICTS[verdict]
        acc = run["val_acc"][-1] if run["val_acc"].size else np.nan
        self.status.value = (
            f"<div style='padding:4px 10px;border-left:4px solid {color}'>"
            f"<b>{html.escape(verdict)}</b>: {html.escape(advice)}. Loss {run['first_loss']:.3g} "
            f"&rarr; {final:.3g}; validation accuracy {acc:.3f} after {run['val_acc'].size} "
            f"epochs.</div>")
        refresh(self.fig)
        self.last_update_ms = 1e3 * (time.perf_counter() - t0)
        return run, verdict
