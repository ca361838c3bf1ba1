"""Grading end to end through `coursekit grade --jobs 2` (sandboxed kernels, nbgrader's gradebook): slow.

The whole mutant catalogue is proved in process (tests/test_assignment_*.py, through
tests/harness.py, in seconds). Here a sample of it -- the first mutant of a few
different units per assignment -- goes through the real grader, to show the same
verdicts and messages survive the sandbox, the judge and the feedback pages.
"""
import html
import re

import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.store.results import read_results
from coursekit.instructor.intake.submissions import build_submission

from .conftest import run_coursekit
from .mutants import catalogues

pytestmark = pytest.mark.slow

CATALOGUES = catalogues()
E2E_MUTANTS_PER_ASSIGNMENT = 2


def sample(mutants, k: int = E2E_MUTANTS_PER_ASSIGNMENT) -> list:
    """The first mutant of each of the first ``k`` units that have one (catalogue order)."""
    chosen, units = [], set()
    for m in mutants:
        if m.unit not in units and len(chosen) < k:
            chosen.append(m)
            units.add(m.unit)
    return chosen


def _feedback_text(course, student, assignment):
    pages = list((course / "coursekit-feedback" / student / assignment).glob("*.html"))
    assert pages, f"no feedback for {student}"
    return html.unescape(re.sub(r"<[^>]+>", " ", pages[0].read_text()))


@pytest.mark.parametrize("assignment", sorted(CATALOGUES))
def test_grade_solved_blank_and_every_mutant(course_factory, assignment):
    root = course_factory(assignments=[assignment])
    course = Course(root)
    build_submission(course, assignment, "solved", solve="all")
    build_submission(course, assignment, "blank", solve=None)
    mutants = sample(CATALOGUES[assignment])
    for m in mutants:
        build_submission(course, assignment, m.name, solve="all", replace={m.unit: m.code})

    out = run_coursekit(root, "grade", assignment, "--jobs", "2").stdout
    assert f"graded {2 + len(mutants)} submission(s)" in out
    results = {r.student: r for r in read_results(course, assignment)}
    solved, blank = results["solved"], results["blank"]
    assert solved.max_score > 0
    # test cells (test_<unit>...) are autograded; written answers (manually graded) wait for a person
    tests = {gid: v for gid, v in solved.tests.items() if gid.startswith("test_")}
    assert sum(got for got, _ in tests.values()) == sum(out_of for _, out_of in tests.values()), tests
    assert solved.score == sum(out_of for _, out_of in tests.values()), solved.tests
    assert blank.score == 0, blank.tests

    run_coursekit(root, "feedback", assignment)
    seeds_shown = 0
    for m in mutants:
        r = results[m.name]
        got, out_of = r.units[m.unit]
        assert got < out_of, f"{m.name} lost no points on {m.unit}: {r.tests}"
        text = _feedback_text(root, m.name, assignment)
        assert re.search(m.expect, text, re.I), f"{m.name}: feedback does not explain the bug"
        assert "HIDDEN TESTS" not in text and "coursekit/grading/" not in text, m.name
        seeds_shown += "replay them with COURSEKIT_SEED=" in text
    assert seeds_shown, "no feedback records the hidden tests' seed"

    csv = run_coursekit(root, "export", assignment, "-o", "-").stdout.splitlines()
    assert csv[0].startswith("student,assignment,score,max_score")
    assert len(csv) == 1 + 2 + len(mutants)


HALF_DONE = {"01_softmax": ["softmax", "log_softmax", "predict"],
             "05_autodiff": ["unbroadcast", "tensor_arithmetic", "tensor_functions"]}


@pytest.mark.parametrize("assignment", sorted(HALF_DONE))
def test_plain_nbgrader_scores_honest_work_like_coursekit(course_factory, assignment):
    """Honest submissions: `nbgrader autograde` and `coursekit grade` agree cell by cell."""
    scores = {}
    for how in ("plain", "coursekit"):
        root = course_factory(how, [assignment])
        course = Course(root)
        build_submission(course, assignment, "full", solve="all")
        build_submission(course, assignment, "none", solve=None)
        build_submission(course, assignment, "half", solve=HALF_DONE[assignment])
        if how == "plain":
            course.nbgrader("generate_assignment", assignment, "--force")
            course.nbgrader("autograde", assignment, "--force")
        else:
            run_coursekit(root, "grade", assignment, "--jobs", "2")
        scores[how] = {r.student: r.tests for r in read_results(course, assignment)}
    assert scores["plain"] == scores["coursekit"]
    half = scores["coursekit"]["half"]
    assert 0 < sum(s for s, _ in half.values()) < sum(m for _, m in half.values())
