"""Due dates, extensions and the late penalty: one rule for every coursekit output."""
import json
from datetime import datetime

import pytest

from coursekit.instructor.pipeline import ensure_in_gradebook, ensure_tools_on_path
from coursekit.instructor.course import Course
from coursekit.instructor.intake.deadlines import (Lateness, apply_extensions, effective_score, late_penalty, late_plugin,
                                         parse_time, read_extensions)
from coursekit.instructor.store.results import read_results

from .conftest import make_course, run_coursekit
from .inprocess import coursekit_in_process
from .points import release_points

A = "01_softmax"
DUE = datetime(2026, 3, 1, 23, 59)
FULL = release_points(A, "softmax").autograded    # a solved notebook before its written answers are graded


def fill_gradebook(course: Course, students: dict, due=DUE, manual: dict | None = None, records: dict | None = None):
    """Grades straight into the gradebook, no kernels: ``{student: (fraction of each test's points, timestamp)}``.

    As the autograder leaves them: each autograded test cell scores ``fraction`` of its points, each
    written answer (a grade cell that is also a solution cell) has no score and needs a manual grade.
    ``manual``: ``{student: {grade_id: score}}`` set as manual scores (as formgrader does);
    ``records``: ``{student: {grade_id: message}}`` written as coursekit grader records.
    """
    import warnings

    from nbgrader.api import Gradebook

    ensure_tools_on_path()
    ensure_in_gradebook(course, A)
    with warnings.catch_warnings(), Gradebook(course.db_url, course.course_id) as gb:
        warnings.simplefilter("ignore")    # SQLAlchemy 2.x warns about nbgrader's session use
        gb.update_or_create_assignment(A, duedate=due)
        for student, (fraction, ts) in students.items():
            gb.update_or_create_student(student)
            sub = gb.update_or_create_submission(A, student, timestamp=ts)
            for nb in sub.notebooks:
                written = {c.name for c in nb.notebook.solution_cells}
                for g in nb.grades:
                    g.auto_score = None if g.name in written else fraction * g.max_score
                    g.needs_manual_grade = g.name in written
                    if (manual or {}).get(student, {}).get(g.name) is not None:
                        g.manual_score = manual[student][g.name]
                        g.needs_manual_grade = False
        gb.db.commit()
    for student, messages in (records or {}).items():
        path = course.directory("autograded") / ".coursekit" / A / f"{student}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"status": "graded", "seed": 5, "notebooks": {"softmax": {"grades": {
            gid: {"score": 0.0, "max": 2.0, "passed": False, "message": msg, "stdout": ""}
            for gid, msg in messages.items()}}}}))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = Course(make_course(tmp_path_factory.mktemp("deadlines") / "course", [A]))
    fill_gradebook(course, {
        "ontime": (1.0, datetime(2026, 3, 1, 20, 0)),
        "late": (1.0, datetime(2026, 3, 2, 10, 0)),
        "extended": (0.5, datetime(2026, 3, 3, 10, 0)),
        "nostamp": (1.0, None),
    })
    return course


def test_lateness_rules():
    due = datetime(2026, 3, 1, 12)
    assert Lateness(due, None, datetime(2026, 3, 1, 13)).seconds_late == 3600
    assert Lateness(due, datetime(2026, 3, 2), datetime(2026, 3, 1, 13)).seconds_late == 0
    assert Lateness(due, datetime(2026, 2, 1), datetime(2026, 3, 1, 13)).seconds_late == 3600  # never shortens
    assert Lateness(None, None, datetime(2030, 1, 1)).seconds_late == 0      # no due date: never late
    assert Lateness(due, None, None).seconds_late == 0
    assert "late by 1.0 h" in Lateness(due, None, datetime(2026, 3, 1, 13)).describe()
    assert parse_time("2026-03-01 13:00:00+01:00") == datetime(2026, 3, 1, 12)


def test_penalty_follows_the_configured_plugin(course):
    plugin = late_plugin(course)            # the kit's config: nbgrader's 'zero' method
    assert late_penalty(plugin, "x", {"softmax": 20.0}, 10.0) == 20.0
    assert late_penalty(plugin, "x", {"softmax": 20.0}, 0.0) == 0.0
    assert effective_score(28, 28) == 0 and effective_score(28, 40) == 0 and effective_score(28, 3) == 25


def test_read_results_applies_penalty_and_extension(course):
    by = {r.student: r for r in read_results(course, A)}
    assert (by["ontime"].score, by["ontime"].late_penalty) == (FULL, 0)
    assert (by["late"].raw_score, by["late"].late_penalty, by["late"].score) == (FULL, FULL, 0)   # 'zero': all of it
    assert by["extended"].score == 0 and by["nostamp"].score == FULL
    out = run_coursekit(course.root, "extend", "extended", A, "--until", "2026-03-04 00:00 UTC").stdout
    assert "extended may submit 01_softmax until 2026-03-04 00:00:00 UTC" in out
    assert read_extensions(course)[A]["extended"] == datetime(2026, 3, 4)
    by = {r.student: r for r in read_results(course, A)}
    assert (by["extended"].score, by["extended"].late_penalty) == (FULL / 2, 0)
    assert by["late"].score == 0
    # the gradebook agrees (formgrader, nbgrader export)
    from nbgrader.api import Gradebook

    apply_extensions(course, A)
    with Gradebook(course.db_url, course.course_id) as gb:
        assert gb.find_submission(A, "extended").late_submission_penalty == 0
        assert gb.find_submission(A, "late").late_submission_penalty == FULL
    run_coursekit(course.root, "extend", "extended", A, "--remove")
    assert {r.student: r for r in read_results(course, A)}["extended"].score == 0
    with Gradebook(course.db_url, course.course_id) as gb:
        assert gb.find_submission(A, "extended").late_submission_penalty == FULL / 2


def test_penalty_in_every_output(course):
    # (in process: the commands as processes are run in test_lms_export.py)
    def ok(*args):
        code, out, err = coursekit_in_process(course.root, *args)
        assert code == 0, (args, out, err)
        return out

    rows = ok("export", A, "-o", "-")
    assert f"late,01_softmax,0,{release_points(A, 'softmax').possible:g},{FULL:g},{FULL:g}" in rows
    ok("feedback", A, "--student", "late")
    page = (course.root / "coursekit-feedback" / "late" / A / "softmax.html").read_text()
    assert f"Late penalty: {FULL:g} points" in page and "late by 10.0 h" in page
    ok("report", A)
    html = (course.root / "reports" / A / "index.html").read_text()
    assert "<td>late</td>" in html and "late by 10.0 h" in html


def test_extend_unknown_assignment_fails(course):
    proc = run_coursekit(course.root, "extend", "x", "99_nope", "--until", "2026-01-01", check=False)
    assert proc.returncode != 0 and "unknown assignment" in proc.stderr
