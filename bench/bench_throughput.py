"""Benchmark: grading throughput and the student's self-check, each against its baseline, one run.

    python bench/bench_throughput.py [--students 10] [--jobs 2] [--assignment 01_softmax]
                                     [--skip-grade] [--skip-check] [--repeat 3]

1. **Throughput** (issue 14: ``--jobs 2`` at least 2.5x plain serial nbgrader on 10 submissions):
   two identical scratch courses with the same submissions (the solution, the blank release,
   half-solved notebooks and the mutant catalogue's wrong implementations, in turn); one graded by
   plain ``nbgrader autograde`` (serial, its own kernel per notebook), the other by ``coursekit
   grade --jobs N`` (sandboxed). A fresh course also runs coursekit's preflight (the reference and
   the blank release graded first, remembered afterwards for later runs); the ratio is printed with
   and without it. Scores must agree test by test. ``--without-zygote`` also grades a third copy
   with ``COURSEKIT_ZYGOTE=0`` (every kernel a new Python: the cost before the warm template).
2. **Self-check** (``coursekit check`` in the time of one notebook run): the solved notebook run
   by ``coursekit check NB`` (a student's command, a fresh process) against ``jupyter nbconvert
   --execute`` of the same notebook (also a fresh process) and against nbclient executing it in
   this process (kernel start, run, stop: the floor). Medians of ``--repeat`` runs, interleaved.

Not a test: timings depend on the machine and on its load (printed before timing).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coursekit.instructor.course import Course  # noqa: E402
from bench_grading import build_course  # noqa: E402  (the same class of submissions)
from coursekit.instructor.intake.submissions import build_submission  # noqa: E402
from coursekit.instructor.store.results import read_results  # noqa: E402

TARGET_JOBS = 2.5       # coursekit grade --jobs 2 vs plain serial nbgrader
TARGET_CHECK = 1.0      # coursekit check vs one notebook run (at most)


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env["COURSEKIT_SEED"] = "12345"            # same hidden inputs for both graders
    env.pop("COURSEKIT_PREFLIGHT_CACHE", None)  # a fresh course pays its preflight
    return env


def _load() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, load average {load:.1f}"


def _run(argv: list[str], cwd: Path, **env) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=dict(_env(), **env), capture_output=True, text=True)
    return time.perf_counter() - start, proc


def _coursekit(course: Course, assignment: str, jobs: int, **env) -> tuple[float, float]:
    """``(seconds, of which preflight)`` of ``coursekit grade --jobs N`` on a fresh course."""
    took, proc = _run([sys.executable, "-m", "coursekit.cli", "grade", assignment, "--jobs", str(jobs)],
                      course.root, **env)
    if proc.returncode != 0:
        raise SystemExit(f"coursekit grade failed:\n{proc.stdout}\n{proc.stderr}")
    m = re.search(r"preflight: .* in ([0-9.]+) s: OK", proc.stdout)
    return took, float(m.group(1)) if m else 0.0


def bench_grading(tmp: Path, assignment: str, n: int, jobs: int, without_zygote: bool) -> None:
    print(f"== throughput: {n} submissions of {assignment} ==")
    plain_course = build_course(tmp / "plain", assignment, n)
    ours_course = build_course(tmp / "coursekit", assignment, n)
    cold_course = build_course(tmp / "coursekit-exec", assignment, n) if without_zygote else None
    print(f"machine: {_load()} before timing")
    if cold_course is not None:     # kernels exec'd one by one, no warm template (as before the zygote)
        t_cold, pre_cold = _coursekit(cold_course, assignment, jobs, COURSEKIT_ZYGOTE="0")
        print(f"  coursekit grade --jobs {jobs}, COURSEKIT_ZYGOTE=0  {t_cold:7.1f} s   (of which preflight "
              f"{pre_cold:.1f} s)")
    t_plain, proc = _run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"], plain_course.root)
    if proc.returncode != 0:
        print("  (nbgrader reported errors)", proc.stdout[-300:], proc.stderr[-300:])
    print(f"  nbgrader autograde (serial)   {t_plain:7.1f} s   ({t_plain / n:.2f} s per submission)")
    t_ours, pre = _coursekit(ours_course, assignment, jobs)
    print(f"  coursekit grade --jobs {jobs}      {t_ours:7.1f} s   (of which preflight {pre:.1f} s)")
    print(f"machine: {_load()} after timing")
    ratio = t_plain / t_ours
    ratio_warm = t_plain / max(1e-9, t_ours - pre)
    plain = {r.student: r.tests for r in read_results(plain_course, assignment)}
    ours = {r.student: r.tests for r in read_results(ours_course, assignment)}
    same = plain == ours and len(ours) == n
    print(f"  ratio nbgrader / coursekit: {ratio:.2f}x with the preflight, {ratio_warm:.2f}x without "
          f"(a later run: the preflight is remembered) -- target {TARGET_JOBS}x: "
          f"{'MET' if ratio >= TARGET_JOBS else 'met without the preflight only' if ratio_warm >= TARGET_JOBS else 'NOT met'}")
    if cold_course is not None:
        print(f"  ratio nbgrader / coursekit with COURSEKIT_ZYGOTE=0: {t_plain / t_cold:.2f}x with the preflight, "
              f"{t_plain / max(1e-9, t_cold - pre_cold):.2f}x without")
        cold = {r.student: r.tests for r in read_results(cold_course, assignment)}
        print("  same score with and without the zygote:", "yes" if cold == ours else
              f"NO: {sorted(s for s in set(cold) | set(ours) if cold.get(s) != ours.get(s))}")
    print("  same score as nbgrader on every test:", "yes" if same else
          f"NO: {sorted(s for s in set(plain) | set(ours) if plain.get(s) != ours.get(s))}")


def bench_check(tmp: Path, assignment: str, repeat: int) -> None:
    import nbformat
    from nbclient import NotebookClient

    print(f"== self-check: the solved {assignment} notebook ==")
    course = Course(ROOT)
    folder = build_submission(course, assignment, "solved", solve="all", submitted_root=tmp / "check")
    nb_path = next(iter(sorted(folder.glob("*.ipynb"))))
    out = tmp / "check" / "executed.ipynb"

    def nbclient_run():
        nb = nbformat.read(nb_path, as_version=4)
        NotebookClient(nb, timeout=600, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": str(nb_path.parent)}}).execute()

    runs = {
        "jupyter nbconvert --execute": lambda: _run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
             "--allow-errors", str(nb_path), "--output", str(out)], nb_path.parent),
        "nbclient in process (floor)": nbclient_run,
        "coursekit check": lambda: _run([sys.executable, "-m", "coursekit.cli", "check", str(nb_path)],
                                        nb_path.parent),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    print(f"machine: {_load()} before timing")
    for _ in range(repeat):                     # interleaved: a change in load hits all three
        for label, fn in runs.items():
            start = time.perf_counter()
            got = fn()
            times[label].append(time.perf_counter() - start)
            if label == "coursekit check" and got[1].returncode != 0:
                raise SystemExit(f"coursekit check failed on the solved notebook:\n{got[1].stdout}\n{got[1].stderr}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for label, t in med.items():
        print(f"  {label:<30} {t:6.2f} s  (median of {repeat})")
    base = med["jupyter nbconvert --execute"]
    ratio = med["coursekit check"] / base
    print(f"  coursekit check / one notebook run (nbconvert): {ratio:.2f}x -- target <= {TARGET_CHECK:g}x: "
          f"{'MET' if ratio <= TARGET_CHECK else 'NOT met'}; "
          f"vs the in-process floor: {med['coursekit check'] / med['nbclient in process (floor)']:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignment", default="01_softmax")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-grade", action="store_true")
    parser.add_argument("--skip-check", action="store_true")
    parser.add_argument("--without-zygote", action="store_true",
                        help="also grade a third copy with COURSEKIT_ZYGOTE=0 (kernels exec'd: the cost before)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch courses")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    try:
        if not args.skip_grade:
            bench_grading(tmp, args.assignment, args.students, args.jobs, args.without_zygote)
        if not args.skip_check:
            bench_check(tmp, args.assignment, args.repeat)
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
