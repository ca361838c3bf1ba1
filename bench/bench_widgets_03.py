"""Time the 03_optimizers widgets' update paths (prints; asserts nothing).

    MPLBACKEND=Agg python bench/bench_widgets_03.py [--runs 30]

Target: each widget's update logic (slider -> computation -> artists -> draw_idle)
under 50 ms at its default settings. Also printed, for context: the one-off
precomputation of the two widgets that train networks (the babysitter and the
batch-size explorer, on the digits), and a full Agg render of each figure, which
is what the kernel does once per frame when the ipympl front-end asks for a redraw.
"""

import argparse
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from coursekit.data import load_digits_splits  # noqa: E402
from coursekit.layers import Layer, Model, Sequential  # noqa: E402
from coursekit.solver import Solver  # noqa: E402
from coursekit.widgets.babysitting import BabysittingExplorer, babysit_run  # noqa: E402
from coursekit.widgets.batch_noise import BatchNoiseExplorer  # noqa: E402
from coursekit.widgets.optimizer_race import OptimizerRace  # noqa: E402
from coursekit.widgets.schedules import ScheduleExplorer, TerminalVelocity  # noqa: E402

from common import median_ms  # noqa: E402


# ---- typical correct student code (coursekit ships none of it) ------------------------

def sgd(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def nesterov_momentum(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    mu, v_prev = config["momentum"], config.get("velocity", np.zeros_like(w))
    v = mu * v_prev - config["learning_rate"] * dw
    config["velocity"] = v
    return w - mu * v_prev + (1 + mu) * v, config


def adagrad(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    config["cache"] = config.get("cache", np.zeros_like(w)) + dw * dw
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config


def rmsprop(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    rho = config["decay_rate"]
    config["cache"] = rho * config.get("cache", np.zeros_like(w)) + (1 - rho) * dw * dw
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config


def adam(w, dw, config=None):
    config = {} if config is None else config
    for key, value in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999),
                       ("epsilon", 1e-8), ("t", 0)):
        config.setdefault(key, value)
    b1, b2 = config["beta1"], config["beta2"]
    config["t"] += 1
    config["m"] = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    config["v"] = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw * dw
    m_hat, v_hat = config["m"] / (1 - b1 ** config["t"]), config["v"] / (1 - b2 ** config["t"])
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


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


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(x, 0.0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(scores, y):
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(y)
    d = np.exp(log_p)
    d[np.arange(n), y] -= 1
    return -log_p[np.arange(n), y].mean(), d / n


def make_net(hidden=32, seed=0):
    rng = np.random.default_rng(seed)
    return Model(Sequential(
        Layer(affine_forward, affine_backward,
              {"W": rng.normal(0, np.sqrt(2 / 64), (64, hidden)), "b": np.zeros(hidden)}),
        Layer(relu_forward, relu_backward),
        Layer(affine_forward, affine_backward,
              {"W": rng.normal(0, np.sqrt(1 / hidden), (hidden, 10)), "b": np.zeros(10)}),
    ), softmax_loss, reg=1e-4)


# ---- timing ---------------------------------------------------------------------------

def once_ms(fn):
    t0 = time.perf_counter()
    result = fn()
    return 1e3 * (time.perf_counter() - t0), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    rows = []
    few = max(5, runs // 5)

    rules = {"sgd": sgd, "sgd_momentum": sgd_momentum, "nesterov_momentum": nesterov_momentum,
             "adagrad": adagrad, "rmsprop": rmsprop, "adam": adam}
    race = OptimizerRace(rules, "ravine")
    steps = race.controls["steps"].value

    def cold(i):
        race._paths.clear()
        race.update()

    rows.append((f"OptimizerRace: all 6 rules x {steps} steps from scratch (default)",
                 median_ms(cold, runs)))
    lr_values = np.geomspace(0.3, 1.5, 40)
    rows.append(("OptimizerRace: lr slider (3 rules re-run)", median_ms(
        lambda i: setattr(race.controls["lr_sgd"], "value", float(lr_values[i % 40])), runs)))
    rows.append(("OptimizerRace: momentum slider (2 rules re-run)", median_ms(
        lambda i: setattr(race.controls["momentum"], "value", 0.5 + 0.01 * (i % 45)), runs)))
    rows.append(("OptimizerRace: steps slider (cached paths cut or extended)", median_ms(
        lambda i: setattr(race.controls["steps"], "value", 100 + 10 * (i % 10)), runs)))
    race.controls["steps"].value = steps
    surfaces = ["saddle", "rosenbrock", "beale", "ravine"]
    for s in surfaces:  # draw every contour once
        race.controls["surface"].value = s
    rows.append(("OptimizerRace: surface dropdown (contours cached)", median_ms(
        lambda i: setattr(race.controls["surface"], "value", surfaces[i % 4]), few)))
    race.controls["surface"].value = "ravine"
    rows.append(("OptimizerRace: kernel render per browser frame (Agg)", median_ms(
        lambda i: race.fig.canvas.draw(), few)))

    data = load_digits_splits()
    ms, baby = once_ms(lambda: BabysittingExplorer(make_net, data, update_rule=sgd, num_epochs=10))
    rows.append((f"BabysittingExplorer: precompute {len(baby.runs)} runs x 10 epochs (once)", ms))
    rows.append(("BabysittingExplorer: learning-rate slider", median_ms(
        lambda i: setattr(baby.slider, "value", i % len(baby.runs)), runs)))
    rows.append(("BabysittingExplorer: kernel render per browser frame (Agg)", median_ms(
        lambda i: baby.fig.canvas.draw(), few)))
    # what judging on validation and recording the update-to-weight ratio cost, against a plain
    # Solver run with the same settings, measured in the same run (ratio, not an absolute time)
    plain = median_ms(lambda i: Solver(make_net(), data, update_rule=sgd, optim_config={"learning_rate": 0.1},
                                       batch_size=64, num_epochs=3, num_train_samples=200, verbose=False,
                                       progress=False, seed=0).train(), few)
    recorded = median_ms(lambda i: babysit_run(make_net, data, sgd, 0.1, num_epochs=3), few)
    rows.append(("babysit_run (validation loss + update ratio) / plain Solver run", recorded / plain))

    ms, noise = once_ms(lambda: BatchNoiseExplorer(make_net, data, sgd, minibatches, learning_rate=0.1,
                                                   num_epochs=3, batch_sizes=[1, 4, 16, 64, 256]))
    rows.append((f"BatchNoiseExplorer: precompute {len(noise.runs)} batch sizes x 3 epochs (once)", ms))
    sizes = noise.batch_sizes
    rows.append(("BatchNoiseExplorer: batch-size slider", median_ms(
        lambda i: setattr(noise.slider, "value", sizes[i % len(sizes)]), runs)))
    rows.append(("BatchNoiseExplorer: kernel render per browser frame (Agg)", median_ms(
        lambda i: noise.fig.canvas.draw(), few)))

    sched = ScheduleExplorer(step_decay, exponential_decay, cosine_decay)
    rows.append(("ScheduleExplorer: every slider (3 x 61 calls of your schedules)", median_ms(
        lambda i: setattr(sched.sliders["every"], "value", 2 + i % 20), runs)))
    rows.append(("ScheduleExplorer: kernel render per browser frame (Agg)", median_ms(
        lambda i: sched.fig.canvas.draw(), few)))
    tv = TerminalVelocity(sgd_momentum)
    rows.append(("TerminalVelocity: momentum slider (60 steps of your rule)", median_ms(
        lambda i: setattr(tv.sliders["momentum"], "value", 0.5 + 0.01 * (i % 45)), runs)))
    rows.append(("TerminalVelocity: kernel render per browser frame (Agg)", median_ms(
        lambda i: tv.fig.canvas.draw(), few)))

    width = max(len(name) for name, _ in rows)
    print(f"median over {runs} runs (renders and the dropdown over {few}; precomputations once)")
    for name, ms in rows:
        unit = "x" if name.startswith("babysit_run") else "ms"
        print(f"  {name:<{width}}  {ms:9.2f} {unit}")


if __name__ == "__main__":
    main()
