"""coursekit.plots: interactive figures (headless), the simplex, static plot helpers."""

import subprocess
import sys
import textwrap
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.path import Path  # noqa: E402

from coursekit import plots  # noqa: E402
from coursekit.plots import (SIMPLEX_CORNERS, draw_simplex, interactive_figure,  # noqa: E402
                             plot_decision_boundary, plot_history, refresh,
                             show_weight_images, simplex_xy)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- interactive


def test_interactive_figure_is_an_ipympl_canvas_widget():
    Canvas, _ = plots._ipympl_classes()  # (a plain `import ipympl` would switch backends)
    fig, widget = interactive_figure(figsize=(4, 3))
    assert isinstance(fig, Figure)
    assert isinstance(widget, Canvas) and isinstance(widget, ipywidgets.DOMWidget)
    assert fig.canvas is widget
    assert widget.manager is not None  # front-end messages need a manager
    assert widget.toolbar_visible is False
    assert widget.header_visible is False and widget.footer_visible is False
    assert tuple(fig.get_size_inches()) == (4, 3)
    ax = fig.add_subplot()
    (line,) = ax.plot([0, 1], [0, 1])
    line.set_ydata([1, 0])
    refresh(fig)  # no front-end: must be a cheap no-op, not an error
    fig.canvas.draw()  # Agg rendering still works (what the front-end asks for)
    assert matplotlib.get_backend().lower() == "agg"


def test_interactive_figure_is_invisible_to_pyplot():
    before = plt.get_fignums()
    interactive_figure()
    assert plt.get_fignums() == before  # so %matplotlib inline will not show it again


