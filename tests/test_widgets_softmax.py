"""The 01_softmax widgets, driven headless with "student" functions defined here.

coursekit ships no softmax: a correct implementation written in this file plays
the student, and broken ones (no max shift, wrong axis, unnormalised, stubs)
check that the widgets say what is wrong instead of crashing.
"""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from coursekit.plots import simplex_xy  # noqa: E402
from coursekit.widgets.simplex import (SimplexExplorer, SoftmaxOutputError,  # noqa: E402
                                       simplex_state)
from coursekit.widgets.soft_hinge import (MATCHES, NOT_IMPLEMENTED,  # noqa: E402
                                          SoftHingeExplorer, competitor_logits,
                                          soft_hinge_curves)

# --------------------------------------------------------------------------- "students"


def softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_loss(x, y):
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(N), y].mean()
    dx = np.exp(log_p)
    dx[np.arange(N), y] -= 1
    return loss, dx / N


def softmax_loss_no_shift(x, y):
    """exp(x) without subtracting the max: nan once a logit passes ~709."""
    N = x.shape[0]
    e = np.exp(x)
    p = e / e.sum(axis=1, keepdims=True)
    return -np.log(p[np.arange(N), y]).mean(), None


def softmax_loss_wrong_axis(x, y):
    """Normalises over the batch (axis 0) instead of the classes."""
    N = x.shape[0]
    e = np.exp(x - x.max())
    p = e / e.sum(axis=0, keepdims=True)
    return -np.log(p[np.arange(N), y]).mean(), None


def softmax_unnormalised(z):
    return np.exp(np.asarray(z, dtype=float))


def softmax_stub(z):
    raise NotImplementedError


def softmax_loss_stub(x, y):
    raise NotImplementedError


def softmax_typo(z):
    return np.exp(z) / np.sum(np.exp(z), axis=2)  # AxisError on a (3,) input


# --------------------------------------------------------------------------- simplex_state


def test_simplex_state_values():
    s = simplex_state([2.0, 1.0, 0.1], 1.0, softmax)
    e = np.exp([2.0, 1.0, 0.1])
    np.testing.assert_allclose(s["p"], e / e.sum())
    assert s["p"].shape == (3,)
    np.testing.assert_allclose(s["p"].sum(), 1.0)
    assert s["region"] == 0 == int(np.argmax(s["p"]))
    np.testing.assert_allclose(s["xy"], simplex_xy(s["p"]))
    np.testing.assert_allclose(s["entropy"], -np.sum(s["p"] * np.log(s["p"])))
    assert "class 0" in s["caption"] and "T = 1.00" in s["caption"]


@pytest.mark.parametrize("z", [[0.0, 3.0, -1.0], [-5.0, -5.0, 4.0], [1.0, 1.0, 1.0]])
def test_simplex_state_region_is_argmax(z):
    s = simplex_state(z, 0.7, softmax)
    assert s["region"] == int(np.argmax(z))
    np.testing.assert_allclose(s["p"].sum(), 1.0)


def test_simplex_state_temperature_and_shift_invariance():
    z = np.array([2.0, 1.0, 0.1])
    hot = simplex_state(z, 10.0, softmax)
    base = simplex_state(z, 1.0, softmax)
    cold = simplex_state(z, 0.1, softmax)
    assert hot["entropy"] > base["entropy"] > cold["entropy"]
    centroid = simplex_xy(np.full(3, 1 / 3))
    assert np.linalg.norm(hot["xy"] - centroid) < np.linalg.norm(base["xy"] - centroid)
    assert cold["p"][0] > 0.9999  # T -> 0: the winning corner
    np.testing.assert_allclose(simplex_state(z + 7.0, 1.0, softmax)["p"], base["p"])
    np.testing.assert_allclose(simplex_state([3, 3, 3], 1.0, softmax)["xy"], centroid)
    np.testing.assert_allclose(simplex_state(z, 1.0, softmax)["entropy"], base["entropy"])
    np.testing.assert_allclose(simplex_state([0, 0, 0], 1.0, softmax)["entropy"], np.log(3))


