"""Interactive widgets, one module per widget.

Each widget's update logic is a plain function (tested without a browser); the
widget class wires it to ipywidgets controls and an ipympl figure. Widgets that
need a graded unit take the student's function as an argument.
"""
