"""Time the 02_backprop widgets' update paths (prints; asserts nothing).

    MPLBACKEND=Agg python bench/bench_widgets_02.py [--runs 50]

Target: the update logic (control -> state -> artists -> draw_idle) under 50 ms.
Also printed, for context: a full Agg render of each figure, which is what the
kernel does once per frame when the ipympl front-end asks for a redraw, and the
gradient-check view's re-check (check_model on the XOR/AND network of the notebook,
which runs on a button-free slider release, not per frame).
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from coursekit.gradcheck import check_model  # noqa: E402
from coursekit.layers import Layer, Model, Sequential  # noqa: E402
from coursekit.widgets.activations import ActivationExplorer, activation_curves  # noqa: E402
from coursekit.widgets.compgraph import CompGraphStepper, graph_trace  # noqa: E402
from coursekit.widgets.gradcheck_report import GradCheckReportView, gradcheck_bars  # noqa: E402

from common import median_ms, parse_runs, print_rows, reference  # noqa: E402


# the solved reference from solutions/02_backprop stands in for a correct student
REF = reference("02_backprop")


def main():
    runs = parse_runs(__doc__, 50)
    few = max(5, runs // 5)
    rows = []

    # -- computational-graph stepper
    rows.append(("graph_trace('sigmoid_neuron')", median_ms(lambda i: graph_trace("sigmoid_neuron"), runs)))
    cg = CompGraphStepper("sigmoid_neuron", student_fn=REF.sigmoid_neuron)
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
        lambda i: activation_curves(REF.sigmoid_forward, REF.sigmoid_backward, grid, n_layers=10), runs)))
    ex = ActivationExplorer({name: (getattr(REF, f"{name}_forward"), getattr(REF, f"{name}_backward"))
                             for name in ("sigmoid", "tanh", "relu", "elu")})
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
            Layer(REF.affine_forward, REF.affine_backward, {"W": rng.normal(size=(2, 3)), "b": np.zeros(3)}),
            Layer(REF.sigmoid_forward, backward, name="sigmoid"),
            Layer(REF.affine_forward, REF.affine_backward, {"W": rng.normal(size=(3, 2)), "b": np.zeros(2)}),
        ), REF.sigmoid_bce_loss, reg=1e-3)

    good, broken = network(REF.sigmoid_backward), network(lambda dout, s: dout * s)
    reports = [check_model(good, X, Y), check_model(broken, X, Y)]
    rows.append(("gradcheck_bars", median_ms(lambda i: gradcheck_bars(reports[i % 2]), runs)))
    view = GradCheckReportView({"good": good, "broken": broken}, X, Y)
    rows.append(("GradCheckReportView: show(report) -> bars", median_ms(
        lambda i: view.show(reports[i % 2]), runs)))
    rows.append(("GradCheckReportView: dropdown -> check_model (23 params) + bars", median_ms(
        lambda i: setattr(view.controls["source"], "value", ["good", "broken"][i % 2]), runs)))
    rows.append(("GradCheckReportView: kernel render per browser frame (Agg+PNG)", median_ms(
        lambda i: view.fig.canvas.draw(), few)))

    print_rows(rows, f"median over {runs} runs (renders over {few})")


if __name__ == "__main__":
    main()
