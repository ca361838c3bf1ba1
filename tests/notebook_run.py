"""Run a whole solved notebook in this process (free cells too) and watch its pyplot figures."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import nbformat

from .harness import notebook_path

_MAGIC = re.compile(r"^\s*[%!].*$", re.M)


@dataclass
class FigureStats:
    most_open: int        # the most pyplot figures open at once, after any cell
    left_open: int        # still open after the last cell
    widest: float         # the widest pyplot figure seen, in inches


def run_notebook_in_process(assignment: str) -> FigureStats:
    """Execute every code cell in order with the Agg backend; count figures after each cell."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    path = notebook_path(assignment)
    nb = nbformat.read(path, as_version=4)
    ns: dict = {"__name__": "__main__"}
    most, widest = 0, 0.0
    old = os.getcwd()
    os.chdir(path.parent)
    try:
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            exec(compile(_MAGIC.sub("", cell.source), f"<{assignment} cell {i}>", "exec"), ns)
            nums = plt.get_fignums()
            most = max(most, len(nums))
            widest = max([widest] + [plt.figure(n).get_size_inches()[0] for n in nums])
        return FigureStats(most, len(plt.get_fignums()), widest)
    finally:
        os.chdir(old)
        plt.close("all")
