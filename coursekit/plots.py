"""Plotting helpers shared by the notebooks.

Two kinds of figures live here:

- **Interactive figures** for widgets: :func:`interactive_figure` returns a
  ``(fig, widget)`` pair whose canvas is an ipympl ``Canvas`` widget, built
  without touching the kernel's matplotlib backend, so a notebook running
  ``%matplotlib inline`` keeps doing so. Widgets update artists in place and
  call :func:`refresh` (``fig.canvas.draw_idle()``), whichever canvas is behind.
- **Static plots** (:func:`plot_decision_boundary`, :func:`show_weight_images`,
  :func:`plot_history`, :func:`draw_simplex`): they draw into axes you pass, or
  make a new pyplot figure so the notebook shows it as usual. None of them calls
  ``plt.show()``.

Class colours are shared by every picture: ``CLASS_COLORS[c]`` is class ``c``.
"""

from __future__ import annotations

import io
import itertools
import sys
import warnings

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

__all__ = [
    "CLASS_COLORS",
    "SIMPLEX_CORNERS",
    "interactive_figure",
    "refresh",
    "is_live",
    "StaticCanvas",
    "simplex_xy",
    "draw_simplex",
    "plot_decision_boundary",
    "show_weight_images",
    "plot_history",
]

#: One colour per class (matplotlib's tab10), used by every plot in the kit.
CLASS_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)

#: Corners of the 2-simplex drawn as an equilateral triangle, shape (3, 2):
#: class 0 bottom left, class 1 bottom right, class 2 on top.
SIMPLEX_CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])


# --------------------------------------------------------------------------- #
# Interactive figures
# --------------------------------------------------------------------------- #

_figure_numbers = itertools.count(10_000)


def _ipympl_classes():
    """Import ipympl's ``Canvas`` and ``FigureManager`` without switching backends.

    ``import ipympl`` calls ``matplotlib.use("module://ipympl.backend_nbagg")``
    when matplotlib is already imported, which would switch the whole kernel to
    the widget backend (and, with pyplot imported, close open figures). We only
    want the two classes, so ``matplotlib.use`` is a no-op during the import.
    """
    module = sys.modules.get("ipympl.backend_nbagg")
    if module is None:
        import matplotlib

        real_use = matplotlib.use
        matplotlib.use = lambda *args, **kwargs: None
        try:
            import ipympl.backend_nbagg as module
        finally:
            matplotlib.use = real_use
    return module.Canvas, module.FigureManager


class StaticCanvas(FigureCanvasAgg):
    """Fallback canvas: every ``draw_idle()`` re-renders a PNG into an ``ipywidgets.Image``.

    Used when ipympl is missing (or ``backend="static"``). Slower than ipympl
    (a full PNG per update), so widgets use ``continuous_update=False`` with it.
    An ``Image`` widget rather than an ``Output`` re-displaying the figure: the
    picture is swapped in place, without flicker, and it works with no kernel.
    """

    def __init__(self, figure, image_widget):
        super().__init__(figure)
        self.widget = image_widget

    def draw_idle(self, *args, **kwargs):
        buf = io.BytesIO()
        self.print_png(buf)
        self.widget.value = buf.getvalue()


def interactive_figure(figsize=(8.0, 3.6), *, backend="auto", **kw):
    """A matplotlib figure living inside a widget, for use in widget layouts.

    Parameters
    ----------
    figsize : (float, float)
        Size in inches.
    backend : {"auto", "ipympl", "static"}
        ``"auto"`` uses ipympl when it can be imported, else the static fallback;
        ``"ipympl"`` requires it; ``"static"`` forces the PNG fallback.
    **kw
        Passed to :class:`matplotlib.figure.Figure` (``dpi``, ``facecolor``, ...).

    Returns
    -------
    fig : matplotlib.figure.Figure
        Draw on it with ``fig.add_subplot`` / ``fig.add_axes``; after changing
        artists call :func:`refresh` (``fig.canvas.draw_idle()``).
    widget : ipywidgets.DOMWidget
        The ipympl ``Canvas`` (toolbar, header and footer hidden) or an
        ``ipywidgets.Image``; put it in a ``VBox``/``HBox``.

    Notes
    -----
    The figure is a plain ``Figure``, not a pyplot figure: pyplot never sees it,
    so ``%matplotlib inline`` does not also print it below the cell, and the
    kernel's backend is left alone. In JupyterLab the ipympl front-end asks the
    kernel to draw on every ``draw_idle`` and receives only the changed pixels.
    With no front-end (tests, ``nbconvert --execute``) ``draw_idle`` sends a
    message nobody reads and costs next to nothing.
    """
    if backend not in ("auto", "ipympl", "static"):
        raise ValueError(f"backend must be 'auto', 'ipympl' or 'static', not {backend!r}")
    fig = Figure(figsize=figsize, **kw)
    if backend != "static":
        try:
            Canvas, FigureManager = _ipympl_classes()
        except ImportError:
            if backend == "ipympl":
                raise
        else:
            canvas = Canvas(fig)  # also sets fig.canvas
            with warnings.catch_warnings():  # ipympl's Toolbar trips a traitlets deprecation
                warnings.simplefilter("ignore", DeprecationWarning)
                FigureManager(canvas, next(_figure_numbers))  # not registered with pyplot
            canvas.toolbar_visible = False
            canvas.header_visible = False
            canvas.footer_visible = False
            canvas.resizable = False
            return fig, canvas

    import ipywidgets

    image = ipywidgets.Image(format="png")
    StaticCanvas(fig, image)  # sets fig.canvas
    return fig, image


