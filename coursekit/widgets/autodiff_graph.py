"""The student's own expression as a graph: values forward, gradients backward, step by step.

Give :class:`AutodiffGraphStepper` a function that builds a one-element ``Tensor`` from the
student's engine (assignment 05). It reads the graph the engine recorded (each tensor's
``_prev`` and ``_op``), lays it out in columns by depth (leaves on the left, the output on
the right), runs the student's ``backward()`` once for the gradients, and then lets a Play
button / slider walk through

- the **forward** steps: one node at a time in topological order, its value appearing in green;
- the **backward** steps: one node at a time in reverse order, its gradient appearing in red.

The logic lives in plain functions a test calls without a browser:

- :func:`trace_expression` -- nodes, edges, depths, positions, values, gradients, step order;
- :func:`step_view` -- what is visible at a step, and the caption.

Drawing uses matplotlib only (no graphviz).

Usage in a notebook::

    from coursekit.widgets.autodiff_graph import AutodiffGraphStepper
    AutodiffGraphStepper(lambda: (x + y) * z, leaves=[x, y, z])
"""
from __future__ import annotations

import html

import numpy as np
from matplotlib.patches import FancyArrowPatch

from coursekit.widgets.base import FigureWidget, timed

__all__ = ["trace_expression", "step_view", "AutodiffGraphStepper", "MAX_NODES"]

VALUE_COLOR = "#2ca02c"
GRAD_COLOR = "#d62728"
ACTIVE_COLOR = "#ffe9a8"
MAX_NODES = 40   # a drawing beyond this is unreadable: the trace refuses bigger graphs


def _fmt(a) -> str:
    """A node's array as short text: a number, or the shape and the first entries."""
    a = np.asarray(a, dtype=float)
    if a.size == 1:
        return f"{float(a.reshape(-1)[0]) + 0.0:.4g}"
    head = ", ".join(f"{v + 0.0:.3g}" for v in a.reshape(-1)[:2])
    return f"{a.shape}: [{head}, ...]"


