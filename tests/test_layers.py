"""coursekit.layers: Layer, Sequential and Model around CS231n-style forward/backward pairs.

The affine/relu/softmax implementations below are the tests' own: coursekit ships none.
"""

import numpy as np
import pytest

from coursekit.layers import Layer, LayerError, Model, Sequential


# --- small correct layers, written here for the tests --------------------------------

def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    dx = (dout @ w.T).reshape(x.shape)
    return dx, x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    dx = np.exp(log_p)
    dx[np.arange(N), y] -= 1
    return -log_p[np.arange(N), y].mean(), dx / N


def scale_forward(x, gamma, scale_param):
    """A toy layer with state: scales by gamma, counts calls per mode in scale_param."""
    scale_param[scale_param["mode"]] = scale_param.get(scale_param["mode"], 0) + 1
    return x * gamma, (x, gamma)


def scale_backward(dout, cache):
    x, gamma = cache
    return dout * gamma, (dout * x).sum(axis=0)


def affine(D, M, seed=0):
    rng = np.random.default_rng(seed)
    return Layer(affine_forward, affine_backward, {"W": rng.normal(size=(D, M)), "b": rng.normal(size=M)})


def two_layer_model(reg=0.0, D=5, H=7, C=3):
    return Model(Sequential(affine(D, H, 1), Layer(relu_forward, relu_backward), affine(H, C, 2)),
                 softmax_loss, reg=reg)


