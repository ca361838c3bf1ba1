"""Computational graphs, one step at a time: forward values, then backward gradients.

The two graphs of the lecture on computational graphs:

- ``"add_mul"``: ``f = (x + y) * z``. At ``x = 1, y = -3, z = 4`` the forward pass
  gives ``q = x + y = -2`` and ``f = q * z = -8``; the backward pass starts with
  ``df/df = 1``, the ``*`` gate sends ``df/dq = z = 4`` and ``df/dz = q = -2``, and
  the ``+`` gate passes ``4 * 1 = 4`` on to both ``x`` and ``y``.
- ``"sigmoid_neuron"``: ``f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2)))`` as a chain of
  gates ``*``, ``+``, ``+``, ``*-1``, ``exp``, ``+1``, ``1/x``. At ``w = (2, -3, -3)``,
  ``x = (-1, -2)``: ``f = 0.73``; backward, the ``1/x`` gate gives
  ``-1 / 1.37**2 = -0.53``, and at the inputs ``df/dw = (-0.2, -0.39, 0.2)``,
  ``df/dx = (0.39, -0.59)``.

Each gate knows its value and its *local* derivatives (``d(a*b)/da = b``,
``d(1/a)/da = -1/a**2``, ...); the backward pass visits the gates in reverse
order and multiplies the gradient arriving from above by each local derivative
(the chain rule), adding up where a value feeds several gates.

- :func:`graph_trace` evaluates a graph: every value, every gradient, and the list of
  steps a stepper walks through. :func:`stepper_view` says what is visible at a
  step. :func:`compare_with_student` checks the student's ``add_mul_graph`` /
  ``sigmoid_neuron`` against the graph. All plain functions (tests call them).
- :class:`CompGraphStepper` is the widget: the graph drawn with matplotlib, one
  text box per input, and a Play button / step slider.

Usage in a notebook::

    from coursekit.widgets.compgraph import CompGraphStepper
    CompGraphStepper("add_mul", student_fn=add_mul_graph)
"""

from __future__ import annotations

import html
import traceback
from dataclasses import dataclass, field

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import FancyArrowPatch

from coursekit.widgets.base import FigureWidget, timed

__all__ = ["Gate", "Graph", "GRAPHS", "graph_trace", "stepper_view", "compare_with_student",
           "CompGraphStepper"]

VALUE_COLOR = "#2ca02c"   # forward values: green, above the edges
GRAD_COLOR = "#d62728"    # gradients: red, below the edges
ACTIVE_COLOR = "#ffe9a8"  # the gate being worked on


# --------------------------------------------------------------------------- gates

def _num(v):
    """A number as the slides write it: 3 significant digits, no ``-0``."""
    v = float(v)
    return f"{v + 0.0:.3g}"


def _paren(v):
    s = _num(v)
    return f"({s})" if s.startswith("-") else s


