"""02_backprop widgets, headless: the computational-graph stepper, the activation explorer and
the gradient-check bars. The activations and layers below are the tests' own (coursekit ships none)."""
import ipywidgets
import numpy as np
import pytest

from coursekit.gradcheck import check_model
from coursekit.layers import Layer, Model, Sequential
from coursekit.widgets.activations import (LOG_FLOOR, ActivationExplorer, activation_curves,
                                           saturated_intervals)
from coursekit.widgets.compgraph import (GRAPHS, CompGraphStepper, Gate, Graph, compare_with_student,
                                         graph_trace, stepper_view)
from coursekit.widgets.gradcheck_report import (CEILING, FAIL_COLOR, FLOOR, PASS_COLOR,
                                                GradCheckReportView, gradcheck_bars)


# --------------------------------------------------------------------------- test-local units

def add_mul_graph(x, y, z):
    return (x + y) * z, z, z, x + y


def add_mul_graph_swapped(x, y, z):
    return (x + y) * z, x + y, x + y, z


def sigmoid_neuron(w, x):
    f = 1 / (1 + np.exp(-(w[:-1] @ x + w[-1])))
    return f, f * (1 - f) * np.append(x, 1.0), f * (1 - f) * w[:-1]


def stub(*args, **kwargs):
    raise NotImplementedError("not implemented yet")


def sigmoid_forward(x):
    e = np.exp(-np.abs(x))
    s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return s, s


def sigmoid_backward(dout, s):
    return dout * s * (1 - s)


def sigmoid_backward_no_one_minus_s(dout, s):
    return dout * s


def naive_sigmoid_forward(x):
    s = 1 / (1 + np.exp(-x))
    return s, s


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, x):
    return dout * (x > 0)


def leaky_forward(x, alpha=0.01):
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_backward(dout, cache):
    x, alpha = cache
    return dout * np.where(x > 0, 1.0, alpha)


def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


def bce(x, y):
    n = x.shape[0]
    e = np.exp(-np.abs(x))
    s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return np.sum(np.maximum(x, 0) - x * y + np.log1p(e)) / n, (s - y) / n


def numerical(f, inputs, name, h=1e-6):
    up, down = dict(inputs), dict(inputs)
    up[name] += h
    down[name] -= h
    return (f(up) - f(down)) / (2 * h)


# --------------------------------------------------------------------------- compgraph: logic

def test_add_mul_trace_has_the_lectures_numbers():
    t = graph_trace("add_mul")
    assert t["values"] == {"x": 1.0, "y": -3.0, "z": 4.0, "q": -2.0, "f": -8.0}
    assert {k: t["grads"][k] for k in "xyzqf"} == {"x": 4.0, "y": 4.0, "z": -2.0, "q": 4.0, "f": 1.0}
    assert t["contrib"][("q", "f")] == (1.0, 4.0, 4.0, "z")
    assert t["contrib"][("x", "q")][2] == 4.0
    phases = [s["phase"] for s in t["steps"]]
    assert phases == ["inputs", "forward", "forward", "seed", "backward", "backward"]
    assert "q = x + y = 1 + (-3) = -2" in t["steps"][1]["caption"]
    assert "df/dq = 1 x z = 1 x 4 = 4" in t["steps"][4]["caption"]
    assert "done: df/dx = 4, df/dy = 4, df/dz = -2" in t["steps"][-1]["caption"]


def test_sigmoid_neuron_trace_has_the_lectures_numbers():
    t = graph_trace("sigmoid_neuron")
    v, g = t["values"], t["grads"]
    assert (v["a0"], v["a1"], v["s"], v["z"], v["n"]) == (-2.0, 6.0, 4.0, 1.0, -1.0)
    assert round(v["e"], 2) == 0.37 and round(v["d"], 2) == 1.37 and round(v["f"], 2) == 0.73
    assert round(g["d"], 2) == -0.53 and round(g["n"], 2) == -0.20 and round(g["z"], 2) == 0.20
    assert [round(g[k], 2) for k in ("w0", "x0", "w1", "x1", "w2")] == [-0.20, 0.39, -0.39, -0.59, 0.20]
    # the four sigmoid gates multiply to sigma (1 - sigma)
    assert np.isclose(g["z"], v["f"] * (1 - v["f"]))
    assert "exp(n) = exp(-1) = 0.368" in t["steps"][6]["caption"]


