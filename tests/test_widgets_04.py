"""The 04_training widgets, driven headless with "student" functions defined here.

coursekit ships no layers, initializers or networks: correct implementations written
in this file play the student (a tiny network class included), and stubs and broken
ones check that the widgets say what is wrong instead of crashing.
"""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from coursekit.widgets.init_explorer import INIT_CHOICES, MAX_DEPTH, InitExplorer, init_statistics  # noqa: E402
from coursekit.widgets.regularization_lab import (KEEP_CHOICES, REG_CHOICES,  # noqa: E402
                                                  RegularizationLab, describe, train_curves)

# --------------------------------------------------------------------------- "students"


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    return dout * (1 - cache ** 2)


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def xavier_init(fan_in, fan_out, rng):
    return rng.normal(0, np.sqrt(2 / (fan_in + fan_out)), (fan_in, fan_out))


def he_init(fan_in, fan_out, rng):
    return rng.normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))


def he_stub(fan_in, fan_out, rng):
    raise NotImplementedError


def he_wrong_shape(fan_in, fan_out, rng):
    return rng.normal(size=(fan_out, fan_in + 1))


LAYERS = dict(affine=(affine_forward, affine_backward),
              activations={"tanh": (tanh_forward, tanh_backward), "ReLU": (relu_forward, relu_backward)})
INITS = {"Xavier": xavier_init, "He": he_init}


class TinyNet:
    """A student's network with the FullyConnectedNet signature: one hidden ReLU layer, L2 on W.

    Batch norm and dropout are accepted and ignored, except that dropout scales the hidden
    layer deterministically so the configurations differ.
    """

    def __init__(self, hidden_dims, input_dim, num_classes, dropout_keep_ratio=1, normalization=None,
                 reg=0.0, weight_scale=1e-2, dtype=np.float64, seed=None):
        h = hidden_dims[0]
        self.reg, self.keep = reg, dropout_keep_ratio
        self.params = {"W1": np.random.normal(0, weight_scale, (input_dim, h)), "b1": np.zeros(h),
                       "W2": np.random.normal(0, weight_scale, (h, num_classes)), "b2": np.zeros(num_classes)}

    def loss(self, X, y=None):
        p = self.params
        a = X @ p["W1"] + p["b1"]
        h = np.maximum(a, 0)
        scores = h @ p["W2"] + p["b2"]
        if y is None:
            return scores
        n = len(X)
        z = scores - scores.max(axis=1, keepdims=True)
        prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        loss = -np.log(prob[np.arange(n), y]).mean()
        loss += 0.5 * self.reg * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
        d = prob.copy()
        d[np.arange(n), y] -= 1
        d /= n
        dh = d @ p["W2"].T * (a > 0)
        return loss, {"W1": X.T @ dh + self.reg * p["W1"], "b1": dh.sum(0),
                      "W2": h.T @ d + self.reg * p["W2"], "b2": d.sum(0)}


class StubNet(TinyNet):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError


class BrokenNet(TinyNet):
    def loss(self, X, y=None):
        raise ValueError("shapes (5,8) and (9,3) not aligned")


@pytest.fixture(scope="module")
def toy_data():
    """Two noisy blobs in 8 dimensions: a net learns it in a few epochs."""
    rng = np.random.default_rng(0)
    y = rng.integers(3, size=260)
    X = rng.normal(size=(260, 8)) + 1.5 * np.eye(3, 8)[y]
    return {"X_train": X[:200], "y_train": y[:200], "X_val": X[200:], "y_val": y[200:]}


FAST = dict(hidden_dims=(16,), n_train=60, num_epochs=4, learning_rate=0.1, batch_size=20)

# --------------------------------------------------------------------------- init_statistics


def test_small_weights_vanish_in_a_tanh_net():
    s = init_statistics(10, "tanh", "weight scale", weight_scale=0.01, width=100, batch=200, **LAYERS)
    assert s["std"].shape == s["grad_norms"].shape == (10,)
    assert np.all(np.diff(s["std"]) < 0) and s["std"][-1] < 1e-6 * s["std"][0]
    assert s["verdict"].startswith("vanishing")
    np.testing.assert_allclose(s["hist"].sum(axis=1), 1.0)  # tanh: every unit falls inside [-1, 1]
    np.testing.assert_allclose(s["weight_std"], 0.01, rtol=0.05)


def test_large_weights_saturate_tanh():
    s = init_statistics(6, "tanh", "weight scale", weight_scale=1.0, width=100, batch=200, **LAYERS)
    assert np.all(s["saturated"] > 0.7) and s["verdict"].startswith("saturated")
    # almost all the mass sits in the outermost bins
    assert s["hist"][-1, 0] + s["hist"][-1, -1] > 0.7


