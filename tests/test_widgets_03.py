"""The 03_optimizers widgets and the test surfaces, driven headless with "student" functions.

coursekit ships no update rule but plain sgd, no schedule and no minibatch iterator:
correct implementations written in this file play the student; stubs and broken
ones check that the widgets say what is wrong instead of crashing.
"""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from coursekit.gradcheck import eval_numerical_gradient  # noqa: E402
from coursekit.surfaces import SURFACES, Surface, get_surface  # noqa: E402
from coursekit.widgets import babysitting, batch_noise, optimizer_race, schedules  # noqa: E402
from coursekit.widgets.babysitting import BabysittingExplorer, babysit_run, classify_runs  # noqa: E402
from coursekit.widgets.batch_noise import (BatchNoiseExplorer, default_batch_sizes,  # noqa: E402
                                           gradient_noise, train_with_batch_size)
from coursekit.widgets.optimizer_race import (OptimizerRace, RacePath, race_config,  # noqa: E402
                                              run_race)
from coursekit.widgets.schedules import (ScheduleExplorer, TerminalVelocity,  # noqa: E402
                                         schedule_curves, tilted_plane, warmup_momentum)

# --------------------------------------------------------------------------- "students"


def _config(config, **defaults):
    config = {} if config is None else config
    for key, value in defaults.items():
        config.setdefault(key, value)
    return config


