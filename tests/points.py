"""What an assignment's release notebook is worth, read from its nbgrader metadata.

Tests derive expected scores from here instead of hard-coding them, so adding a
test cell or a written question to a notebook does not silently break them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from coursekit.instructor.store.results import unit_of

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["Points", "release_points"]


@dataclass(frozen=True)
class Points:
    """Points of one release notebook.

    ``tests``: grade id -> points of each autograded test cell (grade, not solution);
    ``written``: grade id -> points of each hand-graded answer (grade and solution);
    ``units``: ids of the solution cells (the units a test cell belongs to).
    """

    tests: dict[str, float]
    written: dict[str, float]
    units: tuple[str, ...]

    @property
    def autograded(self) -> float:
        """All points the autograder can give (a fully solved notebook, before manual grading)."""
        return sum(self.tests.values())

    @property
    def possible(self) -> float:
        """All points of the notebook: autograded tests and written answers (the gradebook's max_score)."""
        return self.autograded + sum(self.written.values())

    def of_units(self, units) -> float:
        """Points of the test cells whose unit (:func:`unit_of`) is one of ``units``."""
        units = set(units)
        missing = units - set(self.units)
        if missing:
            raise KeyError(f"not units of this notebook: {sorted(missing)}")
        return sum(p for gid, p in self.tests.items() if unit_of(gid, list(self.units)) in units)


def release_points(assignment: str, notebook: str) -> Points:
    """:class:`Points` of ``assignments/<assignment>/<notebook>.ipynb`` (the committed release)."""
    nb = json.loads((ROOT / "assignments" / assignment / f"{notebook}.ipynb").read_text())
    metas = [c.get("metadata", {}).get("nbgrader", {}) for c in nb["cells"]]
    grades = [m for m in metas if m.get("grade")]
    return Points(tests={m["grade_id"]: float(m["points"]) for m in grades if not m.get("solution")},
                  written={m["grade_id"]: float(m["points"]) for m in grades if m.get("solution")},
                  units=tuple(m["grade_id"] for m in metas if m.get("solution") and not m.get("grade")))
