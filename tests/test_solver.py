"""coursekit.solver: the training loop around a CS231n-contract model and an update rule.

The models and layers below are the tests' own: coursekit ships none.
"""

import math
import sys
import warnings

import numpy as np
import pytest

from coursekit.layers import Layer, Model, Sequential
from coursekit.solver import Solver, sgd


# --- small correct pieces, written here for the tests ---------------------------------

def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    dx = np.exp(log_p)
    dx[np.arange(N), y] -= 1
    return -log_p[np.arange(N), y].mean(), dx / N


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


class Recorder:
    """A linear softmax classifier (CS231n contract, plain dict params) on ``X[:, 1:]``.

    Column 0 of X holds each sample's index; every training batch's indices are recorded.
    """

    def __init__(self, D=2, C=2):
        self.params = {"W": np.zeros((D, C)), "b": np.zeros(C)}
        self.batches = []

    def loss(self, X, y=None):
        ids, F = X[:, 0].astype(int), X[:, 1:]
        scores = F @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        self.batches.append(ids)
        loss, dscores = softmax_loss(scores, y)
        return loss, {"W": F.T @ dscores, "b": dscores.sum(axis=0)}


def blobs(N, seed):
    """Two separable Gaussian blobs in 2-D, balanced labels, an index column in front."""
    rng = np.random.default_rng(seed)
    y = np.arange(N) % 2
    F = rng.normal(scale=0.5, size=(N, 2)) + np.where(y[:, None] == 1, 1.5, -1.5)
    return np.column_stack([np.arange(N), F]), y


def make_data(N=50, N_val=20, seed=0):
    X_train, y_train = blobs(N, seed)
    X_val, y_val = blobs(N_val, seed + 1)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


def quiet(model, data, **kwargs):
    kwargs = {"verbose": False, "progress": False, "seed": 0, **kwargs}
    return Solver(model, data, **kwargs)


def by_epoch(batches, per_epoch):
    return [batches[i:i + per_epoch] for i in range(0, len(batches), per_epoch)]


# --- minibatches and history ----------------------------------------------------------

def test_history_lengths():
    solver = quiet(Recorder(), make_data(N=50), batch_size=16, num_epochs=3).train()
    assert solver.iterations_per_epoch == 4
    assert len(solver.loss_history) == 3 * 4
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == len(solver.lr_history) == 3
    assert solver.epoch == 3 and solver.stopped_reason is None


def test_every_sample_once_per_epoch_with_short_last_batch():
    model = Recorder()
    quiet(model, make_data(N=50), batch_size=16, num_epochs=3).train()
    for epoch in by_epoch(model.batches, 4):
        assert [len(b) for b in epoch] == [16, 16, 16, 2]
        np.testing.assert_array_equal(np.sort(np.concatenate(epoch)), np.arange(50))


def test_shuffling_differs_between_epochs():
    model = Recorder()
    quiet(model, make_data(N=50), batch_size=16, num_epochs=3).train()
    orders = [np.concatenate(epoch) for epoch in by_epoch(model.batches, 4)]
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], np.arange(50))


def test_same_seed_same_run_other_seed_other_order():
    runs = []
    for seed in (3, 3, 4):
        model = Recorder()
        solver = quiet(model, make_data(), seed=seed, batch_size=8, num_epochs=2,
                       num_train_samples=10).train()
        runs.append((np.concatenate(model.batches), solver.loss_history, solver.train_acc_history))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1:] == runs[1][1:]
    assert not np.array_equal(runs[0][0], runs[2][0])


def test_check_accuracy_subsamples_and_batches():
    data = make_data(N=50)
    solver = quiet(Recorder(), data)
    solver.model.params["W"] = np.array([[-1.0, 1.0], [-1.0, 1.0]])
    assert solver.check_accuracy(data["X_train"], data["y_train"], batch_size=7) == 1.0
    solver.model.params["W"] = -solver.model.params["W"]
    acc = solver.check_accuracy(data["X_train"], data["y_train"], num_samples=7)
    assert acc == 0.0


# --- update rules and their configs ---------------------------------------------------

def test_builtin_sgd_is_plain_gradient_descent():
    w, dw = np.linspace(-1, 1, 6).reshape(2, 3), np.linspace(1, 2, 6).reshape(2, 3)
    next_w, config = sgd(w, dw)
    np.testing.assert_allclose(next_w, w - 1e-2 * dw)
    assert config == {"learning_rate": 1e-2}
    next_w, _ = sgd(w, dw, {"learning_rate": 0.5})
    np.testing.assert_allclose(next_w, w - 0.5 * dw)
    assert quiet(Recorder(), make_data()).update_rule is sgd


