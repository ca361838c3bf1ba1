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

__all__ = ["release", "stale_files"]


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


def _fresh_release(course: Course, assignment: str, into: Path) -> Path:
    """Generate ``assignment`` in a scratch copy of the course, without touching the gradebook."""
    scratch = into / "course"
    (scratch / "solutions").mkdir(parents=True)
    shutil.copy(course.root / "nbgrader_config.py", scratch / "nbgrader_config.py")
    shutil.copytree(course.solutions / assignment, scratch / "solutions" / assignment)
    Course(scratch).nbgrader("generate_assignment", assignment, "--no-db", "--force")
    return Course(scratch).release / assignment


def stale_files(course: Course, assignment: str) -> list[str]:
    """Files of ``assignments/<id>/`` that differ from a fresh generation (empty: up to date)."""
    committed = course.release / assignment
    with tempfile.TemporaryDirectory() as tmp:
        fresh = _fresh_release(course, assignment, Path(tmp))
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
