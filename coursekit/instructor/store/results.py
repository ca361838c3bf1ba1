"""Reading scores back from the nbgrader gradebook: per student, per unit, as CSV.

Scores include manual grades (formgrader) and the late penalty: ``score`` is
what counts (:func:`~coursekit.instructor.intake.deadlines.effective_score`), ``raw_score``
what the tests and graders gave, ``late_penalty`` the difference.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from coursekit.instructor.course import Course
from coursekit.instructor.report.lms_export import safe_cell
from coursekit.grading.units import unit_of

__all__ = ["SubmissionResult", "NoGrades", "read_results", "require_results", "unit_of", "results_csv"]


class NoGrades(LookupError):
    """An assignment has no graded submission (so there is nothing to feed back, export or report)."""


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
    raw_score: float | None = None          # before the late penalty (None: same as score)
    late_penalty: float = 0.0
    lateness: object = None                 # deadlines.Lateness
    notebook_scores: dict[str, float] = field(default_factory=dict)   # notebook -> raw score
    manual: set = field(default_factory=set)                          # grade ids scored by a person
    pending: set = field(default_factory=set)                         # grade ids waiting for a person
    comments: dict[str, str] = field(default_factory=dict)            # grade id -> grader's comment
    test_notebook: dict[str, str] = field(default_factory=dict)       # grade id -> notebook


def read_results(course: Course, assignment: str, students: list[str] | None = None) -> list[SubmissionResult]:
    """Scores of every graded submission of ``assignment`` (or only ``students``).

    Every grade cell counts: autograded tests and manually graded answers
    (their manual score when a person gave one). The late penalty follows
    :mod:`.deadlines` (due date, timestamp, ``extensions.json``, the configured plugin).
    """
    from coursekit.instructor.store.gradebook import open_gradebook, sqlite_path

    db = sqlite_path(course)
    if db is not None and not db.exists():
        return []       # no gradebook yet: nothing graded (and reading creates no empty one)

    from nbgrader.api import MissingEntry

    from coursekit.instructor.intake.deadlines import effective_score, late_penalty, late_plugin, lateness, read_extensions

    results = []
    extensions = read_extensions(course)
    plugin = None
    with open_gradebook(course) as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            return []
        due = a.duedate
        for sub in gb.assignment_submissions(assignment):
            if students and sub.student.id not in students:
                continue
            raw = float(sub.score)
            result = SubmissionResult(sub.student.id, assignment, raw, float(sub.max_score),
                                      needs_manual_grade=bool(sub.needs_manual_grade), raw_score=raw)
            for nb in sub.notebooks:
                result.notebook_scores[nb.name] = float(nb.score)
                units = [c.name for c in nb.notebook.solution_cells]
                for grade in nb.grades:
                    score = None if grade.score is None else float(grade.score)
                    result.tests[grade.name] = (score, float(grade.max_score))
                    result.test_notebook[grade.name] = nb.name
                    if grade.manual_score is not None:
                        result.manual.add(grade.name)
                    elif grade.needs_manual_grade:
                        result.pending.add(grade.name)
                    unit = unit_of(grade.name, units)
                    got, out_of = result.units.get(unit, (0.0, 0.0))
                    result.units[unit] = (got + (score or 0.0), out_of + float(grade.max_score))
                for comment in nb.comments:
                    if comment.manual_comment:
                        result.comments[comment.name] = str(comment.manual_comment)
            result.lateness = lateness(course, assignment, sub.student.id, due=due,
                                       submitted=sub.timestamp, extensions=extensions)
            if result.lateness.seconds_late > 0:
                plugin = plugin or late_plugin(course)
                result.late_penalty = late_penalty(plugin, result.student, result.notebook_scores,
                                                   result.lateness.seconds_late)
            result.score = effective_score(raw, result.late_penalty)
            results.append(result)
    return sorted(results, key=lambda r: r.student)


def require_results(course: Course, assignment: str, students: list[str] | None = None) -> list[SubmissionResult]:
    """:func:`read_results`, raising :class:`NoGrades` (with what to do) when there is nothing graded."""
    results = read_results(course, assignment, students)
    if not results:
        who = f" for {', '.join(students)}" if students else ""
        raise NoGrades(f"no graded submissions of {assignment}{who} in the gradebook ({course.db_url}): "
                       f"grade first (`coursekit grade {assignment}`)")
    return results


def results_csv(results: list[SubmissionResult], tests: bool = False) -> str:
    """CSV text: one row per submission; total, then one column per unit (and per test cell).

    ``score`` is after the late penalty, ``raw_score`` before it. A unit column holds the points on that unit, ``<unit>_max`` what it was
    worth; with ``tests``, ``<test id>`` columns follow (empty: needs manual grading).
    """
    units = sorted({u for r in results for u in r.units})
    test_ids = sorted({t for r in results for t in r.tests}) if tests else []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "assignment", "score", "max_score", "raw_score", "late_penalty",
                     *[f"{u}" for u in units], *[f"{u}_max" for u in units], *test_ids])
    for r in results:
        cells = []
        for t in test_ids:
            score = r.tests.get(t, (None, 0))[0]
            cells.append("" if score is None else f"{score:g}")
        writer.writerow([safe_cell(r.student), safe_cell(r.assignment), f"{r.score:g}", f"{r.max_score:g}",
                         f"{(r.score if r.raw_score is None else r.raw_score):g}", f"{r.late_penalty:g}",
                         *[f"{r.units.get(u, (0, 0))[0]:g}" for u in units],
                         *[f"{r.units.get(u, (0, 0))[1]:g}" for u in units], *cells])
    return out.getvalue()
