"""The ``coursekit`` command: release, grade, feedback, export, demo.

Run it at the course root (the folder with ``nbgrader_config.py``)::

    coursekit release                  # regenerate assignments/ from solutions/
    coursekit grade 01_softmax         # grade every submitted/*/01_softmax
    coursekit feedback 01_softmax      # HTML feedback per student
    coursekit export 01_softmax        # CSV: score per student and per unit
    coursekit demo                     # build sample submissions and grade them
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .grading.course import Course, NbgraderError

__all__ = ["main"]


def _print_results(results) -> None:
    if not results:
        print("no graded submissions")
        return
    width = max(len(r.student) for r in results)
    for r in results:
        weak = [f"{u} {s:g}/{m:g}" for u, (s, m) in sorted(r.units.items()) if s < m]
        note = ("  lost points on: " + ", ".join(weak)) if weak else ""
        print(f"  {r.student:<{width}}  {r.score:6.2f} / {r.max_score:g}{note}")


def cmd_release(args) -> int:
    from .grading.release import release, stale_files

    course = Course.find()
    if args.check:
        bad = {a: stale_files(course, a) for a in (args.assignment or course.assignments())}
        bad = {a: files for a, files in bad.items() if files}
        for a, files in bad.items():
            print(f"assignments/{a} is stale: {', '.join(files)} (run `coursekit release {a}`)")
        if not bad:
            print("the release is up to date")
        return 1 if bad else 0
    for a in release(course, args.assignment or None):
        print(f"released {a} -> {course.release.relative_to(course.root)}/{a}")
    return 0


def cmd_grade(args) -> int:
    from .grading.autograde import grade

    course = Course.find()
    start = time.perf_counter()
    results = grade(course, args.assignment, student=args.student, force=not args.resume)
    print(f"graded {len(results)} submission(s) of {args.assignment} "
          f"in {time.perf_counter() - start:.1f} s; scores are in the gradebook ({course.db_url})")
    _print_results(results)
    return 0


def cmd_feedback(args) -> int:
    from .grading.autograde import generate_feedback

    course = Course.find()
    out = generate_feedback(course, args.assignment, student=args.student)
    print(f"feedback written under {out}")
    return 0


def cmd_export(args) -> int:
    from .grading.results import read_results, results_csv

    course = Course.find()
    text = results_csv([r for a in (args.assignment or course.assignments())
                        for r in read_results(course, a)])
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    return 0


def cmd_demo(args) -> int:
    from .grading.demo import run_demo

    return run_demo(Course.find(), Path(args.dir), args.assignment)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursekit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="regenerate assignments/ from solutions/ with nbgrader")
    p.add_argument("assignment", nargs="*", help="assignment ids (default: all)")
    p.add_argument("--check", action="store_true",
                   help="only check that the committed release is up to date (exit 1 if not)")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("grade", help="autograde submitted/*/ASSIGNMENT into the gradebook")
    p.add_argument("assignment")
    p.add_argument("--student", help="grade only this student")
    p.add_argument("--resume", action="store_true",
                   help="skip submissions that are already autograded")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("feedback", help="write HTML feedback for graded submissions")
    p.add_argument("assignment")
    p.add_argument("--student")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("export", help="CSV of scores per student and per unit")
    p.add_argument("assignment", nargs="*", help="assignment ids (default: all)")
    p.add_argument("-o", "--output", default="grades.csv", help="file to write, or - for stdout")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="build sample submissions in a scratch course and grade them")
    p.add_argument("--dir", default="demo-course", help="where the scratch course goes")
    p.add_argument("--assignment", action="append", help="assignment(s) to demo (default: all)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, NbgraderError, KeyError) as err:
        print(f"coursekit {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