@pytest.mark.parametrize("key", sorted(GRAPHS))
def test_trace_gradients_match_centred_differences(key):
    graph = GRAPHS[key]
    rng = np.random.default_rng(3)
    inputs = dict(zip(graph.inputs, rng.normal(size=len(graph.inputs))))
    t = graph_trace(key, inputs)
    f = lambda inp: graph_trace(key, inp)["values"][graph.output]  # noqa: E731
    for name in graph.inputs:
        assert np.isclose(t["grads"][name], numerical(f, inputs, name), rtol=1e-6, atol=1e-8), name


def test_gradients_add_up_where_a_value_feeds_two_gates():
    graph = Graph("fan", "f = x * y + x", (
        Gate("x", "input", pos=(0, 1)), Gate("y", "input", pos=(0, 0)),
        Gate("p", "mul", ("x", "y"), pos=(1, 0.5)), Gate("f", "add", ("p", "x"), pos=(2, 1))),
        {"x": 2.0, "y": 5.0})
    t = graph_trace(graph)
    assert t["values"]["f"] == 12.0
    assert t["grads"]["x"] == 6.0 and t["grads"]["y"] == 2.0   # df/dx = y + 1
    assert t["contrib"][("x", "f")][2] == 1.0 and t["contrib"][("x", "p")][2] == 5.0


def test_trace_validates_inputs():
    with pytest.raises(ValueError, match="unknown graph"):
        graph_trace("nope")
    with pytest.raises(ValueError, match="has inputs"):
        graph_trace("add_mul", {"w": 1.0})
    with pytest.raises(ValueError, match="finite"):
        graph_trace("add_mul", {"x": np.nan})
    inv = Graph("inv", "f = 1 / x", (Gate("x", "input"), Gate("f", "inv", ("x",))), {"x": 0.0})
    with pytest.raises(ValueError, match="not finite"):
        graph_trace(inv)
    assert graph_trace("add_mul", {"x": 2.0})["values"]["y"] == -3.0  # others keep the lecture's values


def test_stepper_view_reveals_values_then_gradients():
    t = graph_trace("add_mul")
    v0 = stepper_view(t, 0)
    assert v0["values"] == {("x", "q"): "1", ("y", "q"): "-3", ("z", "f"): "4"} and v0["grads"] == {}
    assert v0["active"] is None
    v2 = stepper_view(t, 2)
    assert v2["values"][("f", None)] == "-8" and v2["grads"] == {} and v2["active"] == "f"
    v3 = stepper_view(t, 3)
    assert v3["grads"] == {("f", None): ("1", "df/df")} and v3["phase"] == "seed"
    v4 = stepper_view(t, 4)
    assert v4["grads"][("q", "f")] == ("4", "1 x 4") and v4["grads"][("z", "f")] == ("-2", "1 x (-2)")
    assert ("x", "q") not in v4["grads"]
    v5 = stepper_view(t, 5)
    assert v5["grads"][("x", "q")] == ("4", "4 x 1")
    assert stepper_view(t, 99)["step"] == 5 and stepper_view(t, -3)["step"] == 0


def test_compare_with_student():
    t = graph_trace("add_mul", {"x": 0.5, "y": 2.0, "z": -1.5})
    ok = compare_with_student(t, add_mul_graph)
    assert ok["matches"] is True and "agrees with the graph" in ok["verdict"]
    bad = compare_with_student(t, add_mul_graph_swapped)
    assert bad["matches"] is False and bad["mismatches"] == ["x", "y", "z"]
    assert "df/dx is 2.5, the graph says -1.5" in bad["verdict"]
    assert compare_with_student(t, stub)["matches"] is None
    s = compare_with_student(graph_trace("sigmoid_neuron"), sigmoid_neuron)
    assert s["matches"] is True and np.isclose(s["student"]["x1"], -0.5898357997244456)
    with pytest.raises(TypeError, match="4 values"):
        compare_with_student(t, lambda x, y, z: (1.0, 2.0))
    with pytest.raises(TypeError, match=r"\(3,\) and \(2,\)"):
        compare_with_student(graph_trace("sigmoid_neuron"), lambda w, x: (0.5, w[:2], x))


# --------------------------------------------------------------------------- compgraph: widget