def test_simplex_state_validates_inputs_and_student_output():
    with pytest.raises(ValueError, match="temperature"):
        simplex_state([1, 2, 3], 0.0, softmax)
    with pytest.raises(ValueError, match="shape"):
        simplex_state([1, 2], 1.0, softmax)
    with pytest.raises(ValueError, match="finite"):
        simplex_state([1, np.nan, 3], 1.0, softmax)
    with pytest.raises(TypeError):
        simplex_state([1, 2, 3], 1.0, "softmax")
    with pytest.raises(SoftmaxOutputError, match="sum"):
        simplex_state([1, 2, 3], 1.0, softmax_unnormalised)
    with pytest.raises(SoftmaxOutputError, match="None"):
        simplex_state([1, 2, 3], 1.0, lambda z: None)
    with pytest.raises(SoftmaxOutputError, match="shape"):
        simplex_state([1, 2, 3], 1.0, lambda z: softmax(z)[None])
    with pytest.raises(NotImplementedError):
        simplex_state([1, 2, 3], 1.0, softmax_stub)


# --------------------------------------------------------------------------- SimplexExplorer


def _point_xy(explorer):
    x, y = explorer.artists["point"].get_data()
    return np.array([x[0], y[0]])


def test_simplex_explorer_builds_and_shows_initial_state():
    ex = SimplexExplorer(softmax)
    assert isinstance(ex, ipywidgets.VBox)
    assert set(ex.sliders) == {"z0", "z1", "z2", "temperature"}
    assert ex.canvas in ex.children
    np.testing.assert_allclose(ex.state["p"], softmax(np.array([2.0, 1.0, 0.1])))
    np.testing.assert_allclose(_point_xy(ex), ex.state["xy"])
    assert ex.status.value == ""


def test_simplex_explorer_slider_moves_point_bars_and_caption():
    ex = SimplexExplorer(softmax)
    before = _point_xy(ex)
    ex.sliders["z1"].value = 5
    after = _point_xy(ex)
    expected = simplex_state([2.0, 5.0, 0.1], 1.0, softmax)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, expected["xy"])
    assert ex.state["region"] == 1
    heights = [bar.get_height() for bar in ex.artists["bars"]]
    np.testing.assert_allclose(heights, expected["p"])
    assert ex.artists["caption"].get_text() == expected["caption"]
    assert ex.artists["bar_labels"][1].get_text() == f"{expected['p'][1]:.3f}"
    alphas = [patch.get_alpha() for patch in ex.artists["regions"]]
    assert alphas[1] > alphas[0] and alphas[1] > alphas[2]  # the winning region is highlighted
    trail_x, _ = ex.artists["trail"].get_data()
    assert len(trail_x) == 2

    ex.sliders["temperature"].value = 10.0
    np.testing.assert_allclose(_point_xy(ex), simplex_state([2.0, 5.0, 0.1], 10.0, softmax)["xy"])
    assert "T = 10.00" in ex.artists["caption"].get_text()


def test_simplex_explorer_stub_shows_friendly_message_and_does_not_raise():
    ex = SimplexExplorer(softmax_stub)  # must not raise
    assert ex.state is None
    assert "implement <code>softmax</code> first" in ex.status.value.lower()
    assert ex.artists["caption"].get_text() == "implement softmax first"
    assert not ex.artists["point"].get_visible()
    ex.sliders["z0"].value = -3  # still fine
    assert ex.state is None
    # once the student fixes softmax, the widget recovers
    ex.softmax = softmax
    ex.sliders["z0"].value = -2
    assert ex.state is not None and ex.status.value == ""
    assert ex.artists["point"].get_visible()


def test_simplex_explorer_reports_bad_softmax_output():
    ex = SimplexExplorer(softmax_unnormalised)
    assert ex.state is None
    assert "sums to" in ex.status.value
    assert [bar.get_height() for bar in ex.artists["bars"]] == [0.0, 0.0, 0.0]


