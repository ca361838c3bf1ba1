"""Reading scores back from the nbgrader gradebook: per student, per unit, as CSV."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from .course import Course

__all__ = ["SubmissionResult", "read_results", "unit_of", "results_csv"]


@dataclass
class SubmissionResult:
    """One student's graded submission of one assignment."""

    student: str
    assignment: str
    score: float
    max_score: float
    tests: dict[str, tuple[float | None, float]] = field(default_factory=dict)  # grade id -> (score, max)
    units: dict[str, tuple[float, float]] = field(default_factory=dict)         # unit -> (score, max)
    needs_manual_grade: bool = False


def unit_of(test_id: str, units: list[str]) -> str:
    """The unit a test cell belongs to: ``test_softmax_loss_grad`` -> ``softmax_loss``.

    Test cells are named ``test_<unit>...``; the longest unit name that fits wins.
    """
    name = test_id[5:] if test_id.startswith("test_") else test_id
    matches = [u for u in units if name == u or name.startswith(u + "_")]
    return max(matches, key=len) if matches else name


def read_results(course: Course, assignment: str, students: list[str] | None = None) -> list[SubmissionResult]:
    """Scores of every graded submission of ``assignment`` (or only ``students``)."""
    from nbgrader.api import MissingEntry

    from .gradebook import open_gradebook

    results = []
    with open_gradebook(course) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            return []
        for sub in gb.assignment_submissions(assignment):
            if students and sub.student.id not in students:
                continue
            result = SubmissionResult(sub.student.id, assignment, float(sub.score), float(sub.max_score),
                                      needs_manual_grade=bool(sub.needs_manual_grade))
            for nb in sub.notebooks:
                units = [c.name for c in nb.notebook.solution_cells]
                for grade in nb.grades:
                    if grade.cell_type != "code":
                        continue
                    score = None if grade.score is None else float(grade.score)
                    result.tests[grade.name] = (score, float(grade.max_score))
                    unit = unit_of(grade.name, units)
                    got, out_of = result.units.get(unit, (0.0, 0.0))
                    result.units[unit] = (got + (score or 0.0), out_of + float(grade.max_score))
            results.append(result)
    return sorted(results, key=lambda r: r.student)


def results_csv(results: list[SubmissionResult], tests: bool = False) -> str:
    """CSV text: one row per submission; total, then one column per unit (and per test cell).

    A unit column holds the points on that unit, ``<unit>_max`` what it was
    worth; with ``tests``, ``<test id>`` columns follow (empty: needs manual grading).
    """
    units = sorted({u for r in results for u in r.units})
    test_ids = sorted({t for r in results for t in r.tests}) if tests else []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "assignment", "score", "max_score",
                     *[f"{u}" for u in units], *[f"{u}_max" for u in units], *test_ids])
    for r in results:
        cells = []
        for t in test_ids:
            score = r.tests.get(t, (None, 0))[0]
            cells.append("" if score is None else f"{score:g}")
        writer.writerow([r.student, r.assignment, f"{r.score:g}", f"{r.max_score:g}",
                         *[f"{r.units.get(u, (0, 0))[0]:g}" for u in units],
                         *[f"{r.units.get(u, (0, 0))[1]:g}" for u in units], *cells])
    return out.getvalue()
