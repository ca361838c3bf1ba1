"""After grading: progress and summary, feedback pages, CSV export, the class report.

One ``coursekit grade`` process grades the class; the commands after it run in this process
(``tests/inprocess.py``: the same ``cli.main``, without an interpreter start each)."""
import csv
import io
import re

import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.execute.sandbox import probe_isolation
from coursekit.instructor.intake.submissions import build_submission

from .conftest import run_coursekit
from .inprocess import coursekit_here
from .mutants import catalogues
from .points import release_points

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(probe_isolation()[0] != "namespaces",
                                 reason="the sandbox needs Linux namespaces: " + probe_isolation()[1])]

A = "01_softmax"
PTS = release_points(A, "softmax")     # written answers: in max_score, scored only by a person


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    from .conftest import make_course

    root = make_course(tmp_path_factory.mktemp("reports") / "course", [A])
    course = Course(root)
    mutant = next(m for m in catalogues()[A] if m.name == "softmax_loss_sum_not_mean")
    build_submission(course, A, "ada", solve="all")
    build_submission(course, A, "ben", solve=None)
    build_submission(course, A, "cy", solve="all", replace={mutant.unit: mutant.code})
    build_submission(course, A, "dee", solve="all", replace={mutant.unit: mutant.code})
    # an error raised in the student's own cell (after a working definition)
    build_submission(course, A, "eve", solve="all", replace={
        "predict": "def predict(W, X):\n    return (X @ W).argmax(axis=1)\n\nprint(undefined_in_my_cell)\n"})
    out = run_coursekit(root, "grade", A, "--jobs", "2", "--seed", "777").stdout
    return root, course, mutant, out


def test_progress_and_summary(graded):
    root, course, mutant, out = graded
    assert PTS.written and PTS.possible > PTS.autograded
    assert len(re.findall(rf"^\[\d/5\] \w+: [\d.]+/{PTS.possible:g} in [\d.]+ s", out, re.M)) == 5, out
    assert re.search(rf"^\[\d/5\] ada: {PTS.autograded:g}/{PTS.possible:g} in", out, re.M), out
    assert "graded 5 submission(s) of 01_softmax" in out
    assert "sandbox: namespaces" in out
    # the solved notebook has every autograded point; its written answers wait for a person
    ada = re.search(rf"^\s+ada\s+{PTS.autograded:.2f} / {PTS.possible:g}(.*)$", out, re.M)
    assert ada, out
    assert "lost points on" not in ada.group(1), ada.group(1)
    assert "written answers wait for a grader: " + ", ".join(sorted(PTS.written)) in ada.group(1), ada.group(1)


def test_feedback_pages(graded):
    root, course, mutant, _ = graded
    out = coursekit_here(root, "feedback", A)
    assert "wrote 5 feedback page(s)" in out
    page = (root / "coursekit-feedback" / "cy" / A / "softmax.html").read_text()
    text = re.sub(r"<[^>]+>", " ", page)
    assert "seed" in text and "COURSEKIT_SEED=777 coursekit grade 01_softmax --student cy --force" in text
    assert "only your instructor" in text
    assert re.search(mutant.expect, text), "the mutant's diagnostic message is not in its feedback"
    assert "test_softmax_loss_value" in text and "failed" in text and "passed" in text
    assert "BEGIN HIDDEN TESTS" not in page and "compare_to_reference" not in page   # hidden tests stay hidden
    blank = (root / "coursekit-feedback" / "ben" / A / "softmax.html").read_text()
    assert "not implemented yet" in blank and f"0 / {PTS.possible:g} points" in blank
    eve = re.sub(r"<[^>]+>", " ", (root / "coursekit-feedback" / "eve" / A / "softmax.html").read_text())
    assert "Errors in your own cells" in eve and "NameError" in eve and "undefined_in_my_cell" in eve
    assert "(predict)" in eve


def nbconvert_templates_env() -> dict:
    """JUPYTER_PATH with nbconvert's templates: a venv made with --system-site-packages lacks them."""
    import os
    import sys

    from jupyter_core.paths import jupyter_path

    if any(os.path.isdir(os.path.join(p, "nbconvert", "templates", "classic")) for p in jupyter_path()):
        return {}
    base = os.path.join(sys.base_prefix, "share", "jupyter")
    return {"JUPYTER_PATH": os.pathsep.join(filter(None, [os.environ.get("JUPYTER_PATH"), base]))}


def test_feedback_coexists_with_nbgrader_generate_feedback(graded, monkeypatch):
    root, course, *_ = graded
    for key, value in nbconvert_templates_env().items():
        monkeypatch.setenv(key, value)
    coursekit_here(root, "feedback", A, "--student", "cy")
    ours = root / "coursekit-feedback" / "cy" / A / "softmax.html"
    before = ours.read_text()
    course.nbgrader("generate_feedback", A, "--force")
    theirs = root / "feedback" / "cy" / A / "softmax.html"
    assert theirs.is_file() and ours.read_text() == before        # nbgrader's page, ours untouched
    nbgrader_page = theirs.read_text()
    coursekit_here(root, "feedback", A, "--student", "cy")
    assert theirs.read_text() == nbgrader_page                    # and ours does not overwrite theirs
    assert "Points per unit" in ours.read_text() and "Points per unit" not in nbgrader_page
    # what nbgrader release_feedback needs to ship our pages through the exchange
    assert (ours.parent / "timestamp.txt").exists() is (root / "submitted" / "cy" / A / "timestamp.txt").exists()


def test_export_csv(graded):
    root, *_ = graded
    rows = list(csv.DictReader(io.StringIO(coursekit_here(root, "export", A, "-o", "-", "--tests"))))
    by = {r["student"]: r for r in rows}
    assert set(by) == {"ada", "ben", "cy", "dee", "eve"}
    assert by["ada"]["score"] == f"{PTS.autograded:g}" and by["ben"]["score"] == "0"
    assert by["ada"]["max_score"] == f"{PTS.possible:g}"
    assert all(by["ada"][q] == "0" for q in PTS.written)        # answers left as released: nbgrader gives 0
    assert by["cy"]["softmax_loss"] != by["cy"]["softmax_loss_max"] and by["cy"]["softmax"] == f"{PTS.of_units(['softmax']):g}"
    assert by["ada"]["test_predict"] == f"{PTS.tests['test_predict']:g}"


def test_class_report(graded):
    root, *_ = graded
    out = coursekit_here(root, "report", A)
    index = root / "reports" / A / "index.html"
    assert str(index) in out
    html = index.read_text()
    for png in ("scores.png", "units.png", "failures.png"):
        assert (index.parent / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png in html
    assert "5 submissions" in html
    # the same mistake by two students is one row, counted for both
    assert re.search(r"<tr><td>\d+</td><td>softmax_loss</td><td>[^<]*summed over the N=", html)
    assert "not implemented yet" in html          # the blank submission's most common message
