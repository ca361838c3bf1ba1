"""Time the 02_backprop widgets' update paths (prints; asserts nothing).

    MPLBACKEND=Agg python bench/bench_widgets_02.py [--runs 50]

Target: the update logic (control -> state -> artists -> draw_idle) under 50 ms.
Also printed, for context: a full Agg render of each figure, which is what the
kernel does once per frame when the ipympl front-end asks for a redraw, and the
gradient-check view's re-check (check_model on the XOR/AND network of the notebook,
which runs on a button-free slider release, not per frame).
"""

import argparse
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from coursekit.gradcheck import check_model  # noqa: E402
from coursekit.layers import Layer, Model, Sequential  # noqa: E402
from coursekit.widgets.activations import ActivationExplorer, activation_curves  # noqa: E402
from coursekit.widgets.compgraph import CompGraphStepper, graph_trace  # noqa: E402
from coursekit.widgets.gradcheck_report import GradCheckReportView, gradcheck_bars  # noqa: E402


# typical correct student functions
def add_mul_graph(x, y, z):
    return (x + y) * z, z, z, x + y


def sigmoid_neuron(w, x):
    f = 1 / (1 + np.exp(-(w[:-1] @ x + w[-1])))
    return f, f * (1 - f) * np.append(x, 1.0), f * (1 - f) * w[:-1]


def sigmoid_forward(x):
    e = np.exp(-np.abs(x))
    s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return s, s


def sigmoid_backward(dout, s):
    return dout * s * (1 - s)


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, out):
    return dout * (1 - out ** 2)


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, x):
    return dout * (x > 0)


def elu_forward(x, alpha=1.0):
    out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return out, (x, out, alpha)


def elu_backward(dout, cache):
    x, out, alpha = cache
    return dout * np.where(x > 0, 1.0, out + alpha)


def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


def sigmoid_bce_loss(x, y):
    e = np.exp(-np.abs(x))
    s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return np.sum(np.maximum(x, 0) - x * y + np.log1p(e)) / len(x), (s - y) / len(x)


def median_ms(fn, runs):
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs
    few = max(5, runs // 5)
    rows = []

    # -- computational-graph stepper
    rows.append(("graph_trace('sigmoid_neuron')", median_ms(lambda i: graph_trace("sigmoid_neuron"), runs)))
    cg = CompGraphStepper("sigmoid_neuron", student_fn=sigmoid_neuron)
    n = cg.step_slider.max + 1
    rows.append(("CompGraphStepper: step slider -> show_step", median_ms(
        lambda i: setattr(cg.step_slider, "value", i % n), runs)))
    rows.append(("CompGraphStepper: input box -> trace + student check + redraw", median_ms(
        lambda i: setattr(cg.input_boxes["x0"], "value", -1.0 + 0.01 * i), runs)))
    rows.append(("CompGraphStepper: kernel render per browser frame (Agg+PNG)", median_ms(
        lambda i: cg.fig.canvas.draw(), few)))

    # -- activation explorer
    grid = np.linspace(-6, 6, 401)
    rows.append(("activation_curves, 401 points", median_ms(
        lambda i: activation_curves(sigmoid_forward, sigmoid_backward, grid, n_layers=10), runs)))
    ex = ActivationExplorer({"sigmoid": (sigmoid_forward, sigmoid_backward), "tanh": (tanh_forward, tanh_backward),
                             "relu": (relu_forward, relu_backward), "elu": (elu_forward, elu_backward)})
    names = list(ex.activations)
    rows.append(("ActivationExplorer: activation dropdown -> update", median_ms(
        lambda i: setattr(ex.controls["activation"], "value", names[i % len(names)]), runs)))
    rows.append(("ActivationExplorer: n layers slider -> update", median_ms(
        lambda i: setattr(ex.controls["layers"], "value", 1 + i % 30), runs)))
    rows.append(("ActivationExplorer: x range slider -> update", median_ms(
        lambda i: setattr(ex.controls["range"], "value", (-6.0 - 0.5 * (i % 20), 6.0)), runs)))
    rows.append(("ActivationExplorer: kernel render per browser frame (Agg+PNG)", median_ms(
        lambda i: ex.fig.canvas.draw(), few)))

    # -- gradient-check bars
    rng = np.random.default_rng(0)
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = np.array([[0, 0], [1, 0], [1, 0], [0, 1]])

    def network(backward):
        return Model(Sequential(
            Layer(affine_forward, affine_backward, {"W": rng.normal(size=(2, 3)), "b": np.zeros(3)}),
            Layer(sigmoid_forward, backward, name="sigmoid"),
            Layer(affine_forward, affine_backward, {"W": rng.normal(size=(3, 2)), "b": np.zeros(2)}),
        ), sigmoid_bce_loss, reg=1e-3)

    good, broken = network(sigmoid_backward), network(lambda dout, s: dout * s)
    reports = [check_model(good, X, Y), check_model(broken, X, Y)]
    rows.append(("gradcheck_bars", median_ms(lambda i: gradcheck_bars(reports[i % 2]), runs)))
    view = GradCheckReportView({"good": good, "broken": broken}, X, Y)
    rows.append(("GradCheckReportView: show(report) -> bars", median_ms(
        lambda i: view.show(reports[i % 2]), runs)))
    rows.append(("GradCheckReportView: dropdown -> check_model (23 params) + bars", median_ms(
        lambda i: setattr(view.controls["source"], "value", ["good", "broken"][i % 2]), runs)))
    rows.append(("GradCheckReportView: kernel render per browser frame (Agg+PNG)", median_ms(
        lambda i: view.fig.canvas.draw(), few)))

    width = max(len(name) for name, _ in rows)
    print(f"median over {runs} runs (renders over {few})")
    for name, ms in rows:
        print(f"  {name:<{width}}  {ms:8.2f} ms")


if __name__ == "__main__":
    main()