def test_xavier_keeps_tanh_alive_and_he_keeps_relu_alive():
    s = init_statistics(10, "tanh", "Xavier", inits=INITS, width=200, batch=300, **LAYERS)
    assert s["std"][-1] > 0.1 and s["saturated"][-1] < 0.1 and s["verdict"].startswith("healthy")
    np.testing.assert_allclose(s["weight_std"], np.sqrt(2 / 400), rtol=0.05)
    he = init_statistics(10, "ReLU", "He", inits=INITS, width=200, batch=300, **LAYERS)
    xavier = init_statistics(10, "ReLU", "Xavier", inits=INITS, width=200, batch=300, **LAYERS)
    assert 0.5 < he["std"][-1] / he["std"][0] < 2
    assert xavier["std"][-1] < 0.1 * xavier["std"][0]  # ReLU halves the variance at each layer
    assert np.all(np.abs(he["zero_fraction"] - 0.5) < 0.1)
    assert np.all(he["edges"] >= 0) and he["hist"].shape == (10, len(he["edges"]) - 1)


def test_init_statistics_is_deterministic_and_checks_its_arguments():
    a = init_statistics(3, "ReLU", "He", inits=INITS, width=20, batch=30, **LAYERS)
    b = init_statistics(3, "ReLU", "He", inits=INITS, width=20, batch=30, **LAYERS)
    np.testing.assert_array_equal(a["grad_norms"], b["grad_norms"])
    with pytest.raises(ValueError, match="activation"):
        init_statistics(3, "sigmoid", "He", inits=INITS, **LAYERS)
    with pytest.raises(ValueError, match="no function"):
        init_statistics(3, "tanh", "He", **LAYERS)
    with pytest.raises(ValueError, match="shape"):
        init_statistics(3, "tanh", "He", inits={"He": he_wrong_shape}, width=10, batch=5, **LAYERS)
    with pytest.raises(ValueError, match="depth"):
        init_statistics(0, "tanh", "weight scale", **LAYERS)


def test_gradient_flow_and_update_ratio_say_what_the_lesson_says():
    """The numbers 04 section 2 quotes: ||dx|| shrinks backwards for 0.01*randn and grows for 1.0*randn
    (saturated tanh); the update-to-weight ratio is ~1e-3 for Xavier/tanh and He/ReLU, far off otherwise."""
    kw = dict(width=256, batch=500, learning_rate=0.1, **LAYERS)
    small = init_statistics(10, "tanh", "weight scale", weight_scale=0.01, **kw)
    dx = small["input_grad_norms"]
    assert np.all(np.diff(dx) > 0) and 0.1 < (dx[0] / dx[-1]) ** (1 / 9) < 0.25  # about 6 times smaller per layer
    assert np.all(small["update_ratio"] < 1e-6)
    big = init_statistics(10, "tanh", "weight scale", weight_scale=1.0, **kw)
    assert np.all(big["saturated"] > 0.8)
    assert np.all(np.diff(big["input_grad_norms"]) < 0)  # grows on its way back (towards layer 1)
    assert big["update_ratio"][0] > 0.1
    for init, act in (("Xavier", "tanh"), ("He", "ReLU")):
        s = init_statistics(10, act, init, inits=INITS, **kw)
        assert np.all((s["update_ratio"] > 1e-4) & (s["update_ratio"] < 1e-2)), (init, act, s["update_ratio"])
    fading = init_statistics(10, "ReLU", "Xavier", inits=INITS, **kw)
    assert fading["update_ratio"][0] < 0.5 * init_statistics(10, "ReLU", "He", inits=INITS, **kw)["update_ratio"][0]
    # the ratio is linear in the learning rate
    other = init_statistics(10, "ReLU", "He", inits=INITS, **{**kw, "learning_rate": 0.01})
    np.testing.assert_allclose(other["update_ratio"] * 10, init_statistics(10, "ReLU", "He", inits=INITS, **kw)["update_ratio"])


def test_widget_figures_fit_the_output_area(toy_data):
    """JupyterLab's output area is about 9 inches wide at the default dpi: nothing wider."""
    w = InitExplorer(inits=INITS, width=16, batch=10, figure_backend="static", **LAYERS)
    assert w.fig.get_size_inches()[0] <= 9.0
    lab = RegularizationLab(TinyNet, toy_data, precompute=False, figure_backend="static", **FAST)
    assert lab.fig.get_size_inches()[0] <= 9.0
    for ax in (*w.fig.axes, *lab.fig.axes):  # every panel inside the canvas
        x0, _, x1, _ = ax.get_position().extents
        assert 0 <= x0 and x1 <= 1.0


def test_exploding_relu_net_is_reported_not_crashed():
    s = init_statistics(10, "ReLU", "weight scale", weight_scale=10.0, width=64, batch=50, **LAYERS)
    assert s["verdict"].startswith(("exploding", "overflow"))


# --------------------------------------------------------------------------- InitExplorer


