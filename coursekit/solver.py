"""The training loop: minibatches, your update rule, a learning-rate schedule,
history, and the best parameters on the validation set.

A CS231n-style ``Solver``. The model is anything with a ``params`` dict of arrays and
``loss(X, y=None)`` returning scores ``(N, C)`` without labels and ``(loss, grads)``
with them (``coursekit.layers.Model``, your ``TwoLayerNet``, ...)::

    solver = Solver(model, data, update_rule=adam, optim_config={"learning_rate": 1e-3},
                    batch_size=100, num_epochs=10, seed=0).train()
    solver.best_val_acc, solver.loss_history, solver.val_acc_history

Hyper-parameters can follow a schedule, per epoch or per iteration::

    Solver(model, data, update_rule=sgd_momentum,
           lr_schedule=lambda it: cosine_decay(0.1, it, total_steps=600),
           schedules={"momentum": lambda it: min(0.9, 0.5 + 0.4 * it / 100)},  # warm-up
           schedule_per="iteration", num_epochs=10)

Exploding gradients can be clipped with your ``clip_grad_norm`` (assignment 03) before
every update::

    Solver(model, data, update_rule=sgd, clip_grad_norm=clip_grad_norm, max_norm=5.0)
    solver.grad_norm_history   # the global gradient norm before clipping, per iteration

The update rule is ``rule(w, dw, config=None) -> (next_w, config)``. coursekit gives
you exactly one, :func:`sgd`; you write the others (momentum, Adam, ...) in
assignment 03 and pass them in.
"""

import copy
import math
import os
import sys

import numpy as np
from tqdm.auto import tqdm

__all__ = ["Solver", "sgd"]


