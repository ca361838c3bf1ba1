"""Grading end to end through `coursekit grade --all --jobs 2` (sandboxed kernels, nbgrader's gradebook): slow.

The whole mutant catalogue is proved in process (tests/test_assignment_*.py, through
tests/harness.py, in seconds). Here a sample of it -- the first mutant of each assignment --
goes through the real grader, to show the same verdicts and messages survive the sandbox, the
judge and the feedback pages.

One course holds every assignment; one ``coursekit grade --all`` (one process, one pool of
workers) grades all of them, and plain ``nbgrader autograde`` grades the honest submissions of
two assignments in a copy of the course at the same time. The tests then read the results, one
per assignment.

Solved and blank work of every assignment goes through the same sandbox, judge and workers in
that run's preflight (the reference and the blank release, graded before any student), whose
verdict the tests read from the run's output: full marks and 0. Students with solved, blank and
half-done work are graded only where plain nbgrader grades the same work beside them.
"""
import html
import re
import threading

import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.store.results import read_results
from coursekit.instructor.intake.submissions import build_submission

from .conftest import make_course, run_coursekit
from .harness import notebook_path
from .inprocess import coursekit_here
from .mutants import catalogues
from .points import release_points

pytestmark = pytest.mark.slow

CATALOGUES = catalogues()
E2E_MUTANTS_PER_ASSIGNMENT = 1
# honest partial work, graded by both coursekit and plain nbgrader
HALF_DONE = {"01_softmax": ["softmax", "log_softmax", "predict"],
             "05_autodiff": ["unbroadcast", "tensor_arithmetic", "tensor_functions"]}
HONEST = ("solved", "blank", "half")


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


def _build(course: Course, assignment: str) -> None:
    build_submission(course, assignment, "solved", solve="all")
    build_submission(course, assignment, "blank", solve=None)
    build_submission(course, assignment, "half", solve=HALF_DONE[assignment])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every assignment graded in one run; plain nbgrader's grades of the honest work beside them."""
    base = tmp_path_factory.mktemp("e2e")
    root, plain_root = make_course(base / "coursekit"), make_course(base / "plain", sorted(HALF_DONE))
    course, plain = Course(root), Course(plain_root)
    mutants = {a: sample(CATALOGUES[a]) for a in sorted(CATALOGUES)}
    for a, ms in mutants.items():
        if a in HALF_DONE:
            _build(course, a)
        for m in ms:
            build_submission(course, a, m.name, solve="all", replace={m.unit: m.code})
    for a in HALF_DONE:
        _build(plain, a)

    # plain nbgrader (two processes, every assignment of the copy) while coursekit grades
    plain_error = []

    def plain_autograde():
        try:
            plain.nbgrader("generate_assignment", "*", "--force")
            plain.nbgrader("autograde", "*", "--force")
        except Exception as err:  # noqa: BLE001 - reported by the test that needs it
            plain_error.append(err)

    thread = threading.Thread(target=plain_autograde)
    thread.start()
    try:
        out = run_coursekit(root, "grade", "--all", "--jobs", "2").stdout
    finally:
        thread.join()
    feedback = {a: coursekit_here(root, "feedback", a) for a in mutants}
    csv = coursekit_here(root, "export", *mutants, "-o", "-").splitlines()
    results = {a: {r.student: r for r in read_results(course, a)} for a in mutants}
    plain_tests = {a: {r.student: r.tests for r in read_results(plain, a)} for a in HALF_DONE} \
        if not plain_error else None
    return dict(root=root, out=out, mutants=mutants, results=results, feedback=feedback, csv=csv,
                plain=plain_tests, plain_error=plain_error)


@pytest.mark.parametrize("assignment", sorted(CATALOGUES))
def test_grade_solved_blank_and_a_mutant(graded, assignment):
    root, mutants, results = graded["root"], graded["mutants"][assignment], graded["results"][assignment]
    honest = set(HONEST) if assignment in HALF_DONE else set()
    n = len(mutants) + len(honest)
    assert re.search(rf"^graded {n} submission\(s\) of {assignment} ", graded["out"], re.M), graded["out"]
    assert set(results) == {*(m.name for m in mutants)} | honest
    # the reference (solved) scored every autograded point and the blank release 0, in this run's
    # preflight or in one with the same fingerprint (solutions, release, coursekit, limits, sandbox)
    full = release_points(assignment, notebook_path(assignment).stem).autograded
    pre = re.search(rf"^preflight {assignment}: .*?reference ([\d.]+)/([\d.]+), blank release ([\d.]+)/([\d.]+)",
                    graded["out"], re.M)
    assert pre, graded["out"]
    assert [float(x) for x in pre.groups()] == [full, full, 0.0, full], pre.group(0)
    if honest:
        solved, blank = results["solved"], results["blank"]
        # test cells (test_<unit>...) are autograded; written answers (manually graded) wait for a person
        tests = {gid: v for gid, v in solved.tests.items() if gid.startswith("test_")}
        assert sum(got for got, _ in tests.values()) == sum(out_of for _, out_of in tests.values()) == full, tests
        assert solved.score == full, solved.tests
        assert blank.score == 0, blank.tests

    assert f"wrote {n} feedback page(s)" in graded["feedback"][assignment], graded["feedback"][assignment]
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

    csv = graded["csv"]
    assert csv[0].startswith("student,assignment,score,max_score")
    assert len([row for row in csv[1:] if row.split(",")[1] == assignment]) == n


@pytest.mark.parametrize("assignment", sorted(HALF_DONE))
def test_plain_nbgrader_scores_honest_work_like_coursekit(graded, assignment):
    """Honest submissions: `nbgrader autograde` and `coursekit grade` agree cell by cell."""
    assert not graded["plain_error"], graded["plain_error"]
    plain = graded["plain"][assignment]
    ours = {s: r.tests for s, r in graded["results"][assignment].items() if s in HONEST}
    assert set(plain) == set(ours) == set(HONEST)
    assert plain == ours
    half = ours["half"]
    assert 0 < sum(s for s, _ in half.values()) < sum(m for _, m in half.values())