def refresh(fig):
    """Ask the figure's canvas to redraw: one call for ipympl, static or Agg canvases."""
    fig.canvas.draw_idle()


def is_live(widget):
    """True when ``widget`` (from :func:`interactive_figure`) redraws cheaply (ipympl)."""
    import ipywidgets

    return not isinstance(widget, ipywidgets.Image)


# --------------------------------------------------------------------------- #
# The softmax simplex
# --------------------------------------------------------------------------- #


def simplex_xy(p):
    """Barycentric map of probability vectors to points of an equilateral triangle.

    Parameters
    ----------
    p : array_like, shape (..., 3)
        Barycentric coordinates (probabilities; used as given, not renormalised).

    Returns
    -------
    xy : ndarray, shape (..., 2)
        ``p @ SIMPLEX_CORNERS``: ``(1, 0, 0) -> (0, 0)``, ``(0, 1, 0) -> (1, 0)``,
        ``(0, 0, 1) -> (0.5, sqrt(3)/2)``, the centroid ``(1/3, 1/3, 1/3)`` ->
        ``(0.5, sqrt(3)/6)``.
    """
    p = np.asarray(p, dtype=float)
    if p.ndim == 0 or p.shape[-1] != 3:
        raise ValueError(f"simplex_xy needs vectors of length 3 on the last axis, got shape {p.shape}")
    return p @ SIMPLEX_CORNERS


def _region_polygon(c):
    """Vertices (4, 2) of the decision region P_c = {p : p_c >= p_j for all j}."""
    V = SIMPLEX_CORNERS
    j, k = [i for i in range(3) if i != c]
    centroid = V.mean(axis=0)
    return np.array([V[c], (V[c] + V[j]) / 2, centroid, (V[c] + V[k]) / 2])


def draw_simplex(ax, labels=("class 0", "class 1", "class 2"), colors=None, alpha=0.22,
                 annotate=True):
    """Draw the 2-simplex with its three decision regions.

    The region of class ``c`` is ``P_c = {p : p_c >= p_j for j != c}``: a convex
    quadrilateral with corners at vertex ``c``, the two edge midpoints next to it
    and the centroid ``(1/3, 1/3, 1/3)``, where all three boundaries meet.

    Parameters
    ----------
    ax : matplotlib Axes
    labels : sequence of 3 str
        Corner labels; corner ``c`` is the one-hot vector of class ``c``.
    colors : sequence of 3 colours, optional
        Region colours (default ``CLASS_COLORS[:3]``).
    alpha : float
        Opacity of the region fills.
    annotate : bool
        Also mark the centroid and the edge midpoints with their coordinates.

    Returns
    -------
    ax : the same Axes. ``ax.simplex_regions`` holds the three region patches
        (widgets change their alpha to highlight the winning class).
    """
    colors = CLASS_COLORS[:3] if colors is None else colors
    V = SIMPLEX_CORNERS
    centroid = V.mean(axis=0)
    regions = []
    for c in range(3):
        patch = Polygon(_region_polygon(c), closed=True, facecolor=colors[c], alpha=alpha,
                        edgecolor="none", zorder=0)
        ax.add_patch(patch)
        regions.append(patch)
    # decision boundaries: centroid -> edge midpoints
    for i, j in ((0, 1), (1, 2), (0, 2)):
        mid = (V[i] + V[j]) / 2
        ax.plot([centroid[0], mid[0]], [centroid[1], mid[1]], color="0.35", lw=1.0, ls="--",
                zorder=1)
    ax.add_patch(Polygon(V, closed=True, fill=False, edgecolor="0.15", lw=1.5, zorder=2))

    offsets = [(0.0, -0.05, "center", "top"), (0.0, -0.05, "center", "top"),
               (0.0, 0.04, "center", "bottom")]
    for c in range(3):
        dx, dy, ha, va = offsets[c]
        onehot = ["0", "0", "0"]
        onehot[c] = "1"
        ax.text(V[c, 0] + dx, V[c, 1] + dy, f"{labels[c]}\np = ({', '.join(onehot)})",
                ha=ha, va=va, fontsize=9, color=colors[c], fontweight="bold")
        inside = 0.55 * V[c] + 0.45 * centroid
        ax.text(inside[0], inside[1], f"$P_{c}$", ha="center", va="center", fontsize=12,
                color=colors[c], alpha=0.9, zorder=1)
    if annotate:
        ax.plot(*centroid, "o", color="0.25", ms=3, zorder=3)
        ax.text(centroid[0] + 0.02, centroid[1] - 0.03, "(1/3, 1/3, 1/3)", fontsize=7,
                color="0.3", ha="left", va="top")
        for i, j in ((0, 1), (1, 2), (0, 2)):
            mid = (V[i] + V[j]) / 2
            ax.plot(*mid, "o", color="0.25", ms=2.5, zorder=3)
    ax.set_xlim(-0.22, 1.22)
    ax.set_ylim(-0.2, V[2, 1] + 0.16)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.simplex_regions = regions
    return ax