def sgd(w, dw, config=None):
    config = _config(config, learning_rate=1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config=None):
    config = _config(config, learning_rate=1e-2, momentum=0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def nesterov_momentum(w, dw, config=None):
    config = _config(config, learning_rate=1e-2, momentum=0.9)
    mu, v_prev = config["momentum"], config.get("velocity", np.zeros_like(w))
    v = mu * v_prev - config["learning_rate"] * dw
    config["velocity"] = v
    return w - mu * v_prev + (1 + mu) * v, config


def adagrad(w, dw, config=None):
    config = _config(config, learning_rate=1e-2, epsilon=1e-8)
    config["cache"] = config.get("cache", np.zeros_like(w)) + dw ** 2
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config


def rmsprop(w, dw, config=None):
    config = _config(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    rho = config["decay_rate"]
    config["cache"] = rho * config.get("cache", np.zeros_like(w)) + (1 - rho) * dw ** 2
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config


def adam(w, dw, config=None):
    config = _config(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, t=0)
    b1, b2 = config["beta1"], config["beta2"]
    config["t"] += 1
    config["m"] = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    config["v"] = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw ** 2
    m_hat = config["m"] / (1 - b1 ** config["t"])
    v_hat = config["v"] / (1 - b2 ** config["t"])
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


RULES = {"sgd": sgd, "sgd_momentum": sgd_momentum, "nesterov_momentum": nesterov_momentum,
         "adagrad": adagrad, "rmsprop": rmsprop, "adam": adam}


def minibatches(X, y, batch_size, rng=None, shuffle=True):
    order = (np.random.default_rng() if rng is None else rng).permutation(len(X)) if shuffle \
        else np.arange(len(X))
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]


def step_decay(lr0, epoch, drop=0.5, every=10):
    return lr0 * drop ** (epoch // every)


def exponential_decay(lr0, epoch, k):
    return lr0 * np.exp(-k * epoch)


def cosine_decay(lr0, step, total_steps, lr_min=0.0):
    step = min(step, total_steps)
    return lr_min + 0.5 * (lr0 - lr_min) * (1 + np.cos(np.pi * step / total_steps))


def stub(*args, **kwargs):
    raise NotImplementedError


def counting(rule):
    """``rule``, counting its calls in ``.calls``."""
    def wrapped(w, dw, config=None):
        wrapped.calls += 1
        return rule(w, dw, config)
    wrapped.calls = 0
    return wrapped


class Linear:
    """A linear softmax classifier (the tests' own; CS231n model contract)."""

    def __init__(self, D, C, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": 0.01 * rng.standard_normal((D, C)), "b": np.zeros(C)}

    def loss(self, X, y=None):
        scores = X @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = len(y)
        d = np.exp(log_p)
        d[np.arange(n), y] -= 1
        d /= n
        return -log_p[np.arange(n), y].mean(), {"W": X.T @ d, "b": d.sum(axis=0)}


class Bowl:
    """A "model" whose loss is 0.5 |w|^2: plain SGD diverges for learning rates above 2 (at 11, |w| grows tenfold per step)."""

    def __init__(self):
        self.params = {"w": np.ones(3)}

    def loss(self, X, y=None):
        if y is None:
            return np.zeros((len(X), 3))
        w = self.params["w"]
        return 0.5 * np.sum(w * w), {"w": w.copy()}


def blobs(n, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    return centres[y] + rng.normal(scale=0.9, size=(n, 2)), y


@pytest.fixture(scope="module")
def data():
    X, y = blobs(120, 0)
    Xv, yv = blobs(60, 1)
    return {"X_train": X, "y_train": y, "X_val": Xv, "y_val": yv}


def make_model():
    return Linear(2, 3)


# --------------------------------------------------------------------------- surfaces


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_surface_gradient_matches_numerical_gradient(name):
    s = get_surface(name)
    rng = np.random.default_rng(0)
    for _ in range(5):
        w = np.array([rng.uniform(*s.xlim), rng.uniform(*s.ylim)])
        num = eval_numerical_gradient(lambda v: float(s.value(v)), w.copy(), h=1e-6)
        np.testing.assert_allclose(s.gradient(w), num, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_surface_minimum_start_window_and_grid(name):
    s = get_surface(name)
    assert isinstance(s, Surface) and get_surface(s) is s
    np.testing.assert_allclose(s.gradient(np.array(s.minimum)), [0.0, 0.0], atol=1e-12)
    assert s.value(np.array(s.minimum)) == pytest.approx(s.f_min, abs=1e-12)
    assert s.xlim[0] < s.start[0] < s.xlim[1] and s.ylim[0] < s.start[1] < s.ylim[1]
    assert s.value(np.array(s.start)) > s.f_min
    X, Y, Z = s.grid()
    assert X.shape == Y.shape == Z.shape == (160, 160) and s.grid() is s.grid()
    assert Z.min() >= s.f_min - 1e-12 and not Z.flags.writeable
    levels = s.levels()
    assert np.all(np.diff(levels) > 0) and levels[0] > s.f_min
    pts = np.stack([X[:3, :4], Y[:3, :4]], axis=-1)
    assert s.value(pts).shape == (3, 4) and s.gradient(pts).shape == (3, 4, 2)
    assert {"sgd", "adaptive"} <= set(s.lr) and s.note


def test_saddle_is_a_saddle_between_two_minima():
    s = get_surface("saddle")
    np.testing.assert_allclose(s.gradient(np.zeros(2)), 0.0)
    assert s.value(np.array([0.0, 1.0])) == s.value(np.array([0.0, -1.0])) == s.f_min
    assert s.value(np.array([0.1, 0.0])) > 0 > s.value(np.array([0.0, 0.1]))


def test_unknown_surface_is_reported():
    with pytest.raises(ValueError, match="unknown surface 'bowl'.*beale"):
        get_surface("bowl")


# --------------------------------------------------------------------------- the race


def test_race_config_gives_each_rule_its_own_keys():
    settings = {"lr_sgd": 0.1, "lr_adaptive": 0.01, "momentum": 0.8, "decay_rate": 0.9,
                "beta1": 0.7, "beta2": 0.99}
    assert race_config("sgd", settings) == {"learning_rate": 0.1}
    assert race_config("momentum", settings) == {"learning_rate": 0.1, "momentum": 0.8}
    assert race_config("nesterov_momentum", settings) == {"learning_rate": 0.1, "momentum": 0.8}
    assert race_config("adagrad", settings) == {"learning_rate": 0.01}
    assert race_config("rmsprop", settings) == {"learning_rate": 0.01, "decay_rate": 0.9}
    assert race_config("adam", settings) == {"learning_rate": 0.01, "beta1": 0.7, "beta2": 0.99}
    with pytest.raises(ValueError, match="unknown rule 'lion'"):
        race_config("lion", settings)


def test_run_race_on_every_surface_from_the_same_start():
    for name, s in SURFACES.items():
        results = run_race(RULES, name, steps=40)
        assert set(results) == set(RULES)
        for rule, r in results.items():
            assert r["status"] == "ok", (name, rule, r["status"])
            assert r["points"].shape == (41, 2) and r["gaps"].shape == (41,)
            np.testing.assert_array_equal(r["points"][0], s.start)
            np.testing.assert_allclose(r["gaps"], s.value(r["points"]) - s.f_min)


def test_run_race_matches_a_hand_loop_and_shows_the_lecture_effects():
    results = run_race(RULES, "ravine", steps=150)
    s = get_surface("ravine")
    w, config = np.array(s.start), {"learning_rate": s.lr["sgd"], "momentum": 0.9}
    for _ in range(150):
        w, config = sgd_momentum(w, s.gradient(w), config)
    np.testing.assert_allclose(results["sgd_momentum"]["points"][-1], w)
    # momentum builds up speed along the shallow floor where SGD crawls; AdaGrad's steps die out
    assert results["sgd_momentum"]["final_gap"] < results["sgd"]["final_gap"] / 100
    assert results["adagrad"]["final_gap"] > results["rmsprop"]["final_gap"]
    # on the saddle, rescaled steps leave the ridge at once while SGD lingers
    saddle = run_race(RULES, "saddle", steps=20)
    assert abs(saddle["adam"]["points"][-1, 1]) > 0.3 > abs(saddle["sgd"]["points"][-1, 1])


def test_race_reports_divergence_stubs_and_broken_rules_without_warnings():
    def wrong_shape(w, dw, config=None):
        return np.zeros(3), config

    def crashes(w, dw, config=None):
        raise KeyError("velocity")

    results = run_race({"sgd": sgd, "adam": stub, "rmsprop": wrong_shape, "adagrad": crashes},
                       "ravine", settings={"lr_sgd": 50.0}, steps=100)
    assert results["sgd"]["status"].startswith("diverged at step")
    assert len(results["sgd"]["points"]) < 101
    assert results["adam"]["status"] == "not implemented yet"
    assert len(results["adam"]["points"]) == 1
    assert "next_w has shape (3,)" in results["rmsprop"]["status"]
    assert "KeyError" in results["adagrad"]["status"]


def test_race_path_extends_and_gives_rules_copies():
    def in_place(w, dw, config=None):  # a rule that (wrongly) edits w in place
        w -= 0.1 * dw
        return w, config

    path = RacePath(in_place, get_surface("ravine"), {})
    path.extend(5)
    points, _ = path.view(5)
    assert len(np.unique(points[:, 0])) == 6  # every stored point is distinct
    path.extend(8)
    assert path.steps_taken == 8 and len(path.view(3)[0]) == 4


def test_optimizer_race_widget_caches_paths_per_setting():
    rules = {name: counting(rule) for name, rule in RULES.items()}
    race = OptimizerRace(rules, "ravine")
    steps = race.controls["steps"].value
    assert all(r.calls == steps for r in rules.values())
    assert all(v["status"] == "ok" for v in race.results.values())
    race.controls["momentum"].value = 0.5  # only the two momentum rules read it
    assert [rules[n].calls for n in RULES] == [steps, 2 * steps, 2 * steps, steps, steps, steps]
    race.controls["steps"].value = steps + 50  # extends the cached paths
    assert rules["sgd"].calls == steps + 50
    race.controls["steps"].value = steps  # cuts them: no new calls
    assert rules["sgd"].calls == steps + 50
    assert len(race.results["sgd"]["points"]) == steps + 1
    race.controls["momentum"].value = 0.9  # back to a cached setting: no new calls
    assert rules["sgd_momentum"].calls == 2 * steps + 50
    assert race.last_update_ms < 1000


def test_optimizer_race_widget_switches_surface_and_resets_rates():
    race = OptimizerRace(RULES, "ravine")
    race.controls["surface"].value = "rosenbrock"
    s = get_surface("rosenbrock")
    assert race.surface is s
    assert race.controls["lr_sgd"].value == pytest.approx(s.lr["sgd"], rel=0.15)
    assert race.controls["lr_adaptive"].value == pytest.approx(s.lr["adaptive"], rel=0.15)
    assert race.artists["ax"].get_xlim() == s.xlim
    np.testing.assert_array_equal(race.results["adam"]["points"][0], s.start)
    contours = dict(race._contours)
    race.controls["surface"].value = "ravine"
    race.controls["surface"].value = "rosenbrock"
    assert race._contours == contours  # drawn once per surface, then reused
    assert [cs.get_visible() for cs in race._contours.values()].count(True) == 1


def test_optimizer_race_widget_with_stubs_and_missing_rules():
    race = OptimizerRace({"sgd": sgd, "momentum": stub})
    texts = [t.get_text() for t in race.artists["legend"].get_texts()]
    assert texts[1] == "momentum: not implemented yet"
    assert texts[2] == "Nesterov: not in the race"
    assert "Not implemented yet" in race.status.value
    with pytest.raises(TypeError, match="must be your update rule"):
        OptimizerRace({"sgd": 3})


# --------------------------------------------------------------------------- babysitting


def _run(lr, first, final, stopped=None):
    return {"learning_rate": lr, "first_loss": first, "final_loss": final, "stopped_reason": stopped}


def test_classify_runs_by_progress_relative_to_the_best():
    runs = [_run(1e-3, 2.3, 2.25), _run(1e-2, 2.3, 1.2), _run(1e-1, 2.3, 0.10), _run(1.0, 2.3, 0.05),
            _run(10.0, 2.3, 1.5), _run(100.0, 2.3, 9.0), _run(1e3, 2.3, math.inf, "nan")]
    assert classify_runs(runs) == ["too low", "too low", "good", "good", "too high", "diverging",
                                   "diverging"]
    assert classify_runs([_run(1.0, 2.0, 3.0)]) == ["diverging"]


def test_babysit_run_trains_and_silences_a_blow_up(data):
    good = babysit_run(make_model, data, sgd, 1.0, num_epochs=3, batch_size=20)
    assert len(good["loss"]) == 3 * 6 and good["val_acc"].shape == (3,)
    assert good["final_loss"] < 0.5 * good["first_loss"] and good["stopped_reason"] is None
    np.testing.assert_allclose(good["epochs"][:7], np.arange(7) / 6)
    # too high a rate: the loss overflows; no warning may leak (pytest turns them into errors)
    huge = babysit_run(Bowl, data, sgd, 11.0, num_epochs=50, batch_size=20)
    assert huge["stopped_reason"] is not None and huge["final_loss"] == math.inf
    assert classify_runs([good, huge]) == ["good", "diverging"]


def test_babysitting_explorer_shows_all_four_verdicts(data):
    ex = BabysittingExplorer(make_model, data, update_rule=sgd, num_epochs=3, batch_size=20,
                             learning_rates=[1e-4, 1e-2, 1.0, 10.0, 1e5])
    assert ex.verdicts[0] == "too low" and ex.verdicts[-1] == "diverging"
    assert "good" in ex.verdicts
    start = ex.slider.value
    assert ex.verdicts[start] == "good"  # the slider starts at the best run
    for i in range(len(ex.runs)):
        ex.slider.value = i
        assert ex.verdicts[i] in ex.artists["title"].get_text()
        assert ex.verdicts[i] in ex.status.value
        assert ex.artists["curves"][i].get_linewidth() > ex.artists["curves"][start - 1].get_linewidth() \
            or i == start - 1
    assert ex.last_update_ms < 200


def test_babysitting_explorer_with_a_stub(data):
    ex = BabysittingExplorer(make_model, data, update_rule=stub, num_epochs=1)
    assert ex.runs == [] and "Implement your update rule first" in ex.status.value


# --------------------------------------------------------------------------- batch size and noise


def test_default_batch_sizes():
    assert default_batch_sizes(10) == [1, 2, 4, 8, 10]
    assert default_batch_sizes(8) == [1, 2, 4, 8]
    assert default_batch_sizes(1) == [1]


def test_gradient_noise_falls_like_one_over_b_as_theory_says(data):
    nz = gradient_noise(make_model(), data["X_train"], data["y_train"], [1, 4, 16, 64, 120],
                        minibatches, probes=64, seed=0)
    assert list(nz["batch_sizes"]) == [1, 4, 16, 64]  # B = N has no noise
    assert np.all(np.diff(nz["noise"]) < 0)
    ratio = nz["noise"] / nz["theory"]
    assert ratio[0] == pytest.approx(1.0) and np.all((ratio > 0.6) & (ratio < 1.6))


def test_train_with_batch_size_uses_the_students_minibatches(data):
    calls = []

    def counting_minibatches(X, y, batch_size, rng=None, shuffle=True):
        calls.append(batch_size)
        return minibatches(X, y, batch_size, rng=rng, shuffle=shuffle)

    for B, updates in ((1, 120), (32, 4), (120, 1)):
        run = train_with_batch_size(make_model, data, sgd, counting_minibatches, B,
                                    learning_rate=0.5, num_epochs=2)
        assert run["updates_per_epoch"] == updates and run["loss"].shape == (3,)
        assert run["seconds"].shape == (2,) and run["seconds_per_epoch"] > 0
        assert run["loss"][-1] < run["loss"][0]
    assert calls == [1, 1, 32, 32, 120, 120]


def test_batch_noise_explorer_highlights_the_selected_size(data):
    ex = BatchNoiseExplorer(make_model, data, sgd, minibatches, batch_sizes=[4, 16],
                            learning_rate=0.5, num_epochs=2, probes=8)
    assert ex.batch_sizes == [1, 4, 16, 120] and set(ex.runs) == set(ex.batch_sizes)
    assert ex.slider.value == 16  # nearest to 32
    for B in ex.batch_sizes:
        ex.slider.value = B
        assert f"B = {B}:" in ex.status.value
        x, _ = ex.artists["selected"].get_data()
        assert len(x) == 3
    assert "no gradient noise" in ex.status.value  # B = N
    assert ex.last_update_ms < 200


def test_batch_noise_explorer_with_stubs(data):
    ex = BatchNoiseExplorer(make_model, data, sgd, stub, num_epochs=1)
    assert ex.runs == {} and "Implement" in ex.status.value
    with pytest.raises(TypeError, match="minibatches must be a function"):
        BatchNoiseExplorer(make_model, data, sgd, None)


# --------------------------------------------------------------------------- schedules


def test_schedule_curves_evaluate_the_students_functions():
    curves = schedule_curves(step_decay, exponential_decay, cosine_decay,
                             {"lr0": 1.0, "epochs": 20, "drop": 0.1, "every": 5, "k": 0.1, "lr_min": 0.2})
    np.testing.assert_array_equal(curves["epochs"], np.arange(21))
    np.testing.assert_allclose(curves["step_decay"][[0, 4, 5, 10, 20]], [1, 1, 0.1, 0.01, 1e-4])
    np.testing.assert_allclose(curves["exponential_decay"], np.exp(-0.1 * np.arange(21)))
    assert curves["cosine_decay"][0] == pytest.approx(1.0)
    assert curves["cosine_decay"][-1] == pytest.approx(0.2)

    def broken(lr0, epoch, k):
        raise ValueError("oops")

    curves = schedule_curves(stub, broken, None)
    assert curves["step_decay"] == "not implemented yet"
    assert curves["exponential_decay"] == "error: ValueError: oops"
    assert "cosine_decay" not in curves


def test_schedule_explorer_follows_its_sliders():
    ex = ScheduleExplorer(step_decay, exponential_decay, cosine_decay)
    ex.sliders["every"].value = 4
    x, y = ex.artists["lines"]["step_decay"].get_data()
    assert y[3] == pytest.approx(ex.sliders["lr0"].value) and y[4] == pytest.approx(0.5 * y[0])
    ex.sliders["lr_min"].value = 0.25  # relative to lr0
    assert ex.curves["cosine_decay"][-1] == pytest.approx(0.25 * ex.sliders["lr0"].value)
    ex.sliders["epochs"].value = 100
    assert len(ex.curves["epochs"]) == 101 and ex.artists["axes"]["step_decay"].get_xlim() == (0, 100)
    assert ex.last_update_ms < 200
    ex2 = ScheduleExplorer(stub, exponential_decay, cosine_decay)
    assert "step_decay</b> is not implemented yet" in ex2.status.value


def test_tilted_plane_reaches_terminal_velocity_and_warm_up_follows():
    r = tilted_plane(sgd_momentum, learning_rate=0.1, momentum=0.9, slope=2.0, steps=300)
    assert r["sgd_step"] == pytest.approx(0.2) and r["terminal"] == pytest.approx(2.0)
    assert r["speed"][0] == pytest.approx(0.2) and r["speed"][-1] == pytest.approx(2.0, rel=1e-9)
    np.testing.assert_allclose(r["distance"], np.cumsum(r["speed"]))
    warm = tilted_plane(sgd_momentum, momentum=0.9, steps=100, warmup_steps=40)
    assert warm["momentum"][0] == 0.5 and warm["momentum"][-1] == 0.9
    assert np.all(np.diff(warm["momentum"]) >= 0)
    assert warmup_momentum(20, 0.9, 0.5, 40) == pytest.approx(0.7)
    assert warm["speed"][-1] == pytest.approx(warm["terminal"], rel=1e-3)


def test_terminal_velocity_widget():
    tv = TerminalVelocity(sgd_momentum)
    assert "10.00" in tv.status.value and tv.result["speed"][-1] == pytest.approx(1.0, rel=0.01)
    tv.sliders["momentum"].value = 0.5
    assert tv.result["speed"][-1] == pytest.approx(0.2, rel=1e-6)
    tv.sliders["warmup"].value = 20
    assert "warmed up" in tv.status.value
    assert tv.last_update_ms < 200
    assert "Implement <code>sgd_momentum</code> first" in TerminalVelocity(stub).status.value


def test_widget_modules_ship_no_update_rule():
    # coursekit must not ship the graded units: the widgets only call what they are given
    for module in (optimizer_race, babysitting, batch_noise, schedules):
        names = set(vars(module))
        assert not names & {"sgd_momentum", "nesterov_momentum", "adagrad", "rmsprop", "adam",
                            "step_decay", "exponential_decay", "cosine_decay", "minibatches"}


# --------------------------------------------------------------------------- issue 11: validation, update ratio, widths


def test_classify_runs_judges_on_validation_not_training_loss():
    # the last run ends with the lowest training loss but a poor validation loss (edge of divergence)
    runs = [dict(_run(1e-2, 2.3, 1.0), first_val_loss=2.3, final_val_loss=1.1),
            dict(_run(1e-1, 2.3, 0.20), first_val_loss=2.3, final_val_loss=0.30),
            dict(_run(1.0, 2.3, 0.05), first_val_loss=2.3, final_val_loss=1.4),
            dict(_run(3.0, 2.3, 0.5), first_val_loss=2.3, final_val_loss=math.inf)]
    assert classify_runs(runs) == ["too low", "good", "too high", "diverging"]
    # judged on the training loss alone, the edge-of-divergence run would have been "good"
    train_only = [{k: v for k, v in r.items() if "val" not in k} for r in runs[:3]]
    assert classify_runs(train_only)[2] == "good"


def test_babysit_run_records_validation_loss_and_update_ratio(data):
    slow = babysit_run(make_model, data, sgd, 1e-3, num_epochs=2, batch_size=20)
    fast = babysit_run(make_model, data, sgd, 1.0, num_epochs=2, batch_size=20)
    for run in (slow, fast):
        assert run["val_loss"].shape == (2,) and np.isfinite(run["first_val_loss"])
        assert run["final_val_loss"] == run["val_loss"][-1]
    assert fast["final_val_loss"] < fast["first_val_loss"]
    # while the weights barely move, the update-to-weight ratio is proportional to the rate
    tiny = [babysit_run(make_model, data, sgd, lr, num_epochs=1, batch_size=20)["update_ratio"] for lr in (1e-6, 1e-5)]
    assert tiny[1] / tiny[0] == pytest.approx(10.0, rel=0.02)
    # and it is |lr * dW| / |W| of the weight matrix (the first step, by hand)
    model = make_model()
    w = model.params["W"]
    dw = model.loss(data["X_train"][:20], data["y_train"][:20])[1]["W"]
    assert tiny[0] == pytest.approx(1e-6 * np.linalg.norm(dw) / np.linalg.norm(w), rel=0.5)


def test_babysitting_explorer_draws_the_update_ratio_and_rule_of_thumb(data):
    ex = BabysittingExplorer(make_model, data, update_rule=sgd, num_epochs=2, batch_size=20,
                             learning_rates=[1e-3, 1e-1, 1.0])
    ax = ex.artists["ax_ratio"]
    assert ax.get_yscale() == "log" and "1e-3" in ax.get_title()
    assert any(np.allclose(line.get_ydata(), 1e-3) for line in ax.get_lines())
    ex.slider.value = 2
    assert "update/weight ratio" in ex.status.value and "validation loss" in ex.status.value
    assert ex.artists["ratio_marker"].get_xdata()[0] == 1.0


def test_widget_figures_fit_the_output_area(data):
    figures = [OptimizerRace(RULES).fig, TerminalVelocity(sgd_momentum).fig,
               ScheduleExplorer(step_decay, exponential_decay, cosine_decay).fig,
               BabysittingExplorer(make_model, data, update_rule=sgd, num_epochs=1, batch_size=40,
                                   learning_rates=[1e-2, 1.0]).fig,
               BatchNoiseExplorer(make_model, data, sgd, minibatches, batch_sizes=[10, 40], num_epochs=1,
                                  probes=2).fig]
    for fig in figures:
        assert fig.get_figwidth() <= 9.0 and fig.dpi <= 100, fig.get_size_inches()
