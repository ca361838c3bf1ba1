"""Preflight and honest failure: the reference must score full and the blank release 0, in the same
sandbox with the same limits, before any student is graded; a grader that cannot even start a
kernel grades nobody; the kit works however coursekit is installed, or says how to fix it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.store.results import read_results
from coursekit.instructor.execute.sandbox import probe_isolation
from coursekit.instructor.store.records import read_record
from coursekit.instructor.intake.submissions import build_submission

from .conftest import ROOT, run_coursekit
from .points import release_points

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(probe_isolation()[0] == "none",
                                 reason="no sandbox works here: " + probe_isolation()[1])]

A = "01_softmax"
NB = "softmax.ipynb"
# the preflight and these scores count autograded points only: written answers wait for a person
FULL = release_points(A, "softmax").autograded
F = f"{FULL:g}"


def _nothing_recorded(course: Course, *students: str) -> None:
    assert read_results(course, A) == []
    for s in students:
        assert read_record(course, A, s) is None
    graded = [p for p in (course.root / "autograded").glob(f"*/{A}/{NB}") if not p.parts[-3].startswith(".")]
    assert graded == []


def _set_solution(path: Path, unit: str, code: str) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == unit:
            cell.source = code
    nbformat.write(nb, path)



@pytest.fixture(autouse=True)
def no_shared_preflight_cache(monkeypatch):
    """These tests are about the preflight itself: every course pays for its own."""
    monkeypatch.delenv("COURSEKIT_PREFLIGHT_CACHE", raising=False)


def test_wrong_reference_stops_the_run_and_says_why(course_factory):
    root = course_factory(assignments=[A])
    course = Course(root)
    build_submission(course, A, "solved", solve="all")
    build_submission(course, A, "blank", solve=None)
    # the instructor's mistake: softmax without the normalisation
    _set_solution(root / "solutions" / A / NB, "softmax",
                  "import numpy as np\ndef softmax(z):\n    ### BEGIN SOLUTION\n    return np.exp(z)\n"
                  "    ### END SOLUTION\n")
    proc = run_coursekit(root, "grade", A, "--jobs", "2", check=False)
    assert proc.returncode != 0, proc.stdout
    assert "preflight failed, nothing was graded" in proc.stderr, proc.stderr
    assert re.search(rf"reference \(solutions/\) scored [\d.]+/{F}, not full marks", proc.stderr), proc.stderr
    assert "softmax" in proc.stderr
    _nothing_recorded(course, "solved", "blank")


def test_blank_release_that_scores_stops_the_run(course_factory, tmp_path):
    root = course_factory(assignments=[A])
    course = Course(root)
    build_submission(course, A, "solved", solve="all")
    # a release whose stub already holds the answer (say, the solution markers were forgotten)
    leak = build_submission(course, A, "x", solve=["softmax"], submitted_root=tmp_path / "leak")
    shutil.copy(leak / NB, root / "assignments" / A / NB)
    proc = run_coursekit(root, "grade", A, check=False)
    assert proc.returncode != 0, proc.stdout
    assert re.search(rf"blank release \(assignments/\) scored [1-9][\d.]*/{F}, not 0", proc.stderr), proc.stderr
    assert "softmax" in proc.stderr
    _nothing_recorded(course, "solved")


def test_a_grader_that_cannot_start_the_kernel_grades_nobody(course_factory):
    """The kernel cannot start (here: 40 MiB is too little for Python and NumPy): not a class of
    zeros, but a refusal carrying what the sandbox said."""
    root = course_factory(assignments=[A])
    course = Course(root)
    build_submission(course, A, "solved", solve="all")
    proc = run_coursekit(root, "grade", A, "--memory", "40M", check=False)
    assert proc.returncode != 0, proc.stdout
    assert "the grader itself failed" in proc.stderr and "could not start the kernel" in proc.stderr, proc.stderr
    assert re.search(r"numpy|MemoryError|Cannot allocate|map segment", proc.stderr), proc.stderr
    _nothing_recorded(course, "solved")
    # the same course with workable limits: graded, and the next run does not pay for the preflight
    out = run_coursekit(root, "grade", A).stdout
    m = re.search(rf"preflight: reference {F}/{F}, blank release 0/{F} in ([\d.]+) s: OK", out)
    assert m, out
    print(f"\npreflight {A}: {m.group(1)} s")
    assert {r.student: r.score for r in read_results(course, A)} == {"solved": FULL}


def test_preflight_is_cached_until_its_inputs_change(course_factory):
    root = course_factory(assignments=[A])
    course = Course(root)
    build_submission(course, A, "solved", solve="all")
    build_submission(course, A, "blank", solve=None)
    # a submission with many files (more than the launcher's argument list could carry)
    many = build_submission(course, A, "many_files", solve="all")
    for i in range(1200):
        p = many / "data" / f"sample_{i:05d}_with_a_long_name.txt"
        p.parent.mkdir(exist_ok=True)
        p.write_text(str(i))
    out = run_coursekit(root, "grade", A, "--jobs", "2").stdout
    assert f"preflight: reference {F}/{F}, blank release 0/{F}" in out, out
    assert {r.student: r.score for r in read_results(course, A)} == {"solved": FULL, "blank": 0.0,
                                                                       "many_files": FULL}, out
    # (one student per run from here: the preflight is decided per run, whoever is graded)
    out = run_coursekit(root, "grade", A, "--force", "--student", "solved").stdout
    assert "preflight: passed before" in out and "not run again" in out, out
    # another limit, or a changed reference: run again
    out = run_coursekit(root, "grade", A, "--force", "--student", "solved", "--cell-timeout", "90").stdout
    assert f"preflight: reference {F}/{F}" in out, out
    (root / "solutions" / A / "notes.txt").write_text("changed")
    out = run_coursekit(root, "grade", A, "--force", "--student", "solved", "--cell-timeout", "90").stdout
    assert f"preflight: reference {F}/{F}" in out, out


# ---------------------------------------------------------------------------
# however coursekit is installed
# ---------------------------------------------------------------------------
def _bare_python() -> str | None:
    """A Python with the kit's dependencies but without coursekit itself (the venv's base)."""
    base = getattr(sys, "_base_executable", None) or ""
    if not base or os.path.realpath(base) == os.path.realpath(sys.executable) and sys.prefix == sys.base_prefix:
        return None
    ok = subprocess.run([base, "-c", "import nbgrader, numpy, IPython"], capture_output=True, cwd="/")
    no_kit = subprocess.run([base, "-c", "import coursekit"], capture_output=True, cwd="/")
    return base if ok.returncode == 0 and no_kit.returncode != 0 else None


def _run_with(python: str, course: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               PATH=str(Path(python).parent) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([python, "-m", "coursekit.cli", *args], cwd=course, env=env, text=True,
                          capture_output=True)


def test_kit_found_only_through_the_checkout_grades_in_the_sandbox(course_factory):
    """coursekit importable only from checkout A (PYTHONPATH, as an editable install into another
    environment would), grading course B: the kernel used to fail with ``No module named
    'coursekit'`` and every student got 0."""
    python = _bare_python()
    if python is None:
        pytest.skip("no Python with the dependencies but without coursekit")
    root = course_factory(assignments=[A])
    course = Course(root)
    build_submission(course, A, "solved", solve="all")
    proc = _run_with(python, root, "grade", A)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {r.student: r.score for r in read_results(course, A)} == {"solved": FULL}, proc.stdout


def test_course_inside_the_python_environment_is_refused_with_the_fix(tmp_path):
    python = _bare_python()
    if python is None:
        pytest.skip("no Python with the dependencies but without coursekit")
    env_dir = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", "--system-site-packages", str(env_dir)], check=True)
    from .conftest import make_course

    root = make_course(env_dir / "course", [A])
    course = Course(root)
    build_submission(course, A, "solved", solve="all")
    proc = _run_with(str(env_dir / "bin" / "python"), root, "grade", A)
    assert proc.returncode != 0, proc.stdout
    assert "contains the course folder" in proc.stderr and "Move the course out of" in proc.stderr, proc.stderr
    _nothing_recorded(course, "solved")