@dataclass(frozen=True)
class Gate:
    """One node of a graph.

    Parameters
    ----------
    name : str
        The value it computes (``"q"``); inputs are gates with ``op="input"``.
    op : {"input", "add", "mul", "scale", "offset", "exp", "inv"}
        ``scale`` is ``const * a``, ``offset`` is ``a + const``, ``inv`` is ``1 / a``.
    inputs : tuple of str
        Names of the gates feeding it (two for add/mul, one otherwise).
    const : float
        For ``scale`` and ``offset``.
    pos : (float, float)
        Where it is drawn.
    """

    name: str
    op: str
    inputs: tuple = ()
    const: float = 0.0
    pos: tuple = (0.0, 0.0)

    @property
    def symbol(self):
        """Text in the gate's circle."""
        return {"input": self.name, "add": "+", "mul": "*", "exp": "exp", "inv": "1/x",
                "scale": f"*{_num(self.const)}", "offset": f"+{_num(self.const)}"}[self.op]

    def forward(self, a, b=None):
        op = self.op
        if op == "add":
            return a + b
        if op == "mul":
            return a * b
        if op == "scale":
            return self.const * a
        if op == "offset":
            return a + self.const
        if op == "exp":
            return float(np.exp(a))
        if op == "inv":
            return np.float64(1.0) / a   # inf (not an exception) at 0; graph_trace reports it
        raise ValueError(f"unknown op {op!r}")

    def formula(self, args=None):
        """The forward formula in the input names (``"x + y"``), or in ``args`` if given."""
        args = list(self.inputs if args is None else args)
        a = args[0] if args else ""
        b = args[1] if len(args) > 1 else ""
        return {"add": f"{a} + {b}", "mul": f"{a} * {b}", "scale": f"{_num(self.const)} * {a}",
                "offset": f"{a} + {_num(self.const)}", "exp": f"exp({a})",
                "inv": f"1 / {a}"}[self.op]

    def local(self, vals, out):
        """Local derivatives ``d(out)/d(input_i)``, one per input, as (value, formula)."""
        op, names = self.op, self.inputs
        if op == "add":
            return [(1.0, "1"), (1.0, "1")]
        if op == "mul":
            return [(vals[1], names[1]), (vals[0], names[0])]
        if op == "scale":
            return [(self.const, _num(self.const))]
        if op == "offset":
            return [(1.0, "1")]
        if op == "exp":
            return [(out, f"exp({names[0]})")]
        if op == "inv":
            return [(-1.0 / vals[0] ** 2, f"-1/{names[0]}^2")]
        raise ValueError(f"unknown op {op!r}")


@dataclass(frozen=True)
class Graph:
    """A small computational graph: gates in topological order, the last one is the output."""

    key: str
    title: str
    gates: tuple
    defaults: dict = field(default_factory=dict)

    @property
    def inputs(self):
        return [g.name for g in self.gates if g.op == "input"]

    @property
    def output(self):
        return self.gates[-1].name

    def gate(self, name):
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(name)

    @property
    def edges(self):
        """``(parent, child)`` for every wire, plus ``(output, None)`` for the output wire."""
        wires = [(p, g.name) for g in self.gates for p in g.inputs]
        return wires + [(self.output, None)]


GRAPHS = {
    "add_mul": Graph(
        "add_mul", "f = (x + y) * z",
        (Gate("x", "input", pos=(0.0, 2.0)), Gate("y", "input", pos=(0.0, 1.0)),
         Gate("z", "input", pos=(0.0, -0.2)),
         Gate("q", "add", ("x", "y"), pos=(2.0, 1.5)),
         Gate("f", "mul", ("q", "z"), pos=(4.0, 0.65))),
        {"x": 1.0, "y": -3.0, "z": 4.0}),
    "sigmoid_neuron": Graph(
        "sigmoid_neuron", "f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))",
        (Gate("w0", "input", pos=(0.0, 5.1)), Gate("x0", "input", pos=(0.0, 3.7)),
         Gate("w1", "input", pos=(0.0, 2.7)), Gate("x1", "input", pos=(0.0, 1.3)),
         Gate("w2", "input", pos=(0.0, 0.2)),
         Gate("a0", "mul", ("w0", "x0"), pos=(1.7, 4.4)),
         Gate("a1", "mul", ("w1", "x1"), pos=(1.7, 2.0)),
         Gate("s", "add", ("a0", "a1"), pos=(3.1, 3.2)),
         Gate("z", "add", ("s", "w2"), pos=(4.4, 1.7)),
         Gate("n", "scale", ("z",), const=-1.0, pos=(5.5, 1.7)),
         Gate("e", "exp", ("n",), pos=(6.6, 1.7)),
         Gate("d", "offset", ("e",), const=1.0, pos=(7.7, 1.7)),
         Gate("f", "inv", ("d",), pos=(8.8, 1.7))),
        {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}),
}


def _graph(graph):
    if isinstance(graph, Graph):
        return graph
    try:
        return GRAPHS[graph]
    except KeyError:
        raise ValueError(f"unknown graph {graph!r}; choose one of {sorted(GRAPHS)}") from None


# --------------------------------------------------------------------------- evaluation

