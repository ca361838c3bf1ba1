"""How long a student waits, and how long grading takes, per assignment.

    python bench/bench_course.py [ASSIGNMENT ...]

For each assignment (default: all) it measures, in this run:

- baseline: executing an empty notebook (kernel start-up and shutdown);
- the solved notebook executed top to bottom with nbclient (what a student's
  "Run All" costs) -- target: 20 s for 01_softmax, 30 s for 02/03/05, 60 s for 04;
- grading one submission (the solved one) with `coursekit grade --student`,
  in a scratch copy of the course -- target: 10 s;
- grading through plain `nbgrader autograde` for comparison.

Times are wall-clock medians of --repeat runs, printed with their ratio to the
baseline and to the target. Nothing here is asserted: it is a report.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coursekit.instructor.course import Course  # noqa: E402
from coursekit.instructor.intake.submissions import build_submission  # noqa: E402

from common import time_once  # noqa: E402

TARGETS = {"01_softmax": 20.0, "02_backprop": 30.0, "03_optimizers": 30.0, "04_training": 60.0, "05_autodiff": 30.0}
GRADE_TARGET = 10.0


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    return time_once(client.execute)[0]


def empty_notebook_time(tmp: Path) -> float:
    path = tmp / "empty.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    nbformat.write(nb, path)
    return execute(path)


def grade_one(assignment: str, tmp: Path, how: str, again: bool = False) -> float:
    """Grade one solved submission in a fresh scratch course; with ``again``, time only
    a second grading (the gradebook already set up: the per-submission cost)."""
    course_dir = tmp / f"course-{how}"
    if course_dir.exists():
        shutil.rmtree(course_dir)
    course_dir.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course_dir)
    shutil.copytree(ROOT / "solutions" / assignment, course_dir / "solutions" / assignment)
    shutil.copytree(ROOT / "assignments" / assignment, course_dir / "assignments" / assignment)
    course = Course(course_dir)
    build_submission(course, assignment, "student", solve="all")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    if how == "nbgrader":  # the gradebook must know the assignment first; not timed
        course.nbgrader("generate_assignment", assignment, "--force")
        cmd = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"]
    else:
        cmd = [sys.executable, "-m", "coursekit.cli", "grade", assignment, "--student", "student", "--force"]
    run = lambda: subprocess.run(cmd, cwd=course_dir, env=env, check=True,  # noqa: E731
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = time_once(run)[0]
    return time_once(run)[0] if again else first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    assignments = args.assignment or Course(ROOT).assignments()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base = statistics.median(empty_notebook_time(tmp) for _ in range(max(1, args.repeat)))
        print(f"baseline: empty notebook executed in {base:.2f} s (kernel start + stop)\n")
        print(f"{'assignment':<15} {'what':<28} {'seconds':>8} {'x baseline':>11} {'target':>8} {'of target':>10}")
        for a in assignments:
            nb_path = sorted((ROOT / "solutions" / a).glob("*.ipynb"))[0]
            rows = [
                ("solved notebook, Run All", lambda: execute(nb_path), TARGETS.get(a, 60.0)),
                ("grade one, new gradebook", lambda: grade_one(a, tmp, "coursekit"), None),
                ("grade one (coursekit grade)", lambda: grade_one(a, tmp, "coursekit", True), GRADE_TARGET),
                ("grade one (nbgrader autograde)", lambda: grade_one(a, tmp, "nbgrader", True), None),
            ]
            for what, fn, target in rows:
                t = statistics.median(fn() for _ in range(max(1, args.repeat)))
                tgt = f"{target:.0f} s" if target else "-"
                frac = f"{t / target:.2f}" if target else "-"
                print(f"{a:<15} {what:<28} {t:8.2f} {t / base:11.1f} {tgt:>8} {frac:>10}")


if __name__ == "__main__":
    main()
