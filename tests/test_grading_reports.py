"""After grading: progress and summary, feedback pages, CSV export, the class report."""
import csv
import io
import re

import pytest

from coursekit.grading.course import Course
from coursekit.grading.sandbox import probe_isolation
from coursekit.grading.submissions import build_submission

from .conftest import run_coursekit
from .mutants import catalogues

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(probe_isolation()[0] != "namespaces",
                                 reason="the sandbox needs Linux namespaces: " + probe_isolation()[1])]

A = "01_softmax"


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
    out = run_coursekit(root, "grade", A, "--jobs", "2", "--seed", "777").stdout
    return root, course, mutant, out


def test_progress_and_summary(graded):
    root, course, mutant, out = graded
    assert len(re.findall(r"^\[\d/4\] \w+: [\d.]+/28 in [\d.]+ s", out, re.M)) == 4, out
    assert "graded 4 submission(s) of 01_softmax" in out
    assert "sandbox: namespaces" in out
    assert re.search(r"^\s+ada\s+28\.00 / 28", out, re.M)


def test_feedback_pages(graded):
    root, course, mutant, _ = graded
    out = run_coursekit(root, "feedback", A).stdout
    assert "wrote 4 feedback page(s)" in out
    page = (root / "feedback" / "cy" / A / "softmax.html").read_text()
    text = re.sub(r"<[^>]+>", " ", page)
    assert "seed" in text and "COURSEKIT_SEED=777" in text
    assert re.search(mutant.expect, text), "the mutant's diagnostic message is not in its feedback"
    assert "test_softmax_loss_value" in text and "failed" in text and "passed" in text
    assert "BEGIN HIDDEN TESTS" not in page and "compare_to_reference" not in page   # hidden tests stay hidden
    blank = (root / "feedback" / "ben" / A / "softmax.html").read_text()
    assert "not implemented yet" in blank and "0 / 28 points" in blank


def test_export_csv(graded):
    root, *_ = graded
    rows = list(csv.DictReader(io.StringIO(run_coursekit(root, "export", A, "-o", "-", "--tests").stdout)))
    by = {r["student"]: r for r in rows}
    assert set(by) == {"ada", "ben", "cy", "dee"}
    assert by["ada"]["score"] == "28" and by["ben"]["score"] == "0"
    assert by["cy"]["softmax_loss"] != by["cy"]["softmax_loss_max"] and by["cy"]["softmax"] == "4"
    assert by["ada"]["test_predict"] == "2"


def test_class_report(graded):
    root, *_ = graded
    out = run_coursekit(root, "report", A).stdout
    index = root / "reports" / A / "index.html"
    assert str(index) in out
    html = index.read_text()
    for png in ("scores.png", "units.png", "failures.png"):
        assert (index.parent / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png in html
    assert "4 submissions" in html
    # the same mistake by two students is one row, counted for both
    assert re.search(r"<tr><td>\d+</td><td>softmax_loss</td><td>[^<]*summed over the N=", html)
    assert "not implemented yet" in html          # the blank submission's most common message
