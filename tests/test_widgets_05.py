"""05_autodiff widgets: the expression graph stepper and the 02-vs-engine backward comparison.

Their logic is plain functions (trace_expression, step_view, compare_gradients), tested here
with the reference engine from solutions/ standing in for the student."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from coursekit.data import make_spirals
from coursekit.widgets.autodiff_graph import MAX_NODES, AutodiffGraphStepper, step_view, trace_expression
from coursekit.widgets.backward_compare import BackwardCompare, compare_gradients


@pytest.fixture(scope="module")
def ref():
    from coursekit.grading.reference import reference_namespace
    return reference_namespace("05_autodiff")


def lecture_graph(ref):
    x, y, z = ref.Tensor(1.0, label="x"), ref.Tensor(-3.0, label="y"), ref.Tensor(4.0, label="z")
    return (lambda: (x + y) * z), [x, y, z]


def test_trace_reads_the_graph_values_and_the_students_gradients(ref):
    build, leaves = lecture_graph(ref)
    t = trace_expression(build, leaves)
    assert t["error"] is None
    assert sorted(t["ops"]) == ["", "", "", "*", "+"]
    by_label = {lab: i for i, lab in enumerate(t["labels"]) if lab}
    assert {k: float(t["grads"][i]) for k, i in by_label.items()} == {"x": 4.0, "y": 4.0, "z": -2.0}
    assert float(t["values"][t["root"]]) == -8.0
    # topological: every edge goes from a smaller to a larger position in the forward order
    rank = {i: k for k, i in enumerate(t["forward"])}
    assert all(rank[a] < rank[b] for a, b in t["edges"])
    assert t["backward"] == t["forward"][::-1]
    # leaves in column 0, the output in the last column
    assert {t["depth"][i] for i in by_label.values()} == {0}
    assert t["depth"][t["root"]] == max(t["depth"])


def test_rebuilding_does_not_accumulate_the_leaves_gradients(ref):
    build, leaves = lecture_graph(ref)
    trace_expression(build, leaves)
    t = trace_expression(build, leaves)
    x = next(i for i, lab in enumerate(t["labels"]) if lab == "x")
    assert float(t["grads"][x]) == 4.0


def test_steps_forward_then_backward(ref):
    build, leaves = lecture_graph(ref)
    t = trace_expression(build, leaves)
    v0 = step_view(t, 0)
    assert v0["n_steps"] == 2 + 5          # two operations forward, five nodes backward
    assert v0["grads"] == set() and len(v0["values"]) == 3 and v0["phase"] == "start"
    v1 = step_view(t, 1)
    assert v1["phase"] == "forward" and t["ops"][v1["active"]] == "+" and "-2" in v1["caption"]
    v3 = step_view(t, 3)
    assert v3["phase"] == "backward" and v3["active"] == t["root"] and v3["grads"] == {t["root"]}
    last = step_view(t, 99)               # clipped
    assert last["grads"] == set(range(5)) and len(last["values"]) == 5


def test_a_failing_backward_is_reported_not_raised(ref):
    class Broken(ref.Tensor):
        def backward(self):
            raise NotImplementedError("not implemented yet")

    x = ref.Tensor(2.0, label="x")
    t = trace_expression(lambda: Broken(3.0, (x,), "f"), [x])
    assert t["grads"] is None and "NotImplementedError" in t["error"]
    v = step_view(t, 10)
    assert v["phase"] == "forward" and v["n_steps"] == 1 and "backward() failed" in v["caption"]


def test_too_big_a_graph_is_refused(ref):
    def big():
        y = ref.Tensor(1.0)
        for _ in range(MAX_NODES + 5):
            y = y * 1.0
        return y

    with pytest.raises(ValueError, match="too many"):
        trace_expression(big)


def test_stepper_widget_updates_its_artists_in_place(ref):
    before = len(plt.get_fignums())
    build, leaves = lecture_graph(ref)
    w = AutodiffGraphStepper(build, leaves, figure_backend="static")
    assert w.fig.get_size_inches()[0] <= 9.0
    root = w.trace["root"]
    assert w.artists["grad_texts"][root].get_text() == ""
    w.step_slider.value = w.step_slider.max
    assert w.artists["grad_texts"][root].get_text() == "1"
    assert "gradient" in w.artists["caption"].get_text()
    w.step_slider.value = 0
    assert w.artists["grad_texts"][root].get_text() == "" and w.artists["value_texts"][root].get_text() == ""
    assert len(plt.get_fignums()) == before        # no pyplot figures left open


def test_stepper_widget_says_when_the_expression_cannot_be_built(ref):
    def broken():
        raise NotImplementedError("not implemented yet")

    w = AutodiffGraphStepper(broken, figure_backend="static")
    assert w.trace is None and "NotImplementedError" in w.status.value


def test_compare_gradients_engine_equals_layers(ref):
    X, y = make_spirals(n_per_class=20, n_classes=3, seed=0)
    r = compare_gradients(ref.MLP, ref.cross_entropy, ref.mlp_by_layers, X, y, dims=(2, 6, 3), seed=1)
    assert r["names"] == ["W1", "b1", "W2", "b2"] and r["error"] is None
    assert max(r["errors"]) < 1e-9
    assert np.isclose(r["loss_engine"], r["loss_layers"], rtol=1e-12)


def test_compare_gradients_shows_a_wrong_engine(ref):
    X, y = make_spirals(n_per_class=20, n_classes=3, seed=0)

    def doubled_loss(logits, labels):
        return ref.cross_entropy(logits, labels) * 2.0

    r = compare_gradients(ref.MLP, doubled_loss, ref.mlp_by_layers, X, y)
    assert min(r["errors"]) > 0.1

    def broken(logits, labels):
        raise NotImplementedError("not implemented yet")

    r = compare_gradients(ref.MLP, broken, ref.mlp_by_layers, X, y)
    assert r["engine"] is None and "NotImplementedError" in r["error"]


def test_backward_compare_widget_switches_parameter_and_network(ref):
    X, y = make_spirals(n_per_class=20, n_classes=3, seed=0)
    w = BackwardCompare(ref.MLP, ref.cross_entropy, ref.mlp_by_layers, X, y, figure_backend="static")
    assert w.fig.get_size_inches()[0] <= 9.0
    assert "relative error" in w.status.value and "#2ca02c" in w.status.value
    first = w.images[0].get_array().copy()
    w.param.value = "b2"
    assert w.images[0].get_array().shape == (1, 3)
    w.param.value = "W1"
    assert np.array_equal(w.images[0].get_array(), first)        # same network: same picture
    w.seed.value = 3
    assert not np.array_equal(w.images[0].get_array(), first)    # another network
    diff = w.images[2].get_array()
    assert np.max(np.abs(diff)) < 1e-9