def graph_trace(graph, inputs=None):
    """Evaluate a graph forward and backward, and list the steps of a stepper.

    Parameters
    ----------
    graph : str or Graph
        ``"add_mul"`` or ``"sigmoid_neuron"`` (see :data:`GRAPHS`).
    inputs : dict of str -> float, optional
        Input values; missing ones take the lecture's values (``graph.defaults``).

    Returns
    -------
    dict with
        ``graph``; ``values``: every gate's value; ``grads``: ``df/d(name)`` for
        every gate; ``contrib``: ``{(parent, child): (upstream, local, product,
        local_formula)}``, the gradient each wire carries back; ``steps``: list of
        ``{"phase", "gate", "caption"}``: step 0 shows the inputs, then one step per
        gate forward, one step to seed ``df/df = 1``, one step per gate backward.

    Raises
    ------
    ValueError
        For unknown or non-finite inputs, or a value no gate can take (``1/0``).
    """
    g = _graph(graph)
    given = dict(g.defaults)
    for key, value in (inputs or {}).items():
        if key not in given:
            raise ValueError(f"{g.key} has inputs {g.inputs}; got {key!r}")
        given[key] = value
    values = {}
    for name in g.inputs:
        v = float(given[name])
        if not np.isfinite(v):
            raise ValueError(f"input {name} must be a finite number, got {given[name]!r}")
        values[name] = v
    steps = [{"phase": "inputs", "gate": None,
              "caption": "inputs: " + ", ".join(f"{n} = {_num(values[n])}" for n in g.inputs)
                         + ".  Step forward to evaluate the gates."}]
    with np.errstate(all="ignore"):
        for gate in g.gates:
            if gate.op == "input":
                continue
            args = [values[p] for p in gate.inputs]
            out = gate.forward(*args)
            if not np.isfinite(out):
                raise ValueError(f"{gate.formula()} is not finite for these inputs")
            values[gate.name] = float(out)
            shown = gate.formula([_num(v) if gate.op == "exp" else _paren(v) for v in args])
            steps.append({"phase": "forward", "gate": gate.name,
                          "caption": f"forward: {gate.name} = {gate.formula()} = {shown} = "
                                     f"{_num(out)}"})

    grads = {name: 0.0 for name in values}
    grads[g.output] = 1.0
    contrib = {}
    steps.append({"phase": "seed", "gate": g.output,
                  "caption": f"backward: start at the output, d{g.output}/d{g.output} = 1"})
    for gate in reversed(g.gates):
        if gate.op == "input":
            continue
        upstream = grads[gate.name]
        parts = []
        for p, (loc, formula) in zip(gate.inputs, gate.local([values[q] for q in gate.inputs],
                                                             values[gate.name])):
            product = upstream * loc
            grads[p] += product
            contrib[(p, gate.name)] = (upstream, float(loc), float(product), formula)
            via = "" if formula == _num(loc) else f"{_num(upstream)} x {formula} = "
            parts.append(f"df/d{p} = {via}{_num(upstream)} x {_paren(loc)} = {_num(product)}")
        steps.append({"phase": "backward", "gate": gate.name,
                      "caption": f"backward at the {gate.symbol} gate ({gate.name} = "
                                 f"{gate.formula()}): upstream df/d{gate.name} = "
                                 f"{_num(upstream)};  " + ";  ".join(parts)})
    steps[-1]["caption"] += ("   |   done: " + ", ".join(f"df/d{n} = {_num(grads[n])}"
                                                          for n in g.inputs))
    return {"graph": g, "values": values, "grads": grads, "contrib": contrib, "steps": steps}


