"""The ``coursekit`` command: release, grade, feedback, export, report, demo.

Run it at the course root (the folder with ``nbgrader_config.py``)::

    coursekit release                  # regenerate assignments/ from solutions/
    coursekit release --student-dir DIR  # ... and write the student-only tree into DIR
    coursekit grade 01_softmax --jobs 2  # grade every submitted/*/01_softmax, sandboxed
    coursekit grade --all --student ada  # one student's assignments, graded together
    coursekit feedback 01_softmax      # HTML feedback per student
    coursekit export 01_softmax        # CSV: score per student and per unit (--format canvas|moodle|wide)
    coursekit report 01_softmax        # class report: HTML + PNG charts
    coursekit collect 01_softmax submissions.zip --roster roster.csv   # Canvas/Moodle download in
    coursekit extend alice 01_softmax --until "2026-03-08 23:59 UTC"
    coursekit similarity 01_softmax    # similar solution code, for a person to judge
    coursekit check softmax.ipynb      # (students) run the visible tests as grading will
    coursekit demo                     # build sample submissions and grade them
    coursekit gradebook backups        # list the gradebook backups (one is made per grade run)
    coursekit gradebook restore [BACKUP]  # put a backup back (default: the newest)
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from coursekit.instructor.course import Course, NbgraderError, MissingInput, UserError
from coursekit.instructor.execute.limits import add_limit_arguments

__all__ = ["main"]

#: Commands that read or write the gradebook: they first check it is readable.
_OPENS_GRADEBOOK = {"release", "grade", "feedback", "export", "report"}


def _print_results(results) -> None:
    if not results:
        print("no graded submissions")
        return
    width = max(len(r.student) for r in results)
    for r in results:
        weak = [f"{u} {s:g}/{m:g}" for u, (s, m) in sorted(r.units.items()) if s < m and u not in r.pending]
        note = ("  lost points on: " + ", ".join(weak)) if weak else ""
        if r.pending:
            note += f"  (written answers wait for a grader: {', '.join(sorted(r.pending))})"
        print(f"  {r.student:<{width}}  {r.score:6.2f} / {r.max_score:g}{note}")


def cmd_release(args) -> int:
    from coursekit.instructor.publish.release import release, stale_releases

    course = Course.find()
    if args.check and args.student_dir:
        print("coursekit release: --check and --student-dir do not go together", file=sys.stderr)
        return 2
    if args.check:
        bad = stale_releases(course, args.assignment or None)
        bad = {a: files for a, files in bad.items() if files}
        for a, files in bad.items():
            print(f"assignments/{a} is stale: {', '.join(files)} (run `coursekit release {a}`)")
        if not bad:
            print("the release is up to date")
        return 1 if bad else 0
    for a in release(course, args.assignment or None):
        print(f"released {a} -> {course.release.relative_to(course.root)}/{a}")
    if args.student_dir:
        from coursekit.instructor.publish.student_tree import write_student_tree

        try:
            tree = write_student_tree(course, args.student_dir, args.assignment or None,
                                      binder_repo=args.binder_repo)
        except (FileExistsError, ValueError, RuntimeError) as err:
            print(f"coursekit release: {err}", file=sys.stderr)
            return 2
        print(f"student tree -> {tree.root} ({len(tree.notebooks)} notebook(s) of "
              f"{', '.join(tree.assignments)}; no solutions, no hidden tests)")
        if not args.binder_repo:
            print("  its README links Binder to OWNER/REPO: pass --binder-repo OWNER/REPO[@REF] "
                  "once you know where students will find it")
    return 0


def _grade_assignments(course, args) -> list[str]:
    """The assignments ``coursekit grade`` was asked for: those named, or with ``--all`` every one."""
    if args.all and args.assignment:
        raise ValueError("name assignments or give --all, not both")
    if args.all:
        return course.assignments()
    if not args.assignment:
        raise ValueError("name at least one assignment (or give --all)")
    return list(args.assignment)


def _default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cmd_grade(args) -> int:
    from coursekit.instructor.pipeline import GradingRefused, grade_runs
    from coursekit.instructor.execute.limits import limits_from_args

    course = Course.find()
    try:
        assignments = _grade_assignments(course, args)
    except ValueError as err:
        print(f"coursekit grade: {err}", file=sys.stderr)
        return 2
    timeout = course.config().get("Execute", {}).get("timeout")
    try:
        runs = grade_runs(course, assignments, student=args.student, jobs=args.jobs or _default_jobs(),
                          force=args.force,
                          limits=limits_from_args(args, timeout if isinstance(timeout, (int, float)) else None),
                          isolation=args.isolation, seed=args.seed,
                          progress=lambda line: print(line, flush=True))
    except GradingRefused as err:
        print(f"coursekit grade: {err}", file=sys.stderr)
        return 3
    failed = False
    for run in runs:
        if run.graded:
            from coursekit.instructor.intake.deadlines import apply_extensions
            from coursekit.instructor.store.results import read_results

            # per-student extensions into the gradebook, so formgrader and `nbgrader export` agree
            if apply_extensions(course, run.assignment):
                run.results = read_results(course, run.assignment, [args.student] if args.student else None)
        print(f"graded {len(run.graded)} submission(s) of {run.assignment} "
              f"in {run.seconds:.1f} s; scores are in the gradebook ({course.db_url})")
        if run.skipped:
            print(f"skipped {len(run.skipped)} already graded (unchanged since): {', '.join(run.skipped[:10])}"
                  f"{' ...' if len(run.skipped) > 10 else ''} (--force regrades them)")
        if run.failed:
            failed = True
            print(f"FAILED {len(run.failed)} (not graded, nothing written; run again to retry):")
            for student, why in sorted(run.failed.items()):
                print(f"  {student}: {why}")
        noted = {s: n for s, n in run.notes.items() if n}
        if noted:
            print(f"{len(noted)} submission(s) needed the grader to step in (details in their feedback):")
            for student, notes in sorted(noted.items()):
                print(f"  {student}: {notes[0][:150]}" + (f" (+{len(notes) - 1} more)" if len(notes) > 1 else ""))
        print(f"sandbox: {run.isolation}")
        _print_results(run.results)
    if len(runs) > 1:
        print(f"{len(runs)} assignments graded together in {runs[0].seconds:.1f} s")
    return 1 if failed else 0


def cmd_feedback(args) -> int:
    from coursekit.instructor.pipeline import ensure_tools_on_path
    from coursekit.instructor.report.feedback import FEEDBACK_DIR, write_feedback
    from coursekit.instructor.store.results import NoGrades

    ensure_tools_on_path()
    course = Course.find()
    try:
        pages = write_feedback(course, args.assignment, student=args.student)
    except NoGrades as err:
        print(f"coursekit feedback: {err}", file=sys.stderr)
        return 1
    print(f"wrote {len(pages)} feedback page(s) under {course.root / FEEDBACK_DIR}/<student>/{args.assignment}/")
    return 0


def cmd_export(args) -> int:
    from coursekit.instructor.pipeline import ensure_tools_on_path
    from coursekit.instructor.report.lms_export import canvas_csv, moodle_csv, read_roster, wide_csv
    from coursekit.instructor.store.results import NoGrades, require_results, results_csv

    ensure_tools_on_path()
    course = Course.find()
    columns = {}
    for item in args.column or []:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"coursekit export: --column wants ASSIGNMENT=NAME, got {item!r}", file=sys.stderr)
            return 2
        columns[key] = value
    try:
        by_assignment = {a: require_results(course, a) for a in (args.assignment or course.assignments())
                         if args.assignment or _has_grades(course, a)}
        if not by_assignment:
            raise NoGrades(f"no graded submissions in the gradebook ({course.db_url}): "
                           "grade first (`coursekit grade ASSIGNMENT`)")
    except NoGrades as err:
        print(f"coursekit export: {err}", file=sys.stderr)
        return 1
    roster = read_roster(args.roster)
    if args.format == "long":
        text = results_csv([r for rs in by_assignment.values() for r in rs], tests=args.tests)
    elif args.format == "wide":
        text = wide_csv(by_assignment, roster)
    elif args.format == "canvas":
        text = canvas_csv(by_assignment, roster, columns)
    else:
        text = moodle_csv(by_assignment, roster, columns)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        n = sum(len(rs) for rs in by_assignment.values())
        print(f"wrote {args.output} ({args.format}: {n} graded submission(s) of {', '.join(by_assignment)})")
    return 0


def _has_grades(course, assignment) -> bool:
    from coursekit.instructor.store.results import read_results

    return bool(read_results(course, assignment))


def cmd_report(args) -> int:
    from coursekit.instructor.pipeline import ensure_tools_on_path
    from coursekit.instructor.report.class_report import write_report
    from coursekit.instructor.store.results import NoGrades

    ensure_tools_on_path()
    course = Course.find()
    status = 0
    for a in args.assignment or course.assignments():
        out = Path(args.output) / a if args.output else None
        try:
            index = write_report(course, a, out)
        except NoGrades as err:
            print(f"coursekit report: {err}", file=sys.stderr)
            status = 1
            continue
        print(f"report for {a}: {index}")
    return status


def cmd_collect(args) -> int:
    from coursekit.instructor.intake.collect import collect, format_plan

    course = Course.find()
    if not Path(args.source).exists():
        raise MissingInput(f"no {args.source}: give the LMS's archive or its unpacked folder")
    plan = collect(course, args.assignment, Path(args.source), kind=args.lms, regex=args.regex,
                   roster=args.roster, dry_run=args.dry_run, force=args.force,
                   timestamps=args.timestamps)
    print(format_plan(plan, dry_run=args.dry_run))
    return 1 if plan.unplaced and args.strict else 0


def cmd_extend(args) -> int:
    from coursekit.instructor.intake.deadlines import apply_extensions, format_time, parse_time, set_extension

    course = Course.find()
    if not (course.solutions / args.assignment).is_dir():
        raise MissingInput(f"unknown assignment {args.assignment!r}: expected one of "
                                f"{', '.join(course.assignments())}")
    until = None if args.remove else parse_time(args.until)
    if until is None and not args.remove:
        print("coursekit extend: give --until DATE or --remove", file=sys.stderr)
        return 2
    path = set_extension(course, args.student, args.assignment, until)
    changed = apply_extensions(course, args.assignment)
    if until is None:
        print(f"removed the extension of {args.student} on {args.assignment} ({path.name})")
    else:
        print(f"{args.student} may submit {args.assignment} until {format_time(until)[:19]} UTC "
              f"(stored in {path.name})")
    if changed:
        print(f"late penalty recomputed in the gradebook for: {', '.join(changed)}")
    return 0


def cmd_similarity(args) -> int:
    from coursekit.instructor.store.results import NoGrades
    from coursekit.instructor.report.similarity import write_similarity_report

    course = Course.find()
    try:
        report = write_similarity_report(course, args.assignment, Path(args.output) if args.output else None,
                                         threshold=args.threshold)
    except NoGrades as err:
        print(f"coursekit similarity: {err}", file=sys.stderr)
        return 1
    print(f"compared {report.students} submission(s) of {args.assignment}: {len(report.pairs)} pair(s) "
          f"above {args.threshold:.0%} similarity; report: {report.path}")
    print("  similarity is evidence for a person to judge, not a verdict")
    return 0


def cmd_check(args) -> int:
    from .selfcheck import main as check_main

    return check_main([args.notebook, *(["--timeout", str(args.timeout)] if args.timeout else [])])


def cmd_demo(args) -> int:
    from coursekit.instructor.pipeline import GradingRefused
    from coursekit.instructor.demo import DemoDirRefused, run_demo

    try:
        return run_demo(Course.find(), Path(args.dir), args.assignment)
    except DemoDirRefused as err:
        print(f"coursekit demo: {err}", file=sys.stderr)
        return 2
    except GradingRefused as err:
        print(f"coursekit demo: {err}", file=sys.stderr)
        return 3


def cmd_grade_guarded(args) -> int:
    """``coursekit grade`` under the course lock, after backing the gradebook up."""
    from coursekit.instructor.store.backup import NotSqlite, backup_gradebook
    from coursekit.instructor.store.lock import course_lock

    course = Course.find()
    with course_lock(course, "coursekit grade"):
        try:
            saved = backup_gradebook(course)
        except NotSqlite as err:
            print(f"note: {err}")
        else:
            if saved:
                print(f"gradebook backed up to {saved} (`coursekit gradebook restore` puts it back)")
        return cmd_grade(args)


def cmd_gradebook(args) -> int:
    from coursekit.instructor.store.backup import NotSqlite, backup_gradebook, list_backups, restore_gradebook
    from coursekit.instructor.store.lock import course_lock

    course = Course.find()
    try:
        if args.action == "backups":
            backups = list_backups(course)
            for b in backups:
                print(f"  {b.name}  {b.stat().st_size:>10} bytes")
            print(f"{len(backups)} backup(s) in {course.directory('autograded') / '.backups'}")
            return 0
        with course_lock(course, f"coursekit gradebook {args.action}"):
            if args.action == "backup":
                saved = backup_gradebook(course)
                print(f"gradebook backed up to {saved}" if saved else "no gradebook yet: nothing to back up")
                return 0
            used, kept = restore_gradebook(course, args.backup)
            print(f"restored the gradebook from {used}")
            if kept:
                print(f"the gradebook it replaced is kept as {kept}")
            return 0
    except NotSqlite as err:
        print(f"coursekit gradebook: {err}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursekit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="regenerate assignments/ from solutions/ with nbgrader")
    p.add_argument("assignment", nargs="*", help="assignment ids (default: all)")
    p.add_argument("--check", action="store_true",
                   help="only check that the committed release is up to date (exit 1 if not)")
    p.add_argument("--student-dir", metavar="DIR",
                   help="also write the student-only tree (release notebooks, coursekit, binder/, "
                        "a student README; no solutions, no hidden tests) into DIR")
    p.add_argument("--binder-repo", metavar="OWNER/REPO[@REF]",
                   help="the GitHub repository students launch on Binder (for the student README)")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("grade", help="autograde submitted/*/ASSIGNMENT into the gradebook, sandboxed")
    p.add_argument("assignment", nargs="*",
                   help="assignment ids; several are graded together, sharing the workers")
    p.add_argument("--all", action="store_true", help="grade every assignment")
    p.add_argument("--student", help="grade only this student")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="grade N submissions at a time (default: the number of cores)")
    p.add_argument("--force", action="store_true",
                   help="regrade submissions already graded (default: skip those unchanged since)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for the hidden tests' inputs (default: $COURSEKIT_SEED, else fresh per submission)")
    p.add_argument("--isolation", choices=["auto", "namespaces", "bwrap", "none"], default="auto",
                   help="sandbox: namespaces (the kit's own), bwrap (bubblewrap), or none (rlimits only: "
                        "student code can read and write the course). auto: the strongest that starts a "
                        "real kernel here, else refuse (default)")
    add_limit_arguments(p)
    p.set_defaults(func=cmd_grade_guarded)

    p = sub.add_parser("feedback", help="write HTML feedback per student into coursekit-feedback/")
    p.add_argument("assignment")
    p.add_argument("--student")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("export", help="grades as CSV: long (per unit), wide, Canvas or Moodle import")
    p.add_argument("assignment", nargs="*", help="assignment ids (default: all with grades)")
    p.add_argument("-o", "--output", default="grades.csv", help="file to write, or - for stdout")
    p.add_argument("--format", choices=["long", "wide", "canvas", "moodle"], default="long",
                   help="long: a row per submission and a column per unit (default); wide: a row per "
                        "student, a column per assignment and totals; canvas / moodle: their grade import CSV")
    p.add_argument("--roster", metavar="CSV", help="student_id, lms_id, name, email, ... (for canvas/moodle/wide)")
    p.add_argument("--column", action="append", metavar="ASSIGNMENT=NAME",
                   help="column header for an assignment, e.g. 01_softmax='Softmax (123456)' for Canvas")
    p.add_argument("--tests", action="store_true", help="long format: also one column per test cell")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="class report: HTML with charts (scores, units, common failures)")
    p.add_argument("assignment", nargs="*", help="assignment ids (default: all)")
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="folder for the reports (default: reports/); one subfolder per assignment")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("collect", help="import an LMS download (Canvas, Moodle zip or folder) into submitted/")
    p.add_argument("assignment")
    p.add_argument("source", help="the LMS's zip (or tar) archive, or a folder")
    p.add_argument("--lms", choices=["auto", "canvas", "moodle"], default="auto",
                   help="file naming to expect (default: recognise each file)")
    p.add_argument("--regex", help="other naming: a Python regex with named groups student (or lms_id) and "
                                   "file, optionally timestamp, matched against each path in the archive")
    p.add_argument("--roster", metavar="CSV", help="maps lms_id (and/or name) to student_id")
    p.add_argument("--timestamps", metavar="CSV",
                   help="submission times: columns lms_id or student_id, and timestamp")
    p.add_argument("--dry-run", action="store_true", help="show what would be placed; write nothing")
    p.add_argument("--force", action="store_true",
                   help="replace existing submissions even when not older than the incoming one")
    p.add_argument("--strict", action="store_true", help="exit 1 if any file could not be placed")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("extend", help="give one student more time on an assignment (extensions.json)")
    p.add_argument("student")
    p.add_argument("assignment")
    p.add_argument("--until", help="new deadline, e.g. '2026-03-08 23:59 UTC' or '2026-03-08T23:59+01:00'")
    p.add_argument("--remove", action="store_true", help="remove the extension")
    p.set_defaults(func=cmd_extend)

    p = sub.add_parser("similarity", help="HTML report of similar solution code between students (copydetect)")
    p.add_argument("assignment")
    p.add_argument("-o", "--output", metavar="DIR", help="default: reports/<assignment>/similarity/")
    p.add_argument("--threshold", type=float, default=0.5, help="list pairs at least this similar (0-1)")
    p.set_defaults(func=cmd_similarity)

    p = sub.add_parser("check", help="student self-check: run a notebook and its visible tests as grading will")
    p.add_argument("notebook")
    p.add_argument("--timeout", type=float, default=None, help="seconds per cell (default: the course's)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("demo", help="build sample submissions in a scratch course and grade them")
    p.add_argument("--dir", default="demo-course",
                   help="where the scratch course goes: a new or empty folder, or one an earlier "
                        "`coursekit demo` created (it is replaced); any other folder is refused")
    p.add_argument("--assignment", action="append", help="assignment(s) to demo (default: all)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("gradebook", help="gradebook backups (one per grade run) and restoring one")
    p.add_argument("action", choices=["backups", "backup", "restore"],
                   help="backups: list them; backup: make one now; restore: put one back")
    p.add_argument("backup", nargs="?", default=None,
                   help="for restore: the backup file or its name (default: the newest)")
    p.set_defaults(func=cmd_gradebook)
    return parser


def main(argv: list[str] | None = None) -> int:
    from coursekit.instructor.store.gradebook import GradebookUnreadable, check_gradebook
    from coursekit.instructor.store.lock import CourseLocked

    args = build_parser().parse_args(argv)
    try:
        if args.command in _OPENS_GRADEBOOK and not getattr(args, "check", False):
            check_gradebook(Course.find())
        return args.func(args)
    except (UserError, NbgraderError, GradebookUnreadable, CourseLocked) as err:
        # errors of the person running the command, said in one line; anything else is a bug
        # of coursekit and surfaces as one (traceback, exit status 1)
        print(f"coursekit {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