def numerical_gradient(f, x, h=1e-6):
    """Centred differences of the scalar f() with respect to the array x, changed in place."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


X = np.linspace(-1, 1, 4 * 5).reshape(4, 5)
Y = np.array([0, 2, 1, 2])


# --- Layer ----------------------------------------------------------------------------

def test_layer_forward_backward_shapes_and_grads():
    layer = affine(5, 3)
    out = layer.forward(X)
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out, X @ layer.params["W"] + layer.params["b"])
    dx = layer.backward(np.ones((4, 3)))
    assert dx.shape == X.shape
    assert list(layer.grads) == ["W", "b"]
    assert layer.grads["W"].shape == (5, 3) and layer.grads["b"].shape == (3,)
    assert layer.name == "affine"


def test_layer_accepts_multidimensional_input():
    layer = affine(6, 2)
    x = np.linspace(0, 1, 4 * 2 * 3).reshape(4, 2, 3)
    layer.forward(x)
    assert layer.backward(np.ones((4, 2))).shape == (4, 2, 3)


def test_layer_without_params_returns_dx_and_no_grads():
    layer = Layer(relu_forward, relu_backward)
    layer.forward(X)
    dx = layer.backward(np.ones_like(X))
    np.testing.assert_array_equal(dx, X > 0)
    assert layer.grads == {} and layer.name == "relu"


def test_layer_passes_hyperparameters_by_keyword():
    def leaky_forward(x, alpha=0.01):
        return np.where(x > 0, x, alpha * x), (x, alpha)

    def leaky_backward(dout, cache):
        x, alpha = cache
        return np.where(x > 0, dout, alpha * dout)

    layer = Layer(leaky_forward, leaky_backward, alpha=0.5, name="leaky")
    np.testing.assert_allclose(layer.forward(X), np.where(X > 0, X, 0.5 * X))
    assert "leaky" in repr(layer) and "alpha=0.5" in repr(layer)


def test_backward_before_forward_says_so():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        affine(5, 3).backward(np.ones((4, 3)))


def test_backward_returning_too_few_arrays_names_the_count():
    layer = Layer(affine_forward, lambda dout, cache: affine_backward(dout, cache)[:2],
                  {"W": np.ones((5, 3)), "b": np.zeros(3)}, name="fc")
    layer.forward(X)
    with pytest.raises(LayerError, match=r"layer 'fc': backward returned 2 arrays, but the layer has "
                                         r"2 parameters \(W, b\), so backward must return 3: \(dx, dW, db\)"):
        layer.backward(np.ones((4, 3)))


def test_backward_returning_none_is_reported():
    layer = Layer(affine_forward, lambda dout, cache: None, {"W": np.ones((5, 3)), "b": np.zeros(3)})
    layer.forward(X)
    with pytest.raises(LayerError, match="backward returned None"):
        layer.backward(np.ones((4, 3)))


def test_paramless_backward_returning_a_tuple_is_reported():
    layer = Layer(relu_forward, lambda dout, cache: (dout, None))
    layer.forward(X)
    with pytest.raises(LayerError, match="no parameters, so backward must return just dx"):
        layer.backward(np.ones_like(X))


def test_gradient_with_wrong_shape_names_the_parameter():
    def transposed_backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        return dx, dw.T, db

    layer = Layer(affine_forward, transposed_backward, {"W": np.ones((5, 3)), "b": np.zeros(3)})
    layer.forward(X)
    with pytest.raises(LayerError, match=r"gradient dW has shape \(3, 5\), but parameter W has shape \(5, 3\)"):
        layer.backward(np.ones((4, 3)))


def test_dx_with_wrong_shape_is_reported():
    layer = Layer(relu_forward, lambda dout, cache: dout[:, :2])
    layer.forward(X)
    with pytest.raises(LayerError, match=r"dx has shape \(4, 2\), but the input x had shape \(4, 5\)"):
        layer.backward(np.ones_like(X))


def test_forward_must_return_out_and_cache():
    layer = Layer(lambda x: x, relu_backward, name="identity")
    with pytest.raises(LayerError, match=r"'identity': forward must return \(out, cache\)"):
        layer.forward(X)


# --- Sequential -----------------------------------------------------------------------

def test_sequential_names_params_like_cs231n():
    net = Sequential(affine(5, 4), Layer(relu_forward, relu_backward), affine(4, 3))
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert net.params["W2"] is net[2].params["W"]
    out = net.forward(X)
    assert out.shape == (4, 3)
    dx = net.backward(np.ones((4, 3)))
    assert dx.shape == X.shape
    assert list(net.grads) == ["W1", "b1", "W2", "b2"]
    assert net.grads["W1"] is net[0].grads["W"]
    assert "W1(5, 4)" in repr(net) and "1: relu" in repr(net)


def test_sequential_counts_each_param_name_separately():
    bn = Layer(scale_forward, scale_backward, {"gamma": np.ones(4)}, scale_param={})
    net = Sequential(affine(5, 4), bn, Layer(relu_forward, relu_backward), affine(4, 3))
    assert list(net.params) == ["W1", "b1", "gamma1", "W2", "b2"]


def test_sequential_rejects_colliding_names():
    odd = Layer(affine_forward, affine_backward, {"W1": np.ones((5, 5)), "b": np.zeros(5)})
    layers = [odd] + [affine(5, 5, i) for i in range(11)]  # odd's W1 -> W11, and so does the 11th W
    with pytest.raises(ValueError, match=r"both be called 'W11': 'W1' of layer 0 \(affine\) and "
                                         r"'W' of layer 11 \(affine\)"):
        Sequential(*layers)


def test_sequential_params_write_through_and_reject_unknown_names():
    net = Sequential([affine(5, 3)])
    new_W = np.zeros((5, 3))
    net.params["W1"] = new_W
    assert net[0].params["W"] is new_W
    with pytest.raises(KeyError, match="no parameter 'W2'"):
        net.params["W2"] = new_W
    assert isinstance(net.params.copy(), dict)


def test_sequential_rejects_non_layers():
    with pytest.raises(TypeError, match="item 1 is function"):
        Sequential(affine(5, 3), relu_forward)


# --- Model ----------------------------------------------------------------------------

def test_model_loss_without_y_returns_scores():
    model = two_layer_model()
    scores = model.loss(X)
    assert scores.shape == (4, 3)
    np.testing.assert_allclose(scores, model.net.forward(X))


def test_model_loss_with_y_returns_loss_and_grads_for_every_param():
    model = two_layer_model()
    loss, grads = model.loss(X, Y)
    assert np.isscalar(loss) or np.ndim(loss) == 0
    assert set(grads) == set(model.params) == {"W1", "b1", "W2", "b2"}
    for name in grads:
        assert grads[name].shape == model.params[name].shape, name


def test_l2_applies_to_weight_matrices_only():
    reg = 0.3
    loss0, grads0 = two_layer_model(reg=0.0).loss(X, Y)
    model = two_layer_model(reg=reg)
    loss, grads = model.loss(X, Y)
    W1, W2 = model.params["W1"], model.params["W2"]
    np.testing.assert_allclose(loss - loss0, 0.5 * reg * (np.sum(W1**2) + np.sum(W2**2)))
    np.testing.assert_allclose(grads["W1"] - grads0["W1"], reg * W1, atol=1e-12)
    np.testing.assert_allclose(grads["W2"] - grads0["W2"], reg * W2, atol=1e-12)
    np.testing.assert_array_equal(grads["b1"], grads0["b1"])
    np.testing.assert_array_equal(grads["b2"], grads0["b2"])


def test_model_gradients_match_numerical_gradient():
    model = two_layer_model(reg=0.1)
    _, grads = model.loss(X, Y)
    for name, param in model.params.items():
        num = numerical_gradient(lambda: model.loss(X, Y)[0], param)
        assert rel_error(num, grads[name]) < 1e-6, name


def test_model_mode_is_train_with_labels_and_test_without():
    state = {}
    layer = Layer(scale_forward, scale_backward, {"gamma": np.full(5, 2.0)}, scale_param=state)
    assert state["mode"] == "train"
    model = Model([layer, affine(5, 3)], softmax_loss)
    model.loss(X)
    assert state["mode"] == "test"
    model.loss(X, Y)
    model.loss(X, Y)
    assert state["mode"] == "train"
    assert layer.hyper["scale_param"] is state  # kept, not copied: in-place state persists
    assert state["test"] == 1 and state["train"] == 2
    assert list(model.params) == ["gamma1", "W1", "b1"]


def test_hyperparameter_called_mode_is_set():
    seen = []

    def forward(x, mode="train"):
        seen.append(mode)
        return x, None

    model = Model(Layer(forward, lambda dout, cache: dout, mode="train"), softmax_loss)
    model.loss(X)
    model.loss(X, np.zeros(4, dtype=int))
    assert seen == ["test", "train"]


def test_assigning_model_params_copies_into_layers():
    model = two_layer_model()
    best = {k: np.zeros_like(v) for k, v in model.params.items()}
    model.params = best
    assert model.net[0].params["W"] is best["W1"]
    np.testing.assert_array_equal(model.loss(X), np.zeros((4, 3)))


def test_loss_fn_with_wrong_dscores_shape_is_reported():
    model = Model([affine(5, 3)], lambda s, y: (0.0, s[:, :1]))
    with pytest.raises(LayerError, match=r"dscores of shape \(4, 1\), but the scores have shape \(4, 3\)"):
        model.loss(X, Y)


# --- with the rest of the kit: gradient checks and the solver -------------------------

def test_check_model_perturbs_layer_params_through_the_live_view():
    from coursekit.gradcheck import check_model

    model = two_layer_model(reg=0.2)
    before = {k: v.copy() for k, v in model.params.items()}
    report = check_model(model, X, Y)
    assert report.passed, str(report)
    assert [r.name for r in report] == ["W1", "b1", "W2", "b2"]
    for name, value in model.params.items():   # perturbed in place, restored exactly
        np.testing.assert_array_equal(value, before[name])


def test_check_model_finds_the_layer_with_a_wrong_backward():
    from coursekit.gradcheck import check_model

    model = two_layer_model()
    model.net[1].backward_fn = lambda dout, cache: dout  # "forgot" the ReLU mask
    report = check_model(model, X, Y)
    assert [r.passed for r in report] == [False, False, True, True]


def test_solver_trains_a_model_built_from_layers():
    from coursekit.solver import Solver

    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0, 0.0]])
    y = np.repeat(np.arange(3), 40)
    Xs = centres[y] + 0.5 * rng.normal(size=(120, 5))
    model = two_layer_model(reg=1e-3)
    first_W1 = model.net[0].params["W"]
    solver = Solver(model, {"X_train": Xs, "y_train": y, "X_val": Xs, "y_val": y},
                    optim_config={"learning_rate": 0.1}, batch_size=20, num_epochs=15,
                    verbose=False, progress=False, seed=0).train()
    assert solver.best_val_acc >= 0.95
    assert model.net[0].params["W"] is not first_W1            # the solver wrote through the view
    np.testing.assert_array_equal(model.params["W1"], solver.best_params["W1"])
    assert np.mean(np.argmax(model.loss(Xs), axis=1) == y) == solver.best_val_acc
