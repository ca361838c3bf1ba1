"""Benchmark: plain serial ``nbgrader autograde`` vs ``coursekit grade``, same run, same work.

    python bench/bench_grading.py [--part class|student|all] [--students 20] [--jobs 2] [--assignment 01_softmax]

Two parts (``--part all``, the default, runs both):

**student** -- one student's four solved assignments (01-04), the wait a student has:
plain ``nbgrader autograde`` of each in turn (the baseline) against one ``coursekit grade
01_softmax 02_backprop 03_optimizers 04_training --student S`` grading them concurrently
(``--jobs``: default the cores), with warm preflights (paid once, untimed, as on a course
that has graded before). Also 05_autodiff alone with each, and the fixed cost of a run
(``coursekit grade`` of a submission without notebooks: everything but executing one)
against one bare kernel start (``jupyter_client``, ready to execute). Target: the four in
at most 20 s on a 2-core machine.

**class** -- 20 submissions of one assignment:

Builds synthetic submissions of one assignment (the solution, the blank release,
half-solved notebooks and the catalogue's wrong implementations, in turn), then
grades identical copies of the course with each grader. Each grader also grades
a 2-submission copy, so that its cost splits into a fixed part (start-up) and a
per-submission part:

    per_submission = (t(N) - t(2)) / (N - 2),   fixed = t(2) - 2 * per_submission

It prints both, the ratio of the two wall-clock times for N submissions
(target: >= 1.8 on 2 cores), and whether both graders gave every test the same
score. Not a test: timings depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import print_rows  # noqa: E402
from coursekit.instructor.course import Course  # noqa: E402
from coursekit.instructor.store.results import read_results  # noqa: E402
from coursekit.instructor.intake.submissions import build_submission, solved_sources  # noqa: E402
from tests.conftest import make_course  # noqa: E402

from common import time_once  # noqa: E402


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env["COURSEKIT_SEED"] = "12345"            # same hidden inputs for both graders
    return env


def build_course(where: Path, assignment: str, n: int) -> Course:
    from tests.mutants import catalogues

    root = make_course(where, [assignment])
    course = Course(root)
    units = [u for nb in sorted((course.solutions / assignment).glob("*.ipynb"))
             for u in solved_sources(course, assignment, nb.name)]
    mutants = catalogues().get(assignment, [])
    for i in range(n):
        kind = i % 4
        name = f"student{i:03d}"
        if kind == 0:
            build_submission(course, assignment, name, solve="all")
        elif kind == 1:
            build_submission(course, assignment, name, solve=None)
        elif kind == 2:
            build_submission(course, assignment, name, solve=units[: len(units) // 2])
        else:
            m = mutants[(i // 4) % len(mutants)] if mutants else None
            build_submission(course, assignment, name, solve="all",
                             replace={m.unit: m.code} if m else None)
    # the gradebook knows the assignment before either grader starts (not timed)
    course.nbgrader("generate_assignment", assignment, "--force")
    return course


def time_plain(course: Course, assignment: str) -> float:
    took, proc = time_once(lambda: subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"],
        cwd=course.root, env=_env(), capture_output=True, text=True))
    if proc.returncode != 0:
        print("  (nbgrader reported errors; see its log)", proc.stdout[-500:])
    return took


def time_coursekit(course: Course, assignment: str, jobs: int) -> float:
    took, proc = time_once(lambda: subprocess.run(
        [sys.executable, "-m", "coursekit.cli", "grade", assignment, "--jobs", str(jobs)],
        cwd=course.root, env=_env(), capture_output=True, text=True))
    if proc.returncode != 0:
        raise SystemExit(f"coursekit grade failed:\n{proc.stdout}\n{proc.stderr}")
    return took


FOUR = ["01_softmax", "02_backprop", "03_optimizers", "04_training"]
FIFTH = "05_autodiff"
TARGET_SECONDS = 20.0


def _run(course: Course, *args: str, tool: str = "coursekit.cli") -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", tool, *args], cwd=course.root, env=_env(),
                          capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{tool} {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return took


def bare_kernel_start(runs: int = 3) -> float:
    """Median seconds for jupyter_client to start a python3 kernel until it answers."""
    import statistics

    from jupyter_client.manager import start_new_kernel

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="python3")
        times.append(time.perf_counter() - t0)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return statistics.median(times)


def judge_seconds(course: Course, assignment: str, student: str) -> float:
    record = course.directory("autograded") / ".coursekit" / assignment / f"{student}.json"
    return float(json.loads(record.read_text())["seconds"])


def student_part(tmp: Path, jobs: int | None) -> None:
    """One student's four assignments: plain nbgrader in turn vs coursekit grade of the four together."""
    everything = FOUR + [FIFTH]
    courses = {}
    for g in ("plain", "coursekit"):
        course = Course(make_course(tmp / f"student-{g}", everything))
        for a in everything:
            build_submission(course, a, "ada", solve="all")
            (course.directory("submitted") / "empty" / a).mkdir(parents=True)    # no notebook at all
        courses[g] = course
    print("warming up (untimed): the plain gradebook knows the assignments; coursekit's preflights pass")
    for a in everything:
        courses["plain"].nbgrader("generate_assignment", a, "--force")
    os.environ.setdefault("COURSEKIT_PREFLIGHT_CACHE", str(tmp / "preflight-cache"))
    _run(courses["coursekit"], "grade", *everything, "--student", "empty")
    jobs_args = ["--jobs", str(jobs)] if jobs else []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} before timing")

    kernel = bare_kernel_start()
    fixed = _run(courses["coursekit"], "grade", FOUR[0], "--student", "empty", "--force", *jobs_args)
    plain = {a: _run(courses["plain"], "autograde", a, "--student", "ada", "--force", tool="nbgrader")
             for a in everything}
    four = _run(courses["coursekit"], "grade", *FOUR, "--student", "ada", "--force", *jobs_args)
    per = {a: judge_seconds(courses["coursekit"], a, "ada")
           for a in FOUR}
    fifth = _run(courses["coursekit"], "grade", FIFTH, "--student", "ada", "--force", *jobs_args)
    per[FIFTH] = judge_seconds(courses["coursekit"], FIFTH, "ada")

    print_rows([(f"nbgrader autograde {a}", plain[a]) for a in everything]
               + [(f"coursekit judge, {a} (inside the run)", per[a]) for a in everything],
               "per notebook, one student (wall clock):", unit="s")
    plain_four = sum(plain[a] for a in FOUR)
    print(f"\nfixed cost of a coursekit grade run (a submission without notebooks): {fixed:.1f} s; "
          f"one bare kernel start: {kernel:.1f} s (ratio {fixed / kernel:.1f}x)")
    print(f"one student's four assignments: nbgrader in turn {plain_four:.1f} s, "
          f"coursekit grade of the four together {four:.1f} s -> ratio {plain_four / four:.2f}x")
    print(f"05_autodiff alone: nbgrader {plain[FIFTH]:.1f} s, coursekit {fifth:.1f} s")
    print(f"target: the four in at most {TARGET_SECONDS:g} s on a 2-core machine: "
          + ("MET" if four <= TARGET_SECONDS else f"NOT met ({four:.1f} s)")
          + f" (load average {load:.1f} before timing; {os.cpu_count()} cores)")
    same = ({a: r.tests for a in FOUR for r in read_results(courses["plain"], a) if r.student == "ada"}
            == {a: r.tests for a in FOUR for r in read_results(courses["coursekit"], a) if r.student == "ada"})
    print("same score on every test (plain vs coursekit):", "yes" if same else "NO")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["class", "student", "all"], default="all")
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignment", default="01_softmax")
    parser.add_argument("--keep", action="store_true", help="keep the scratch courses")
    args = parser.parse_args()
    n, a = args.students, args.assignment
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        if args.part in ("student", "all"):
            student_part(tmp, args.jobs)
            if args.part == "student":
                return 0
            print()
        print(f"building {n} + 2 submissions of {a} for each grader in {tmp} ...")
        courses = {(g, k): build_course(tmp / f"{g}-{k}", a, k) for g in ("plain", "coursekit") for k in (2, n)}
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {os.cpu_count()} cores, load average {load:.1f} before timing")
        t = {}
        # interleave the two graders so that a change in machine load hits both
        for k in (2, n):
            t[("plain", k)] = time_plain(courses[("plain", k)], a)
            print(f"  nbgrader autograde (serial), {k:3d} submissions: {t[('plain', k)]:7.1f} s")
            t[("coursekit", k)] = time_coursekit(courses[("coursekit", k)], a, args.jobs)
            print(f"  coursekit grade --jobs {args.jobs},     {k:3d} submissions: {t[('coursekit', k)]:7.1f} s")
        print()
        for g, label in (("plain", "nbgrader autograde (serial)"), ("coursekit", f"coursekit grade --jobs {args.jobs}")):
            per = (t[(g, n)] - t[(g, 2)]) / (n - 2)
            fixed = t[(g, 2)] - 2 * per
            print(f"{label:32s} fixed {fixed:6.1f} s + {per:5.2f} s per submission "
                  f"(wall clock; {per * args.jobs if g == 'coursekit' else per:5.2f} s of a worker's time)")
        ratio = t[("plain", n)] / t[("coursekit", n)]
        print(f"\n{n} submissions: nbgrader {t[('plain', n)]:.1f} s, coursekit {t[('coursekit', n)]:.1f} s "
              f"-> ratio {ratio:.2f}x (target >= 1.8x)")
        plain = {r.student: r.tests for r in read_results(courses[("plain", n)], a)}
        ours = {r.student: r.tests for r in read_results(courses[("coursekit", n)], a)}
        same = plain == ours
        print("same score on every test:", "yes" if same else
              f"NO: {sorted(s for s in plain if plain[s] != ours.get(s))}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
