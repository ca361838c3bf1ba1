"""Preflight and honest failure: the reference must score full and the blank release 0, in the same
sandbox with the same limits, before any student is graded; a grader that cannot even start a
kernel grades nobody; the kit works however coursekit is installed, or says how to fix it."""
from __future__ import annotations

import json
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
    """These tests are about the preflight itself: every course pays for its own (the session's
    shared cache is off; ``module_cache`` is this module's own, for the tests that opt in)."""
    monkeypatch.delenv("COURSEKIT_PREFLIGHT_CACHE", raising=False)


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    """A preflight cache shared by this module's tests only (empty when the module starts)."""
    return tmp_path_factory.mktemp("preflight-cache")


def test_wrong_reference_or_scoring_blank_release_stops_the_run_and_says_why(course_factory, tmp_path):
    """Both of the instructor's mistakes in one course, one preflight: each is reported with the
    tests that show it, and nothing is graded. (That either one alone stops the run is the same
    decision, ``preflight.check``: see test_preflight_check_fails_on_either_mistake_alone.)"""
    root = course_factory(assignments=[A])
    course = Course(root)
    build_submission(course, A, "solved", solve="all")
    build_submission(course, A, "blank", solve=None)
    # mistake 1: the reference's softmax without the normalisation
    _set_solution(root / "solutions" / A / NB, "softmax",
                  "import numpy as np\ndef softmax(z):\n    ### BEGIN SOLUTION\n    return np.exp(z)\n"
                  "    ### END SOLUTION\n")
    # mistake 2: a release whose predict stub already holds the answer (solution markers forgotten);
    # predict's tests do not call softmax, so the wrong reference does not hide this one
    leak = build_submission(course, A, "x", solve=["predict"], submitted_root=tmp_path / "leak")
    shutil.copy(leak / NB, root / "assignments" / A / NB)
    proc = run_coursekit(root, "grade", A, "--jobs", "2", check=False)
    assert proc.returncode != 0, proc.stdout
    assert "preflight failed, nothing was graded" in proc.stderr, proc.stderr
    ref = re.search(rf"reference \(solutions/\) scored [\d.]+/{F}, not full marks(.*?)(?=the blank release|$)",
                    proc.stderr, re.S)
    assert ref and re.search(r"softmax\.ipynb test_softmax_values\b", ref.group(1)), proc.stderr
    blank = re.search(rf"blank release \(assignments/\) scored [1-9][\d.]*/{F}, not 0(.*)", proc.stderr, re.S)
    assert blank and "test_predict" in blank.group(1), proc.stderr
    _nothing_recorded(course, "solved", "blank")


def _result(scores: dict[str, tuple[float, float]], status: str = "graded") -> dict:
    """A judge's result for one notebook with these ``{grade_id: (score, max)}``."""
    return {"status": status, "events": [], "problems": [],
            "notebooks": {"softmax": {"grades": {gid: {"score": got, "max": out_of, "passed": got == out_of,
                                                        "message": "" if got == out_of else f"{gid} is wrong"}
                                                  for gid, (got, out_of) in scores.items()}}}}


def test_preflight_check_fails_on_either_mistake_alone():
    """The decision behind the end-to-end refusal above, one mistake at a time."""
    from coursekit.instructor.score.preflight import BLANK, REFERENCE, check

    full = _result({"test_softmax_values": (2.0, 2.0), "test_predict": (2.0, 2.0)})
    zero = _result({"test_softmax_values": (0.0, 2.0), "test_predict": (0.0, 2.0)})
    half = _result({"test_softmax_values": (0.0, 2.0), "test_predict": (2.0, 2.0)})
    ok, summary = check({REFERENCE: full, BLANK: zero})
    assert ok and summary == "reference 4/4\nblank release 0/4", summary
    ok, summary = check({REFERENCE: half, BLANK: zero})
    assert not ok and "the reference (solutions/) scored 2/4, not full marks" in summary, summary
    assert "test_softmax_values: test_softmax_values is wrong" in summary and "blank release 0/4" in summary
    ok, summary = check({REFERENCE: full, BLANK: half})
    assert not ok and "the blank release (assignments/) scored 2/4, not 0" in summary, summary
    assert "test_predict" in summary.split("not 0", 1)[1] and "reference 4/4" in summary
    ok, summary = check({REFERENCE: {"status": "error", "error": "SandboxError: could not start the kernel"},
                         BLANK: zero})
    assert not ok and "the grader itself failed" in summary, summary
    ok, summary = check({REFERENCE: full})                  # a result that never came is no pass
    assert not ok and "no result" in summary, summary


