"""Babysitting the learning process: one slider for the learning rate, four verdicts.

The same small network is trained on the same data with a range of learning
rates (your update rule, through :class:`coursekit.solver.Solver`); the widget
shows the loss curves the way the lecture slides draw them:

- **too low**: the loss barely changes;
- **good**: it falls steadily to a low value, on the validation set too;
- **too high**: it drops fast, then levels off well above the good runs (on the
  validation set: a run at the edge of divergence can end with a low training loss
  on a jumpy trajectory that generalises worse);
- **diverging**: the training loss grows, or becomes nan/inf.

The verdicts are judged on the validation loss. A second gauge is drawn beside them:
the **update-to-weight ratio** ``||next_w - w|| / ||w||`` of the weight matrices,
whose rule of thumb (CS231n notes) is about ``1e-3``.

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

from coursekit.solver import Solver, _resolve_rule
from coursekit.widgets.base import FigureWidget, timed

__all__ = ["VERDICTS", "DEFAULT_LEARNING_RATES", "UPDATE_RATIO_RULE_OF_THUMB", "babysit_run",
           "classify_runs", "BabysittingExplorer"]

#: ``||update|| / ||weights||`` per step: about this much is healthy (CS231n's rule of thumb).
UPDATE_RATIO_RULE_OF_THUMB = 1e-3

#: The four verdicts, with the colour each is drawn in and what the slides say about it.
VERDICTS = {
    "too low": ("#1f77b4", "the loss barely changes: raise the learning rate"),
    "good": ("#2ca02c", "the loss falls steadily to a low value, on the validation set too"),
    "too high": ("#ff7f0e", "a fast drop, then the (validation) loss levels off high: lower the rate"),
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


def _loss_on(model, X, y):
    """Mean cross-entropy of ``model``'s scores ``model.loss(X)`` against ``y``; inf when not finite.

    Computed from the scores (a forward pass only, no gradients), as the course's classifiers
    define their loss, without the regularization term.
    """
    scores = np.asarray(model.loss(X), dtype=float)
    if scores.ndim != 2 or not np.all(np.isfinite(scores)):
        return np.inf
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_p[np.arange(len(y)), np.asarray(y, dtype=int)].mean())
    return loss if np.isfinite(loss) else np.inf


class _RecordingSolver(Solver):
    """The Solver, also keeping the validation loss after every epoch (of the weights of that moment)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.val_loss_history = []

    def _end_epoch(self, epoch_losses, last_epoch):
        result = super()._end_epoch(epoch_losses, last_epoch)
        self.val_loss_history.append(_loss_on(self.model, self.X_val, self.y_val))
        return result


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
        ``learning_rate``; ``loss`` (training, one per iteration); ``epochs`` (the same
        iterations in epochs, for the x axis); ``val_acc`` and ``val_loss`` (per epoch);
        ``first_loss``, ``final_loss`` (training: the first, and the mean of the last
        tenth of the iterations; inf if the loss became nan or inf); ``first_val_loss``,
        ``final_val_loss`` (before training and after the last epoch; inf if not finite);
        ``update_ratio`` (median over training of ``||next_w - w|| / ||w||`` of the weight
        matrices, every parameter if none is 2-D or more); ``stopped_reason``; ``seconds``.
    """
    model = make_model()
    rule = _resolve_rule(update_rule)
    ratios, matrix_ratios = [], []

    def recording_rule(w, dw, config=None):
        next_w, config = rule(w, dw, config)
        size = float(np.linalg.norm(np.ravel(w)))
        if size > 0:
            ratio = float(np.linalg.norm(np.ravel(np.asarray(next_w) - w))) / size
            (matrix_ratios if np.ndim(w) >= 2 else ratios).append(ratio)
        return next_w, config

    recording_rule.__name__ = getattr(rule, "__name__", "update_rule")
    start = time.perf_counter()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first_val = _loss_on(model, data["X_val"], data["y_val"])
        solver = _RecordingSolver(model, data, update_rule=recording_rule,
                                  optim_config={"learning_rate": float(learning_rate)},
                                  batch_size=batch_size, num_epochs=num_epochs, num_train_samples=200,
                                  verbose=False, progress=False, seed=seed).train()
    loss = np.asarray(solver.loss_history, dtype=float)
    tail = loss[-max(1, loss.size // 10):]
    final = float(np.mean(tail)) if np.all(np.isfinite(tail)) else np.inf
    val_loss = np.asarray(solver.val_loss_history, dtype=float)
    final_val = float(val_loss[-1]) if val_loss.size and solver.stopped_reason is None else np.inf
    used = np.asarray(matrix_ratios or ratios, dtype=float)
    return {
        "learning_rate": float(learning_rate),
        "loss": loss,
        "epochs": np.arange(loss.size) / solver.iterations_per_epoch,
        "val_acc": np.asarray(solver.val_acc_history, dtype=float),
        "val_loss": val_loss,
        "first_loss": float(loss[0]) if loss.size else np.nan,
        "final_loss": final,
        "first_val_loss": first_val,
        "final_val_loss": final_val,
        "update_ratio": float(np.median(used)) if used.size and np.all(np.isfinite(used)) else np.nan,
        "stopped_reason": solver.stopped_reason,
        "seconds": time.perf_counter() - start,
    }


def classify_runs(runs, good_within=0.1):
    """Give each run a verdict: ``"too low"``, ``"good"``, ``"too high"`` or ``"diverging"``.

    A run **diverges** if its training loss became nan/inf or ended above where it
    started (or its validation loss is not finite). The others are judged on the
    **validation** loss (``first_val_loss``, ``final_val_loss``; runs without them, on
    the training loss): the best run is the one with the lowest final validation loss; a
    run is **good** if it got at least ``1 - good_within`` of the best run's improvement,
    else **too low** or **too high** depending on which side of the best learning rate it
    lies. A run at the edge of divergence whose training loss ends low but whose
    validation loss does not is therefore "too high", not "good".

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
    judged_first = np.array([r.get("first_val_loss", r["first_loss"]) for r in runs], dtype=float)
    judged_final = np.array([r.get("final_val_loss", r["final_loss"]) for r in runs], dtype=float)
    diverged = (~np.isfinite(final) | (final >= first) | ~np.isfinite(judged_final)
                | np.array([r["stopped_reason"] is not None for r in runs]))
    if diverged.all():
        return ["diverging"] * len(runs)
    best = int(np.argmin(np.where(diverged, np.inf, judged_final)))
    best_gain = judged_first[best] - judged_final[best]
    verdicts = []
    for i, run in enumerate(runs):
        if diverged[i]:
            verdicts.append("diverging")
        elif judged_first[i] - judged_final[i] >= (1.0 - good_within) * best_gain:
            verdicts.append("good")
        elif run["learning_rate"] < runs[best]["learning_rate"]:
            verdicts.append("too low")
        else:
            verdicts.append("too high")
    return verdicts


