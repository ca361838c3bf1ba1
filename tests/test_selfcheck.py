"""``coursekit check``: the student's self-check runs the visible tests as grading will, no gradebook."""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.intake.submissions import build_submission
from coursekit.selfcheck import check_notebook

from .conftest import ROOT
from .points import release_points

A = "01_softmax"
PTS = release_points(A, "softmax")


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    """Student copies outside any course (no nbgrader_config.py, no gradebook)."""
    tmp = tmp_path_factory.mktemp("selfcheck")
    course = Course(ROOT)
    solved = build_submission(course, A, "s", solve="all", submitted_root=tmp / "solved")
    partial = build_submission(course, A, "p", solve="all", submitted_root=tmp / "partial", replace={
        "predict": "def predict(W, X):\n    import numpy as np\n    return np.zeros(X.shape[0], dtype=int)\n"
                   "undefined_helper()\n"})
    return solved / "softmax.ipynb", partial / "softmax.ipynb"


def run_check(path: Path, *extra):
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    return subprocess.run([sys.executable, "-m", "coursekit.cli", "check", str(path), *extra], cwd=path.parent,
                          env=env, capture_output=True, text=True)


def test_solved_passes(notebooks):
    solved, _ = notebooks
    proc = run_check(solved)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for unit in ("softmax", "log_softmax", "softmax_loss", "softmax_loss_naive", "softmax_loss_vectorized",
                 "predict"):
        assert f"ok   {unit} " in proc.stdout
    full = f"{PTS.autograded:g}"                   # test cells only: written answers are graded by a person
    assert f"visible tests: {full}/{full} points" in proc.stdout and "60 s per cell" in proc.stdout
    assert not list(solved.parent.glob("*.db")) and not (solved.parent / "autograded").exists()


def test_partial_shows_unit_message_and_own_error(notebooks, monkeypatch, capsys):
    _, partial = notebooks
    report = check_notebook(partial)
    units = report.units
    assert units["softmax"][:2] == (PTS.of_units(["softmax"]),) * 2
    got, out_of, msg = units["predict"]
    assert got < out_of and msg.startswith("test_predict")
    assert any("NameError" in e and "undefined_helper" in e and "(predict)" in e for e in report.own_errors)
    # what `coursekit check` says about this report, and its exit status (the command as a process,
    # and its run of a notebook: test_solved_passes and test_an_unreadable_notebook_...)
    from coursekit import cli, selfcheck

    monkeypatch.setattr(selfcheck, "check_notebook", lambda path, timeout=None: report)
    assert cli.main(["check", str(partial)]) == 1
    out = capsys.readouterr().out
    assert "FAIL predict" in out and "errors in your own cells" in out


def test_timeout_per_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(30)"),
                nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("assert x == 1", metadata={"nbgrader": {
                    "grade": True, "grade_id": "test_x", "points": 1, "solution": False, "locked": True}})]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    report = check_notebook(path, cell_timeout=2)
    # the sleeping cell was interrupted at the limit, later cells still ran
    assert report.passed
    assert any(e.startswith("cell 1:") and ("KeyboardInterrupt" in e or "Timeout" in e) for e in report.own_errors), \
        report.own_errors


def _children() -> set[int]:
    pids = set()
    for tid in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{tid}/children") as f:
            pids |= {int(x) for x in f.read().split()}
    return {p for p in pids if os.path.exists(f"/proc/{p}") and "Z" not in open(f"/proc/{p}/stat").read().split()[2]}


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_an_unreadable_notebook_stops_the_kernel_started_for_it(tmp_path):
    """The kernel starts before the notebook is read (it boots meanwhile): a notebook that cannot
    be read must not leave it running."""
    path = tmp_path / "broken.ipynb"
    path.write_text("{ this is not a notebook")
    before = _children()
    with pytest.raises(ValueError):
        check_notebook(path)
    import time
    for _ in range(50):
        if not (_children() - before):
            break
        time.sleep(0.1)
    assert not (_children() - before), "a kernel was left running"
    proc = run_check(path)
    assert proc.returncode == 2 and "cannot run" in proc.stderr