def sgd(w, dw, config=None):
    """Plain stochastic gradient descent: the one rule we give you; you write the others in assignment 03.

    Parameters
    ----------
    w, dw : ndarray
        A parameter and its gradient, same shape.
    config : dict or None
        ``learning_rate`` (default 1e-2). Created when None.

    Returns
    -------
    next_w : ndarray
        ``w - learning_rate * dw``.
    config : dict
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def _resolve_rule(rule):
    """A function stays itself; ``"sgd"`` is :func:`sgd`; any other name is looked up in ``__main__``."""
    if callable(rule):
        return rule
    if not isinstance(rule, str):
        raise TypeError(f"update_rule must be a function or its name, got {type(rule).__name__}")
    if rule == "sgd":
        return sgd
    found = getattr(sys.modules.get("__main__"), rule, None)
    if callable(found):
        return found
    raise ValueError(
        f"update_rule={rule!r}: no function called {rule!r} is defined in your notebook. "
        f"coursekit ships only 'sgd'; the other update rules you write yourself (assignment 03). "
        f"Run the cell that defines {rule}, or pass the function itself: update_rule={rule}.")


class Solver:
    """Train a model with minibatch gradient descent and keep its history.

    Parameters
    ----------
    model : object
        ``model.params``: dict of str -> ndarray; ``model.loss(X, y=None)`` returns
        scores ``(N, C)`` when ``y`` is None, else ``(loss, grads)`` with ``grads``
        keyed like ``params``.
    data : dict
        ``X_train (N, ...)``, ``y_train (N,)``, ``X_val (N_val, ...)``, ``y_val (N_val,)``.
    update_rule : callable or str
        ``rule(w, dw, config=None) -> (next_w, config)``. ``"sgd"`` is coursekit's
        :func:`sgd`; any other name is looked up in your notebook (``__main__``), so
        ``"adam"`` finds the ``adam`` you defined.
    optim_config : dict or None
        Starting config; every parameter gets its own deep copy, so state such as
        a velocity is kept per parameter. None: the rule's defaults.
    lr_schedule : callable or None
        ``lr_schedule(t) -> learning rate``; the result goes into every parameter's
        config as ``"learning_rate"``. ``t`` counts epochs (0, 1, 2, ..., set at the
        start of each epoch) or, with ``schedule_per="iteration"``, updates (0, 1,
        2, ..., set before each one). E.g. ``lambda e: step_decay(1e-2, e, every=5)``.
    schedules : dict of str -> callable, optional
        More config entries on a schedule, on the same clock as ``lr_schedule``:
        ``{"momentum": lambda e: min(0.9, 0.5 + 0.1 * e)}`` warms momentum up from
        0.5 to 0.9 over four epochs. A ``"learning_rate"`` entry here is the same as
        ``lr_schedule`` (give one or the other).
    schedule_per : {"epoch", "iteration"}
        The clock of ``lr_schedule`` and ``schedules``.
    lr_decay : float
        CS231n's simpler schedule: multiply the learning rate by this after each
        epoch. Use it or a learning-rate schedule, not both.
    batch_size : int
        Each epoch visits every training sample exactly once, in a new shuffled
        order, ``ceil(N / batch_size)`` batches; the last one may be smaller.
    num_epochs : int
        Epochs per call of :meth:`train`.
    num_train_samples : int or None
        Training accuracy each epoch is measured on this many random training
        samples (None: all). Validation accuracy uses ``num_val_samples`` (None: all).
    print_every : int or None
        With ``verbose``, also print the loss every this many iterations.
    verbose : bool
        Print one line per epoch (loss, accuracies, learning rate) and why
        training stopped early, if it did.
    clip_grad_norm : callable or None
        ``clip_grad_norm(grads, max_norm) -> (clipped, total_norm)`` (you write it in
        assignment 03): called on every minibatch's gradients before the update, with
        ``max_norm``. None (the default): no clipping.
    max_norm : float or None
        The largest global gradient norm allowed; required (> 0) with ``clip_grad_norm``.
    progress : bool or None
        Show a progress bar (a widget in notebooks, text on stderr elsewhere).
        None: on, except while nbgrader grades (``NBGRADER_EXECUTION`` is set),
        because output on stderr costs points there.
    seed : int or None
        Seeds the shuffling and the accuracy subsamples (a ``np.random.Generator``
        each), so two runs with the same seed and model are identical. It does not
        seed your model's own randomness (dropout uses ``np.random``).

    Attributes
    ----------
    loss_history : list of float
        One entry per iteration.
    grad_norm_history : list of float
        With ``clip_grad_norm``: the global gradient norm before clipping, one entry per
        update (empty without clipping).
    train_acc_history, val_acc_history, lr_history : list of float
        One entry per completed epoch (``lr_history``: the rate of the epoch's last
        update, nan if the rule keeps no ``"learning_rate"``).
    best_val_acc, best_epoch, best_params
        The best validation accuracy, after which epoch (1-based), and a copy of
        the parameters then; :meth:`train` puts ``best_params`` back into
        ``model.params`` when it ends.
    epoch : int
        Epochs completed.
    stopped_reason : str or None
        Why the last :meth:`train` stopped early (the loss became nan or inf), else None.
    optim_configs : dict of str -> dict
        Each parameter's config (its optimizer state).
    """

    def __init__(self, model, data, *, update_rule="sgd", optim_config=None,
                 lr_schedule=None, schedules=None, schedule_per="epoch", lr_decay=1.0,
                 batch_size=100, num_epochs=10,
                 num_train_samples=1000, num_val_samples=None, print_every=None,
                 verbose=True, progress=None, seed=None, clip_grad_norm=None, max_norm=None):
        if not (hasattr(model, "params") and callable(getattr(model, "loss", None))):
            raise TypeError("model needs a `params` dict and a `loss(X, y=None)` method")
        missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
        if missing:
            raise KeyError(f"data is missing {missing}; it needs X_train, y_train, X_val, y_val")
        for split in ("train", "val"):
            X, y = data[f"X_{split}"], data[f"y_{split}"]
            if len(X) != len(y):
                raise ValueError(f"X_{split} has {len(X)} samples but y_{split} has {len(y)}")
        schedules = dict(schedules or {})
        if lr_schedule is not None:
            if "learning_rate" in schedules:
                raise ValueError("give lr_schedule or schedules['learning_rate'], not both")
            schedules["learning_rate"] = lr_schedule
        for key, fn in schedules.items():
            if not callable(fn):
                raise TypeError(f"the schedule for {key!r} must be a function of the "
                                f"{schedule_per}, got {type(fn).__name__}")
        if schedule_per not in ("epoch", "iteration"):
            raise ValueError(f"schedule_per must be 'epoch' or 'iteration', not {schedule_per!r}")
        if "learning_rate" in schedules and lr_decay != 1.0:
            raise ValueError("give a learning-rate schedule or lr_decay, not both")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if clip_grad_norm is not None:
            if not callable(clip_grad_norm):
                raise TypeError(f"clip_grad_norm must be your function clip_grad_norm(grads, max_norm), "
                                f"got {type(clip_grad_norm).__name__}")
            if max_norm is None or not float(max_norm) > 0:
                raise ValueError(f"clipping needs max_norm > 0, got {max_norm!r}")
        elif max_norm is not None:
            raise ValueError("max_norm was given without clip_grad_norm: pass your clip_grad_norm too")

        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.update_rule = _resolve_rule(update_rule)
        self.optim_config = optim_config
        self.schedules, self.schedule_per, self.lr_decay = schedules, schedule_per, lr_decay
        self.batch_size, self.num_epochs = int(batch_size), int(num_epochs)
        self.num_train_samples, self.num_val_samples = num_train_samples, num_val_samples
        self.print_every, self.verbose = print_every, verbose
        self.progress = (not os.environ.get("NBGRADER_EXECUTION")) if progress is None else bool(progress)
        self.seed = seed
        self.clip_grad_norm = clip_grad_norm
        self.max_norm = None if max_norm is None else float(max_norm)
        shuffle_seq, sample_seq = np.random.SeedSequence(seed).spawn(2)
        self._shuffle_rng = np.random.default_rng(shuffle_seq)
        self._sample_rng = np.random.default_rng(sample_seq)

        self.optim_configs = {p: copy.deepcopy(optim_config) if optim_config else None
                              for p in model.params}
        self.epoch = 0
        self.loss_history, self.train_acc_history = [], []
        self.grad_norm_history = []
        self.val_acc_history, self.lr_history = [], []
        self.best_val_acc, self.best_epoch, self.best_params = 0.0, None, {}
        self.stopped_reason = None

    @property
    def iterations_per_epoch(self):
        """``ceil(N_train / batch_size)``."""
        return math.ceil(len(self.X_train) / self.batch_size)

    def learning_rate(self):
        """The first parameter's ``config["learning_rate"]`` (nan if there is none yet)."""
        config = next(iter(self.optim_configs.values()), None)
        return float(config["learning_rate"]) if config and "learning_rate" in config else math.nan

    def _step(self, idx):
        """One update on the training samples ``idx``; returns the loss (no update if not finite)."""
        loss, grads = self.model.loss(self.X_train[idx], self.y_train[idx])
        loss = float(loss)
        self.loss_history.append(loss)
        if not math.isfinite(loss):
            return loss
        if self.clip_grad_norm is not None:
            result = self.clip_grad_norm(grads, self.max_norm)
            if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], dict)):
                raise ValueError(f"clip_grad_norm must return (clipped, total_norm) with clipped a dict; "
                                 f"it returned {type(result).__name__}")
            grads, total_norm = result
            self.grad_norm_history.append(float(total_norm))
        for p in list(self.model.params):
            if p not in grads:
                raise KeyError(f"model.loss returned no gradient for parameter {p!r}")
            result = self.update_rule(self.model.params[p], grads[p], self.optim_configs[p])
            if not (isinstance(result, tuple) and len(result) == 2):
                raise ValueError(f"update rule {getattr(self.update_rule, '__name__', '')!r} must "
                                 f"return (next_w, config); for {p!r} it returned {type(result).__name__}")
            next_w, self.optim_configs[p] = result
            if np.shape(next_w) != np.shape(self.model.params[p]):
                raise ValueError(f"update rule returned next_w of shape {np.shape(next_w)} for "
                                 f"{p!r}, whose shape is {np.shape(self.model.params[p])}")
            self.model.params[p] = next_w
        return loss

    def check_accuracy(self, X, y, num_samples=None, batch_size=None):
        """Fraction of ``X (N, ...)`` whose argmax score equals ``y (N,)``.

        ``num_samples``: score only this many random samples (None: all).
        ``batch_size``: samples per call of ``model.loss`` (None: the solver's).
        """
        N = len(X)
        if num_samples is not None and N > num_samples:
            idx = self._sample_rng.choice(N, num_samples, replace=False)
            X, y, N = X[idx], y[idx], num_samples
        batch_size = batch_size or self.batch_size
        pred = [np.argmax(self.model.loss(X[i:i + batch_size]), axis=1) for i in range(0, N, batch_size)]
        return float(np.mean(np.concatenate(pred) == y)) if N else math.nan

    def _apply_schedules(self, t):
        """Put every scheduled value for time ``t`` into every parameter's config."""
        values = {key: float(fn(t)) for key, fn in self.schedules.items()}
        for p, config in self.optim_configs.items():
            self.optim_configs[p] = {} if config is None else config
            self.optim_configs[p].update(values)

    def _end_epoch(self, epoch_losses, last_epoch):
        self.epoch += 1
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.lr_history.append(self.learning_rate())
        if self.best_epoch is None or val_acc > self.best_val_acc:
            self.best_val_acc, self.best_epoch = val_acc, self.epoch
            self.best_params = {k: np.array(v, copy=True) for k, v in self.model.params.items()}
        if self.verbose:
            tqdm.write(f"(Epoch {self.epoch} / {last_epoch}) loss {np.mean(epoch_losses):.4g}, "
                       f"train acc {train_acc:.3f}, val acc {val_acc:.3f}, lr {self.lr_history[-1]:.2e}")
        if self.lr_decay != 1.0:
            for p, config in self.optim_configs.items():
                if not config or "learning_rate" not in config:
                    raise KeyError(f"lr_decay needs config['learning_rate'], but {p!r}'s config has none")
                config["learning_rate"] *= self.lr_decay
        return train_acc, val_acc

    def train(self):
        """Run ``num_epochs`` more epochs, then restore the best parameters. Returns ``self``.

        Stops early, without raising, if the loss becomes nan or inf; ``stopped_reason``
        says why.
        """
        N, last_epoch = len(self.X_train), self.epoch + self.num_epochs
        total = self.num_epochs * self.iterations_per_epoch
        self.stopped_reason = None
        bar = tqdm(total=total, disable=not self.progress, unit="batch", leave=True)
        postfix = {}  # the last batch's loss, the last epoch's accuracies
        try:
            while self.epoch < last_epoch and self.stopped_reason is None:
                if self.schedules and self.schedule_per == "epoch":
                    self._apply_schedules(self.epoch)
                bar.set_description(f"epoch {self.epoch + 1}/{last_epoch}")
                order, losses = self._shuffle_rng.permutation(N), []
                for start in range(0, N, self.batch_size):
                    if self.schedules and self.schedule_per == "iteration":
                        self._apply_schedules(len(self.loss_history))
                    loss = self._step(order[start:start + self.batch_size])
                    losses.append(loss)
                    bar.update()
                    if not math.isfinite(loss):
                        self._diverged(loss)
                        break
                    postfix["loss"] = f"{loss:.3g}"
                    bar.set_postfix(postfix, refresh=False)
                    it = len(self.loss_history)
                    if self.verbose and self.print_every and it % self.print_every == 0:
                        tqdm.write(f"(Iteration {it}) loss {loss:.4g}")
                else:
                    train_acc, val_acc = self._end_epoch(losses, last_epoch)
                    postfix.update(train_acc=f"{train_acc:.3f}", val_acc=f"{val_acc:.3f}")
                    bar.set_postfix(postfix, refresh=False)
        finally:
            bar.close()
        for k, v in self.best_params.items():
            self.model.params[k] = np.array(v, copy=True)
        return self

    def _diverged(self, loss):
        lr = self.learning_rate()
        self.stopped_reason = (
            f"stopped at iteration {len(self.loss_history)} (epoch {self.epoch + 1}): the loss became "
            f"{loss}. " + (f"The learning rate ({lr:g}) is probably too high; try one 10x smaller. "
                           if math.isfinite(lr) else "Is the learning rate too high? ")
            + (f"model.params are back at the best epoch ({self.best_epoch})."
               if self.best_params else "No epoch finished, so model.params are the diverged ones."))
        if self.verbose:
            tqdm.write(self.stopped_reason)

    def __repr__(self):
        rule = getattr(self.update_rule, "__name__", repr(self.update_rule))
        best = f", best_val_acc={self.best_val_acc:.3f} (epoch {self.best_epoch})" if self.best_epoch else ""
        return f"<Solver {rule}, epoch {self.epoch}, {len(self.loss_history)} iterations{best}>"