def test_stepper_widget_steps_and_edits_inputs():
    w = CompGraphStepper("add_mul", student_fn=add_mul_graph)
    assert isinstance(w, ipywidgets.VBox) and w.canvas in w.children
    assert set(w.input_boxes) == {"x", "y", "z"} and w.step_slider.max == 5
    texts = w.artists["value_texts"]
    assert texts[("x", "q")].get_text() == "1" and texts[("f", None)].get_text() == ""
    w.step_slider.value = 5
    assert w.artists["grad_texts"][("x", "q")].get_text() == "4"
    assert w.artists["how_texts"][("x", "q")].get_text() == "(4 x 1)"
    assert w.artists["how_texts"][("f", None)].get_text() == ""
    assert "done" in w.artists["caption"].get_text()
    assert w.artists["circles"]["q"].get_markerfacecolor() != w.artists["circles"]["f"].get_markerfacecolor()
    w.input_boxes["z"].value = 2.0                      # f = (1 - 3) * 2; df/dx = 2
    assert w.trace["values"]["f"] == -4.0
    assert w.artists["grad_texts"][("x", "q")].get_text() == "2" and w.view["step"] == 5
    assert "agrees" in w.status.value
    w.step_slider.value = 0
    assert w.step_forward()["step"] == 1 and w.artists["value_texts"][("q", "f")].get_text() == "-2"


def test_stepper_widget_student_states(capsys):
    assert "not implemented yet" in CompGraphStepper("add_mul", student_fn=stub).status.value
    wrong = CompGraphStepper("add_mul", student_fn=add_mul_graph_swapped)
    assert "differs from the graph" in wrong.status.value
    raising = CompGraphStepper("add_mul", student_fn=lambda x, y, z: 1 / 0)
    assert "raised ZeroDivisionError" in raising.status.value
    assert "Traceback" in capsys.readouterr().err
    plain = CompGraphStepper("sigmoid_neuron", step=100)
    assert plain.status.value == "" and plain.check is None and plain.view["step"] == 17
    with pytest.raises(TypeError):
        CompGraphStepper("add_mul", student_fn="add_mul_graph")


def test_stepper_widget_bad_input_is_reported_not_raised():
    inv = Graph("inv", "f = 1 / x", (Gate("x", "input"), Gate("f", "inv", ("x",))), {"x": 2.0})
    w = CompGraphStepper(inv, step=3)
    w.input_boxes["x"].value = 0.0
    assert "not finite" in w.status.value
    assert w.trace["values"]["x"] == 2.0                # the last good trace stays


def test_stepper_widget_static_backend_redraws():
    w = CompGraphStepper("sigmoid_neuron", student_fn=sigmoid_neuron, figure_backend="static")
    first = w.canvas.value
    assert first[:4] == b"\x89PNG"
    w.step_slider.value = 9
    assert w.canvas.value != first


# --------------------------------------------------------------------------- activations: logic

def test_saturated_intervals():
    x = np.arange(8.0)
    assert saturated_intervals(x, [1, 1, 0, 0, 1, 0, 1, 1]) == [(0.0, 1.0), (4.0, 4.0), (6.0, 7.0)]
    assert saturated_intervals(x, np.zeros(8)) == []


def test_activation_curves_for_sigmoid():
    x = np.linspace(-6, 6, 241)
    c = activation_curves(sigmoid_forward, sigmoid_backward, x, n_layers=10)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(c["f"], s)
    np.testing.assert_allclose(c["df"], s * (1 - s))
    assert c["matches"] and c["max_diff"] < 1e-8 and c["warnings"] == []
    assert c["best_x"] == 0.0 and np.isclose(c["best"], 0.25 ** 10)
    np.testing.assert_allclose(c["surviving"], (s * (1 - s)) ** 10)
    (lo_a, lo_b), (hi_a, hi_b) = c["saturated_intervals"]
    assert lo_a == -6.0 and hi_b == 6.0 and -3.0 < lo_b < -2.8 and 2.8 < hi_a < 3.0


def test_activation_curves_for_relu_and_leaky_relu():
    x = np.linspace(-2, 2, 101)                          # contains 0 exactly: the kink is skipped
    c = activation_curves(relu_forward, relu_backward, x, n_layers=30)
    assert c["matches"]
    np.testing.assert_array_equal(c["surviving"], (x > 0).astype(float))
    assert c["saturated_intervals"] == [(-2.0, 0.0)]
    c = activation_curves(leaky_forward, leaky_backward, x, n_layers=2, hyper={"alpha": 0.1})
    assert c["matches"] and np.isclose(c["surviving"][0], 0.01) and c["saturated_intervals"] == []