def test_each_parameter_gets_its_own_config():
    def momentum_counter(w, dw, config=None):
        config = {} if config is None else config
        config["steps"] = config.get("steps", 0) + 1
        config["shapes"].append(w.shape)
        config["velocity"] = 0.9 * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
        return w + config["velocity"], config

    optim_config = {"learning_rate": 0.1, "shapes": []}
    solver = quiet(Recorder(), make_data(N=50), update_rule=momentum_counter,
                   optim_config=optim_config, batch_size=16, num_epochs=2).train()
    W_config, b_config = solver.optim_configs["W"], solver.optim_configs["b"]
    assert W_config is not b_config
    assert W_config["steps"] == b_config["steps"] == 8
    assert set(W_config["shapes"]) == {(2, 2)} and set(b_config["shapes"]) == {(2,)}
    assert W_config["velocity"].shape == (2, 2) and b_config["velocity"].shape == (2,)
    assert optim_config == {"learning_rate": 0.1, "shapes": []}  # the caller's dict is untouched


def test_rule_gets_none_config_when_no_optim_config():
    received = []

    def rule(w, dw, config=None):
        received.append(config)
        return sgd(w, dw, config)

    solver = quiet(Recorder(), make_data(N=10), update_rule=rule, batch_size=10, num_epochs=2).train()
    assert received[:2] == [None, None]
    assert solver.lr_history == [1e-2, 1e-2]


def test_update_rule_name_is_looked_up_in_main(monkeypatch):
    def my_adam(w, dw, config=None):
        return sgd(w, dw, config)

    monkeypatch.setattr(sys.modules["__main__"], "my_adam", my_adam, raising=False)
    assert quiet(Recorder(), make_data(), update_rule="my_adam").update_rule is my_adam


def test_unknown_update_rule_name_says_what_to_do(monkeypatch):
    monkeypatch.delattr(sys.modules["__main__"], "nadam_not_defined", raising=False)
    with pytest.raises(ValueError, match=r"no function called 'nadam_not_defined' is defined in your "
                                         r"notebook\. coursekit ships only 'sgd'"):
        quiet(Recorder(), make_data(), update_rule="nadam_not_defined")


def test_rule_with_wrong_return_is_reported():
    with pytest.raises(ValueError, match=r"must return \(next_w, config\); for 'W'"):
        quiet(Recorder(), make_data(), update_rule=lambda w, dw, config=None: w).train()


# --- learning rates -------------------------------------------------------------------

def test_lr_schedule_sets_every_config_each_epoch():
    def schedule(epoch):
        return 0.1 * 0.5 ** epoch

    solver = quiet(Recorder(), make_data(N=20), lr_schedule=schedule, batch_size=10, num_epochs=4).train()
    assert solver.lr_history == [schedule(e) for e in range(4)]
    assert all(c["learning_rate"] == schedule(3) for c in solver.optim_configs.values())
    solver.train()  # training on continues the schedule
    assert solver.lr_history == [schedule(e) for e in range(8)]


def test_lr_decay_multiplies_after_each_epoch():
    solver = quiet(Recorder(), make_data(N=20), optim_config={"learning_rate": 0.2}, lr_decay=0.5,
                   batch_size=10, num_epochs=3).train()
    assert solver.lr_history == [0.2, 0.1, 0.05]


def test_lr_schedule_and_lr_decay_together_is_an_error():
    with pytest.raises(ValueError, match="not both"):
        quiet(Recorder(), make_data(), lr_schedule=lambda e: 0.1, lr_decay=0.9)


def test_iteration_schedule_is_applied_before_every_update():
    seen = []

    def rule(w, dw, config=None):
        seen.append(config["learning_rate"])
        return sgd(w, dw, config)

    def schedule(it):
        return 1.0 / (1 + it)

    solver = quiet(Recorder(), make_data(N=50), update_rule=rule, lr_schedule=schedule,
                   schedule_per="iteration", batch_size=16, num_epochs=2).train()
    assert seen == [schedule(it) for it in range(8) for _ in ("W", "b")]
    assert solver.lr_history == [schedule(3), schedule(7)]  # each epoch's last update
    solver.train()  # the clock keeps counting iterations
    assert seen[-1] == schedule(15)


def test_schedules_warm_momentum_up_alongside_the_learning_rate():
    seen = []

    def rule(w, dw, config=None):
        seen.append((config["learning_rate"], config["momentum"]))
        return sgd(w, dw, config)

    def warm_up(epoch):
        return min(0.9, 0.5 + 0.2 * epoch)

    quiet(Recorder(), make_data(N=20), update_rule=rule, optim_config={"learning_rate": 0.3},
          schedules={"momentum": warm_up}, batch_size=10, num_epochs=4).train()
    assert [m for _, m in seen[::4]] == [0.5, 0.7, 0.9, 0.9]  # 2 params x 2 iterations per epoch
    assert {lr for lr, _ in seen} == {0.3}  # the starting config is kept where not scheduled