def stepper_view(trace, step):
    """What the stepper shows at ``step`` (clipped to ``0 .. len(steps) - 1``).

    Returns
    -------
    dict with
        ``step``; ``phase``; ``active``: the gate being worked on (or None);
        ``caption``; ``values``: ``{edge: text}`` for every wire whose value is known
        (the parent's value, shown above the wire); ``grads``: ``{edge: (text,
        how)}`` for every wire whose gradient has been sent back, ``how`` being
        ``"upstream x local"``. Edges are ``(parent, child)``, and
        ``(output, None)`` for the output wire.
    """
    steps = trace["steps"]
    k = int(np.clip(step, 0, len(steps) - 1))
    g, values = trace["graph"], trace["values"]
    known = set(g.inputs)
    done_backward = set()
    seeded = False
    for s in steps[1:k + 1]:
        if s["phase"] == "forward":
            known.add(s["gate"])
        elif s["phase"] == "seed":
            seeded = True
        elif s["phase"] == "backward":
            done_backward.add(s["gate"])
    shown_values, shown_grads = {}, {}
    for edge in g.edges:
        parent, child = edge
        if parent in known:
            shown_values[edge] = _num(values[parent])
        if child is None:
            if seeded:
                shown_grads[edge] = ("1", "df/df")
        elif child in done_backward:
            upstream, loc, product, _ = trace["contrib"][edge]
            shown_grads[edge] = (_num(product), f"{_num(upstream)} x {_paren(loc)}")
    return {"step": k, "phase": steps[k]["phase"], "active": steps[k]["gate"],
            "caption": steps[k]["caption"], "values": shown_values, "grads": shown_grads}


def _student_outputs(graph, inputs, student_fn):
    """Call the student's function for this graph; ``{name: value}`` for f and each input."""
    if graph.key == "add_mul":
        result = student_fn(inputs["x"], inputs["y"], inputs["z"])
        names = ["f", "x", "y", "z"]
        if not (isinstance(result, (tuple, list)) and len(result) == 4):
            raise TypeError("add_mul_graph(x, y, z) must return 4 values (f, dx, dy, dz)")
        return {n: float(np.asarray(v, dtype=float).reshape(())) for n, v in zip(names, result)}
    if graph.key == "sigmoid_neuron":
        w = np.array([inputs["w0"], inputs["w1"], inputs["w2"]])
        x = np.array([inputs["x0"], inputs["x1"]])
        result = student_fn(w, x)
        if not (isinstance(result, (tuple, list)) and len(result) == 3):
            raise TypeError("sigmoid_neuron(w, x) must return 3 values (f, dw, dx)")
        f, dw, dx = (np.asarray(v, dtype=float) for v in result)
        if dw.shape != (3,) or dx.shape != (2,):
            raise TypeError(f"sigmoid_neuron returned dw of shape {dw.shape} and dx of shape "
                            f"{dx.shape}; with 2 inputs they should be (3,) and (2,)")
        return {"f": float(f.reshape(())), "w0": dw[0], "w1": dw[1], "w2": dw[2],
                "x0": dx[0], "x1": dx[1]}
    raise ValueError(f"no student function is known for graph {graph.key!r}")


def compare_with_student(trace, student_fn, rtol=1e-6, atol=1e-9):
    """Check the student's ``add_mul_graph`` / ``sigmoid_neuron`` against the graph.

    Returns
    -------
    dict with ``matches`` (bool, or None while the function is a stub),
    ``mismatches`` (names whose value differs), ``student`` (``{name: value}``: ``f``
    and one gradient per input) and ``verdict`` (a sentence).
    """
    g = trace["graph"]
    fn_name = {"add_mul": "add_mul_graph", "sigmoid_neuron": "sigmoid_neuron"}[g.key]
    inputs = {n: trace["values"][n] for n in g.inputs}
    try:
        got = _student_outputs(g, inputs, student_fn)
    except NotImplementedError:
        return {"matches": None, "mismatches": [], "student": None,
                "verdict": f"{fn_name} is not implemented yet"}
    want = {"f": trace["values"][g.output], **{n: trace["grads"][n] for n in g.inputs}}
    bad = [n for n in want if not np.isclose(got[n], want[n], rtol=rtol, atol=atol)]
    if not bad:
        verdict = f"your {fn_name} agrees with the graph: f and every gradient"
    else:
        verdict = f"your {fn_name} differs from the graph: " + ", ".join(
            f"{'f' if n == 'f' else 'df/d' + n} is {_num(got[n])}, the graph says {_num(want[n])}"
            for n in bad)
    return {"matches": not bad, "mismatches": bad, "student": got, "verdict": verdict}


