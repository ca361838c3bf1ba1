"""One reading of nbgrader's solution and hidden-test markers, from the course's configuration.

A course whose ``nbgrader_config.py`` sets other delimiters is handled by every reader:
intake (the released part of a test cell), the solved code of a submission, the feedback
tracebacks and the student tree's leak check.
"""
import json

import nbformat
from traitlets.config import Config

from coursekit.instructor.course import Course
from coursekit.instructor.intake.notebook import NotebookSpec, read_submission, visible_part
from coursekit.instructor.intake.submissions import solved_sources, strip_solution_markers
from coursekit.instructor.markers import Markers
from coursekit.instructor.publish.student_tree import FORBIDDEN_TEXT, leaks, solution_texts
from coursekit.instructor.report.tracebacks import ShortTracebacks

# delimiters of a course that does not use nbgrader's defaults
MINE = Markers("## >>> answer", "## <<< answer", "## >>> secret checks", "## <<< secret checks")
CONFIG = f"""
c = get_config()
c.CourseDirectory.source_directory = "solutions"
c.ClearSolutions.begin_solution_delimeter = {MINE.begin_solution!r}
c.ClearSolutions.end_solution_delimeter = {MINE.end_solution!r}
c.ClearHiddenTests.begin_test_delimeter = {MINE.begin_hidden!r}
c.ClearHiddenTests.end_test_delimeter = {MINE.end_hidden!r}
"""
DEFAULT = Markers.default()
TEST_SOURCE = (f"assert f(1) == 1\n{MINE.begin_hidden}\nassert f(2) == 2, 'the secret check of f'\n"
               f"{MINE.end_hidden}\nprint('done')")
SOLVED = (f"def f(x):\n    {MINE.begin_solution}\n    y = x * 1  # the reference's very own line of code\n"
          f"    return y\n    {MINE.end_solution}")


def _course(tmp_path) -> Course:
    (tmp_path / "nbgrader_config.py").write_text(CONFIG)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SOLVED, metadata={"nbgrader": {
                    "grade_id": "f", "solution": True, "grade": False, "locked": False}}),
                nbformat.v4.new_code_cell(TEST_SOURCE, metadata={"nbgrader": {
                    "grade_id": "test_f", "grade": True, "solution": False, "locked": True, "points": 1}})]
    (tmp_path / "solutions" / "a1").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "solutions" / "a1" / "nb.ipynb")
    return Course(tmp_path)


def test_defaults_are_nbgraders_and_no_course_config_gives_them():
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    assert DEFAULT == Markers.from_config(None) == Markers.from_config(Config())
    assert DEFAULT.begin_solution == ClearSolutions().begin_solution_delimeter
    assert DEFAULT.end_hidden == ClearHiddenTests().end_test_delimeter
    assert FORBIDDEN_TEXT == DEFAULT.all
    assert Markers.from_dict(DEFAULT.to_dict()) == DEFAULT and Markers.from_dict(None) == DEFAULT


def test_course_config_sets_the_delimiters(tmp_path):
    course = _course(tmp_path)
    assert Markers.of_course(course) == MINE


def test_visible_part_with_the_courses_delimiters(tmp_path):
    markers = Markers.of_course(_course(tmp_path))
    assert markers.visible_part(TEST_SOURCE) == "assert f(1) == 1\nprint('done')"
    assert visible_part(TEST_SOURCE, markers.to_dict()) == "assert f(1) == 1\nprint('done')"
    # nbgrader's defaults do not know these delimiters: nothing is hidden
    assert visible_part(TEST_SOURCE) == TEST_SOURCE
    assert markers.hidden_lines(TEST_SOURCE) == ["assert f(2) == 2, 'the secret check of f'"]