# --------------------------------------------------------------------------- #
# Static plots
# --------------------------------------------------------------------------- #


def _new_figure(figsize, nrows=1, ncols=1, **kw):
    """A pyplot figure (so notebooks display it as usual) with a grid of axes."""
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kw)


def plot_decision_boundary(ax, predict, X, y, resolution=200, colors=None, alpha=0.3,
                           padding=0.1):
    """Decision regions of a 2-D classifier, with the data on top.

    Parameters
    ----------
    ax : matplotlib Axes
    predict : callable
        ``predict(G) -> labels``: ``G (P, 2)`` grid points, labels ``(P,)`` ints.
    X : ndarray, shape (N, 2)
    y : ndarray, shape (N,)
        Integer labels ``0..C-1``.
    resolution : int
        Grid points per axis (``resolution**2`` predictions).
    colors : sequence of colours, optional (default ``CLASS_COLORS``)
    alpha : float
        Opacity of the filled regions.
    padding : float
        Margin around the data, as a fraction of its range.

    Returns
    -------
    ax
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(int)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary needs 2-D points X (N, 2), got shape {X.shape}")
    colors = CLASS_COLORS if colors is None else colors
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = padding * np.maximum(hi - lo, 1e-9)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    Z = np.asarray(predict(grid)).astype(int).reshape(xx.shape)
    num_classes = int(max(y.max(initial=0), Z.max(initial=0))) + 1
    ax.contourf(xx, yy, Z, levels=np.arange(num_classes + 1) - 0.5,
                colors=[colors[c % len(colors)] for c in range(num_classes)], alpha=alpha)
    ax.scatter(X[:, 0], X[:, 1], c=[colors[c % len(colors)] for c in y], s=18,
               edgecolors="k", linewidths=0.5)
    ax.set_xlim(gx[0], gx[-1])
    ax.set_ylim(gy[0], gy[-1])
    return ax


def show_weight_images(W, image_shape=(8, 8), class_names=None, ax_grid=None, cmap="RdBu_r"):
    """Show each class's weights as an image: the linear classifier's templates.

    Parameters
    ----------
    W : ndarray, shape (D, C)
        Column ``c`` scores class ``c``. If ``D == prod(image_shape) + 1`` the
        last row is the bias (CS231n's bias trick) and is dropped.
    image_shape : tuple
        ``(H, W)`` for grey images (8x8 digits) or ``(H, W, 3)`` for colour.
    class_names : sequence of str, optional
        Titles; default ``"0", "1", ...``.
    ax_grid : array of Axes, optional
        At least ``C`` axes to draw into; by default a new figure, up to 10 per row.
    cmap : str
        Colour map for grey images. Each template is shown with symmetric limits
        ``[-max|w|, max|w|]``: red pixels add evidence for the class, blue ones
        count against it. Colour images are rescaled to ``[0, 1]`` per class.

    Returns
    -------
    fig : Figure
    axes : ndarray of Axes, one per class
    """
    W = np.asarray(W, dtype=float)
    if W.ndim != 2:
        raise ValueError(f"W must be a (D, C) matrix, got shape {W.shape}")
    size = int(np.prod(image_shape))
    if W.shape[0] == size + 1:
        W = W[:-1]
    elif W.shape[0] != size:
        raise ValueError(f"W has {W.shape[0]} rows; image_shape {tuple(image_shape)} needs "
                         f"{size} (or {size + 1} with a bias row)")
    C = W.shape[1]
    names = [str(c) for c in range(C)] if class_names is None else list(class_names)
    if ax_grid is None:
        ncols = min(C, 10)
        nrows = -(-C // ncols)
        fig, ax_grid = _new_figure((1.1 * ncols, 1.3 * nrows), nrows, ncols)
    axes = np.asarray(ax_grid).ravel()
    if axes.size < C:
        raise ValueError(f"ax_grid has {axes.size} axes for {C} classes")
    fig = axes[0].figure
    for c, ax in enumerate(axes):
        ax.set_axis_off()
        if c >= C:
            continue
        img = W[:, c].reshape(image_shape)
        if img.ndim == 3:
            span = img.max() - img.min()
            ax.imshow((img - img.min()) / (span if span > 0 else 1.0))
        else:
            vmax = np.abs(img).max() or 1.0
            ax.imshow(img, cmap=cmap, vmin=-vmax, vmax=vmax)
        ax.set_title(names[c], fontsize=9)
    return fig, axes[:C]


def _history_get(source, name):
    if isinstance(source, dict):
        for key in (f"{name}_history", name):
            if key in source:
                return np.asarray(source[key], dtype=float)
        return np.zeros(0)
    return np.asarray(getattr(source, f"{name}_history", []), dtype=float)


def _smooth(values, window):
    """Trailing moving average, shape (n,); the first points average what exists."""
    if values.size == 0:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    start = np.maximum(idx - window, 0)
    return (c[idx] - c[start]) / (idx - start)


def plot_history(history_or_solver, axes=None, smooth=None, logy=False, title=None):
    """Loss per iteration and accuracy per epoch, side by side.

    Parameters
    ----------
    history_or_solver : dict or object
        A dict with ``loss_history`` (T,), ``train_acc_history`` (E,) and
        ``val_acc_history`` (E,) (short keys ``loss``, ``train_acc``, ``val_acc``
        also work), or an object with those attributes (the kit's solver).
    axes : pair of Axes, optional
        Where to draw; by default a new (11 x 3.6 in) figure.
    smooth : int, optional
        Window of the moving average drawn over the raw loss
        (default ``max(1, T // 25)``).
    logy : bool
        Log scale for the loss.
    title : str, optional
        Figure title.

    Returns
    -------
    fig : Figure
    axes : ndarray of 2 Axes (loss, accuracy)
    """
    loss = _history_get(history_or_solver, "loss")
    train_acc = _history_get(history_or_solver, "train_acc")
    val_acc = _history_get(history_or_solver, "val_acc")
    if axes is None:
        fig, grid = _new_figure((11, 3.6), 1, 2)
        axes = grid[0]
    axes = np.asarray(axes).ravel()
    ax_loss, ax_acc = axes[0], axes[1]
    fig = ax_loss.figure

    it = np.arange(loss.size)
    ax_loss.plot(it, loss, color=CLASS_COLORS[0], alpha=0.3, lw=0.8, label="loss")
    if loss.size:
        window = max(1, loss.size // 25) if smooth is None else int(smooth)
        ax_loss.plot(it, _smooth(loss, window), color=CLASS_COLORS[0], lw=2,
                     label=f"moving average ({window})")
    else:
        ax_loss.text(0.5, 0.5, "no loss recorded", ha="center", va="center",
                     transform=ax_loss.transAxes, color="0.4")
    if logy and loss.size and np.all(loss > 0):
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title("Loss")
    if loss.size:
        ax_loss.legend(loc="upper right", fontsize=8)

    if train_acc.size:
        ax_acc.plot(np.arange(1, train_acc.size + 1), train_acc, "o-", color=CLASS_COLORS[1],
                    label="train")
    if val_acc.size:
        ax_acc.plot(np.arange(1, val_acc.size + 1), val_acc, "s-", color=CLASS_COLORS[2],
                    label="val")
    if train_acc.size or val_acc.size:
        ax_acc.legend(loc="lower right", fontsize=8)
    else:
        ax_acc.text(0.5, 0.5, "no accuracy recorded", ha="center", va="center",
                    transform=ax_acc.transAxes, color="0.4")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("Accuracy")
    ax_acc.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig, axes