# --------------------------------------------------------------------------- widget

class CompGraphStepper(FigureWidget):
    """Widget: walk a computational graph forward (values) and backward (gradients).

    A :class:`~coursekit.widgets.base.FigureWidget`: one text box per input, a Play button linked to a step
    slider, the graph, a caption, and (with ``student_fn``) a line comparing the
    student's function with the graph.

    Parameters
    ----------
    graph : {"add_mul", "sigmoid_neuron"}
    student_fn : callable, optional
        ``add_mul_graph`` for ``"add_mul"``, ``sigmoid_neuron`` for ``"sigmoid_neuron"``.
    inputs : dict, optional
        Starting input values (default: the lecture's numbers).
    step : int
        Starting step (0: only the inputs are known).
    interval : int
        Milliseconds per step of the Play button.

    Attributes
    ----------
    trace : dict
        The current :func:`graph_trace`.
    view : dict
        The current :func:`stepper_view`.
    check : dict or None
        The last :func:`compare_with_student` (None without ``student_fn``).
    input_boxes : dict of str -> ipywidgets.FloatText
    step_slider : ipywidgets.IntSlider
    artists : dict
        ``value_texts``/``grad_texts``/``how_texts``: ``{edge: Text}``;
        ``circles``: ``{gate: Line2D}`` (one round marker each); ``caption``: Text.
    """

    def __init__(self, graph="add_mul", student_fn=None, *, inputs=None, step=0,
                 interval=900, figure_backend="auto"):
        super().__init__(figure_backend=figure_backend)
        self.graph = _graph(graph)
        if student_fn is not None and not callable(student_fn):
            raise TypeError(f"student_fn must be a function, got {type(student_fn).__name__}")
        self.student_fn = student_fn
        self.trace = graph_trace(self.graph, inputs)
        self.view = None
        self.check = None
        n_steps = len(self.trace["steps"]) - 1

        self.input_boxes = {
            name: widgets.FloatText(value=self.trace["values"][name], description=name,
                                    step=0.5, style={"description_width": "2.2em"},
                                    layout=widgets.Layout(width="135px"))
            for name in self.graph.inputs}
        stepper = self.make_stepper(n_steps, step, interval)
        self.make_figure((9.0, 4.0) if self.graph.key == "sigmoid_neuron" else (7.5, 3.4))
        self.watch(self.step_slider, handler=lambda change: self.show_step(self.step_slider.value))
        self.start(widgets.HBox(list(self.input_boxes.values())), stepper,
                   watch=self.input_boxes.values())

    # -- figure ---------------------------------------------------------------------------
    def _build_figure(self):
        g, fig = self.graph, self.fig
        ax = fig.add_axes([0.01, 0.16, 0.98, 0.76])
        ax.set_axis_off()
        pos = {gate.name: np.array(gate.pos, dtype=float) for gate in g.gates}
        size = 26  # marker diameter in points; wires stop at the circles
        out_end = pos[g.output] + np.array([1.0, 0.0])
        circles, value_texts, grad_texts, how_texts = {}, {}, {}, {}
        for gate in g.gates:
            is_input = gate.op == "input"
            (circle,) = ax.plot(*pos[gate.name], "o", ms=size, mec="0.2", mew=1.3, zorder=3,
                                mfc="0.93" if is_input else "white")
            circles[gate.name] = circle
            ax.text(*pos[gate.name], gate.symbol, ha="center", va="center", zorder=4,
                    fontsize=9 if len(gate.symbol) > 2 else 11,
                    fontweight="bold" if is_input else "normal")
        for edge in g.edges:
            parent, child = edge
            start = pos[parent]
            end = out_end if child is None else pos[child]
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11,
                                         shrinkA=size / 2 + 1,
                                         shrinkB=size / 2 + 1 if child is not None else 0,
                                         color="0.35", lw=1.1, zorder=2))
            d = end - start
            unit = d / (np.linalg.norm(d) or 1.0)
            normal = np.array([-unit[1], unit[0]])
            if normal[1] < 0:
                normal = -normal
            # labels sit nearer the parent, where wires into the same gate are still apart
            mid = start + (0.38 if g.gate(parent).op == "input" else 0.5) * d

            def label(offset, shift=0.0, ha="center", **kw):
                xy = offset * normal + np.array([shift, 0.0])
                return ax.annotate("", mid, xytext=tuple(xy), textcoords="offset points",
                                   ha=ha, va="center", zorder=5, **kw)

            value_texts[edge] = label(8, color=VALUE_COLOR, fontsize=9.5, fontweight="bold")
            grad_texts[edge] = label(-8, color=GRAD_COLOR, fontsize=9.5, fontweight="bold")
            # upstream x local: under the gradient on the level chain, beside it on slopes
            level = abs(unit[1]) < 0.2
            how_texts[edge] = label(-19 if level else -8, shift=0.0 if level else 19.0,
                                    ha="center" if level else "left", color=GRAD_COLOR,
                                    fontsize=7, alpha=0.85)
        ax.text(*(out_end + np.array([0.05, 0.0])), g.output, ha="left", va="center",
                fontsize=10)
        xs = [p[0] for p in pos.values()] + [out_end[0] + 0.3]
        ys = [p[1] for p in pos.values()]
        ax.set_xlim(min(xs) - 0.45, max(xs) + 0.2)
        ax.set_ylim(min(ys) - 0.7, max(ys) + 0.45)
        ax.set_title(f"{g.title}      green: forward values,  red: gradients df/d(.)  "
                     f"(small: upstream x local)", fontsize=9.5)
        caption = fig.text(0.5, 0.03, "", ha="center", va="bottom", fontsize=8.5, wrap=True)
        self.artists = {"ax": ax, "circles": circles, "value_texts": value_texts,
                        "grad_texts": grad_texts, "how_texts": how_texts, "caption": caption}

    # -- updates --------------------------------------------------------------------------
    @timed
    def update(self):
        """Re-evaluate the graph with the input boxes' values; returns the view."""
        return self.set_inputs({n: box.value for n, box in self.input_boxes.items()})

    def set_inputs(self, inputs):
        """Re-evaluate the graph with new inputs, keep the step; returns the view."""
        try:
            self.trace = graph_trace(self.graph, inputs)
        except ValueError as exc:
            self.say("error", html.escape(str(exc)))
            return self.view
        self.check = None
        if self.student_fn is not None:
            try:
                self.check = compare_with_student(self.trace, self.student_fn)
            except Exception as exc:  # the student's function raised
                self.check = {"matches": False, "mismatches": [], "student": None,
                              "verdict": f"your function raised {type(exc).__name__}: {exc}"}
                traceback.print_exc()
        self._show_check()
        return self.show_step(self.step_slider.value)

    def _show_check(self):
        c = self.check
        if c is None:
            self.status.value = ""
        elif c["matches"] is None:
            self.say("todo", html.escape(c["verdict"]) +
                     ": once it works, it is compared with the graph here.")
        elif c["matches"]:
            self.say("ok", html.escape(c["verdict"]))
        else:
            self.say("error", html.escape(c["verdict"]))

    def show_step(self, step):
        """Show the graph as it stands after ``step`` steps; returns :func:`stepper_view`."""
        view = stepper_view(self.trace, step)
        a = self.artists
        for edge, text in a["value_texts"].items():
            text.set_text(view["values"].get(edge, ""))
        for edge, text in a["grad_texts"].items():
            grad, how = view["grads"].get(edge, ("", ""))
            text.set_text(grad)
            a["how_texts"][edge].set_text(f"({how})" if how and how != "df/df" else "")
        for name, circle in a["circles"].items():
            is_input = self.graph.gate(name).op == "input"
            face = ACTIVE_COLOR if name == view["active"] else ("0.93" if is_input else "white")
            circle.set_markerfacecolor(face)
        a["caption"].set_text(view["caption"])
        self.view = view
        self.redraw()
        return view

    def step_forward(self):
        """Advance one step (for buttons and tests)."""
        self.step_slider.value = min(self.step_slider.value + 1, self.step_slider.max)
        return self.view