def test_intake_compares_a_locked_cell_with_the_courses_released_part(tmp_path):
    markers = Markers.of_course(_course(tmp_path)).to_dict()
    cells = {"f": {"cell_type": "code", "locked": False, "source": SOLVED, "checksum": ""},
             "test_f": {"cell_type": "code", "locked": True, "source": TEST_SOURCE, "checksum": ""}}
    released = nbformat.v4.new_notebook()
    released.cells = [
        nbformat.v4.new_code_cell("def f(x):\n    return x", metadata={"nbgrader": {"grade_id": "f", "solution": True}}),
        nbformat.v4.new_code_cell(MINE.visible_part(TEST_SOURCE), metadata={"nbgrader": {
            "grade_id": "test_f", "grade": True, "locked": True, "points": 1}})]
    path = tmp_path / "nb.ipynb"
    nbformat.write(released, path)
    for spec_markers, edited in ((markers, False), (None, True)):
        spec = NotebookSpec("nb", ["f", "test_f"], cells, {"test_f": 1.0}, ["f"], ["f"], spec_markers)
        got = read_submission(path, spec)
        assert got.status == "ok"
        assert any("'test_f' was edited" in p for p in got.problems) is edited, got.problems
        assert MINE.begin_hidden in got.notebook.cells[1].source      # the hidden tests are back


def test_solved_code_strips_the_courses_solution_delimiters(tmp_path):
    course = _course(tmp_path)
    solved = solved_sources(course, "a1", "nb.ipynb")
    assert solved == {"f": "def f(x):\n    y = x * 1  # the reference's very own line of code\n    return y"}
    assert strip_solution_markers(SOLVED) == SOLVED                  # defaults: nothing to strip


def test_solution_bodies_and_leak_check_with_the_courses_delimiters(tmp_path):
    course = _course(tmp_path)
    markers = Markers.of_course(course)
    assert markers.solution_bodies(SOLVED) == [
        "    y = x * 1  # the reference's very own line of code\n    return y"]
    assert markers.without_solutions(SOLVED) == "def f(x):"
    assert markers.solution_bodies(f"{MINE.begin_solution}\nnever closed") == []
    assert markers.without_solutions(f"{MINE.begin_solution}\nnever closed") == f"{MINE.begin_solution}\nnever closed"
    secrets = solution_texts(course.solutions, markers)
    assert secrets == ["y = x * 1  # the reference's very own line of code\nreturn y"]
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": f"x = 1\n{MINE.end_hidden}"}]}))
    (tree / "b.py").write_text(f"    {MINE.begin_solution}\nprint('a line that only mentions {MINE.end_solution}')\n")
    (tree / "c.py").write_text("y = x * 1  # the reference's very own line of code\nreturn y\n")
    found = "\n".join(leaks(tree, course.solutions, markers))
    assert f"a.ipynb: contains {MINE.end_hidden!r}" in found
    assert f"b.py: marker line {MINE.begin_solution!r}" in found and "only mentions" not in found
    assert "c.py: contains the solution" in found
    assert leaks(tree) == []      # with nbgrader's defaults, none of these is a marker (no solutions given)


def test_feedback_tracebacks_hide_the_courses_hidden_lines(tmp_path):
    course = _course(tmp_path)
    cell = nbformat.v4.new_code_cell(TEST_SOURCE, metadata={"nbgrader": {"grade": True, "grade_id": "test_f"}})
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="the secret check of f",
                                           traceback=["Traceback", "----> 3 assert f(2) == 2, 'the secret check of f'",
                                                      f"   2 {MINE.begin_hidden}",
                                                      "AssertionError: the secret check of f"])]
    out, _ = ShortTracebacks(config=course.config()).preprocess_cell(cell, {}, 0)
    kept = out.outputs[0]["traceback"]
    assert kept == ["Traceback", "AssertionError: the secret check of f"]
    default_cell = nbformat.from_dict(json.loads(json.dumps(cell)))
    default_cell.outputs[0]["traceback"] = cell.outputs[0]["traceback"][:1] + [
        "----> 3 assert f(2) == 2, 'the secret check of f'", f"   2 {MINE.begin_hidden}"]
    out, _ = ShortTracebacks().preprocess_cell(default_cell, {}, 0)
    assert len(out.outputs[0]["traceback"]) == 4        # nbgrader's defaults: these lines are not hidden ones
