"""Threat 6: the grader killed midway loses no grade, and running it again finishes the job."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.store.results import read_results
from coursekit.instructor.execute.sandbox import probe_isolation
from coursekit.instructor.store.records import read_record
from coursekit.instructor.intake.submissions import build_submission

from .conftest import run_coursekit
from .points import release_points

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(probe_isolation()[0] != "namespaces",
                                 reason="the sandbox needs Linux namespaces: " + probe_isolation()[1])]

A = "01_softmax"
HALF = ["softmax", "log_softmax", "predict"]
# s1 is graded first, alone; the killed run then grades s2 and s3 and dies while grading s4
SOLVE = {"s1_full": "all", "s2_blank": None, "s3_half": HALF, "s4_full": "all"}
PTS = release_points(A, "softmax")
FULL = PTS.autograded                    # written answers wait for a person
EXPECTED = {s: FULL if solve == "all" else PTS.of_units(solve) if solve else 0.0 for s, solve in SOLVE.items()}


def _build(course: Course, solve: dict = SOLVE) -> None:
    assert 0 < EXPECTED["s3_half"] < FULL
    for student, how in solve.items():
        build_submission(course, A, student, solve=how)


def _env():
    return dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pids) -> list[int]:
    import psutil

    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_killed_coursekit_keeps_grades_and_resumes(course_factory):
    root = course_factory(assignments=[A])
    course = Course(root)
    _build(course)
    run_coursekit(root, "grade", A, "--student", "s1_full")      # the gradebook knows the assignment
    proc = subprocess.Popen([sys.executable, "-m", "coursekit.cli", "grade", A, "--jobs", "1"], cwd=root,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    graded = []
    children = []
    for line in proc.stdout:
        children = sorted(set(children) | set(_descendants(proc.pid)))
        m = re.match(r"\[\d+/\d+\] (\S+): ([\d.]+)/", line)
        if m:
            graded.append((m.group(1), float(m.group(2))))
            if len(graded) == 2:
                # The third (last) submission is being graded now: the worker takes it as soon as it
                # has reported the second, and one takes seconds; the kill must come before it is done.
                time.sleep(0.3)
                children = sorted(set(children) | set(_descendants(proc.pid)))
                proc.kill()                           # SIGKILL: no cleanup code runs
                break
    proc.wait()
    assert len(graded) == 2, "the grader finished before it could be killed"
    time.sleep(2)
    assert _alive(children) == [], "worker, judge or sandbox processes outlived the grader"
    # what was reported graded is in the gradebook, complete
    results = {r.student: r for r in read_results(course, A)}
    first = {}
    for student, score in graded:
        assert results[student].score == score == EXPECTED[student]
        assert all(s is not None for s, _ in results[student].tests.values())
        first[student] = (read_record(course, A, student)["graded_at"], results[student].tests)
    # run again: finishes the rest, leaves the finished ones alone
    out = run_coursekit(root, "grade", A, "--jobs", "2").stdout
    done = {s for s, _ in graded} | {"s1_full"}
    assert len(EXPECTED) - len(done) == 1                   # the one being graded when the grader died
    assert f"graded {len(EXPECTED) - len(done)} submission(s)" in out, out
    assert f"skipped {len(done)} already graded" in out, out
    results = {r.student: r for r in read_results(course, A)}
    assert {s: r.score for s, r in results.items()} == EXPECTED
    for student, (stamp, tests) in first.items():
        assert read_record(course, A, student)["graded_at"] == stamp
        assert results[student].tests == tests
    # and once more: nothing to do, nothing changed
    out = run_coursekit(root, "grade", A).stdout
    assert "graded 0 submission(s)" in out and f"skipped {len(EXPECTED)} already graded" in out
    # a changed submission is graded again
    build_submission(course, A, "s2_blank", solve="all")
    out = run_coursekit(root, "grade", A).stdout
    assert "graded 1 submission(s)" in out
    assert {r.student: r.score for r in read_results(course, A)}["s2_blank"] == FULL


def test_killed_plain_nbgrader_leaves_a_submission_ungraded(course_factory):
    """What plain nbgrader does: the submission being graded when it died stays ungraded, and a
    re-run without --force skips it (with --force it regrades everything). Three submissions: one
    graded, one killed (the second started), one left for the re-run. Half done, so that a complete
    grading needs no person (a solved one's written answers would)."""
    root = course_factory(assignments=[A])
    course = Course(root)
    _build(course, {"p1_half": HALF, "p2_half": HALF, "p3_half": HALF})
    course.nbgrader("generate_assignment", A, "--force")
    proc = subprocess.Popen([sys.executable, "-m", "nbgrader", "autograde", A], cwd=root, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = []
    for line in proc.stdout:
        m = re.search(r"Autograding .*autograded/(\w+)/", line)
        if m and m.group(1) not in started:
            started.append(m.group(1))
            if len(started) == 2:
                time.sleep(2.0)                     # the second notebook is executing
                proc.kill()
                break
    proc.wait()
    assert len(started) == 2
    victim = started[-1]
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", A], cwd=root, env=_env(),
                   capture_output=True, text=True)
    results = {r.student: r for r in read_results(course, A)}
    # the re-run did grade: the one graded before the kill and the one never started are complete
    for s in {"p1_half", "p2_half", "p3_half"} - {victim}:
        assert results[s].score == EXPECTED["s3_half"] and not results[s].needs_manual_grade, s
        assert all(x is not None for x, _ in results[s].tests.values()), (s, results[s].tests)
    r = results.get(victim)
    assert r is None or r.needs_manual_grade or any(s is None for s, _ in r.tests.values()), \
        f"plain nbgrader recovered {victim}?"


def test_a_grader_failure_is_never_a_score_and_is_retried(course_factory, monkeypatch, capsys):
    """A judge that crashes (here: its result replaced by the one a killed judge gives) records
    nothing for that student: reported "not graded", exit non-zero, graded on the next run."""
    from coursekit import cli
    from coursekit.instructor.execute import workers

    root = course_factory(assignments=[A])
    course = Course(root)
    build_submission(course, A, "s1_full", solve="all")
    build_submission(course, A, "s2_full", solve="all")
    real_run = workers.WorkerPool.run

    def crashing_run(self, tasks, make_task):
        for task, result in real_run(self, tasks, make_task):
            if task["student"] == "s2_full":
                result = {"student": "s2_full", "assignment": A, "status": "error",
                          "error": "the judge process died (killed by signal 9) without a result"}
            yield task, result

    monkeypatch.chdir(root)
    monkeypatch.setattr(workers.WorkerPool, "run", crashing_run)
    assert cli.main(["grade", A]) != 0
    out = capsys.readouterr().out
    assert "s2_full: FAILED, not graded" in out, out
    assert read_record(course, A, "s2_full") is None
    assert {r.student: r.score for r in read_results(course, A)} == {"s1_full": FULL}
    monkeypatch.setattr(workers.WorkerPool, "run", real_run)
    assert cli.main(["grade", A]) == 0
    out = capsys.readouterr().out
    assert "graded 1 submission(s)" in out and "skipped 1 already graded" in out, out
    assert {r.student: r.score for r in read_results(course, A)} == {"s1_full": FULL, "s2_full": FULL}
