"""``coursekit export --format canvas|moodle|wide|long``: grades out, to an LMS or a spreadsheet.

- ``long``: one row per submission, one column per unit (and per test cell
  with ``--tests``): :func:`~coursekit.instructor.store.results.results_csv`.
- ``wide``: one row per student, one column per assignment, then the total and
  the maximum; a student who did not submit an assignment gets 0 there.
- ``canvas``: Canvas's gradebook import CSV: ``Student, ID, SIS User ID,
  SIS Login ID, Section``, one column per assignment, and the "Points Possible"
  row. ``ID`` is the Canvas user id from the roster; name a column after the
  Canvas assignment (``"Softmax (123456)"``) with ``--column 01_softmax="Softmax (123456)"``
  to fill an existing assignment, otherwise Canvas creates a new one.
- ``moodle``: Moodle's grade import CSV (Grades > Import > CSV file):
  ``ID number, Username, Email address, Full name``, one column per assignment;
  on import map "ID number" (or "Email address") to the user and each column to
  its grade item.

Every score is after the late penalty and includes manual grades (see
:func:`~coursekit.instructor.store.results.read_results`). Text cells that a spreadsheet
would run as a formula (starting with ``= + - @``, tab or carriage return) are
prefixed with ``'``.

The roster (``--roster roster.csv``, shared with ``coursekit collect``) is a CSV
with a ``student_id`` column (the nbgrader id) and any of ``lms_id`` (Canvas /
Moodle id), ``name``, ``email``, ``sis_user_id``, ``sis_login_id``, ``section``,
``idnumber``.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

__all__ = ["safe_cell", "read_roster", "wide_csv", "canvas_csv", "moodle_csv", "FORMATS"]

FORMATS = ("long", "wide", "canvas", "moodle")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """Text as a spreadsheet shows it, never as a formula: ``=HYPERLINK(...)`` -> ``'=HYPERLINK(...)``."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _num(x: float) -> str:
    return f"{round(float(x), 4):g}"


def read_roster(path: str | Path | None) -> list[dict[str, str]]:
    """Rows of a roster CSV (keys lower-cased, values stripped); needs a ``student_id`` column."""
    if not path:
        return []
    text = Path(path).read_text(encoding="utf-8-sig")
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        clean = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k}
        if "student_id" not in clean:
            raise ValueError(f"{path}: the roster needs a student_id column (has {', '.join(clean)})")
        if clean["student_id"]:
            rows.append(clean)
    return rows


def _table(results_by_assignment: dict[str, list]) -> tuple[list[str], dict[str, dict[str, float]], dict[str, float]]:
    """(students, {student: {assignment: score}}, {assignment: max score})."""
    scores: dict[str, dict[str, float]] = {}
    maxima: dict[str, float] = {}
    for a, results in results_by_assignment.items():
        for r in results:
            scores.setdefault(r.student, {})[a] = r.score
            maxima[a] = max(maxima.get(a, 0.0), r.max_score)
    return sorted(scores), scores, maxima


def _write(rows: list[list]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def wide_csv(results_by_assignment: dict[str, list], roster: list[dict] | None = None) -> str:
    """One row per student (graded or on the roster): a column per assignment, ``total``, ``max_total``."""
    students, scores, maxima = _table(results_by_assignment)
    assignments = list(results_by_assignment)
    students = sorted(set(students) | {r["student_id"] for r in roster or []})
    names = {r["student_id"]: r.get("name", "") for r in roster or []}
    total_max = sum(maxima.get(a, 0.0) for a in assignments)
    rows = [["student", "name", *[safe_cell(a) for a in assignments], "total", "max_total"]]
    for s in students:
        got = [scores.get(s, {}).get(a, 0.0) for a in assignments]
        rows.append([safe_cell(s), safe_cell(names.get(s, "")), *map(_num, got), _num(sum(got)), _num(total_max)])
    return _write(rows)


def _columns(assignments: list[str], column_names: dict[str, str] | None) -> list[str]:
    return [safe_cell((column_names or {}).get(a, a)) for a in assignments]


def canvas_csv(results_by_assignment: dict[str, list], roster: list[dict] | None = None,
               column_names: dict[str, str] | None = None) -> str:
    """Canvas gradebook import CSV (see the module docstring)."""
    students, scores, maxima = _table(results_by_assignment)
    assignments = list(results_by_assignment)
    by_id = {r["student_id"]: r for r in roster or []}
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *_columns(assignments, column_names)],
            ["Points Possible", "", "", "", "", *[_num(maxima.get(a, 0.0)) for a in assignments]]]
    for s in sorted(set(students) | set(by_id)):
        info = by_id.get(s, {})
        rows.append([safe_cell(info.get("name", s)), safe_cell(info.get("lms_id", "")),
                     safe_cell(info.get("sis_user_id", "")), safe_cell(info.get("sis_login_id", s)),
                     safe_cell(info.get("section", "")),
                     *[_num(scores.get(s, {}).get(a, 0.0)) for a in assignments]])
    return _write(rows)


def moodle_csv(results_by_assignment: dict[str, list], roster: list[dict] | None = None,
               column_names: dict[str, str] | None = None) -> str:
    """Moodle grade import CSV (see the module docstring)."""
    students, scores, _ = _table(results_by_assignment)
    assignments = list(results_by_assignment)
    by_id = {r["student_id"]: r for r in roster or []}
    rows = [["ID number", "Username", "Email address", "Full name", *_columns(assignments, column_names)]]
    for s in sorted(set(students) | set(by_id)):
        info = by_id.get(s, {})
        rows.append([safe_cell(info.get("idnumber", info.get("lms_id", ""))), safe_cell(s),
                     safe_cell(info.get("email", "")), safe_cell(info.get("name", "")),
                     *[_num(scores.get(s, {}).get(a, 0.0)) for a in assignments]])
    return _write(rows)