def test_a_grader_that_cannot_start_the_kernel_grades_nobody_and_the_preflight_is_cached_until_its_inputs_change(
        course_factory, monkeypatch, module_cache):
    """The kernel cannot start (here: 40 MiB is too little for Python and NumPy): not a class of
    zeros, but a refusal carrying what the sandbox said. With workable limits the same course is
    graded (the failed preflight was not remembered); the passing one is, until an input changes
    (which inputs count: test_preflight_key_follows_every_input, in process)."""
    monkeypatch.setenv("COURSEKIT_PREFLIGHT_CACHE", str(module_cache))
    root = course_factory(assignments=[A])
    course = Course(root)
    build_submission(course, A, "solved", solve="all")
    proc = run_coursekit(root, "grade", A, "--memory", "40M", check=False)
    assert proc.returncode != 0, proc.stdout
    assert "the grader itself failed" in proc.stderr and "could not start the kernel" in proc.stderr, proc.stderr
    assert re.search(r"numpy|MemoryError|Cannot allocate|map segment", proc.stderr), proc.stderr
    _nothing_recorded(course, "solved")
    # the same course with workable limits: the preflight runs, and every student is graded
    build_submission(course, A, "blank", solve=None)
    # a submission with many files (more than the launcher's argument list could carry)
    many = build_submission(course, A, "many_files", solve="all")
    for i in range(1200):
        p = many / "data" / f"sample_{i:05d}_with_a_long_name.txt"
        p.parent.mkdir(exist_ok=True)
        p.write_text(str(i))
    out = run_coursekit(root, "grade", A, "--jobs", "2").stdout
    m = re.search(rf"preflight: reference {F}/{F}, blank release 0/{F} in ([\d.]+) s: OK", out)
    assert m, out
    print(f"\npreflight {A}: {m.group(1)} s")
    assert {r.student: r.score for r in read_results(course, A)} == {"solved": FULL, "blank": 0.0,
                                                                       "many_files": FULL}, out
    # (one student per run from here: the preflight is decided per run, whoever is graded)
    out = run_coursekit(root, "grade", A, "--force", "--student", "solved").stdout
    assert "preflight: passed before" in out and "not run again" in out, out
    # a changed reference: run again
    (root / "solutions" / A / "notes.txt").write_text("changed")
    out = run_coursekit(root, "grade", A, "--force", "--student", "solved").stdout
    assert f"preflight: reference {F}/{F}" in out and "passed before" not in out, out


def test_preflight_key_follows_every_input(course_factory, monkeypatch):
    """The fingerprint changes with each thing a preflight's verdict depends on, and only with them."""
    import coursekit
    from coursekit.instructor.execute.limits import Limits
    from coursekit.instructor.score import preflight

    root = course_factory(assignments=[A])
    course = Course(root)

    def key(digest="specs", limits=Limits(), isolation="namespaces"):
        return preflight.preflight_key(course, A, digest, limits, isolation)

    base = key()
    assert key() == base
    # what does not count: editor and interpreter leftovers
    (root / "solutions" / A / ".ipynb_checkpoints").mkdir()
    (root / "solutions" / A / ".ipynb_checkpoints" / "softmax-checkpoint.ipynb").write_text("{}")
    (root / "assignments" / A / "__pycache__").mkdir()
    (root / "assignments" / A / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert key() == base
    changed = {
        "limits": key(limits=Limits(cell_timeout=90)),
        "memory": key(limits=Limits(memory=1 << 30)),
        "isolation": key(isolation="bwrap"),
        "gradebook tests": key(digest="other specs"),
    }
    monkeypatch.setattr(coursekit, "__version__", coursekit.__version__ + ".post1")
    changed["coursekit version"] = key()
    monkeypatch.undo()
    assert key() == base
    (root / "solutions" / A / "notes.txt").write_text("changed")
    changed["reference file added"] = key()
    (root / "solutions" / A / "notes.txt").write_text("changed again")
    changed["reference file edited"] = key()
    (root / "solutions" / A / "notes.txt").unlink()
    assert key() == base
    _set_solution(root / "assignments" / A / NB, "predict", "def predict(W, X):\n    return 0\n")
    changed["release"] = key()
    assert all(k != base for k in changed.values()), [what for what, k in changed.items() if k == base]
    assert len(set(changed.values())) == len(changed)


def test_only_a_passing_preflight_with_the_same_key_is_remembered(course_factory, monkeypatch, tmp_path):
    """``cached``: the course's own record or the shared cache, the same key, and ok."""
    from coursekit.instructor.score import preflight

    monkeypatch.setenv("COURSEKIT_PREFLIGHT_CACHE", str(tmp_path / "shared"))
    course = Course(course_factory("a", [A]))
    copy = Course(course_factory("b", [A]))
    assert preflight.cached(course, A, "k1") is None
    pre, subs = preflight.prepare(course, A, "k1")
    assert set(subs) == {preflight.REFERENCE, preflight.BLANK} and all(p.is_dir() for p in subs.values())
    preflight.remember(pre, "reference 1/1\nblank release 0/1", 1.0, "namespaces")
    assert not pre.folder.exists()
    assert preflight.cached(course, A, "k1")["summary"] == "reference 1/1\nblank release 0/1"
    assert preflight.cached(course, A, "k2") is None               # another fingerprint
    assert preflight.cached(copy, A, "k1") is not None              # a copy of the course: the shared cache
    monkeypatch.delenv("COURSEKIT_PREFLIGHT_CACHE")
    assert preflight.cached(copy, A, "k1") is None                  # without it, each course its own
    data = json.loads(pre.record.read_text())
    pre.record.write_text(json.dumps(dict(data, ok=False)))
    assert preflight.cached(course, A, "k1") is None
    pre.record.write_text("{not json")
    assert preflight.cached(course, A, "k1") is None


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


def test_kit_found_only_through_the_checkout_grades_in_the_sandbox(course_factory, monkeypatch, module_cache):
    """coursekit importable only from checkout A (PYTHONPATH, as an editable install into another
    environment would), grading course B: the kernel used to fail with ``No module named
    'coursekit'`` and every student got 0. (The preflight of this release, passed earlier in this
    module, is not paid again: the solved submission's full marks are what show the kernel works.)"""
    python = _bare_python()
    if python is None:
        pytest.skip("no Python with the dependencies but without coursekit")
    monkeypatch.setenv("COURSEKIT_PREFLIGHT_CACHE", str(module_cache))
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
