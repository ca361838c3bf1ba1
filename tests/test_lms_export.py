"""``coursekit export --format canvas|moodle|wide|long``, no-grades errors, hostile text in outputs."""
import csv
import io
from datetime import datetime

import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.report.lms_export import safe_cell

from .conftest import make_course, run_coursekit
from .points import release_points
from .inprocess import coursekit_in_process
from .test_deadlines import A, fill_gradebook

PTS = release_points(A, "softmax")
FULL, POSSIBLE = f"{PTS.autograded:g}", f"{PTS.possible:g}"   # all autograded points; with the written answers
HALF = f"{PTS.autograded / 2:g}"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    course = Course(make_course(tmp / "course", [A]))
    fill_gradebook(course, {
        "ada": (1.0, datetime(2026, 3, 1, 12)),
        "ben": (0.0, datetime(2026, 3, 1, 12)),
        "cy": (0.5, datetime(2026, 3, 1, 12)),
        "late": (1.0, datetime(2026, 3, 5, 12)),
        "=cmd": (1.0, datetime(2026, 3, 1, 12)),
    }, manual={"ben": {"test_predict": 2.0}},      # a person gave ben the 2 points of test_predict
       records={"cy": {"test_softmax_values": "you wrote $\\frac{1}{N$ and $x^$ (mathtext cannot parse this)",
                       "test_softmax_stable": "overflow in exp for x = $10^{3}$"}})
    roster = tmp / "roster.csv"
    roster.write_text("student_id,lms_id,name,email,section\nada,4701,Ada Lovelace,ada@u.edu,A\n"
                      "ben,4702,=HYPERLINK(\"http://evil\"),ben@u.edu,A\ncy,4703,Cy,cy@u.edu,B\n"
                      "late,4704,Late Larry,l@u.edu,B\nnosub,4705,No Submission,n@u.edu,B\n")
    return course, roster


def rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_safe_cell():
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(bad) == "'" + bad
    assert safe_cell("Ada") == "Ada" and safe_cell(None) == ""


def test_canvas(course):
    course, roster = course
    out = run_coursekit(course.root, "export", A, "--format", "canvas", "--roster", str(roster), "-o", "-",
                        "--column", f"{A}=Softmax (123456)").stdout
    table = rows(out)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Softmax (123456)"]
    assert PTS.written and PTS.possible > PTS.autograded                # written answers are worth points too
    assert table[1][0] == "Points Possible" and table[1][5] == POSSIBLE
    by = {r[3]: r for r in table[2:]}
    assert by["ada"][:2] == ["Ada Lovelace", "4701"] and by["ada"][5] == FULL    # written answers not graded yet
    assert by["ben"][0] == "'=HYPERLINK(\"http://evil\")"           # formula neutralised
    assert by["ben"][5] == "2"                                          # the manual grade counts
    assert by["cy"][5] == HALF
    assert by["late"][5] == "0"                                         # late penalty (due 2026-03-01 23:59)
    assert by["nosub"][5] == "0"
    assert by["'=cmd"][5] == FULL                                       # hostile student id neutralised


def test_moodle_wide_long(course):
    course, roster = course

    def export(*args):           # in process (the command as a process: test_canvas)
        code, out, err = coursekit_in_process(course.root, "export", *args)
        assert code == 0, (out, err)
        return out

    moodle = rows(export("--format", "moodle", "--roster", str(roster), "-o", "-"))
    assert moodle[0] == ["ID number", "Username", "Email address", "Full name", A]
    by = {r[1]: r for r in moodle[1:]}
    assert by["ada"] == ["4701", "ada", "ada@u.edu", "Ada Lovelace", FULL] and by["late"][4] == "0"
    wide = rows(export("--format", "wide", "-o", "-"))
    assert wide[0] == ["student", "name", A, "total", "max_total"]
    assert {r[0]: r[2:] for r in wide[1:]}["cy"] == [HALF, HALF, POSSIBLE]
    long = list(csv.DictReader(io.StringIO(export(A, "-o", "-", "--tests"))))
    by = {r["student"]: r for r in long}
    assert by["ben"]["test_predict"] == "2" and by["ben"]["score"] == "2"
    assert (by["late"]["raw_score"], by["late"]["late_penalty"], by["late"]["score"]) == (FULL, FULL, "0")
    assert by["ada"]["max_score"] == POSSIBLE


def test_report_survives_dollar_signs_in_messages(course):
    course, _ = course
    proc = run_coursekit(course.root, "report", A, check=False)
    assert proc.returncode == 0, proc.stderr
    html = (course.root / "reports" / A / "index.html").read_text()
    assert "$\\frac{1}{N$" in html and (course.root / "reports" / A / "failures.png").is_file()


def test_feedback_shows_manual_grades_and_escapes(course):
    course, _ = course
    run_coursekit(course.root, "feedback", A)
    page = (course.root / "coursekit-feedback" / "ben" / A / "softmax.html").read_text()
    assert "graded by hand" in page
    cy = (course.root / "coursekit-feedback" / "cy" / A / "softmax.html").read_text()
    assert "only your instructor can run them again" in cy
    assert "COURSEKIT_SEED=5 coursekit grade 01_softmax --student cy --force" in cy
    assert "$\\frac{1}{N$" in cy                          # the message, as text
    evil = (course.root / "coursekit-feedback" / "=cmd" / A / "softmax.html").read_text()
    assert "<b>=cmd</b>" in evil
    assert not (course.root / "feedback").exists()          # nbgrader's folder is left to nbgrader


@pytest.fixture(scope="module")
def empty_course(tmp_path_factory):
    return make_course(tmp_path_factory.mktemp("empty") / "course", [A])


def test_no_grades_says_so(empty_course):
    proc = run_coursekit(empty_course, "export", A, check=False)     # the exit status of the process
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "no graded submissions of 01_softmax" in proc.stderr
    assert not (empty_course / "gradebook.db").exists()             # reading grades creates no gradebook


@pytest.mark.parametrize("command", ["feedback", "export", "report", "similarity"])
def test_no_grades_says_so_in_every_command(empty_course, command):
    # in process: the same decision as above, for each command (a new interpreter adds only its start-up)
    code, out, err = coursekit_in_process(empty_course, command, A)
    assert code == 1, (out, err)
    assert "no graded submissions of 01_softmax" in err