def test_simplex_explorer_reports_student_exceptions(capsys):
    ex = SimplexExplorer(softmax_typo)
    assert ex.state is None
    assert "raised" in ex.status.value and "AxisError" in ex.status.value
    assert "Traceback" in capsys.readouterr().err  # (in a notebook: in ex.output)


def test_simplex_explorer_static_backend_redraws_png():
    ex = SimplexExplorer(softmax, figure_backend="static")
    assert isinstance(ex.canvas, ipywidgets.Image)
    assert ex.sliders["z0"].continuous_update is False
    first = ex.canvas.value
    assert first[:4] == b"\x89PNG"
    ex.sliders["z2"].value = 4.0
    assert ex.canvas.value != first


def test_simplex_explorer_rejects_non_callable():
    with pytest.raises(TypeError, match="softmax"):
        SimplexExplorer(None)


# --------------------------------------------------------------------------- soft hinge curves


def _direct_cross_entropy(m, K, spread):
    """-log p_0 from the explicit logit rows, with a max-shifted log-sum-exp."""
    out = []
    for mi in m:
        z = np.concatenate([[mi], competitor_logits(K, spread)])
        zmax = z.max()
        out.append(-(z[0] - zmax - np.log(np.sum(np.exp(z - zmax)))))
    return np.array(out)


@pytest.mark.parametrize("K, spread", [(5, 0.0), (2, 0.0), (2, 3.0), (10, 2.5), (3, 0.7)])
def test_soft_hinge_analytic_curve_equals_direct_computation(K, spread):
    m = np.linspace(-8, 8, 101)
    c = soft_hinge_curves(m, K, spread)
    np.testing.assert_allclose(c["cross_entropy"], _direct_cross_entropy(m, K, spread),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c["hinge"], np.maximum(0, 1 - m))
    assert c["logits"].shape == (101, K)
    np.testing.assert_allclose(c["p_correct"], np.exp(-c["cross_entropy"]))
    assert c["student"] is None and c["max_diff"] is None


def test_soft_hinge_k5_is_log_one_plus_four_exp():
    m = np.linspace(-10, 10, 21)
    c = soft_hinge_curves(m, 5, 0.0)
    np.testing.assert_allclose(c["cross_entropy"], np.log1p(4 * np.exp(-m)), rtol=1e-12)
    np.testing.assert_allclose(c["log_s"], np.log(4))
    np.testing.assert_allclose(c["zero_one"], (m < 0).astype(float))
    # a soft hinge: slope -1 far on the wrong side, -> 0 far on the right side
    big = soft_hinge_curves(np.array([-1000.0, -999.0, 1000.0]), 5, 0.0)["cross_entropy"]
    np.testing.assert_allclose(big[0] - big[1], 1.0)
    assert 0 <= big[2] < 1e-300 or big[2] == 0.0


def test_competitor_logits_spread():
    np.testing.assert_allclose(competitor_logits(5, 2.0), [-2, -2 / 3, 2 / 3, 2])
    np.testing.assert_allclose(competitor_logits(2, 2.0), [0.0])
    np.testing.assert_allclose(competitor_logits(4, 0.0), [0, 0, 0])
    with pytest.raises(ValueError):
        competitor_logits(1)
    c = soft_hinge_curves(np.array([-3.0, 1.9, 2.1]), 5, 2.0)
    assert c["tie_margin"] == 2.0
    np.testing.assert_allclose(c["zero_one"], [1, 1, 0])


def test_soft_hinge_student_curve_matches_correct_implementation():
    m = np.linspace(-6, 6, 200)
    for K, spread in [(5, 0.0), (10, 3.0), (2, 0.0)]:
        c = soft_hinge_curves(m, K, spread, softmax_loss)
        assert c["student"].shape == (200,)
        assert c["max_diff"] < 1e-10
        assert c["matches"] is True
        assert c["verdict"] == MATCHES == "your softmax_loss matches the analytic curve"
    # also stable at huge margins
    assert soft_hinge_curves(np.array([-1e3, 1e3]), 5, 0.0, softmax_loss)["matches"]


