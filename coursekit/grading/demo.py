"""``coursekit demo``: a scratch copy of the course, three sample students, graded.

- ``ada`` submits the reference solution (full marks),
- ``ben`` submits the blank release (0 points),
- ``cy`` solved only the first half of the units (points on those alone).

Then it writes feedback and a CSV, and prints where everything is.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from .autograde import generate_feedback, grade
from .course import Course
from .results import results_csv
from .submissions import solved_sources

__all__ = ["run_demo"]


def _copy_course(course: Course, into: Path) -> Course:
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    shutil.copy(course.root / "nbgrader_config.py", into / "nbgrader_config.py")
    shutil.copytree(course.solutions, into / course.solutions.name)
    shutil.copytree(course.release, into / course.release.name)
    return Course(into)


def run_demo(course: Course, into: Path, assignments: list[str] | None = None) -> int:
    from .submissions import build_submission

    demo = _copy_course(course, into.resolve())
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
            print(f"  {r.student:<4} {r.score:6.2f} / {r.max_score:g}")
        generate_feedback(demo, assignment)
        rows += results
    (demo.root / "grades.csv").write_text(results_csv(rows))
    print(f"\nfeedback: {demo.directory('feedback')}/<student>/<assignment>/*.html")
    print(f"scores:   {demo.root / 'grades.csv'} and {demo.db_url}")
    return 0