def test_activation_curves_flag_a_wrong_backward_and_warnings():
    x = np.linspace(-4, 4, 81)
    c = activation_curves(sigmoid_forward, sigmoid_backward_no_one_minus_s, x)
    assert not c["matches"] and c["verdict"].startswith("your backward differs")
    c = activation_curves(naive_sigmoid_forward, sigmoid_backward, np.linspace(-800, 800, 11))
    assert any("overflow" in w for w in c["warnings"]) and "NumPy warned" in c["verdict"]
    with pytest.raises(NotImplementedError):
        activation_curves(stub, stub, x)
    with pytest.raises(TypeError, match=r"\(out, cache\)"):
        activation_curves(lambda v: v, sigmoid_backward, x)
    with pytest.raises(ValueError, match="increasing"):
        activation_curves(sigmoid_forward, sigmoid_backward, x[::-1])
    with pytest.raises(ValueError, match="n_layers"):
        activation_curves(sigmoid_forward, sigmoid_backward, x, n_layers=0)


# --------------------------------------------------------------------------- activations: widget

ACTIVATIONS = {"sigmoid": (sigmoid_forward, sigmoid_backward), "relu": (relu_forward, relu_backward),
               "leaky_relu": (leaky_forward, leaky_backward, {"alpha": 0.1})}


def test_activation_explorer_switches_activation_range_and_depth():
    ex = ActivationExplorer(ACTIVATIONS, n_layers=5)
    assert isinstance(ex, ipywidgets.VBox)
    assert list(ex.controls["activation"].options) == ["sigmoid", "relu", "leaky_relu"]
    x, y = ex.artists["df"].get_data()
    np.testing.assert_allclose(y, ex.state["df"])
    assert ex.artists["shade"].get_array().shape == (1, ex.points)
    assert "0.000977" in ex.artists["info"].get_text()  # 0.25 ** 5
    ex.controls["activation"].value = "relu"
    assert ex.state["saturated_intervals"][0][1] == 0.0
    assert "5 stacked relu" in ex.artists["title_layers"].get_text()
    ex.controls["layers"].value = 12
    assert ex.state["n_layers"] == 12
    ex.controls["range"].value = (-1.0, 3.0)
    assert ex.state["x"][0] == -1.0 and ex.state["x"][-1] == 3.0
    assert ex.artists["ax"].get_xlim() == (-1.0, 3.0)
    ex.controls["activation"].value = "leaky_relu"
    assert "alpha=0.1" in ex.artists["title"].get_text()
    assert ex.artists["surviving"].get_ydata().min() >= LOG_FLOOR
    assert ex.status.value == ""


def test_activation_explorer_stub_wrong_and_raising(capsys):
    ex = ActivationExplorer({"sigmoid": (stub, stub), "bad": (sigmoid_forward, sigmoid_backward_no_one_minus_s),
                             "boom": (sigmoid_forward, lambda dout, cache: cache["x"])})
    assert ex.state is None and "Implement <code>sigmoid_forward</code>" in ex.status.value
    assert len(ex.artists["f"].get_xdata()) == 0
    ex.controls["activation"].value = "bad"
    assert ex.state is not None and "differs" in ex.status.value
    ex.controls["activation"].value = "boom"
    assert ex.state is None and "raised" in ex.status.value
    assert "Traceback" in capsys.readouterr().err
    with pytest.raises(TypeError):
        ActivationExplorer({"sigmoid": sigmoid_forward})
    with pytest.raises(ValueError):
        ActivationExplorer({})


def test_activation_explorer_static_backend():
    ex = ActivationExplorer(ACTIVATIONS, figure_backend="static")
    first = ex.canvas.value
    assert ex.controls["layers"].continuous_update is False
    ex.controls["activation"].value = "relu"
    assert ex.canvas.value != first


# --------------------------------------------------------------------------- gradcheck report

X_LOGIC = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y_LOGIC = np.array([[0, 0], [1, 0], [1, 0], [0, 1]])


def logic_model(backward=sigmoid_backward, seed=0):
    rng = np.random.default_rng(seed)
    return Model(Sequential(
        Layer(affine_forward, affine_backward, {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=3)}),
        Layer(sigmoid_forward, backward, name="sigmoid"),
        Layer(affine_forward, affine_backward, {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}),
    ), bce, reg=0.01)


def test_gradcheck_bars_for_a_correct_and_a_broken_network():
    good = gradcheck_bars(check_model(logic_model(), X_LOGIC, Y_LOGIC))
    assert good["names"] == ["W1", "b1", "W2", "b2"] and good["all_passed"]
    assert good["colors"] == [PASS_COLOR] * 4 and good["first_failure"] is None
    assert np.all(good["heights"] >= FLOOR) and np.all(good["heights"] < 1e-7)
    assert good["summary"].startswith("all 4 parameters pass")
    bad = gradcheck_bars(check_model(logic_model(sigmoid_backward_no_one_minus_s), X_LOGIC, Y_LOGIC))
    assert bad["passed"] == [False, False, True, True]
    assert bad["colors"] == [FAIL_COLOR, FAIL_COLOR, PASS_COLOR, PASS_COLOR]
    assert bad["first_failure"] == "b1" and "Start with b1" in bad["summary"]
    assert np.all(bad["heights"][:2] > 1e-3)
    with pytest.raises(TypeError):
        gradcheck_bars({"W1": 1e-9})


