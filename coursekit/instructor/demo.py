"""``coursekit demo``: a scratch copy of the course, three sample students, graded.

- ``ada`` submits the reference solution (full marks),
- ``ben`` submits the blank release (0 points),
- ``cy`` solved only the first half of the units (points on those alone).

Then it writes feedback and a CSV, and prints where everything is.

The scratch course is marked (:data:`MARKER_FILE`): a later ``coursekit demo`` replaces
a folder only if it carries that mark (or is empty or absent). Any other folder is
refused (:class:`DemoDirRefused`), so ``--dir`` can never delete a real course,
``submitted/`` or a checkout.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from coursekit.instructor.pipeline import generate_feedback, grade
from coursekit.instructor.report.feedback import FEEDBACK_DIR
from coursekit.instructor.course import Course
from coursekit.instructor.store.results import results_csv
from coursekit.instructor.intake.submissions import solved_sources

__all__ = ["run_demo", "prepare_demo_dir", "DemoDirRefused", "MARKER_FILE"]

#: Written at the top of every demo course; only a folder holding it is ever replaced.
MARKER_FILE = ".coursekit-demo"


class DemoDirRefused(RuntimeError):
    """``--dir`` names a folder that ``coursekit demo`` did not create: left untouched."""


def prepare_demo_dir(into: Path, course_root: Path | None = None) -> Path:
    """Make ``into`` an empty, marked folder: create it, or replace a demo course made before.

    Refuses (:class:`DemoDirRefused`, nothing touched) a symlink, a file, the course
    itself or a folder above it, and any non-empty folder without :data:`MARKER_FILE`.
    """
    into = Path(os.path.abspath(into))
    if into.is_symlink():
        raise DemoDirRefused(f"{into} is a symbolic link: give a new folder for the demo course")
    into = into.resolve()
    if course_root is not None:
        root = Path(course_root).resolve()
        if into == root or into in root.parents:
            raise DemoDirRefused(f"{into} is the course or a folder holding it: give a new folder "
                                 "for the demo course")
    if into.exists():
        if not into.is_dir():
            raise DemoDirRefused(f"{into} exists and is not a folder: give a new folder "
                                 "for the demo course")
        if any(into.iterdir()):
            if not (into / MARKER_FILE).is_file():
                raise DemoDirRefused(
                    f"{into} exists, is not empty and was not created by `coursekit demo` "
                    f"(no {MARKER_FILE} in it): refusing to replace it. Give a new or empty "
                    "folder with --dir (nothing was changed)")
            shutil.rmtree(into)
    into.mkdir(parents=True, exist_ok=True)
    (into / MARKER_FILE).write_text(
        "Created by `coursekit demo`: a later `coursekit demo --dir` may delete and rebuild "
        "this folder.\n")
    return into


def _copy_course(course: Course, into: Path) -> Course:
    into = prepare_demo_dir(into, course.root)
    shutil.copy(course.root / "nbgrader_config.py", into / "nbgrader_config.py")
    shutil.copytree(course.solutions, into / course.solutions.name)
    shutil.copytree(course.release, into / course.release.name)
    return Course(into)


def run_demo(course: Course, into: Path, assignments: list[str] | None = None) -> int:
    from coursekit.instructor.intake.submissions import build_submission

    demo = _copy_course(course, into)
    assignments = assignments or demo.assignments()
    print(f"demo course in {demo.root}")
    rows = []
    for assignment in assignments:
        units = [u for nb in sorted((demo.solutions / assignment).glob("*.ipynb"))
                 for u in solved_sources(demo, assignment, nb.name)]
        build_submission(demo, assignment, "ada", solve="all")
        build_submission(demo, assignment, "ben", solve=None)
        build_submission(demo, assignment, "cy", solve=units[: max(1, len(units) // 2)])
        start = time.perf_counter()
        results = grade(demo, assignment, jobs=min(3, os.cpu_count() or 1))
        print(f"\n{assignment}: graded {len(results)} submissions in {time.perf_counter() - start:.1f} s")
        for r in results:
            waiting = sum(r.tests[gid][1] for gid in r.pending if gid in r.tests)
            note = f"  (+ {waiting:g} points of written answers wait for a grader)" if waiting else ""
            print(f"  {r.student:<4} {r.score:6.2f} / {r.max_score:g}{note}")
        generate_feedback(demo, assignment)
        rows += results
    (demo.root / "grades.csv").write_text(results_csv(rows))
    print(f"\nfeedback: {demo.root / FEEDBACK_DIR}/<student>/<assignment>/*.html")
    print(f"scores:   {demo.root / 'grades.csv'} and {demo.db_url}")
    return 0
