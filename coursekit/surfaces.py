"""Two-dimensional loss surfaces for watching optimizers move.

Four classic test functions ``f(x, y)``, each with its gradient, a starting point,
the minimum and a plotting window:

- ``"ravine"``: ``0.5 * (0.02 x**2 + y**2)``, steep across (``y``), shallow along
  (``x``): plain SGD jitters from wall to wall and crawls along the floor
  (CS231n lecture 6).
- ``"saddle"``: ``0.5 x**2 + 0.25 y**4 - 0.5 y**2``, a saddle point at the origin
  between two minima at ``(0, +-1)``. Started almost on the ridge, SGD lingers
  near the saddle; methods that rescale the gradient leave it at once.
- ``"rosenbrock"``: ``(1 - x)**2 + 100 (y - x**2)**2``, a curved, narrow valley
  with its minimum at ``(1, 1)``.
- ``"beale"``: ``(1.5 - x + xy)**2 + (2.25 - x + xy**2)**2 + (2.625 - x + xy**3)**2``,
  flat plateaus and steep walls, minimum at ``(3, 0.5)``.
- ``"walls"``: ``0.5 r**2 + 0.05 r**4`` with ``r**2 = x**2 + y**2``, a bowl whose walls
  steepen: the gradient grows like ``r**3``, so a learning rate that is fine near the
  minimum throws the first steps ever further out (exploding gradients) unless the
  gradient's norm is clipped.

``value`` and ``gradient`` take points of shape ``(..., 2)``: one point ``(2,)``
for an optimizer step, a whole grid for contours::

    from coursekit.surfaces import get_surface
    s = get_surface("rosenbrock")
    w = np.array(s.start)
    w, config = sgd(w, s.gradient(w), {"learning_rate": 1e-3})
    X, Y, Z = s.grid()          # for contour plots (computed once, cached)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["Surface", "SURFACES", "get_surface", "ravine", "saddle", "rosenbrock", "beale", "walls"]


# --------------------------------------------------------------------- the functions
# Each takes x, y (arrays of one shape) and returns f, or (df/dx, df/dy).

RAVINE_A, RAVINE_B = 0.02, 1.0  # curvature along x (shallow) and across, in y (steep)


def _ravine(x, y):
    return 0.5 * (RAVINE_A * x * x + RAVINE_B * y * y)


def _ravine_grad(x, y):
    return RAVINE_A * x, RAVINE_B * y


def _saddle(x, y):
    return 0.5 * x * x + 0.25 * y ** 4 - 0.5 * y * y


def _saddle_grad(x, y):
    return x, y ** 3 - y


def _rosenbrock(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def _rosenbrock_grad(x, y):
    r = y - x * x
    return -2.0 * (1.0 - x) - 400.0 * x * r, 200.0 * r


def _beale(x, y):
    a = 1.5 - x + x * y
    b = 2.25 - x + x * y * y
    c = 2.625 - x + x * y ** 3
    return a * a + b * b + c * c


def _beale_grad(x, y):
    a = 1.5 - x + x * y
    b = 2.25 - x + x * y * y
    c = 2.625 - x + x * y ** 3
    dx = 2.0 * (a * (y - 1.0) + b * (y * y - 1.0) + c * (y ** 3 - 1.0))
    dy = 2.0 * x * (a + 2.0 * b * y + 3.0 * c * y * y)
    return dx, dy


WALLS_QUARTIC = 0.05  # f = 0.5 r^2 + WALLS_QUARTIC r^4: gradient (1 + 4 WALLS_QUARTIC r^2) (x, y)


def _walls(x, y):
    r2 = x * x + y * y
    return 0.5 * r2 + WALLS_QUARTIC * r2 * r2


def _walls_grad(x, y):
    factor = 1.0 + 4.0 * WALLS_QUARTIC * (x * x + y * y)
    return factor * x, factor * y


# --------------------------------------------------------------------- the class


@dataclass(frozen=True, eq=False)
class Surface:
    """A 2-D test function with everything a plot or a race needs.

    Attributes
    ----------
    name, title : str
        Key in :data:`SURFACES` and a readable title.
    fn, grad_fn : callable
        ``fn(x, y) -> f`` and ``grad_fn(x, y) -> (df/dx, df/dy)`` on arrays of one shape.
    start : (float, float)
        Where every optimizer starts.
    minimum : (float, float)
        A global minimizer (the saddle has two, ``(0, +-1)``; this is the upper one).
    f_min : float
        The minimum value (so ``f - f_min >= 0`` can go on a log axis).
    xlim, ylim : (float, float)
        The plotting window.
    lr : dict
        Suggested learning rates: ``"sgd"`` for sgd, momentum and Nesterov (a step of
        ``lr * gradient``), ``"adaptive"`` for AdaGrad, RMSProp and Adam (steps of
        about ``lr`` per coordinate, whatever the gradient's size).
    log_levels : bool
        Contours on a log scale of ``f - f_min`` (steep surfaces) or a linear one.
    note : str
        What to look for on this surface.
    """

    name: str
    title: str
    fn: Callable
    grad_fn: Callable
    start: tuple
    minimum: tuple
    f_min: float
    xlim: tuple
    ylim: tuple
    lr: dict = field(default_factory=dict)
    log_levels: bool = False
    note: str = ""

    def value(self, w):
        """``f`` at points ``w (..., 2)``; returns an array of shape ``w.shape[:-1]``."""
        w = np.asarray(w, dtype=float)
        return self.fn(w[..., 0], w[..., 1])

    def gradient(self, w):
        """The gradient at points ``w (..., 2)``; returns an array of ``w``'s shape."""
        w = np.asarray(w, dtype=float)
        gx, gy = self.grad_fn(w[..., 0], w[..., 1])
        return np.stack([gx, gy], axis=-1)

    def grid(self, n=160):
        """``X, Y, Z`` (each ``(n, n)``) over the plotting window, for contours; cached."""
        return _grid(self.name, int(n))

    def levels(self, num=18):
        """Contour levels of ``f``: log-spaced above ``f_min`` or evenly spaced."""
        _, _, Z = self.grid()
        top = float(np.percentile(Z, 85))
        if self.log_levels:
            gap = np.geomspace(max(1e-3, 1e-4 * (top - self.f_min)), top - self.f_min, num)
            return self.f_min + gap
        return np.linspace(self.f_min, top, num + 1)[1:]

    def __repr__(self):
        return f"Surface({self.name!r}, start={self.start}, minimum={self.minimum})"


SURFACES = {
    "ravine": Surface(
        "ravine", "ravine: 0.5 (0.02 x\u00b2 + y\u00b2)", _ravine, _ravine_grad,
        start=(-9.0, 2.5), minimum=(0.0, 0.0), f_min=0.0, xlim=(-10.0, 3.0), ylim=(-3.0, 3.0),
        lr={"sgd": 1.3, "adaptive": 0.3},
        note="50 times steeper across than along: SGD bounces between the walls and "
             "crawls along the floor; momentum builds up speed along it."),
    "saddle": Surface(
        "saddle", "saddle: 0.5 x\u00b2 + 0.25 y\u2074 - 0.5 y\u00b2", _saddle, _saddle_grad,
        start=(-2.5, 1e-3), minimum=(0.0, 1.0), f_min=-0.25, xlim=(-3.0, 1.5), ylim=(-1.6, 1.6),
        lr={"sgd": 0.1, "adaptive": 0.1},
        note="The start is a hair off the ridge y = 0. The gradient across is tiny near the "
             "saddle at (0, 0): SGD walks to it and lingers; rescaled steps leave at once."),
    "rosenbrock": Surface(
        "rosenbrock", "Rosenbrock: (1 - x)\u00b2 + 100 (y - x\u00b2)\u00b2", _rosenbrock,
        _rosenbrock_grad, start=(-1.5, 2.0), minimum=(1.0, 1.0), f_min=0.0,
        xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), lr={"sgd": 1e-3, "adaptive": 0.05}, log_levels=True,
        note="A narrow, curved valley: the first steps fall into it, then the long walk "
             "along its floor to (1, 1) separates the methods."),
    "beale": Surface(
        "beale", "Beale", _beale, _beale_grad, start=(0.5, -1.5), minimum=(3.0, 0.5), f_min=0.0,
        xlim=(-1.0, 4.5), ylim=(-2.0, 2.0), lr={"sgd": 1e-2, "adaptive": 0.05}, log_levels=True,
        note="Plateaus and steep walls: the gradient's size changes by orders of magnitude "
             "from place to place, so a single learning rate fits nowhere."),
    "walls": Surface(
        "walls", "walls: 0.5 r\u00b2 + 0.05 r\u2074", _walls, _walls_grad,
        start=(-8.0, 6.0), minimum=(0.0, 0.0), f_min=0.0, xlim=(-11.0, 11.0), ylim=(-8.0, 8.0),
        lr={"sgd": 0.01, "adaptive": 0.3}, log_levels=True,
        note="The walls steepen like r\u00b3: from the start (r = 10) SGD with learning rate 0.1 "
             "overshoots further at every step and explodes; clipping the gradient's norm walks "
             "it down the wall and it converges."),
}


def get_surface(name):
    """The :class:`Surface` called ``name`` (a key of :data:`SURFACES`), or ``name`` itself if it is one."""
    if isinstance(name, Surface):
        return name
    try:
        return SURFACES[name]
    except KeyError:
        raise ValueError(f"unknown surface {name!r}; choose one of {sorted(SURFACES)}") from None


@functools.lru_cache(maxsize=16)
def _grid(name, n):
    s = SURFACES[name]
    X, Y = np.meshgrid(np.linspace(*s.xlim, n), np.linspace(*s.ylim, n))
    Z = s.fn(X, Y)
    for a in (X, Y, Z):
        a.setflags(write=False)
    return X, Y, Z


# The functions themselves, for plotting or testing: f(x, y).
ravine, saddle, rosenbrock, beale, walls = _ravine, _saddle, _rosenbrock, _beale, _walls