def test_gradcheck_bars_for_a_missing_gradient_and_an_exact_zero():
    class NoGradForB:
        params = {"w": np.array([1.0, 2.0]), "b": np.array([0.5])}

        def loss(self, X, y):
            w, b = self.params["w"], self.params["b"]
            return float(np.sum(w ** 2) + 3 * b[0]), {"w": 2 * w, "b": np.zeros(2)}

    s = gradcheck_bars(check_model(NoGradForB(), None, None))
    assert s["passed"] == [True, False]
    assert s["heights"][0] == FLOOR or s["heights"][0] < 1e-8
    assert s["heights"][1] == CEILING and "shape" in s["labels"][1]


def test_gradcheck_view_switches_models_and_step(capsys):
    view = GradCheckReportView({"good": logic_model(), "broken": logic_model(sigmoid_backward_no_one_minus_s)},
                               X_LOGIC, Y_LOGIC)
    assert isinstance(view, ipywidgets.VBox)
    heights = [bar.get_height() for bar in view.artists["bars"]]
    np.testing.assert_allclose(heights, view.state["heights"])
    assert "all 4 parameters pass" in view.status.value
    view.controls["source"].value = "broken"
    assert view.state["first_failure"] == "b1"
    assert [bar.get_facecolor()[:3] for bar in view.artists["bars"]][0] != \
           [bar.get_facecolor()[:3] for bar in view.artists["bars"]][3]
    assert view.artists["labels"][0].get_text() == view.state["labels"][0]
    assert "broken" in view.artists["title"].get_text()
    view.controls["source"].value = "good"
    view.controls["h"].value = 1e-1                      # truncation error: everything fails
    assert view.report.h == 1e-1 and not view.state["all_passed"]
    assert "h = 1e-01" in view.artists["title"].get_text()


def test_gradcheck_view_accepts_reports_and_handles_stubs(capsys):
    report = check_model(logic_model(), X_LOGIC, Y_LOGIC)
    view = GradCheckReportView(report)
    assert view.state["all_passed"] and view.controls["source"].layout.display == "none"
    with pytest.raises(ValueError, match="parameters"):
        view.show(check_model(Model(Layer(affine_forward, affine_backward, {"W": np.ones((2, 2)),
                                                                           "b": np.zeros(2)}), bce),
                              X_LOGIC, Y_LOGIC))
    stubbed = logic_model()
    stubbed.net.layers[1].backward_fn = stub
    view = GradCheckReportView(stubbed, X_LOGIC, Y_LOGIC)
    assert view.state is None and "not implemented yet" in view.status.value
    broken = logic_model()
    broken.net.layers[1].backward_fn = lambda dout, cache: 1 / 0
    view = GradCheckReportView(broken, X_LOGIC, Y_LOGIC)
    assert view.state is None and "ZeroDivisionError" in view.status.value
    assert "Traceback" in capsys.readouterr().err
    with pytest.raises(ValueError, match="X and y"):
        GradCheckReportView(logic_model())
    with pytest.raises(TypeError, match="neither a model"):
        GradCheckReportView({"x": 3})


def test_widget_figures_fit_the_jupyterlab_output_area():
    """At most 9 inches wide (about 860 px at the default 96 dpi of the output area)."""
    many = {f"net {i}": logic_model(seed=i) for i in range(2)}
    widgets = [CompGraphStepper("add_mul"), CompGraphStepper("sigmoid_neuron"),
               ActivationExplorer(ACTIVATIONS, n_layers=5), GradCheckReportView(many, X_LOGIC, Y_LOGIC)]
    for widget in widgets:
        assert widget.fig.get_size_inches()[0] <= 9.0, type(widget).__name__
    wide = Model(Sequential(*[Layer(affine_forward, affine_backward, {"W": np.ones((2, 2)), "b": np.zeros(2)})
                              for _ in range(6)]), bce)
    assert GradCheckReportView({"wide": wide}, X_LOGIC, Y_LOGIC).fig.get_size_inches()[0] <= 9.0