def test_bad_schedules_are_reported():
    with pytest.raises(ValueError, match="not both"):
        quiet(Recorder(), make_data(), lr_schedule=lambda e: 0.1,
              schedules={"learning_rate": lambda e: 0.2})
    with pytest.raises(TypeError, match="schedule for 'momentum' must be a function"):
        quiet(Recorder(), make_data(), schedules={"momentum": 0.9})
    with pytest.raises(ValueError, match="schedule_per must be 'epoch' or 'iteration'"):
        quiet(Recorder(), make_data(), lr_schedule=lambda e: 0.1, schedule_per="batch")


# --- best parameters, divergence, output ----------------------------------------------

def test_best_val_params_are_restored():
    data = make_data(N=40, N_val=40)
    calls = []

    def ruin_in_last_epoch(w, dw, config=None):
        calls.append(1)
        if len(calls) > 2 * 4 * 3:  # 2 params x 4 iterations x 3 good epochs
            return np.zeros_like(w), config  # all scores 0: accuracy drops to 0.5
        return sgd(w, dw, {"learning_rate": 0.5})

    model = Recorder()
    solver = quiet(model, data, update_rule=ruin_in_last_epoch, batch_size=10, num_epochs=4).train()
    assert solver.val_acc_history[-1] == 0.5
    assert solver.best_val_acc == max(solver.val_acc_history) > 0.9
    assert solver.best_epoch == 1 + solver.val_acc_history.index(solver.best_val_acc) <= 3
    for name, value in solver.best_params.items():
        np.testing.assert_array_equal(model.params[name], value)
        assert model.params[name] is not value
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == solver.best_val_acc


