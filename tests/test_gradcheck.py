"""Tests for coursekit.gradcheck: numerical gradients, the sparse checker, reports."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coursekit.gradcheck import (
    GradCheckReport,
    check_layer,
    check_loss,
    check_model,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)

# ----------------------------------------------------- reference implementations


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    x2 = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), x2.T @ dout, dout.sum(axis=0)


def affine_backward_transposed_dw(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dx, dw.T, db


def affine_backward_half_db(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dx, dw, 0.5 * db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def relu_backward_no_mask(dout, cache):
    return dout.copy()


def leaky_relu_forward(x, alpha=0.01):
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_relu_backward(dout, cache):
    x, alpha = cache
    return dout * np.where(x > 0, 1.0, alpha)


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -log_probs[np.arange(n), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return loss, dx / n


def softmax_loss_no_mean(x, y):
    loss, dx = softmax_loss(x, y)
    return loss, dx * x.shape[0]


def add_mul_graph(x, y, z):
    q = x + y
    return q * z, z, z, q


class TinyNet:
    """affine - relu - affine - softmax with L2 on the weights."""

    def __init__(self, rng, D=5, H=4, C=3, reg=0.1, forget_reg_in=None):
        self.params = {
            "W1": rng.standard_normal((D, H)),
            "b1": rng.standard_normal(H) * 0.1,
            "W2": rng.standard_normal((H, C)),
            "b2": np.zeros(C),
        }
        self.reg = reg
        self.forget_reg_in = forget_reg_in

    def loss(self, X, y):
        p = self.params
        h, h_cache = affine_forward(X, p["W1"], p["b1"])
        a, a_cache = relu_forward(h)
        scores, s_cache = affine_forward(a, p["W2"], p["b2"])
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
        da, dW2, db2 = affine_backward(dscores, s_cache)
        dX, dW1, db1 = affine_backward(relu_backward(da, a_cache), h_cache)
        grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
        for name in ("W1", "W2"):
            if name != self.forget_reg_in:
                grads[name] = grads[name] + self.reg * p[name]
        return loss, grads


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ----------------------------------------------------------------- rel_error


def test_rel_error_values():
    assert rel_error(1.0, 1.0) == 0.0
    assert rel_error(0.0, 0.0) == 0.0
    assert rel_error(1.0, -1.0) == 1.0
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 4.2)


def test_rel_error_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        rel_error(np.zeros(3), np.zeros((3, 1)))


@settings(max_examples=50, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-1e6, 1e6)),
    st.floats(-1e6, 1e6),
)
def test_rel_error_properties(x, shift):
    y = x + shift
    e = rel_error(x, y)
    assert e == rel_error(y, x)
    assert 0.0 <= e <= 1.0
    assert rel_error(x, x) == 0.0


# ---------------------------------------------------- numerical gradients


def test_numerical_gradient_of_square_sum(rng):
    x = rng.standard_normal((3, 4))
    grad = eval_numerical_gradient(lambda v: np.sum(v**2), x)
    assert grad.shape == x.shape
    assert rel_error(grad, 2 * x) < 1e-8


def test_numerical_gradient_of_matrix_product(rng):
    A, x = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    c = rng.standard_normal((4, 2))
    grad = eval_numerical_gradient(lambda v: np.sum(c * (A @ v)), x)
    assert rel_error(grad, A.T @ c) < 1e-8


def test_numerical_gradient_of_softmax_loss(rng):
    x, y = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    grad = eval_numerical_gradient(lambda v: softmax_loss(v, y)[0], x)
    assert rel_error(grad, softmax_loss(x, y)[1]) < 1e-7


def test_numerical_gradient_of_0d_array():
    x = np.array(3.0)
    assert eval_numerical_gradient(lambda v: v**3, x) == pytest.approx(27.0)


def test_x_is_restored_exactly(rng):
    x = rng.standard_normal((3, 3))
    before = x.copy()
    eval_numerical_gradient(lambda v: np.sum(np.sin(v)), x)
    eval_numerical_gradient_array(np.tanh, x, np.ones((3, 3)))
    np.testing.assert_array_equal(x, before)


def test_x_is_restored_when_f_raises(rng):
    x = rng.standard_normal(4)
    before = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 2:  # after x[0] was perturbed to x[0] + h, now at x[0] - h
            raise RuntimeError("boom")
        return np.sum(v)

    with pytest.raises(RuntimeError, match="boom"):
        eval_numerical_gradient(f, x)
    np.testing.assert_array_equal(x, before)

    def g(v):
        if v[1] != before[1]:
            raise ZeroDivisionError("boom")
        return v

    with pytest.raises(ZeroDivisionError):
        eval_numerical_gradient_array(g, x, np.ones(4))
    np.testing.assert_array_equal(x, before)


def test_rejects_non_float64_or_non_array():
    with pytest.raises(TypeError, match="float64"):
        eval_numerical_gradient(np.sum, np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="NumPy array"):
        eval_numerical_gradient(np.sum, [1.0, 2.0])
    with pytest.raises(ValueError, match="scalar"):
        eval_numerical_gradient(lambda v: v * 2, np.ones(3))


def test_array_gradient_with_upstream(rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    assert rel_error(eval_numerical_gradient_array(lambda v: v @ w + b, x, dout), dx) < 1e-8
    assert rel_error(eval_numerical_gradient_array(lambda v: x @ v + b, w, dout), dw) < 1e-8
    assert rel_error(eval_numerical_gradient_array(lambda v: x @ w + v, b, dout), db) < 1e-8


def test_array_gradient_when_f_returns_its_input(rng):
    x, dout = rng.standard_normal(5), rng.standard_normal(5)
    np.testing.assert_allclose(eval_numerical_gradient_array(lambda v: v, x, dout), dout)


def test_array_gradient_checks_df_shape(rng):
    with pytest.raises(ValueError, match="df has shape"):
        eval_numerical_gradient_array(lambda v: v, rng.standard_normal(3), np.ones(4))


def test_grad_check_sparse_is_reproducible_and_quiet(rng, capsys):
    x = rng.standard_normal((6, 7))
    f = lambda v: np.sum(v**3)  # noqa: E731
    e1 = grad_check_sparse(f, x, 3 * x**2, num_checks=8)
    e2 = grad_check_sparse(f, x, 3 * x**2, num_checks=8)
    e3 = grad_check_sparse(f, x, 3 * x**2, num_checks=8, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(e1, e3)
    assert e1.shape == (8,) and np.all(e1 < 1e-7)
    assert capsys.readouterr().out == ""
    assert len(grad_check_sparse(f, x[:1, :2], 3 * x[:1, :2] ** 2, num_checks=10)) == 2


def test_grad_check_sparse_finds_wrong_gradient_and_prints_when_verbose(rng, capsys):
    x = rng.standard_normal(50)
    errors = grad_check_sparse(lambda v: np.sum(v**2), x, 3 * x, num_checks=5, verbose=True)
    assert np.all(errors > 0.1)
    assert capsys.readouterr().out.count("relative error") == 5


# ---------------------------------------------------------- check_layer


def test_check_layer_passes_on_affine(rng):
    inputs = {"x": rng.standard_normal((3, 2, 2)), "w": rng.standard_normal((4, 5)),
              "b": rng.standard_normal(5)}
    before = {k: v.copy() for k, v in inputs.items()}
    report = check_layer(affine_forward, affine_backward, inputs)
    assert isinstance(report, GradCheckReport)
    assert report.passed, str(report)
    assert [r.name for r in report] == ["x", "w", "b"]
    assert report["x"].shape == (3, 2, 2)
    assert all(r.error < 1e-8 for r in report)
    assert report.raise_if_failed() is report
    for k in inputs:
        np.testing.assert_array_equal(inputs[k], before[k])


def test_check_layer_passes_on_relu_and_skips_non_array_inputs(rng):
    x = rng.standard_normal((4, 5))
    x[np.abs(x) < 0.01] = 0.5  # keep away from the kink
    assert check_layer(relu_forward, relu_backward, {"x": x}).passed
    report = check_layer(leaky_relu_forward, leaky_relu_backward, {"x": x, "alpha": 0.1})
    assert report.passed and len(report) == 1


def test_check_layer_flags_transposed_dw_by_shape(rng):
    inputs = {"x": rng.standard_normal((3, 4)), "w": rng.standard_normal((4, 5)),
              "b": rng.standard_normal(5)}
    report = check_layer(affine_forward, affine_backward_transposed_dw, inputs)
    assert not report.passed
    assert report.worst.name == "w"
    assert report["x"].passed and report["b"].passed
    assert "shape (5, 4)" in report["w"].note
    with pytest.raises(AssertionError, match="w: gradient has shape"):
        report.raise_if_failed()


def test_check_layer_flags_transposed_dw_by_value(rng):
    inputs = {"x": rng.standard_normal((3, 4)), "w": rng.standard_normal((4, 4)),
              "b": rng.standard_normal(4)}
    report = check_layer(affine_forward, affine_backward_transposed_dw, inputs)
    assert [r.passed for r in report] == [True, False, True]
    assert report.worst.name == "w" and report["w"].error > 1e-2
    w = report["w"]
    assert w.analytic != pytest.approx(w.numeric)


def test_check_layer_default_dout_is_not_the_inputs_own_draws():
    """Inputs drawn from default_rng(0) must not coincide with the default dout."""
    x = np.random.default_rng(0).standard_normal((3, 4))  # dout == x would make dw symmetric
    inputs = {"x": x, "w": np.random.default_rng(1).standard_normal((4, 4)), "b": np.zeros(4)}
    assert not check_layer(affine_forward, affine_backward_transposed_dw, inputs).passed
    r0 = check_layer(affine_forward, affine_backward, inputs)
    r1 = check_layer(affine_forward, affine_backward, inputs, seed=1)
    assert str(r0) == str(check_layer(affine_forward, affine_backward, inputs))
    assert r0["w"].analytic != r1["w"].analytic


def test_check_layer_flags_missing_factor(rng):
    inputs = {"x": rng.standard_normal((3, 4)), "w": rng.standard_normal((4, 2)),
              "b": rng.standard_normal(2)}
    report = check_layer(affine_forward, affine_backward_half_db, inputs)
    assert report.worst.name == "b"
    assert report["b"].error == pytest.approx(0.5 / 1.5)  # ||g/2 - g|| / (||g/2|| + ||g||)
    assert not check_layer(relu_forward, relu_backward_no_mask, {"x": inputs["x"]}).passed


def test_check_layer_dout_and_wrt(rng):
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    report = check_layer(affine_forward, lambda d, c: affine_backward(d, c)[1],
                         {"x": x, "w": w, "b": b}, dout=np.ones((2, 2)), wrt=["w"])
    assert report.passed and [r.name for r in report] == ["w"]
    with pytest.raises(ValueError, match="wrt"):
        check_layer(affine_forward, lambda d, c: affine_backward(d, c)[:2],
                    {"x": x, "w": w, "b": b})
    with pytest.raises(ValueError, match="dout has shape"):
        check_layer(affine_forward, affine_backward, {"x": x, "w": w, "b": b}, dout=np.ones(3))


def test_check_layer_reports_none_gradient(rng):
    report = check_layer(relu_forward, lambda d, c: None, {"x": rng.standard_normal(3)})
    assert not report.passed and "None" in report["x"].note


# ------------------------------------------------------ check_loss / model


def test_check_loss_softmax(rng):
    x, y = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    report = check_loss(softmax_loss, x, y)
    assert report.passed, str(report)
    assert [r.name for r in report] == ["x"]
    bad = check_loss(softmax_loss_no_mean, x, y)
    assert not bad.passed and bad.worst.name == "x"


def test_check_loss_scalars_and_several_wrt():
    report = check_loss(add_mul_graph, -2.0, 5.0, -4.0, wrt=(0, 1, 2))
    assert report.passed
    assert [r.name for r in report] == ["x", "y", "z"]
    assert report["z"].analytic == pytest.approx(3.0)
    by_name = check_loss(add_mul_graph, -2.0, 5.0, z=-4.0, wrt=(0, 1, "z"))
    assert by_name.passed
    with pytest.raises(ValueError, match="gradient"):
        check_loss(add_mul_graph, -2.0, 5.0, -4.0, wrt=0)


def test_check_model(rng):
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    model = TinyNet(rng)
    before = {k: v.copy() for k, v in model.params.items()}
    report = check_model(model, X, y)
    assert report.passed, str(report)
    assert [r.name for r in report] == ["W1", "b1", "W2", "b2"]
    for k in before:
        np.testing.assert_array_equal(model.params[k], before[k])

    broken = TinyNet(np.random.default_rng(5), reg=1.0, forget_reg_in="W1")
    report = check_model(broken, X, y)
    assert [r.name for r in report if not r.passed] == ["W1"]
    assert report.worst.name == "W1"


def test_check_model_sparse_and_float32(rng):
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    model = TinyNet(rng)
    report = check_model(model, X, y, params=["W1"], num_checks=4)
    assert report.passed and report["W1"].shape == (5, 4)
    model.params["W2"] = model.params["W2"].astype(np.float32)
    with pytest.raises(TypeError, match="W2"):
        check_model(model, X, y)


# ------------------------------------------------------------------ report


def test_report_text_and_html(rng):
    inputs = {"x": rng.standard_normal((3, 4)), "w": rng.standard_normal((4, 4)),
              "b": rng.standard_normal(4)}
    report = check_layer(affine_forward, affine_backward_transposed_dw, inputs)
    text = str(report)
    assert repr(report) == text
    assert "affine_forward" in text and "FAIL" in text and "FAILED for w" in text
    for r in report:
        assert r.name in text and f"{r.error:.2e}" in text
    page = report._repr_html_()
    assert page.startswith("<div>") and page.count("<tr") == 4
    assert page.count("background-color:#fdd") == 1
    assert f"{report['w'].error:.2e}" in page
    with pytest.raises(AssertionError, match=r"at index \(\d, \d\) your gradient is"):
        report.raise_if_failed()
    with pytest.raises(KeyError, match="no input named"):
        report["nope"]


def test_report_says_how_many_times_too_large_or_small(rng):
    inputs = {"x": rng.standard_normal((3, 4)), "w": rng.standard_normal((4, 2)),
              "b": rng.standard_normal(2)}
    report = check_layer(affine_forward, affine_backward_half_db, inputs)
    assert report["b"].hint == "2 times too small" and report["x"].hint == ""
    assert "FAIL: 2 times too small" in str(report)
    with pytest.raises(AssertionError, match=r"- b: .*your gradient is 2 times too small"):
        report.raise_if_failed()

    def loss_times_n(x, y):
        loss, dx = softmax_loss(x, y)
        return loss, dx * x.shape[0]

    x, y = rng.standard_normal((4, 3)), np.array([0, 2, 1, 1])
    assert check_loss(loss_times_n, x, y)["x"].hint == "4 times too large"
    # a transposed or otherwise wrong gradient is not a multiple: no hint
    wrong = check_layer(affine_forward, affine_backward_transposed_dw,
                        {"x": inputs["x"], "w": rng.standard_normal((4, 4)), "b": np.zeros(4)})
    assert wrong["w"].hint == ""