def test_init_explorer_updates_from_its_controls():
    w = InitExplorer(inits=INITS, width=64, batch=100, figure_backend="static", **LAYERS)
    assert isinstance(w, ipywidgets.VBox) and w.state is not None
    assert list(w.controls["init"].options) == list(INIT_CHOICES)
    assert "vanishing" in w.status.value
    visible = [ax.get_visible() for ax in w.artists["hist_axes"]]
    assert visible == [True] * MAX_DEPTH
    w.controls["activation"].value = "ReLU"
    w.controls["init"].value = "He"
    assert w.controls["scale"].disabled
    assert w.state["activation"] == "ReLU" and w.state["init"] == "He" and "healthy" in w.status.value
    w.controls["depth"].value = 4
    assert [ax.get_visible() for ax in w.artists["hist_axes"]] == [True] * 4 + [False] * (MAX_DEPTH - 4)
    assert len(w.artists["std"].get_xdata()) == 4
    assert len(w.artists["dx"].get_xdata()) == 4 and len(w.artists["ratio"].get_ydata()) == 4
    np.testing.assert_allclose(w.artists["ratio"].get_ydata(), w.state["update_ratio"])
    np.testing.assert_allclose(w.artists["dx"].get_ydata(), w.state["input_grad_norms"])
    np.testing.assert_allclose(w.artists["hists"][0].get_data().values, w.state["hist"][0])
    assert "ReLU" in w.artists["suptitle"].get_text()


def test_init_explorer_with_a_stub_says_what_to_implement():
    w = InitExplorer(inits={"Xavier": xavier_init, "He": he_stub}, width=32, batch=20, figure_backend="static",
                     **LAYERS)
    w.controls["init"].value = "He"
    assert w.state is None and "Implement" in w.status.value and "He" in w.status.value
    w.controls["init"].value = "Xavier"
    assert w.state is not None


def test_init_explorer_reports_a_broken_initializer():
    w = InitExplorer(inits={"He": he_wrong_shape}, width=16, batch=10, figure_backend="static", **LAYERS)
    w.controls["init"].value = "He"
    assert w.state is None and "ValueError" in w.status.value


# --------------------------------------------------------------------------- regularization lab


def test_train_curves_shapes_and_gap(toy_data):
    r = train_curves(TinyNet, toy_data, **FAST)
    assert r["train"].shape == r["val"].shape == (4,)
    assert r["loss"].shape == (4 * 3,)  # 60 samples in batches of 20
    assert 0 <= r["final_val"] <= 1 and r["stopped"] is None
    np.testing.assert_allclose(r["gap"], np.mean(r["train"][-4:] - r["val"][-4:]))


def test_train_curves_is_reproducible_and_leaves_numpy_alone(toy_data):
    np.random.seed(123)
    before = np.random.rand()
    np.random.seed(123)
    a = train_curves(TinyNet, toy_data, reg=0.1, **FAST)
    after = np.random.rand()
    b = train_curves(TinyNet, toy_data, reg=0.1, **FAST)
    assert before == after  # np.random's state was restored
    np.testing.assert_array_equal(a["loss"], b["loss"])
    c = train_curves(TinyNet, toy_data, reg=3.0, **FAST)
    assert not np.array_equal(a["loss"], c["loss"])


def test_lab_caches_runs_and_shows_baseline_beside_the_choice(toy_data):
    lab = RegularizationLab(TinyNet, toy_data, precompute=True, figure_backend="static", **FAST)
    assert len(lab.cache) == 2 * len(KEEP_CHOICES) * len(REG_CHOICES) == len(lab.configs())
    assert lab.state["config"] == (False, KEEP_CHOICES[-1], REG_CHOICES[0])
    cached = dict(lab.cache)
    lab.controls["reg"].value = REG_CHOICES[-1]
    lab.controls["batchnorm"].value = True
    assert lab.state["config"] == (True, KEEP_CHOICES[-1], REG_CHOICES[-1])
    assert lab.state["chosen"] is cached[lab.state["config"]]  # no retraining
    assert lab.state["baseline"] is cached[RegularizationLab.BASELINE]
    left, right = lab.artists["panels"]
    np.testing.assert_allclose(right["val"].get_ydata(), lab.state["chosen"]["val"])
    np.testing.assert_allclose(left["train"].get_ydata(), lab.state["baseline"]["train"])
    assert left["ax"].get_ylim() == right["ax"].get_ylim()
    assert "no regularization" in left["title"].get_text()
    assert f"L2 {REG_CHOICES[-1]:g}" in right["title"].get_text()
    assert "Gap" in lab.status.value


def test_lab_trains_lazily_without_precompute(toy_data):
    lab = RegularizationLab(TinyNet, toy_data, precompute=False, figure_backend="static", **FAST)
    assert len(lab.cache) == 2  # the baseline and the shown configuration
    lab.controls["keep"].value = KEEP_CHOICES[1]
    assert len(lab.cache) == 3


def test_lab_with_a_stub_network_explains(toy_data):
    lab = RegularizationLab(StubNet, toy_data, figure_backend="static", **FAST)
    assert lab.state is None and "Implement FullyConnectedNet" in lab.status.value
    broken = RegularizationLab(BrokenNet, toy_data, precompute=False, figure_backend="static", **FAST)
    assert broken.state is None and "ValueError" in broken.status.value


def test_describe():
    assert describe((False, 1.0, 0.0)) == "no regularization"
    assert describe((True, 0.5, 0.01)) == "batch norm, dropout keep 0.5, L2 0.01"