def test_soft_hinge_no_max_shift_overflows_to_nan():
    m = np.linspace(-6, 800, 50)
    c = soft_hinge_curves(m, 5, 0.0, softmax_loss_no_shift)  # warnings recorded, not raised
    assert c["max_diff"] == np.inf
    assert not c["matches"]
    assert "differs by up to inf" in c["verdict"]
    assert "nan" in c["verdict"] and "max logit" in c["verdict"]
    assert any("overflow" in w for w in c["warnings"])
    # on a tame range it is right: the curve only fails at large logits
    assert soft_hinge_curves(np.linspace(-6, 6, 50), 5, 0.0, softmax_loss_no_shift)["matches"]


def test_soft_hinge_wrong_axis_is_detected():
    c = soft_hinge_curves(np.linspace(-6, 6, 200), 5, 0.0, softmax_loss_wrong_axis)
    assert c["max_diff"] > 1.0
    assert not c["matches"]
    assert c["verdict"].startswith("your softmax_loss differs by up to")
    assert "at margin -6" in c["verdict"]


def test_soft_hinge_stub_and_missing_loss():
    c = soft_hinge_curves(np.linspace(-1, 1, 5), 5, 0.0, softmax_loss_stub)
    assert c["verdict"] == NOT_IMPLEMENTED == "not implemented yet"
    assert c["student"] is None and c["max_diff"] is None
    assert "no loss_fn" in soft_hinge_curves(np.zeros(3), 5)["verdict"]


def test_soft_hinge_bad_return_type_is_explained():
    with pytest.raises(TypeError, match=r"\(loss, dx\)"):
        soft_hinge_curves(np.zeros(3), 5, 0.0, lambda x, y: 1.0)


# --------------------------------------------------------------------------- SoftHingeExplorer


def test_soft_hinge_explorer_without_student():
    ex = SoftHingeExplorer()
    assert isinstance(ex, ipywidgets.VBox)
    assert set(ex.sliders) == {"K", "spread", "margin"}
    assert not ex.artists["student"].get_visible()
    np.testing.assert_allclose(ex.artists["cross_entropy"].get_ydata(),
                               np.log1p(4 * np.exp(-ex.margins)))


def test_soft_hinge_explorer_student_curve_and_k_change():
    ex = SoftHingeExplorer(softmax_loss, num_classes=5)
    assert ex.artists["student"].get_visible()
    assert ex.artists["student"].get_linestyle() == "--"
    np.testing.assert_allclose(ex.artists["student"].get_ydata(),
                               ex.artists["cross_entropy"].get_ydata(), atol=1e-10)
    assert "matches" in ex.status.value

    ex.sliders["K"].value = 8
    expected = np.logaddexp(0.0, np.log(7) - ex.margins)
    np.testing.assert_allclose(ex.artists["cross_entropy"].get_ydata(), expected, rtol=1e-12)
    np.testing.assert_allclose(ex.artists["student"].get_ydata(), expected, atol=1e-10)
    assert ex.state["num_classes"] == 8
    assert "K = 8" in ex.artists["title"].get_text()
    assert ex.artists["ax"].get_ylim()[1] >= expected.max()

    ex.sliders["spread"].value = 2.0
    np.testing.assert_allclose(ex.artists["cross_entropy"].get_ydata(),
                               _direct_cross_entropy(ex.margins, 8, 2.0), rtol=1e-10)
    np.testing.assert_allclose(ex.artists["zero_one"].get_ydata(),
                               (ex.margins < 2.0).astype(float))


