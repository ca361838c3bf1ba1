"""Regularization lab: training and validation curves with and without regularizers.

On a small training set a network overfits quickly: training accuracy reaches
100% while validation accuracy stalls, and the gap between the two curves is the
variance. The lab trains the same network with batch norm, dropout and L2 at the
strengths you choose, and draws its curves beside those of the plain network,
the gap shaded.

- :func:`train_curves` trains one configuration and returns its per-epoch
  accuracies (a plain function: tests call it without a browser).
- :class:`RegularizationLab` is the widget. Every configuration is trained once
  and cached; :meth:`RegularizationLab.precompute` trains them all up front so
  that the controls respond at once.

coursekit ships no network: the lab takes the notebook's ``FullyConnectedNet``
class (the CS231n signature ``(hidden_dims, input_dim, num_classes,
dropout_keep_ratio, normalization, reg, weight_scale, dtype, seed)``) and trains
it with :class:`coursekit.solver.Solver` and plain SGD::

    RegularizationLab(FullyConnectedNet, {"X_train": ..., "y_train": ..., "X_val": ..., "y_val": ...})
"""

from __future__ import annotations

import html
import itertools

import ipywidgets as widgets
import numpy as np

from coursekit.plots import CLASS_COLORS
from coursekit.widgets.base import FigureWidget, timed
from coursekit.solver import Solver, sgd

__all__ = ["KEEP_CHOICES", "REG_CHOICES", "train_curves", "RegularizationLab"]

#: Dropout keep probabilities offered (1.0: no dropout).
KEEP_CHOICES = (1.0, 0.75, 0.5)
#: L2 strengths offered.
REG_CHOICES = (0.0, 0.01, 0.03, 0.1, 0.3)


def train_curves(model_class, data, *, batchnorm=False, keep=1.0, reg=0.0, hidden_dims=(128, 128),
                 n_train=300, num_epochs=30, learning_rate=0.05, batch_size=50, seed=0):
    """Train one configuration on the first ``n_train`` training samples.

    Parameters
    ----------
    model_class : callable
        ``FullyConnectedNet``-like: ``model_class(hidden_dims, input_dim, num_classes,
        dropout_keep_ratio=..., normalization=..., reg=..., weight_scale=...)``.
    data : dict
        ``X_train (N, D)``, ``y_train (N,)``, ``X_val``, ``y_val`` (already preprocessed).
    batchnorm : bool
        ``normalization="batchnorm"`` if True, else None.
    keep : float
        ``dropout_keep_ratio``.
    reg : float
        L2 strength.
    hidden_dims, n_train, num_epochs, learning_rate, batch_size
        The network and the training run (plain SGD, He-scaled first layer:
        ``weight_scale = sqrt(2 / D)``).
    seed : int
        ``np.random.seed(seed)`` before building the model (NumPy's global state is
        restored afterwards) and the solver's seed.

    Returns
    -------
    dict with
        ``train``, ``val`` (num_epochs,): accuracy after each epoch (training accuracy on
        all ``n_train`` samples); ``loss`` (iterations,); ``gap``: mean of
        ``train - val`` over the last 5 epochs; ``final_train``, ``final_val``;
        ``stopped``: the solver's ``stopped_reason`` (None unless training diverged).
    """
    X, y = data["X_train"][:n_train], data["y_train"][:n_train]
    subset = {"X_train": X, "y_train": y, "X_val": data["X_val"], "y_val": data["y_val"]}
    D, C = X.shape[1], int(max(y.max(), np.max(data["y_val"]))) + 1
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        model = model_class(list(hidden_dims), D, C, dropout_keep_ratio=keep,
                            normalization="batchnorm" if batchnorm else None, reg=reg,
                            weight_scale=float(np.sqrt(2.0 / D)))
        solver = Solver(model, subset, update_rule=sgd, optim_config={"learning_rate": learning_rate},
                        batch_size=batch_size, num_epochs=num_epochs, num_train_samples=None,
                        verbose=False, progress=False, seed=seed).train()
    finally:
        np.random.set_state(saved)
    train, val = np.array(solver.train_acc_history), np.array(solver.val_acc_history)
    tail = slice(-min(5, len(train)), None) if len(train) else slice(0, 0)
    return {
        "train": train, "val": val, "loss": np.array(solver.loss_history),
        "gap": float(np.mean(train[tail] - val[tail])) if len(train) else float("nan"),
        "final_train": float(train[-1]) if len(train) else float("nan"),
        "final_val": float(val[-1]) if len(val) else float("nan"),
        "stopped": solver.stopped_reason,
    }


# --------------------------------------------------------------------------- widget


def describe(config):
    """``(batchnorm, keep, reg)`` -> ``"batch norm, dropout keep 0.5, L2 0.01"``."""
    batchnorm, keep, reg = config
    parts = (["batch norm"] if batchnorm else []) + ([f"dropout keep {keep:g}"] if keep < 1 else []) \
        + ([f"L2 {reg:g}"] if reg else [])
    return ", ".join(parts) or "no regularization"


