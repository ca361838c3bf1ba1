"""Building student submissions programmatically, from the release.

Used by the demo and the tests: a submission is the release notebook with some
solution cells filled in — with the reference's code (read from ``solutions/``
at run time, never stored), or with code of your own (a deliberately wrong
implementation, to check that grading catches it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import nbformat

from coursekit.instructor.course import Course
from coursekit.instructor.markers import Markers

__all__ = ["solved_sources", "build_submission", "strip_solution_markers"]

def strip_solution_markers(source: str, markers: Markers | None = None) -> str:
    """The solved code of a cell without its solution delimiter lines (``markers``: the
    course's, nbgrader's defaults if None)."""
    return (markers or Markers.default()).strip_solution_delimiters(source)


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def solved_sources(course: Course, assignment: str, notebook: str) -> dict[str, str]:
    """``{unit: solved code}`` for every solution cell of a source notebook."""
    nb = nbformat.read(course.solutions / assignment / notebook, as_version=4)
    markers = Markers.of_course(course)
    return {_grade_id(c): strip_solution_markers(c.source, markers) for c in nb.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution") and _grade_id(c)}


def build_submission(course: Course, assignment: str, student: str, *,
                     solve: Iterable[str] | str | None = "all",
                     replace: Mapping[str, str] | None = None,
                     submitted_root: Path | None = None) -> Path:
    """Write ``submitted/<student>/<assignment>/`` from the release.

    Parameters
    ----------
    solve : "all", None, or iterable of unit names
        Solution cells to fill with the reference code ("all", none, or these).
    replace : dict {unit: code}
        Solution cells to fill with this code instead (applied after ``solve``).
    submitted_root : Path, optional
        Where submissions go (default: the course's ``submitted/``).

    Returns
    -------
    The submission folder.
    """
    release = course.release / assignment
    target = (submitted_root or course.directory("submitted")) / student / assignment
    target.mkdir(parents=True, exist_ok=True)
    replace = dict(replace or {})
    for nb_path in sorted(release.glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        solved = solved_sources(course, assignment, nb_path.name)
        wanted = set(solved) if solve == "all" else set(solve or ())
        for cell in nb.cells:
            unit = _grade_id(cell)
            if unit in replace:
                cell.source = replace.pop(unit)
            elif unit in wanted and unit in solved:
                cell.source = solved[unit]
        nbformat.write(nb, target / nb_path.name)
    if replace:
        raise KeyError(f"no solution cell named {sorted(replace)} in the {assignment} release")
    return target
