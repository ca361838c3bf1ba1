"""Several assignments in one ``coursekit grade``: the same results as grading each alone, under the
same lock and backup, the longest expected work first."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from coursekit import cli
from coursekit.instructor.course import Course
from coursekit.instructor.execute.sandbox import probe_isolation
from coursekit.instructor.intake.submissions import build_submission, solved_sources
from coursekit.instructor.pipeline import expected_seconds
from coursekit.instructor.store.backup import list_backups
from coursekit.instructor.store.lock import course_lock
from coursekit.instructor.store.records import read_record
from coursekit.instructor.store.results import read_results

from .conftest import make_course, run_coursekit

AS = ["01_softmax", "05_autodiff"]
SEED = "4242"

sandboxed = pytest.mark.skipif(probe_isolation()[0] == "none",
                               reason="no sandbox works here: " + probe_isolation()[1])


def _build(course: Course) -> None:
    for a in AS:
        units = [u for nb in sorted((course.solutions / a).glob("*.ipynb"))
                 for u in solved_sources(course, a, nb.name)]
        # (no blank one: a blank release scores 0 however it is run, which is the preflight's check)
        build_submission(course, a, "solved", solve="all")
        build_submission(course, a, "half", solve=units[: len(units) // 2])
    build_submission(course, AS[0], "only01", solve="all")


def _graded(course: Course) -> dict:
    """Per assignment and student: every test's (score, max) and the record's pass/fail per test."""
    out = {}
    for a in AS:
        for r in read_results(course, a):
            rec = read_record(course, a, r.student)
            passed = {gid: g["passed"] for nb in rec["notebooks"].values() for gid, g in nb["grades"].items()}
            out[(a, r.student)] = (r.tests, passed, rec["seed"])
    return out


@pytest.mark.slow
@sandboxed
def test_grading_together_equals_grading_each_alone(tmp_path, monkeypatch, capsys):
    together, alone = Course(make_course(tmp_path / "together", AS)), Course(make_course(tmp_path / "alone", AS))
    _build(together)
    _build(alone)
    monkeypatch.chdir(alone.root)              # (in this process: the same cli.main, no interpreter start)
    for a in AS:
        assert cli.main(["grade", a, "--seed", SEED, "--jobs", "2"]) == 0
    capsys.readouterr()

    from coursekit.instructor.execute import workers

    real_run, order = workers.WorkerPool.run, []

    def recording_run(self, tasks, make_task):
        order.append([(t["assignment"], t["student"]) for t in tasks])
        yield from real_run(self, tasks, make_task)

    monkeypatch.setattr(workers.WorkerPool, "run", recording_run)
    monkeypatch.chdir(together.root)
    firsts = sorted(AS, key=lambda a: -expected_seconds(together, a))     # what the run will go by
    assert cli.main(["grade", *AS, "--seed", SEED, "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    for a in AS:
        assert f"graded {3 if a == AS[0] else 2} submission(s) of {a}" in out, out
    assert _graded(together) == _graded(alone)
    assert {(a, s) for a, s in _graded(together)} == {(a, s) for a in AS for s in ("solved", "half")} | {
        (AS[0], "only01")}
    # one pool for both assignments: the students' tasks went out in one list, longest expected first
    students = order[-1]
    assert len(students) == 5 and {a for a, _ in students} == set(AS)
    assert [a for a, _ in students] == [firsts[0]] * len([1 for a, _ in students if a == firsts[0]]) + \
        [firsts[1]] * len([1 for a, _ in students if a == firsts[1]])
    # one backup per run, and a second run skips everything already graded
    before = len(list_backups(together))
    assert cli.main(["grade", "--all"]) == 0
    out = capsys.readouterr().out
    assert len(list_backups(together)) == before + 1
    assert "skipped 3 already graded" in out and "skipped 2 already graded" in out, out


@sandboxed
def test_a_locked_course_refuses_a_several_assignment_run(tmp_path):
    course = Course(make_course(tmp_path / "c", AS))
    build_submission(course, AS[0], "solved", solve="all")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom coursekit.instructor.course import Course\n"
        "from coursekit.instructor.store.lock import course_lock\n"
        "with course_lock(Course.find(sys.argv[1]), 'coursekit grade'):\n"
        "    print('held', flush=True)\n    time.sleep(600)\n"), str(course.root)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = run_coursekit(course.root, "grade", *AS, check=False)
        assert proc.returncode != 0 and "another coursekit grade is running" in proc.stderr, proc.stderr
        assert read_record(course, AS[0], "solved") is None
    finally:
        holder.kill()
        holder.wait()
    with course_lock(course):
        pass


def test_grade_needs_assignments_or_all_not_both(tmp_path, monkeypatch, capsys):
    course = Course(make_course(tmp_path / "c", AS))
    monkeypatch.chdir(course.root)
    assert cli.main(["grade"]) == 2
    assert "name at least one assignment" in capsys.readouterr().err
    assert cli.main(["grade", AS[0], "--all"]) == 2
    assert "not both" in capsys.readouterr().err
    assert not (course.root / "autograded" / ".coursekit" / AS[0]).exists()


def test_expected_seconds_prefers_recorded_judge_times(tmp_path):
    course = Course(make_course(tmp_path / "c", AS))
    # nothing recorded: the solved notebooks' size stands in
    sizes = {a: expected_seconds(course, a) for a in AS}
    assert all(v > 0 for v in sizes.values())
    folder = course.directory("autograded") / ".coursekit" / AS[0]
    folder.mkdir(parents=True)
    for i, seconds in enumerate((3.0, 40.0, 5.0)):
        (folder / f"s{i}.json").write_text(json.dumps({"seconds": seconds}))
    (folder / "broken.json").write_text("{not json")
    assert expected_seconds(course, AS[0]) == 5.0
    pre = course.directory("autograded") / ".preflight"
    pre.mkdir(parents=True)
    (pre / f"{AS[1]}.json").write_text(json.dumps({"seconds": 30.0}))
    assert expected_seconds(course, AS[1]) == 15.0


def test_instructor_processes_skip_the_rfc3987_grammars():
    """jsonschema's optional ``iri`` checker (rfc3987_syntax compiles ~40 grammars on import) is not
    loaded by a grading process; nbformat still validates notebooks."""
    code = ("import sys, coursekit.instructor, nbformat\n"
            "assert sys.modules.get('rfc3987_syntax') is None, 'rfc3987_syntax was imported'\n"
            "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
            "nbformat.validate(nb)\n"
            "bad = nbformat.from_dict({'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': [{}]})\n"
            "try:\n    nbformat.validate(bad)\nexcept nbformat.ValidationError:\n    print('ok')\n")
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd="/")
    assert proc.stdout.strip() == "ok", proc.stderr
