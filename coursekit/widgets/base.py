"""The skeleton every widget of :mod:`coursekit.widgets` shares: :class:`FigureWidget`.

A widget here is an ``ipywidgets.VBox`` holding controls, one matplotlib figure that
is drawn once and then changed in place, a status line and an ``Output`` that catches
the tracebacks ipywidgets would otherwise swallow. :class:`FigureWidget` holds that
skeleton; a widget subclasses it and writes only what is its own: its controls, its
artists (``_build_figure``) and its ``update()``.

Lifecycle
---------
1. ``super().__init__(figure_backend=...)`` makes the VBox, ``status`` (HTML) and
   ``output`` (Output), and sets ``last_update_ms`` to nan.
2. ``self.make_figure(figsize)`` creates ``fig`` and ``canvas`` with
   :func:`coursekit.plots.interactive_figure`: a plain ``Figure`` pyplot never sees
   (so a notebook never collects open pyplot figures, however many widgets it
   builds), at most :data:`MAX_FIGURE_WIDTH` inches wide so it fits JupyterLab's
   output area. ``self.live`` then says whether the canvas redraws cheaply (ipympl):
   the widget builds its controls with ``continuous_update=self.live``
   (``make_stepper`` builds a Play button and a step slider).
3. ``self.start(*controls, below=..., watch=...)`` finishes: ``_build_figure()``
   draws the artists once; ``arrange`` sets the children (the controls, the canvas,
   anything ``below`` it, then ``status`` and ``output``); ``watch`` observes each
   control's ``value``, a change calling ``update()`` (or, through
   ``watch(control, handler=...)``, a handler of its own) inside ``output``, so in a
   kernel an error shows as a traceback under the widget, and without a kernel
   (tests) it propagates; and the first ``update()`` runs.
4. ``update()`` reads the controls, recomputes, moves the artists in place, ends
   with ``self.redraw()`` (``fig.canvas.draw_idle()``) and returns what it computed.
   It is a plain method: tests and benchmarks call it, or set a control's
   ``.value``, with no browser. Decorated with :func:`timed`, it records
   ``last_update_ms``.
5. ``close()`` closes the widget and every widget it holds (children, layouts,
   styles, the canvas and its toolbar, links) and clears the figure: what a notebook
   that rebuilds widgets in a loop calls to free them.

The widget *is* the VBox, so it displays as the last expression of a cell or with
``display(...)``; nothing else (no ``_ipython_display_``) is needed.

Helpers for the student's code the widgets call: ``say(kind, html)`` writes the status
box; ``run_student(fn, ...)`` calls a function of the student's and turns
``NotImplementedError`` (a stub) or any other exception into a status message.
"""

from __future__ import annotations

import functools
import html
import time
import traceback

import ipywidgets as widgets

from coursekit.plots import interactive_figure, is_live, refresh

__all__ = ["FigureWidget", "MAX_FIGURE_WIDTH", "STATUS_COLORS", "status_box", "timed"]

#: Widest figure, in inches, that JupyterLab's output area shows unscaled at 100 dpi.
MAX_FIGURE_WIDTH = 9.0

#: Status kinds: (border colour, background).
STATUS_COLORS = {
    "ok": ("#2ca02c", "#eaf7ea"),
    "todo": ("#ff7f0e", "#fff4e6"),
    "error": ("#d62728", "#fdecea"),
    "info": ("#1f77b4", "#eef5fb"),
}


def status_box(kind, body):
    """``body`` (HTML, already escaped) in a box with a coloured left border.

    ``kind`` is a key of :data:`STATUS_COLORS` (``"ok"``, ``"todo"``, ``"error"``,
    ``"info"``).
    """
    border, background = STATUS_COLORS[kind]
    return (f"<div style='padding:6px 10px;border-left:4px solid {border};"
            f"background:{background}'>{body}</div>")


def timed(update):
    """Decorate a widget's ``update``: it records its own duration in ``last_update_ms``."""
    @functools.wraps(update)
    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return update(self, *args, **kwargs)
        finally:
            self.last_update_ms = 1e3 * (time.perf_counter() - start)
    return wrapper