class RegularizationLab(FigureWidget):
    """Widget: the plain network's curves (left) beside a regularized one's (right), gaps shaded.

    Parameters
    ----------
    model_class : callable
        The notebook's ``FullyConnectedNet``.
    data : dict
        Preprocessed ``X_train``, ``y_train``, ``X_val``, ``y_val``.
    keep_choices, reg_choices : sequences of float
        Options of the dropout and L2 controls.
    precompute : bool
        Train every configuration now (so the controls respond at once); else each
        configuration is trained the first time it is shown.
    figure_backend : {"auto", "ipympl", "static"}
    **train_kwargs
        Passed to :func:`train_curves` (``hidden_dims``, ``n_train``, ``num_epochs``,
        ``learning_rate``, ``batch_size``, ``seed``).

    Attributes
    ----------
    controls : dict
        ``"batchnorm"`` (Checkbox), ``"keep"``, ``"reg"`` (ToggleButtons).
    cache : dict
        ``(batchnorm, keep, reg) -> train_curves result``.
    state : dict or None
        ``{"baseline": ..., "chosen": ..., "config": (batchnorm, keep, reg)}`` after an update.
    status, fig, artists, output
    """

    BASELINE = (False, 1.0, 0.0)

    def __init__(self, model_class, data, *, keep_choices=KEEP_CHOICES, reg_choices=REG_CHOICES,
                 precompute=True, figure_backend="auto", **train_kwargs):
        super().__init__(figure_backend=figure_backend)
        self.model_class, self.data, self.train_kwargs = model_class, data, train_kwargs
        self.keep_choices, self.reg_choices = tuple(keep_choices), tuple(reg_choices)
        self.cache, self.state = {}, None
        self.make_figure((9.0, 3.6))
        style = {"description_width": "7em"}
        self.controls = {
            "batchnorm": widgets.Checkbox(value=False, description="batch norm", style=style),
            "keep": widgets.ToggleButtons(options=[(f"{k:g}", k) for k in self.keep_choices],
                                          value=self.keep_choices[-1], description="dropout keep p",
                                          style={**style, "button_width": "4em"}),
            "reg": widgets.ToggleButtons(options=[(f"{r:g}", r) for r in self.reg_choices],
                                         value=self.reg_choices[0],
                                         description="L2 reg", style={**style, "button_width": "4em"}),
        }
        if precompute:
            self.precompute()
        self.start(*self.controls.values(), watch=self.controls.values())

    def configs(self):
        """Every configuration the controls can select (and the baseline)."""
        return [self.BASELINE] + [c for c in itertools.product((False, True), self.keep_choices,
                                                               self.reg_choices) if c != self.BASELINE]

    def curves(self, config):
        """The (cached) :func:`train_curves` result of ``(batchnorm, keep, reg)``."""
        config = (bool(config[0]), float(config[1]), float(config[2]))
        if config not in self.cache:
            batchnorm, keep, reg = config
            self.cache[config] = train_curves(self.model_class, self.data, batchnorm=batchnorm, keep=keep,
                                              reg=reg, **self.train_kwargs)
        return self.cache[config]

    def precompute(self):
        """Train every configuration now; returns how many there are."""
        try:
            for config in self.configs():
                self.curves(config)
        except NotImplementedError:
            pass  # update() explains what to implement
        return len(self.cache)

    def _build_figure(self):
        fig = self.fig
        axes = [fig.add_axes([0.07, 0.14, 0.41, 0.70]), fig.add_axes([0.57, 0.14, 0.41, 0.70])]
        panels = []
        for ax in axes:
            (train,) = ax.plot([], [], color=CLASS_COLORS[0], lw=2, label="train")
            (val,) = ax.plot([], [], "--", color=CLASS_COLORS[1], lw=2, label="validation")
            gap = ax.fill_between([0, 1], [0, 0], [0, 0], color="0.5", alpha=0.25, label="gap")
            ax.set(xlabel="epoch", ylim=(0, 1.02))
            ax.grid(alpha=0.3)
            ax.legend(loc="lower right", fontsize=8)
            panels.append({"ax": ax, "train": train, "val": val, "gap": gap,
                           "title": ax.set_title("", fontsize=10)})
        axes[0].set_ylabel("accuracy")
        self.artists = {"panels": panels}

    def _draw(self, panel, result, name, low):
        epochs = np.arange(1, len(result["train"]) + 1)
        panel["train"].set_data(epochs, result["train"])
        panel["val"].set_data(epochs, result["val"])
        panel["gap"].set_data(epochs, result["val"], result["train"])
        panel["ax"].set_xlim(1, max(2, len(epochs)))
        panel["ax"].set_ylim(low, 1.01)
        panel["title"].set_text(f"{name}\ntrain {result['final_train']:.3f}, val {result['final_val']:.3f}, "
                                f"gap {result['gap']:.3f}")

    @timed
    def update(self):
        """Show the baseline and the chosen configuration (training them if needed); returns the state."""
        c = self.controls
        config = (bool(c["batchnorm"].value), float(c["keep"].value), float(c["reg"].value))
        pair, failure = self.run_student(
            lambda: (self.curves(self.BASELINE), self.curves(config)), raised="Your network raised",
            todo="<b>Implement FullyConnectedNet first</b> (and the batch norm and dropout layers it uses).")
        if failure:
            self.state = None
            return None
        baseline, chosen = pair
        self.clear_errors()
        self.state = {"baseline": baseline, "chosen": chosen, "config": config}
        panels = self.artists["panels"]
        low = min(np.min(r[k], initial=1.0) for r in (baseline, chosen) for k in ("train", "val"))
        low = max(0.0, np.floor((low - 0.02) * 20) / 20)  # the same y range on both sides
        self._draw(panels[0], baseline, describe(self.BASELINE), low)
        self._draw(panels[1], chosen, describe(config), low)
        change = chosen["gap"] - baseline["gap"]
        verdict = "narrower" if change < -0.005 else "wider" if change > 0.005 else "about the same"
        text = (f"Gap (train - val, last 5 epochs): {baseline['gap']:.3f} without regularization, "
                f"{chosen['gap']:.3f} with {html.escape(describe(config))}: {verdict}. "
                f"Validation accuracy {baseline['final_val']:.3f} &rarr; {chosen['final_val']:.3f}.")
        if chosen["stopped"]:
            text += f" <b>Training stopped early:</b> {html.escape(chosen['stopped'])}"
        self.say("info", text)
        self.redraw()
        return self.state
