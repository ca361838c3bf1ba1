"""Generating the student release from the solved source, and checking it is fresh.

``solutions/<id>/`` is the one reference; ``assignments/<id>/`` is what nbgrader's
``generate_assignment`` makes of it (solutions replaced by stubs, hidden tests
removed, cells locked and checksummed) and is committed so students can use it
straight from the repository.
"""
from __future__ import annotations

import filecmp
import shutil
import tempfile
from pathlib import Path

from coursekit.instructor.course import Course, MissingInput

__all__ = ["release", "stale_releases"]


def release(course: Course, assignments: list[str] | None = None) -> list[str]:
    """Regenerate ``assignments/<id>/`` for each id (default: all); record them in the gradebook."""
    done = []
    for assignment in assignments or course.assignments():
        if not (course.solutions / assignment).is_dir():
            raise MissingInput(f"no solutions/{assignment}/: known assignments are "
                                    f"{', '.join(course.assignments())}")
        course.nbgrader("generate_assignment", assignment, "--force",
                        log=course.root / "autograded" / ".logs" / f"release-{assignment}.log")
        done.append(assignment)
    return done


def _fresh_releases(course: Course, assignments: list[str], into: Path) -> Path:
    """Generate ``assignments`` in a scratch copy of the course, without touching the gradebook,
    in one ``nbgrader generate_assignment`` run (one start-up of nbgrader, which costs about as
    much as generating a release); the folder holding the fresh ``<id>/`` releases."""
    scratch = into / "course"
    (scratch / "solutions").mkdir(parents=True)
    shutil.copy(course.root / "nbgrader_config.py", scratch / "nbgrader_config.py")
    for assignment in assignments:
        shutil.copytree(course.solutions / assignment, scratch / "solutions" / assignment)
    # nbgrader globs the assignment id: "*" is every assignment copied above
    pattern = assignments[0] if len(assignments) == 1 else "*"
    Course(scratch).nbgrader("generate_assignment", pattern, "--no-db", "--force")
    return Course(scratch).release


def _differences(fresh: Path, committed: Path) -> list[str]:
    names = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()}
    if committed.is_dir():
        names |= {p.relative_to(committed).as_posix() for p in committed.rglob("*")
                  if p.is_file() and ".ipynb_checkpoints" not in p.parts}
    stale = []
    for name in sorted(names):
        a, b = fresh / name, committed / name
        if not (a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)):
            stale.append(name)
    return stale


def stale_releases(course: Course, assignments: list[str] | None = None) -> dict[str, list[str]]:
    """For each of ``assignments`` (default: all), the files of ``assignments/<id>/`` that differ
    from a fresh generation (empty: up to date); all generated together, in one nbgrader run."""
    assignments = list(assignments or course.assignments())
    if not assignments:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        fresh = _fresh_releases(course, assignments, Path(tmp))
        return {a: _differences(fresh / a, course.release / a) for a in assignments}