class FigureWidget(widgets.VBox):
    """A VBox of controls, a figure redrawn in place, a status line and an error output.

    Subclasses build their controls and artists and implement :meth:`update`; see the
    module docstring for the lifecycle.

    Parameters
    ----------
    figure_backend : {"auto", "ipympl", "static"}
        See :func:`coursekit.plots.interactive_figure`.

    Attributes
    ----------
    fig : matplotlib.figure.Figure or None
        The figure (None until :meth:`make_figure`).
    canvas : ipywidgets.DOMWidget or None
        Its widget: an ipympl ``Canvas`` or, in the static fallback, an ``Image``.
    live : bool
        True when the canvas redraws cheaply (ipympl): sliders update while dragged.
    status : ipywidgets.HTML
        A one-line message: what to implement first, what went wrong, the verdict.
    output : ipywidgets.Output
        Tracebacks of errors raised in callbacks.
    last_update_ms : float
        Duration of the last :meth:`update` (decorated with :func:`timed`); nan before.
    """

    def __init__(self, *, figure_backend="auto"):
        super().__init__()
        self._figure_backend = figure_backend
        self.fig = self.canvas = None
        self.live = False
        self.status = widgets.HTML()
        self.output = widgets.Output()
        self.last_update_ms = float("nan")
        self._links = []

    # -- building ----------------------------------------------------------------------
    def make_figure(self, figsize):
        """Create ``fig`` and ``canvas``, ``figsize`` inches (width capped); returns ``fig``."""
        width, height = figsize
        self.fig, self.canvas = interactive_figure(figsize=(min(float(width), MAX_FIGURE_WIDTH),
                                                            float(height)),
                                                   backend=self._figure_backend)
        self.live = is_live(self.canvas)
        return self.fig

    def start(self, *controls, below=(), watch=()):
        """Finish building: draw the artists, lay out, observe ``watch``, show the first state.

        ``_build_figure()``, ``arrange(*controls, below=below)``, ``watch(*watch)`` (a change
        calls :meth:`update`), then ``_on_change()``; returns the first ``update()``'s
        result. Controls with their own handler are watched (:meth:`watch`) before.
        """
        self._build_figure()
        self.arrange(*controls, below=below)
        self.watch(*watch)
        return self._on_change()

    def _build_figure(self):
        """Draw the figure's artists once (into ``self.artists``); updates only move them."""
        raise NotImplementedError(f"{type(self).__name__} must implement _build_figure()")

    def arrange(self, *controls, below=()):
        """Children: ``controls``, the canvas, ``below``, the status line and the output."""
        self.children = [*controls, self.canvas, *below, self.status, self.output]

    def make_stepper(self, n_steps, step=0, interval=800):
        """A Play button driving a step slider ``0 .. n_steps``; returns them in an HBox.

        Sets ``self.step_slider`` (IntSlider, starting at ``step`` clipped to the range)
        and ``self.play`` (Play, ``interval`` ms per step), linked in the browser.
        """
        start = int(min(max(step, 0), n_steps))
        self.step_slider = widgets.IntSlider(value=start, min=0, max=n_steps, description="step",
                                             style={"description_width": "3em"},
                                             layout=widgets.Layout(width="420px"))
        self.play = widgets.Play(value=start, min=0, max=n_steps, step=1, interval=int(interval),
                                 description="play")
        self._links.append(widgets.jslink((self.play, "value"), (self.step_slider, "value")))
        return widgets.HBox([self.play, self.step_slider])

    def show_only_status(self, kind, body):
        """Children: the status line alone, saying ``body`` (a widget that cannot start)."""
        self.say(kind, body)
        self.children = [self.status]

    def watch(self, *controls, handler=None):
        """Observe each control's ``value``: a change calls ``handler(change)`` inside ``output``.

        Without ``handler``, a change calls :meth:`update` (through :meth:`_on_change`).
        """
        callback = self._on_change if handler is None else self.callback(handler)
        for control in controls:
            control.observe(callback, names="value")
        return callback

    def callback(self, fn):
        """``fn`` wrapped to run inside ``output`` (ipywidgets swallows observer errors)."""
        @functools.wraps(fn)
        def run(change=None):
            with self.output:
                return fn(change)
        return run

    # -- updating ----------------------------------------------------------------------
    def _on_change(self, change=None):
        """:meth:`update` inside ``output``: what a control's change (and the first draw) runs."""
        with self.output:
            return self.update()

    def update(self):
        """Recompute from the controls and move the artists in place; returns the new state."""
        raise NotImplementedError(f"{type(self).__name__} must implement update()")

    def redraw(self):
        """Ask the canvas to redraw (``draw_idle``: cheap when nobody is looking)."""
        refresh(self.fig)

    def say(self, kind, body):
        """Set the status line to ``body`` (HTML, already escaped) in a ``kind`` box."""
        self.status.value = status_box(kind, body)

    def clear_errors(self):
        """Empty ``output`` (old tracebacks) after an update that worked."""
        if self.output.outputs:
            self.output.outputs = ()

    def run_student(self, fn, *args, todo, raised, passes=(), **kwargs):
        """Call ``fn(*args, **kwargs)`` (code of the student's); returns ``(result, failure)``.

        ``failure`` is None when ``fn`` returned. A ``NotImplementedError`` (the function
        is still a stub) sets the status to the ``todo`` box (HTML) and ``failure`` to
        ``"todo"``; any other exception prints its traceback (into ``output`` when called
        from a control), sets the status to ``<b>{raised} {ExceptionType}:</b> message``
        and ``failure`` to ``"error"``; the result is then None. Exceptions of the types
        in ``passes`` propagate (the caller handles them).
        """
        try:
            return fn(*args, **kwargs), None
        except passes:
            raise
        except NotImplementedError:
            self.say("todo", todo)
            return None, "todo"
        except Exception as exc:  # noqa: BLE001 - the student's code: report, don't crash
            traceback.print_exc()
            self.say("error", f"<b>{html.escape(raised)} {type(exc).__name__}:</b> "
                              f"{html.escape(str(exc))}")
            return None, "error"

    # -- freeing -----------------------------------------------------------------------
    def close(self):
        """Close this widget and every widget it holds; clear the figure.

        "Holds": children, and any widget in a synced trait (layouts, styles, the
        canvas's toolbar), recursively, plus the links :meth:`make_stepper` made.
        ``ipywidgets.Widget.close`` alone closes only the widget itself.
        """
        seen, stack = set(), [self, *self._links]
        while stack:
            widget = stack.pop()
            if id(widget) in seen:
                continue
            seen.add(id(widget))
            for name in widget.keys:
                value = getattr(widget, name, None)
                for item in value if isinstance(value, (list, tuple)) else (value,):
                    if isinstance(item, widgets.Widget):
                        stack.append(item)
            if widget is not self:
                widget.close()
        if self.fig is not None:
            self.fig.clear()
        super().close()