class BabysittingExplorer(FigureWidget):
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
        super().__init__(figure_backend=figure_backend)
        if not callable(make_model):
            raise TypeError("make_model must be a function that builds a fresh model")
        rates = sorted(float(lr) for lr in learning_rates)
        if len(rates) < 2:
            raise ValueError("give at least two learning rates")
        try:
            self.runs = [babysit_run(make_model, data, update_rule, lr, num_epochs=num_epochs,
                                     batch_size=batch_size, seed=seed) for lr in rates]
        except NotImplementedError:
            self.runs, self.verdicts = [], []
            self.show_only_status("todo", "<b>Implement your update rule first.</b> This widget "
                                          "trains with it; it still raises NotImplementedError.")
            return
        self.verdicts = classify_runs(self.runs)
        if learning_rate is None:
            finals = [r.get("final_val_loss", r["final_loss"]) if v != "diverging" else np.inf
                      for r, v in zip(self.runs, self.verdicts)]
            start = int(np.argmin(finals))
        else:
            start = int(np.argmin(np.abs(np.log(rates) - np.log(float(learning_rate)))))

        self.make_figure((9.0, 3.6))
        self.slider = widgets.SelectionSlider(
            options=[(f"{lr:g}", i) for i, lr in enumerate(rates)], value=start,
            description="learning rate", continuous_update=self.live,
            style={"description_width": "7em"}, layout=widgets.Layout(width="480px"))
        self.start(self.slider, watch=[self.slider])

    def _build_figure(self):
        fig = self.fig
        ax = fig.add_axes([0.07, 0.14, 0.36, 0.74])
        ax_lr = fig.add_axes([0.5, 0.14, 0.2, 0.74])
        ax_ratio = fig.add_axes([0.78, 0.14, 0.2, 0.74])
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
        first_val = np.nanmax([r.get("first_val_loss", r["first_loss"]) for r in self.runs])
        finals = np.array([min(r.get("final_val_loss", r["final_loss"]), 1.5 * first_val) for r in self.runs])
        ax_lr.plot(lrs, finals, "-", color="0.7", lw=1, zorder=1)
        ax_lr.scatter(lrs, finals, c=[VERDICTS[v][0] for v in self.verdicts], s=28, zorder=2,
                      edgecolors="k", linewidths=0.4)
        (marker,) = ax_lr.plot([], [], "o", ms=13, mfc="none", mec="k", mew=1.5, zorder=3)
        ax_lr.set_xscale("log")
        ax_lr.set_ylim(0, 1.6 * first_val)
        ax_lr.set_xlabel("learning rate")
        ax_lr.set_ylabel("final validation loss")
        ax_lr.set_title("judged on validation", fontsize=10)
        ax_lr.grid(alpha=0.3)

        ratios = np.array([r.get("update_ratio", np.nan) for r in self.runs], dtype=float)
        shown = np.isfinite(ratios) & (ratios > 0)
        ax_ratio.axhspan(UPDATE_RATIO_RULE_OF_THUMB / 10, UPDATE_RATIO_RULE_OF_THUMB * 10,
                         color="#2ca02c", alpha=0.08, lw=0)
        ax_ratio.axhline(UPDATE_RATIO_RULE_OF_THUMB, color="k", ls="--", lw=0.8)
        ax_ratio.plot(lrs[shown], ratios[shown], "-", color="0.7", lw=1, zorder=1)
        ax_ratio.scatter(lrs[shown], ratios[shown], c=[VERDICTS[v][0] for v, s in zip(self.verdicts, shown) if s],
                         s=28, zorder=2, edgecolors="k", linewidths=0.4)
        (ratio_marker,) = ax_ratio.plot([], [], "o", ms=13, mfc="none", mec="k", mew=1.5, zorder=3)
        ax_ratio.set_xscale("log")
        ax_ratio.set_yscale("log")
        ax_ratio.set_xlabel("learning rate")
        ax_ratio.set_ylabel("|update| / |weights|")
        ax_ratio.set_title("update / weight (~1e-3)", fontsize=10)
        ax_ratio.grid(alpha=0.3)
        self.artists = {"ax": ax, "ax_lr": ax_lr, "ax_ratio": ax_ratio, "curves": curves, "raw": raw,
                        "marker": marker, "ratio_marker": ratio_marker, "title": title}

    @timed
    def update(self):
        """Highlight the selected run; returns its ``(run, verdict)``."""
        i = int(self.slider.value)
        run, verdict = self.runs[i], self.verdicts[i]
        a = self.artists
        for j, line in enumerate(a["curves"]):
            line.set_linewidth(2.6 if j == i else 1.0)
            line.set_alpha(1.0 if j == i else 0.3)
            line.set_zorder(3 if j == i else 2)
        a["raw"].set_data(run["epochs"], np.where(np.isfinite(run["loss"]), run["loss"], np.nan))
        final_val = run.get("final_val_loss", run["final_loss"])
        final = final_val if np.isfinite(final_val) else np.nan
        a["marker"].set_data([run["learning_rate"]],
                             [min(final, a["ax_lr"].get_ylim()[1]) if np.isfinite(final)
                              else a["ax_lr"].get_ylim()[1] * 0.95])
        ratio = run.get("update_ratio", np.nan)
        a["ratio_marker"].set_data([run["learning_rate"]] if np.isfinite(ratio) and ratio > 0 else [],
                                   [ratio] if np.isfinite(ratio) and ratio > 0 else [])
        a["title"].set_text(f"learning rate {run['learning_rate']:g}: {verdict}")
        color, advice = VERDICTS[verdict]
        acc = run["val_acc"][-1] if run["val_acc"].size else np.nan
        self.status.value = (
            f"<div style='padding:4px 10px;border-left:4px solid {color}'>"
            f"<b>{html.escape(verdict)}</b>: {html.escape(advice)}. Training loss "
            f"{run['first_loss']:.3g} &rarr; {run['final_loss']:.3g}; validation loss "
            f"{run.get('first_val_loss', np.nan):.3g} &rarr; {final:.3g}, accuracy {acc:.3f} after "
            f"{run['val_acc'].size} epochs; update/weight ratio {ratio:.1e} (rule of thumb "
            f"~{UPDATE_RATIO_RULE_OF_THUMB:.0e}).</div>")
        self.redraw()
        return run, verdict