class Diverging(Recorder):
    """Its loss becomes nan at iteration ``at``."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def loss(self, X, y=None):
        result = super().loss(X, y)
        if y is not None and len(self.batches) >= self.at:
            return math.nan, result[1]
        return result


def test_divergence_stops_with_a_reason_and_no_warning(capsys):
    model = Diverging(at=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solver = Solver(model, make_data(N=50), batch_size=10, num_epochs=5, progress=False,
                        verbose=True, seed=0).train()
    assert len(solver.loss_history) == 7 and math.isnan(solver.loss_history[-1])
    assert solver.epoch == 1 and len(solver.val_acc_history) == 1
    assert "iteration 7 (epoch 2)" in solver.stopped_reason and "nan" in solver.stopped_reason
    assert "learning rate (0.01) is probably too high" in solver.stopped_reason
    out, err = capsys.readouterr()
    assert solver.stopped_reason in out and err == ""
    for name, value in solver.best_params.items():  # restored to epoch 1, finite
        np.testing.assert_array_equal(model.params[name], value)


def test_verbose_prints_one_line_per_epoch(capsys):
    Solver(Recorder(), make_data(N=20), batch_size=10, num_epochs=2, progress=False, seed=0,
           print_every=3).train()
    out = capsys.readouterr().out
    assert "(Epoch 1 / 2) loss" in out and "(Epoch 2 / 2)" in out and "(Iteration 3) loss" in out


def test_progress_defaults_off_under_nbgrader(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    solver = Solver(Recorder(), make_data(N=20), batch_size=10, num_epochs=2, seed=0, verbose=False)
    assert solver.progress is False
    solver.train()
    assert capsys.readouterr().err == ""


def test_progress_defaults_on_otherwise(monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    solver = Solver(Recorder(), make_data(N=20), batch_size=10, num_epochs=2, seed=0, verbose=False)
    assert solver.progress is True
    solver.train()
    assert "epoch 2/2" in capsys.readouterr().err  # tqdm's text bar outside notebooks


def test_bad_data_is_reported():
    data = make_data()
    with pytest.raises(KeyError, match=r"missing \['X_val'\]"):
        quiet(Recorder(), {k: v for k, v in data.items() if k != "X_val"})
    with pytest.raises(ValueError, match="X_train has 50 samples but y_train has 49"):
        quiet(Recorder(), {**data, "y_train": data["y_train"][:-1]})


# --- end to end -----------------------------------------------------------------------

def test_two_layer_model_learns_a_nonlinear_problem():
    rng = np.random.default_rng(0)

    def rings(N):
        radius = np.where(np.arange(N) % 2 == 0, rng.uniform(0, 1, N), rng.uniform(1.5, 2.5, N))
        angle = rng.uniform(0, 2 * np.pi, N)
        return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]), np.arange(N) % 2

    X_train, y_train = rings(400)
    X_val, y_val = rings(200)
    H = 32
    np.random.seed(0)
    net = Sequential(
        Layer(affine_forward, affine_backward, {"W": np.random.randn(2, H), "b": np.zeros(H)}),
        Layer(relu_forward, relu_backward),
        Layer(affine_forward, affine_backward, {"W": 0.1 * np.random.randn(H, 2), "b": np.zeros(2)}),
    )
    model = Model(net, softmax_loss, reg=1e-4)
    solver = Solver(model, {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val},
                    optim_config={"learning_rate": 0.3}, batch_size=32, num_epochs=15,
                    verbose=False, progress=False, seed=0).train()
    assert solver.best_val_acc > 0.9
    assert solver.check_accuracy(X_val, y_val) == solver.best_val_acc
    assert solver.loss_history[-1] < solver.loss_history[0]
    assert "best_val_acc" in repr(solver)




# --- gradient clipping (assignment 03's clip_grad_norm plugs in) ---------------------------

class Steep:
    """A "model" whose loss is 0.5 r^2 + 0.05 r^4 in its two weights: steep walls, exploding gradients."""

    def __init__(self, start=(-8.0, 6.0)):
        self.params = {"w": np.array(start, dtype=float)}

    def loss(self, X, y=None):
        if y is None:
            return np.zeros((len(X), 2))
        w = self.params["w"]
        r2 = float(w @ w)
        return 0.5 * r2 + 0.05 * r2 * r2, {"w": (1.0 + 0.2 * r2) * w}


def _clip(grads, max_norm):
    """The tests' own clip_grad_norm (PyTorch's rule)."""
    total = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
    scale = min(1.0, max_norm / (total + 1e-6))
    return {k: g * scale for k, g in grads.items()}, total


def _steep_data(n=4):
    X = np.zeros((n, 1))
    return {"X_train": X, "y_train": np.zeros(n, int), "X_val": X, "y_val": np.zeros(n, int)}


def test_solver_clips_every_update_and_records_the_norm_before_clipping():
    calls = []

    def clip(grads, max_norm):
        calls.append((grads["w"].copy(), max_norm))
        return _clip(grads, max_norm)

    model = Steep()
    solver = Solver(model, _steep_data(), update_rule=sgd, optim_config={"learning_rate": 0.1},
                    batch_size=4, num_epochs=1, verbose=False, progress=False, seed=0,
                    clip_grad_norm=clip, max_norm=5.0)
    w0 = model.params["w"].copy()
    solver._step(np.arange(4))
    g0 = (1.0 + 0.2 * float(w0 @ w0)) * w0
    np.testing.assert_allclose(calls[0][0], g0)
    assert calls[0][1] == 5.0
    assert solver.grad_norm_history == [pytest.approx(np.linalg.norm(g0))]
    # the update used the clipped gradient: a step of length lr * max_norm
    assert np.linalg.norm(model.params["w"] - w0) == pytest.approx(0.1 * 5.0, rel=1e-6)


def test_clipping_tames_a_run_that_explodes_without_it():
    plain = Solver(Steep(), _steep_data(), update_rule=sgd, optim_config={"learning_rate": 0.1},
                   batch_size=4, num_epochs=60, verbose=False, progress=False, seed=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain.train()
    assert plain.stopped_reason is not None and plain.grad_norm_history == []
    clipped = Solver(Steep(), _steep_data(), update_rule=sgd, optim_config={"learning_rate": 0.1},
                     batch_size=4, num_epochs=60, verbose=False, progress=False, seed=0,
                     clip_grad_norm=_clip, max_norm=5.0).train()
    assert clipped.stopped_reason is None and clipped.loss_history[-1] < 1e-3
    assert clipped.grad_norm_history[0] > 100 > 5 > clipped.grad_norm_history[-1]


def test_solver_without_clipping_is_unchanged_and_clip_arguments_are_checked():
    a = Solver(Steep((1.0, 0.5)), _steep_data(), update_rule=sgd, optim_config={"learning_rate": 0.1},
               batch_size=4, num_epochs=5, verbose=False, progress=False, seed=0).train()
    b = Solver(Steep((1.0, 0.5)), _steep_data(), update_rule=sgd, optim_config={"learning_rate": 0.1},
               batch_size=4, num_epochs=5, verbose=False, progress=False, seed=0,
               clip_grad_norm=_clip, max_norm=1e9).train()
    assert a.loss_history == b.loss_history and a.grad_norm_history == [] and len(b.grad_norm_history) == 5
    with pytest.raises(ValueError, match="max_norm > 0"):
        Solver(Steep(), _steep_data(), clip_grad_norm=_clip)
    with pytest.raises(ValueError, match="without clip_grad_norm"):
        Solver(Steep(), _steep_data(), max_norm=1.0)
    with pytest.raises(TypeError, match="must be your function"):
        Solver(Steep(), _steep_data(), clip_grad_norm=5.0, max_norm=1.0)
    bad = Solver(Steep(), _steep_data(), clip_grad_norm=lambda g, m: g, max_norm=1.0, verbose=False,
                 progress=False)
    with pytest.raises(ValueError, match=r"must return \(clipped, total_norm\)"):
        bad.train()
