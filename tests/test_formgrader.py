"""Manual grading: a written answer graded by a person in formgrader reaches every export and the feedback.

A tiny assignment in a scratch course (one autograded function, one written
answer worth 2 points graded by hand); the submission is autograded and the
manual score set through formgrader's REST API (nbgrader
0.9.6 ``server_extensions/formgrader/apihandlers.py``: ``PUT /formgrader/api/grade/<id>``)
on a real jupyter_server with the nbgrader extensions, on loopback, with a token.

The tiny course is generated and its submission built once (``tiny``); the formgrader
course and the course ``coursekit grade`` runs on are copies of it. ``coursekit export``
runs once as a command (long format); the other formats go through the same ``main`` in
this process, which skips only the interpreter start.
"""
import contextlib
import csv
import io
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.intake.submissions import build_submission

from .conftest import make_course, run_coursekit
from .servers import Formgrader

pytestmark = pytest.mark.slow

W = "99_written"


def tiny_source() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}

    def meta(**kw):
        base = {"grade": False, "solution": False, "locked": False, "schema_version": 3}
        base.update(kw)
        return {"nbgrader": base}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A tiny assignment", metadata=meta(locked=True, grade_id="intro")),
        nbformat.v4.new_code_cell("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
                                  metadata=meta(solution=True, grade_id="add")),
        nbformat.v4.new_code_cell("assert add(1, 2) == 3\nprint('add works')",
                                  metadata=meta(grade=True, locked=True, grade_id="test_add", points=1)),
        nbformat.v4.new_markdown_cell("Why is `add(a, b) == add(b, a)`?", metadata=meta(locked=True, grade_id="q")),
        nbformat.v4.new_markdown_cell("YOUR ANSWER HERE",
                                      metadata=meta(solution=True, grade=True, grade_id="why_add", points=2)),
    ]
    return nb


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A scratch course with the tiny assignment generated and ada's solved submission built."""
    root = make_course(tmp_path_factory.mktemp("tiny") / "course", ["01_softmax"])
    (root / "solutions" / W).mkdir()
    nbformat.write(tiny_source(), root / "solutions" / W / "tiny.ipynb")
    course = Course(root)
    course.nbgrader("generate_assignment", W, "--force")
    build_submission(course, W, "ada", solve="all")
    return root


def _copy_course(tiny, dest):
    """A copy of the tiny course (nbgrader_config.py finds its root from where it lies)."""
    return Path(shutil.copytree(tiny, dest, symlinks=True))


@pytest.fixture(scope="module")
def graded(tiny, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formgrader")
    root = _copy_course(tiny, tmp / "course")
    sub = root / "submitted" / "ada" / W / "tiny.ipynb"
    nb = nbformat.read(sub, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "why_add":
            cell.source = "Because addition of numbers is commutative. <script>alert(1)</script>"
    nbformat.write(nb, sub)
    fg = Formgrader(root, tmp)
    try:
        reply = fg.api("POST", f"/submission/{W}/ada/autograde", timeout=600)
        assert reply.get("success"), reply
        reply = fg.set_manual_score(W, "tiny", "ada", "why_add", 1.5, comment="Right idea; say why it holds.")
        assert reply["manual_score"] == 1.5 and reply["needs_manual_grade"] is False
    finally:
        # every request has been answered (its writes to the gradebook committed): no need
        # to wait for a graceful shutdown
        fg.stop(graceful=False)
    return root


def _export_in_process(root, monkeypatch, *args) -> str:
    """``coursekit export ARGS`` through ``coursekit.cli.main`` at the course root: its stdout."""
    from coursekit.cli import main

    monkeypatch.chdir(root)
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))   # (export puts its tools on PATH)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["export", *args]) == 0
    return out.getvalue()


def test_manual_points_reach_every_export(graded, monkeypatch):
    root = graded
    long = list(csv.DictReader(io.StringIO(run_coursekit(root, "export", W, "-o", "-", "--tests").stdout)))
    assert (long[0]["score"], long[0]["why_add"], long[0]["test_add"]) == ("2.5", "1.5", "1")
    wide = list(csv.reader(io.StringIO(_export_in_process(root, monkeypatch, W, "--format", "wide", "-o", "-"))))
    assert wide[1][0] == "ada" and wide[1][2:] == ["2.5", "2.5", "3"]
    canvas = list(csv.reader(io.StringIO(_export_in_process(root, monkeypatch, W, "--format", "canvas", "-o", "-"))))
    assert canvas[1][5] == "3" and canvas[2][3] == "ada" and canvas[2][5] == "2.5"
    moodle = list(csv.reader(io.StringIO(_export_in_process(root, monkeypatch, W, "--format", "moodle", "-o", "-"))))
    assert moodle[1][1] == "ada" and moodle[1][4] == "2.5"


def test_manual_grade_and_comment_in_feedback(graded):
    root = graded
    run_coursekit(root, "feedback", W)
    page = (root / "coursekit-feedback" / "ada" / W / "tiny.html").read_text()
    text = re.sub(r"<[^>]+>", " ", page)
    assert "2.5 / 3 points" in text
    assert re.search(r"why_add .*graded by hand .*1\.5 / 2", text, re.S)
    assert "Right idea; say why it holds." in text
    assert "<script>" not in page


def test_coursekit_grade_handles_written_answers(tiny, tmp_path):
    root = _copy_course(tiny, tmp_path / "course")
    out = run_coursekit(root, "grade", W, check=False).stdout
    assert "graded 1 submission(s)" in out, out
