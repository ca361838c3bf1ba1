"""The committed student release is fresh, its stubs fail, the solved source passes.

nbgrader's `validate` command exits 0 even when tests fail, so these call its
Validator directly and read the result.

Freshness regenerates the releases with ``nbgrader generate_assignment`` (a subprocess,
``stale_releases``: one nbgrader run for all of them, as ``coursekit release --check`` does).
That regeneration starts with the module on a second thread, so that it runs beside the
validations (kernels in this process) on the machine's second core; the freshness tests,
last in the file, collect its result.
"""
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.publish.release import stale_releases

from .conftest import make_course

ROOT = Path(__file__).resolve().parents[1]
COURSE = Course(ROOT)
ASSIGNMENTS = COURSE.assignments()


def _validator(invert=False):
    """nbgrader's Validator; its kernel is killed once the notebook has run (the results are in
    the outputs by then) instead of the graceful shutdown, which waits seconds for the kernel."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    class KeepingValidator(Validator):
        executed = None   # the notebook as the Validator ran it, for a look at its outputs

        def _preprocess(self, nb):
            self.executed = super()._preprocess(nb)
            return self.executed

    config = Config()
    config.Execute.shutdown_kernel = "immediate"
    validator = KeepingValidator(config=config)
    validator.invert = invert
    return validator


@pytest.fixture(scope="module", autouse=True)
def regenerated(request):
    """``stale_releases`` of the assignments whose freshness test is selected, running in the
    background from the module's start: a future of {assignment: stale file list}.
    (``stale_releases`` uses absolute paths only, so the Validator changing the working folder
    meanwhile does not matter; the NBGRADER_* variables it sets are not read by
    ``generate_assignment``.)"""
    wanted = [item.callspec.params["assignment"] for item in request.session.items
              if getattr(item, "module", None) is request.module    # (nbval's cells have none)
              and getattr(item, "originalname", "") == "test_release_is_up_to_date"]
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="regenerate")
    future = pool.submit(stale_releases, COURSE, wanted) if wanted else None
    yield future
    if future is not None:
        future.cancel()
    pool.shutdown(wait=True)


def test_every_assignment_has_a_release():
    assert ASSIGNMENTS, "no assignments under solutions/"
    for a in ASSIGNMENTS:
        assert list((ROOT / "assignments" / a).glob("*.ipynb")), f"assignments/{a} is missing"


def _errors(cell) -> list:
    """A code cell's error outputs and stderr streams (what a test's failure shows)."""
    return [o for o in cell.get("outputs", [])
            if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_stubs_fail_every_test(assignment):
    """Every test fails on the release; and, run top to bottom, the first thing that goes
    wrong is a stub's ``NotImplementedError`` (as raised, or as a test reports it), from a cell
    calling the stub, not defining it,
    what a student sees on Run All (tests/test_browser.py shows that in JupyterLab for one
    release; this is the same check on every release, without a browser)."""
    for nb in sorted((ROOT / "assignments" / assignment).glob("*.ipynb")):
        validator = _validator(invert=True)
        result = validator.validate(str(nb))
        assert "changed" not in result and "type_changed" not in result, result
        assert not result.get("passed"), [c["source"][:120] for c in result["passed"]]
        failing = [(cell, _errors(cell)) for cell in validator.executed.cells
                   if cell.cell_type == "code" and _errors(cell)]
        assert failing, f"{nb.name}: running it raised nothing, but its stubs should fail"
        cell, (first, *_) = failing[0]
        shown = (f"{first.ename}: {first.evalue}\n" + "\n".join(first.traceback)
                 if first.output_type == "error" else first.text)   # (what Lab shows of it)
        assert "NotImplementedError" in shown, (nb.name, cell.source[:300], shown[-800:])
        assert "raise NotImplementedError" not in cell.source, (
            "the first error should come from a cell calling a stub, not from defining it")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solved_source_passes_validation(assignment):
    for nb in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")):
        result = _validator().validate(str(nb))
        assert not result.get("failed"), [c["raw_error"][-600:] for c in result["failed"]]


def test_release_has_no_solution_or_hidden_test():
    for nb in ROOT.glob("assignments/*/*.ipynb"):
        text = nb.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, nb


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_up_to_date(regenerated, assignment):
    stale = regenerated.result()[assignment]
    assert stale == [], (f"assignments/{assignment} differs from a fresh generation in {stale}: "
                         f"run `coursekit release {assignment}` and commit the result")


@pytest.mark.slow
def test_stale_releases_names_only_the_changed_assignment(tmp_path):
    """Several assignments regenerated in one nbgrader run: a change to one solution shows as
    that assignment's stale notebook, and the others compare equal file for file."""
    changed, kept = ASSIGNMENTS[0], ASSIGNMENTS[-1]
    root = make_course(tmp_path / "course", [changed, kept])
    nb_path = next((root / "solutions" / changed).glob("*.ipynb"))
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("A note added after the release."))
    nbformat.write(nb, nb_path)
    assert stale_releases(Course(root)) == {changed: [nb_path.name], kept: []}