def test_soft_hinge_explorer_margin_marker():
    ex = SoftHingeExplorer(softmax_loss)
    ex.sliders["margin"].value = -2.0
    ce = np.log1p(4 * np.exp(2.0))
    np.testing.assert_allclose(ex.artists["marker_line"].get_xdata(), [-2.0, -2.0])
    x, y = ex.artists["marker_points"].get_data()
    np.testing.assert_allclose([x[0], y[0]], [-2.0, ce])
    px, py = ex.artists["p_marker"].get_data()
    np.testing.assert_allclose([px[0], py[0]], [np.exp(-ce), ce])
    marker = ex.state["marker"]
    assert marker["hinge"] == 3.0 and marker["zero_one"] == 1.0
    np.testing.assert_allclose(marker["student"], ce, rtol=1e-12)
    assert f"{ce:7.3f}" in ex.artists["info"].get_text()


def test_soft_hinge_explorer_stub_does_not_raise():
    ex = SoftHingeExplorer(softmax_loss_stub)
    assert "Implement <code>softmax_loss</code> first" in ex.status.value
    assert not ex.artists["student"].get_visible()
    legend = [t.get_text() for t in ex.artists["legend"].get_texts()]
    assert "your softmax_loss: not implemented yet" in legend
    ex.sliders["K"].value = 3  # still fine
    ex.sliders["margin"].value = 0.5
    assert ex.state["verdict"] == NOT_IMPLEMENTED


def test_soft_hinge_explorer_flags_unstable_and_wrong_students(capsys):
    ex = SoftHingeExplorer(softmax_loss_no_shift)
    assert "extreme margins" in ex.status.value and "nan" in ex.status.value
    assert ex.state["matches"] and not ex.state["probe"]["matches"]

    ex = SoftHingeExplorer(softmax_loss_wrong_axis)
    assert "differs by up to" in ex.status.value
    assert ex.artists["student"].get_visible()

    ex = SoftHingeExplorer(lambda x, y: 1.0)
    assert "raised TypeError" in ex.status.value
    assert not ex.artists["student"].get_visible()
    assert "Traceback" in capsys.readouterr().err


# --------------------------------------------------------------------------- in a real kernel


@pytest.mark.slow
def test_widgets_in_a_kernel_with_inline_backend():
    """In ipykernel with %matplotlib inline: one widget view per widget, no inline PNG
    duplicate, the backend untouched, and student errors kept out of the cell's stderr."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        "%matplotlib inline\nimport matplotlib, matplotlib.pyplot as plt\nimport numpy as np\n"
        "def softmax(z):\n    e = np.exp(z - z.max(-1, keepdims=True))\n"
        "    return e / e.sum(-1, keepdims=True)\n"
        "def stub(*args):\n    raise NotImplementedError",
        "from coursekit.widgets.simplex import SimplexExplorer\nex = SimplexExplorer(softmax)\nex",
        "ex.sliders['z1'].value = 4\nprint(matplotlib.get_backend(), plt.get_fignums(), "
        "ex.state['region'])",
        "SimplexExplorer(stub)",
        "from coursekit.widgets.soft_hinge import SoftHingeExplorer\n"
        "SoftHingeExplorer(lambda x, y: 1.0)",
    )]
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    for i in (1, 3, 4):
        outputs = nb.cells[i].outputs
        assert len(outputs) == 1, outputs
        assert "application/vnd.jupyter.widget-view+json" in outputs[0]["data"]
        assert "image/png" not in outputs[0]["data"]
    backend, rest = nb.cells[2].outputs[0]["text"].strip().split(" ", 1)
    # matplotlib >= 3.9 names the inline backend by its module
    assert backend in ("inline", "module://matplotlib_inline.backend_inline") and rest == "[] 1"
    for cell in nb.cells:
        assert not [o for o in cell.outputs if o.get("name") == "stderr"], cell.outputs


def test_widget_figures_fit_the_jupyterlab_output_area():
    """At most 9 inches wide (about 860 px at the default 96 dpi of the output area)."""
    for widget in (SimplexExplorer(softmax), SoftHingeExplorer(softmax_loss, num_classes=5)):
        assert widget.fig.get_size_inches()[0] <= 9.0, type(widget).__name__
