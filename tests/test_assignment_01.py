"""01_softmax: the reference is right, and its tests catch every mutant (in-process, fast)."""

import re

import nbformat
import numpy as np
import pytest

from coursekit.gradcheck import eval_numerical_gradient

from .harness import ROOT, notebook_path, run_tests, unit_tests, units_of
from .harness import assert_blank_scores_zero, assert_full_marks, assert_mutant_caught
from .mutants.m01_softmax import MUTANTS

A = "01_softmax"
UNITS = units_of(A)   # every solution cell: code units and written answers
CODE_UNITS = [u for u in UNITS if not u.startswith("q_")]
QUESTIONS = [u for u in UNITS if u.startswith("q_")]
NUMPY_REPR = re.compile(r"np\.(float|int|uint|complex|bool|str|bytes)_?\d*\(|array\(")


@pytest.fixture(scope="module")
def ref():
    from coursekit.grading.reference import reference_namespace
    return reference_namespace(A)


def test_every_contract_unit_has_a_solution_cell_and_tests():
    assert CODE_UNITS == ["softmax", "log_softmax", "softmax_loss", "softmax_loss_naive",
                          "softmax_loss_vectorized", "predict", "expected_initial_loss"]
    result = run_tests(A)
    for unit in CODE_UNITS:
        assert len(unit_tests(result, unit, CODE_UNITS)) >= 1, unit
    assert sum(len(unit_tests(result, u, CODE_UNITS)) >= 2 for u in CODE_UNITS) >= 5  # partial credit is real


def test_reference_scores_full_marks_for_several_seeds():
    assert_full_marks(A, seeds=(1, 2, 3))


def test_blank_release_scores_zero():
    assert_blank_scores_zero(A)


def test_softmax_reference_stable_and_warning_free(ref):
    with np.errstate(all="raise", under="ignore"):
        p = ref.softmax(np.array([[1e4, 0, -1e4], [-1e4, -1e4, 1e4]]))
        lp = ref.log_softmax(np.array([[0.0, -1e4]]))
    assert np.allclose(p, [[1, 0, 0], [0, 0, 1]])
    assert np.allclose(lp, [[0.0, -1e4]])
    z = np.random.default_rng(0).normal(size=(2, 3, 5))
    assert np.allclose(ref.softmax(z).sum(-1), 1)
    assert np.allclose(np.exp(ref.log_softmax(z)), ref.softmax(z))


def test_softmax_loss_reference_against_numerical_gradient(ref):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 4)), rng.integers(4, size=6)
    loss, dx = ref.softmax_loss(x, y)
    assert np.isclose(loss, -np.mean(np.log(ref.softmax(x)[np.arange(6), y])))
    num = eval_numerical_gradient(lambda v: ref.softmax_loss(v, y)[0], x.copy())
    assert np.allclose(dx, num, rtol=1e-6, atol=1e-9)


def test_linear_classifier_reference_naive_equals_vectorized_and_gradient(ref):
    rng = np.random.default_rng(1)
    W, X, y = rng.normal(size=(5, 3)), rng.normal(size=(7, 5)), rng.integers(3, size=7)
    for reg in (0.0, 0.8):
        ln, dn = ref.softmax_loss_naive(W, X, y, reg)
        lv, dv = ref.softmax_loss_vectorized(W, X, y, reg)
        assert np.isclose(ln, lv) and np.allclose(dn, dv)
        num = eval_numerical_gradient(lambda w: ref.softmax_loss_vectorized(w, X, y, reg)[0], W.copy())
        assert np.allclose(dv, num, rtol=1e-6, atol=1e-9)
    assert np.isclose(ref.softmax_loss_vectorized(np.zeros((5, 3)), X, y, 0.0)[0], np.log(3))
    assert ref.predict(W, X).tolist() == np.argmax(X @ W, axis=1).tolist()


def test_seed_changes_hidden_inputs_and_replays():
    a, b, a2 = run_tests(A, seed=11), run_tests(A, seed=12), run_tests(A, seed=11)
    hidden = "test_softmax_loss_grad"
    assert "seed 11" in a.cells[hidden].output and "seed 12" in b.cells[hidden].output
    assert a.cells[hidden].output == a2.cells[hidden].output


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_loses_points_on_its_unit_with_a_clear_message(mutant):
    # one bug, one charge: every mutant costs points on its own unit only
    result = assert_mutant_caught(A, mutant, CODE_UNITS, only_own_unit=True)
    for cell in result.cells.values():
        assert not NUMPY_REPR.search(cell.message), cell.message


def test_there_are_at_least_ten_mutants():
    assert len(MUTANTS) >= 10
    assert {m.unit for m in MUTANTS} == set(CODE_UNITS)


def test_written_questions_are_manually_graded_answers_with_a_rubric_hidden_from_students():
    assert QUESTIONS == ["q_shift", "q_initial_loss", "q_surrogate"]
    source = nbformat.read(notebook_path(A), as_version=4)
    release = nbformat.read(ROOT / "assignments" / A / notebook_path(A).name, as_version=4)
    released = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in release.cells}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") not in QUESTIONS:
            continue
        assert cell.cell_type == "markdown" and meta["solution"] and meta["grade"] and meta["points"] >= 1
        assert "*Rubric" in cell.source and "### BEGIN SOLUTION" in cell.source
        out = released[meta["grade_id"]]
        assert out.source.strip() == "YOUR ANSWER HERE", out.source
    text = (ROOT / "assignments" / A / notebook_path(A).name).read_text()
    assert "Rubric" not in text and "Model answer" not in text


def test_a_dependency_bug_costs_only_the_dependency():
    mutant = next(m for m in MUTANTS if m.name == "softmax_loss_sum_not_mean")
    result = run_tests(A, replace={mutant.unit: mutant.code})
    assert result.failed() and all(g.startswith("test_softmax_loss_") and "naive" not in g
                                   and "vectorized" not in g for g in result.failed()), result.failed()


def test_a_missing_dependency_is_named_in_the_students_own_copy(tmp_path, monkeypatch):
    """Without solutions/ (the student's copy) the units run with the student's own dependencies."""
    from coursekit.grading.reference import reference_namespace

    reference_namespace.cache_clear() if hasattr(reference_namespace, "cache_clear") else None
    (tmp_path / "solutions").mkdir()
    monkeypatch.setenv("COURSEKIT_COURSE_ROOT", str(tmp_path))
    stub = "def softmax_loss(x, y):\n    raise NotImplementedError('not implemented yet')\n"
    result = run_tests(A, replace={"softmax_loss": stub})
    for cell in ("test_softmax_loss_vectorized_value", "test_softmax_loss_vectorized_no_loops"):
        message = result.cells[cell].message
        assert "it calls softmax_loss, which is not implemented yet" in message, message
        assert "softmax_loss_vectorized is not implemented" not in message


def test_no_loops_is_checked_on_what_runs():
    mutant = next(m for m in MUTANTS if m.name == "vectorized_delegates_to_naive")
    result = run_tests(A, replace={mutant.unit: mutant.code})
    assert result.failed() == ["test_softmax_loss_vectorized_no_loops"]
    assert "softmax_loss_naive?" in result.cells["test_softmax_loss_vectorized_no_loops"].message


def test_solved_notebook_closes_its_figures_and_they_fit(monkeypatch):
    from .notebook_run import run_notebook_in_process

    stats = run_notebook_in_process(A)
    assert stats.most_open <= 20 and stats.left_open == 0, stats
    assert stats.widest <= 9.0, stats
