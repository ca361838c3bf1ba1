"""Interactive widgets, one module per widget.

Each widget's update logic is a plain function (tested without a browser); the
widget class wires it to ipywidgets controls and an ipympl figure. Every widget class
is a :class:`coursekit.widgets.base.FigureWidget` (an ``ipywidgets.VBox``: controls, a
figure redrawn in place, a status line, an error output; see its lifecycle). Widgets
that need a graded unit take the student's function as an argument.
"""