def test_interactive_figure_keeps_the_kernel_backend():
    # `import ipympl` switches matplotlib's backend as a side effect; a fresh
    # interpreter checks that interactive_figure prevents it (and closes nothing).
    code = textwrap.dedent("""
        import matplotlib
        matplotlib.use("agg")
        import matplotlib.pyplot as plt
        fig = plt.figure()
        from coursekit.plots import interactive_figure
        f, w = interactive_figure()
        assert type(w).__name__ == "Canvas", type(w)
        assert matplotlib.get_backend().lower() == "agg", matplotlib.get_backend()
        assert plt.fignum_exists(fig.number)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_static_fallback_renders_png_on_refresh():
    fig, widget = interactive_figure(figsize=(3, 2), backend="static", dpi=50)
    assert isinstance(widget, ipywidgets.Image)
    assert not plots.is_live(widget)
    ax = fig.add_subplot()
    (line,) = ax.plot([0, 1], [0, 1])
    refresh(fig)
    first = widget.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    line.set_ydata([1, 0])
    fig.canvas.draw_idle()
    assert widget.value != first


def test_static_fallback_when_ipympl_is_missing(monkeypatch):
    def broken():
        raise ImportError("no ipympl")

    monkeypatch.setattr(plots, "_ipympl_classes", broken)
    fig, widget = interactive_figure()
    assert isinstance(widget, ipywidgets.Image)
    with pytest.raises(ImportError):
        interactive_figure(backend="ipympl")
    with pytest.raises(ValueError, match="backend"):
        interactive_figure(backend="qt")


# --------------------------------------------------------------------------- simplex


def test_simplex_xy_corners_and_centroid():
    np.testing.assert_allclose(simplex_xy(np.eye(3)), SIMPLEX_CORNERS)
    np.testing.assert_allclose(simplex_xy([1, 0, 0]), [0, 0])
    np.testing.assert_allclose(simplex_xy([0, 1, 0]), [1, 0])
    np.testing.assert_allclose(simplex_xy([0, 0, 1]), [0.5, np.sqrt(3) / 2])
    np.testing.assert_allclose(simplex_xy(np.full(3, 1 / 3)), [0.5, np.sqrt(3) / 6])
    # edges are equal: the triangle is equilateral
    d = [np.linalg.norm(SIMPLEX_CORNERS[i] - SIMPLEX_CORNERS[j]) for i, j in ((0, 1), (1, 2), (0, 2))]
    np.testing.assert_allclose(d, 1.0)


def test_simplex_xy_batches_and_rejects_bad_shapes():
    p = np.random.default_rng(0).dirichlet(np.ones(3), size=(4, 5))
    assert simplex_xy(p).shape == (4, 5, 2)
    with pytest.raises(ValueError, match="length 3"):
        simplex_xy(np.ones(4) / 4)


def test_draw_simplex_regions_are_the_argmax_regions():
    fig, ax = plt.subplots()
    assert draw_simplex(ax, labels=("a", "b", "c")) is ax
    regions = ax.simplex_regions
    assert len(regions) == 3
    p = np.random.default_rng(1).dirichlet(np.ones(3), size=2000)
    xy = simplex_xy(p)
    winner = p.argmax(axis=1)
    for c, patch in enumerate(regions):
        inside = Path(patch.get_xy()).contains_points(xy)
        # points well inside a region (clear winner) are in that region's polygon
        clear = np.sort(p, axis=1)[:, -1] - np.sort(p, axis=1)[:, -2] > 1e-3
        assert np.all(inside[clear] == (winner[clear] == c))
    texts = " ".join(t.get_text() for t in ax.texts)
    for label in ("a", "b", "c", "1/3"):
        assert label in texts


# --------------------------------------------------------------------------- static plots


def test_plot_decision_boundary():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    calls = []

    def predict(G):
        calls.append(G.shape)
        return (G[:, 0] > 0).astype(int)

    fig, ax = plt.subplots()
    assert plot_decision_boundary(ax, predict, X, y, resolution=50) is ax
    assert calls == [(2500, 2)]
    assert ax.collections  # the filled contour and the points
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot_decision_boundary(ax, predict, rng.normal(size=(5, 3)), y[:5])


def test_show_weight_images_drops_bias_row():
    W = np.random.default_rng(0).normal(size=(65, 10))
    fig, axes = show_weight_images(W, class_names=[f"digit {c}" for c in range(10)])
    assert isinstance(fig, Figure) and len(axes) == 10
    img = axes[3].images[0].get_array()
    assert img.shape == (8, 8)
    np.testing.assert_allclose(img, W[:64, 3].reshape(8, 8))
    assert axes[3].get_title() == "digit 3"
    with pytest.raises(ValueError, match="rows"):
        show_weight_images(np.zeros((63, 10)))


def test_show_weight_images_into_given_axes_and_colour():
    fig, grid = plt.subplots(2, 2)
    W = np.random.default_rng(0).normal(size=(4 * 4 * 3, 3))
    fig2, axes = show_weight_images(W, image_shape=(4, 4, 3), ax_grid=grid)
    assert fig2 is fig and len(axes) == 3
    assert axes[0].images[0].get_array().shape == (4, 4, 3)
    assert not grid[1, 1].axison  # unused axes are blanked


def test_plot_history_from_dict_and_object():
    loss = np.abs(np.random.default_rng(0).normal(size=200)) + np.linspace(2, 0.1, 200)
    hist = {"loss_history": loss, "train_acc_history": [0.3, 0.6, 0.8],
            "val_acc_history": [0.25, 0.5, 0.7]}
    fig, axes = plot_history(hist, smooth=10, title="run 1")
    assert isinstance(fig, Figure) and len(axes) == 2
    raw, smooth = axes[0].lines[:2]
    np.testing.assert_allclose(raw.get_ydata(), loss)
    np.testing.assert_allclose(smooth.get_ydata()[9], loss[:10].mean())
    np.testing.assert_allclose(smooth.get_ydata()[-1], loss[-10:].mean())
    np.testing.assert_allclose(smooth.get_ydata()[0], loss[0])
    train, val = axes[1].lines
    np.testing.assert_allclose(train.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(val.get_ydata(), [0.25, 0.5, 0.7])

    solver = SimpleNamespace(loss_history=list(loss[:50]), train_acc_history=[],
                             val_acc_history=[])
    fig, axes = plot_history(solver, logy=True)
    assert axes[0].get_yscale() == "log"
    assert "no accuracy recorded" in [t.get_text() for t in axes[1].texts]