def _graph_nodes(root) -> list:
    """Every node of the graph ending at ``root``, each once, leaves first (by depth)."""
    seen, nodes, stack = set(), [], [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        if len(nodes) > MAX_NODES:
            raise ValueError(f"the expression has more than {MAX_NODES} nodes: too many to draw")
        stack.extend(getattr(node, "_prev", ()))
    return nodes


def trace_expression(build, leaves=(), *, run_backward=True) -> dict:
    """Build the expression, read its graph, and (with ``run_backward``) its gradients.

    Parameters
    ----------
    build : callable
        ``build() -> Tensor`` with one element, using the student's engine.
    leaves : sequence of Tensor
        The leaves whose gradients are reset to zero before ``backward()`` (so that
        re-running the widget does not accumulate).
    run_backward : bool
        Call the student's ``root.backward()`` (False: values only).

    Returns
    -------
    dict with keys
        ``ids`` (node id -> index), ``labels``, ``ops``, ``values``, ``grads`` (lists by index;
        ``grads`` None without backward), ``edges`` ((parent, child) index pairs), ``depth``,
        ``pos`` ((x, y) per index), ``forward`` (indices in topological order), ``backward``
        (the reverse), ``root`` (index), ``error`` (text or None).
    """
    for t in leaves:
        t.grad = np.zeros_like(np.asarray(t.data, dtype=float))
    root = build()
    nodes = _graph_nodes(root)
    index = {id(n): i for i, n in enumerate(nodes)}
    edges = []
    for n in nodes:
        for p in getattr(n, "_prev", ()):
            edge = (index[id(p)], index[id(n)])
            if edge not in edges:
                edges.append(edge)
    # depth: the longest path from a leaf (a topological layering)
    depth = [0] * len(nodes)
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            if depth[b] < depth[a] + 1:
                depth[b] = depth[a] + 1
                changed = True
    order = sorted(range(len(nodes)), key=lambda i: (depth[i], i))
    columns: dict[int, list[int]] = {}
    for i in order:
        columns.setdefault(depth[i], []).append(i)
    pos = [(0.0, 0.0)] * len(nodes)
    for d, members in columns.items():
        for k, i in enumerate(members):
            pos[i] = (float(d), (len(members) - 1) / 2.0 - k)
    labels = []
    for n in nodes:
        label = getattr(n, "label", "") or ""
        labels.append(label if label else ("" if getattr(n, "_prev", ()) else "const"))
    error, grads = None, None
    if run_backward:
        try:
            root.backward()
            grads = [np.array(n.grad, dtype=float) for n in nodes]
        except Exception as err:  # noqa: BLE001 - the student's backward: show, don't crash
            error = f"{type(err).__name__}: {err}"
    return {"ids": index, "labels": labels, "ops": [getattr(n, "_op", "") or "" for n in nodes],
            "values": [np.array(n.data, dtype=float) for n in nodes], "grads": grads,
            "edges": edges, "depth": depth, "pos": pos, "forward": order,
            "backward": order[::-1], "root": index[id(root)], "error": error}


def step_view(trace: dict, step: int) -> dict:
    """What step ``step`` shows: 0 = the leaves' values only; then one forward step per
    interior node; then one backward step per node (reverse order).

    Returns dict: ``values`` (set of visible value indices), ``grads`` (visible gradient
    indices), ``active`` (index or None), ``phase`` ('start', 'forward', 'backward'),
    ``caption`` (text), ``n_steps`` (the last valid step).
    """
    order = trace["forward"]
    interior = [i for i in order if trace["ops"][i]]
    leaves = [i for i in order if not trace["ops"][i]]
    backward = trace["backward"] if trace["grads"] is not None else []
    n_steps = len(interior) + len(backward)
    step = int(np.clip(step, 0, n_steps))
    values, grads, active = set(leaves), set(), None
    if step == 0:
        caption = "start: the leaves (inputs, weights, constants) hold their values"
        phase = "start"
    elif step <= len(interior):
        done = interior[:step]
        values |= set(done)
        active = done[-1]
        caption = (f"forward {step}/{len(interior)}: '{trace['ops'][active]}' computes "
                   f"{_fmt(trace['values'][active])}")
        phase = "forward"
    else:
        values |= set(interior)
        k = step - len(interior)
        done = backward[:k]
        grads = set(done)
        active = done[-1]
        who = trace["labels"][active] or f"'{trace['ops'][active]}'"
        if active == trace["root"]:
            caption = "backward 1: seed the output's gradient with 1"
        else:
            caption = (f"backward {k}/{len(backward)}: every node using {who} has passed its share on: "
                       f"its gradient is {_fmt(trace['grads'][active])}")
        phase = "backward"
    if trace.get("error"):
        caption += f"   (backward() failed: {trace['error']})"
    return {"values": values, "grads": grads, "active": active, "phase": phase,
            "caption": caption, "n_steps": n_steps}


class AutodiffGraphStepper(FigureWidget):
    """Widget: the graph of an expression of the student's engine, stepped forward and backward.

    Parameters
    ----------
    build : callable
        ``build() -> Tensor`` (one element) with the student's engine.
    leaves : sequence of Tensor
        Leaves whose gradients are zeroed before ``backward()``.
    step : int
        Starting step.
    interval : int
        Milliseconds per step of the Play button.

    Attributes
    ----------
    trace, view : dict   (:func:`trace_expression`, :func:`step_view`)
    step_slider : ipywidgets.IntSlider
    artists : dict  ``circles`` (index -> Line2D), ``value_texts``, ``grad_texts`` (index -> Text),
        ``caption`` (Text)
    """

    def __init__(self, build, leaves=(), *, step=0, interval=800, figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        try:
            self.trace = trace_expression(build, leaves)
        except Exception as err:  # noqa: BLE001 - the student's engine: say what failed
            self.trace = None
            self.show_only_status("error", html.escape(
                f"could not build the expression with your Tensor: {type(err).__name__}: {err}"))
            return
        n_steps = step_view(self.trace, 0)["n_steps"]
        stepper = self.make_stepper(n_steps, step, interval)
        width = 2.0 + 1.5 * (max(self.trace["depth"]) + 1)
        height = min(5.0, 1.6 + 0.8 * max(len([d for d in self.trace["depth"] if d == k])
                                              for k in set(self.trace["depth"])))
        self.make_figure((width, height))
        self.start(stepper, watch=[self.step_slider])

    def _build_figure(self):
        t, ax = self.trace, self.fig.add_axes([0.01, 0.1, 0.98, 0.82])
        ax.set_axis_off()
        pos = {i: np.array(p) for i, p in enumerate(t["pos"])}
        circles, value_texts, grad_texts = {}, {}, {}
        for a, b in t["edges"]:
            ax.add_patch(FancyArrowPatch(pos[a], pos[b], arrowstyle="-|>", mutation_scale=10,
                                         shrinkA=14, shrinkB=14, color="0.45", lw=1.0, zorder=1))
        for i, p in pos.items():
            leaf = not t["ops"][i]
            (c,) = ax.plot(*p, "o", ms=26, mec="0.2", mfc="0.93" if leaf else "white", zorder=3)
            circles[i] = c
            ax.text(*p, t["labels"][i] if leaf else t["ops"][i], ha="center", va="center",
                    fontsize=8, zorder=4, fontweight="bold" if leaf else "normal")
            value_texts[i] = ax.text(p[0], p[1] + 0.3, "", ha="center", color=VALUE_COLOR, fontsize=8, zorder=5)
            grad_texts[i] = ax.text(p[0], p[1] - 0.36, "", ha="center", color=GRAD_COLOR, fontsize=8, zorder=5)
        xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
        ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
        ax.set_ylim(min(ys) - 0.7, max(ys) + 0.6)
        ax.set_title("your engine's graph   green: values (forward)   red: gradients (backward)", fontsize=9)
        caption = self.fig.text(0.5, 0.02, "", ha="center", fontsize=8.5)
        self.artists = {"ax": ax, "circles": circles, "value_texts": value_texts,
                        "grad_texts": grad_texts, "caption": caption}

    @timed
    def update(self):
        """Show the step the slider is at; returns the view."""
        return self.show_step(self.step_slider.value)

    def show_step(self, step):
        """Update the drawing in place for ``step``; returns the view."""
        t = self.trace
        self.view = view = step_view(t, step)
        for i, c in self.artists["circles"].items():
            leaf = not t["ops"][i]
            c.set_markerfacecolor(ACTIVE_COLOR if i == view["active"] else ("0.93" if leaf else "white"))
            self.artists["value_texts"][i].set_text(_fmt(t["values"][i]) if i in view["values"] else "")
            self.artists["grad_texts"][i].set_text(_fmt(t["grads"][i]) if i in view["grads"] else "")
        self.artists["caption"].set_text(view["caption"])
        self.say("error" if t.get("error") else "ok", html.escape(view["caption"]))
        self.redraw()
        return view
