"""05_autodiff: the reference is right, its tests catch every mutant (in-process, fast), the
engine reproduces micrograd's published example, and the notebook's structure keeps the contract."""
import ast
import re

import nbformat
import numpy as np
import pytest

from .harness import assert_blank_scores_zero, assert_mutant_caught, notebook_path, run_tests, unit_tests
from .mutants.m05_autodiff import MUTANTS

A = "05_autodiff"
UNITS = ["unbroadcast", "tensor_arithmetic", "tensor_power_matmul", "tensor_functions", "tensor_reductions",
         "backward", "ad_cross_entropy", "ad_mlp"]
QUESTIONS = ["q_second_backward", "q_detach_shift", "q_reverse_mode"]
ALL_UNITS = UNITS + [f"{q}_value" for q in QUESTIONS]


def _cells():
    nb = nbformat.read(notebook_path(A), as_version=4)
    return [(c, c.get("metadata", {}).get("nbgrader", {})) for c in nb.cells]


@pytest.fixture(scope="module")
def ref():
    from coursekit.grading.reference import reference_namespace
    return reference_namespace(A)


# ----------------------------------------------------------------------------- structure

def test_the_eight_contract_units_are_code_solution_cells_in_order():
    code_units = [m["grade_id"] for c, m in _cells() if m.get("solution") and c.cell_type == "code"]
    assert [u for u in code_units if u in UNITS] == UNITS
    assert code_units == ALL_UNITS or sorted(code_units) == sorted(ALL_UNITS)


def test_every_unit_has_several_test_cells_and_every_test_cell_a_unit():
    result = run_tests(A)
    for unit in UNITS:
        assert len(unit_tests(result, unit, ALL_UNITS)) >= 2, unit
    assert sum(len(unit_tests(result, u, ALL_UNITS)) for u in ALL_UNITS) == len(result.cells)


def test_unit_cells_extend_tensor_or_define_the_contract_names():
    expected = {"unbroadcast": {"unbroadcast"}, "ad_cross_entropy": {"cross_entropy"}, "ad_mlp": {"MLP"}}
    for cell, m in _cells():
        if m.get("solution") and cell.cell_type == "code" and m["grade_id"] in UNITS:
            tree = ast.parse(cell.source)
            names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            if m["grade_id"] in expected:
                assert names == expected[m["grade_id"]], m["grade_id"]
            else:   # class Tensor(Tensor): one cell adds one unit's methods
                (cls,) = tree.body
                assert isinstance(cls, ast.ClassDef) and cls.name == "Tensor", m["grade_id"]
                assert [b.id for b in cls.bases] == ["Tensor"], m["grade_id"]


def test_written_questions_are_manually_graded_with_a_hidden_rubric():
    answers = {m["grade_id"]: (c, m) for c, m in _cells() if c.cell_type == "markdown" and m.get("solution")}
    assert sorted(answers) == sorted(QUESTIONS)
    for gid, (cell, m) in answers.items():
        assert m["grade"] and m["points"] > 0, gid
        assert "### BEGIN SOLUTION" in cell.source and "Rubric" in cell.source, gid
    release = (notebook_path(A).parents[2] / "assignments" / A / "autodiff.ipynb").read_text()
    assert "Rubric" not in release and "277.6676" not in release


def test_every_test_cell_calls_student_code_before_its_hidden_part():
    for cell, m in _cells():
        if m.get("grade") and cell.cell_type == "code":
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            assert re.search(r"run_unit\(|local_backward\(|check_unbroadcast\(|run_cross_entropy\(", visible), \
                m["grade_id"]
            assert "### BEGIN HIDDEN TESTS" in cell.source, m["grade_id"]


# ----------------------------------------------------------------------------- grading

def test_reference_scores_full_marks_for_several_seeds():
    for seed in (1, 2, 3, 4, 5):
        result = run_tests(A, seed=seed)
        assert result.failed() == [], {g: result.cells[g].message for g in result.failed()}
        assert result.score() == result.max_score() == 45


def test_blank_release_scores_zero():
    assert_blank_scores_zero(A)


def test_catalogue_covers_every_unit_with_twenty_mutants():
    assert len(MUTANTS) >= 20
    assert {m.unit for m in MUTANTS} == set(UNITS)
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_every_mutant_loses_points_on_its_unit_with_a_message(mutant):
    assert_mutant_caught(A, mutant, ALL_UNITS)


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if m.unit == "unbroadcast"], ids=lambda m: m.name)
def test_a_wrong_unbroadcast_costs_points_on_unbroadcast_only(mutant):
    """One bug, one charge: the arithmetic tests' hidden part uses the reference unbroadcast."""
    result = run_tests(A, replace={mutant.unit: mutant.code})
    arithmetic = unit_tests(result, "tensor_arithmetic", ALL_UNITS)
    assert "test_tensor_arithmetic_broadcast" in arithmetic
    assert result.cells["test_tensor_arithmetic_broadcast"].passed or \
        "unbroadcast" in result.cells["test_tensor_arithmetic_broadcast"].message


# ----------------------------------------------------------------------------- the engine itself

def test_reference_engine_reproduces_micrograds_readme_example(ref):
    """micrograd's README: g = 24.7041, dg/da = 138.8338, dg/db = 645.5773 (4 decimals)."""
    a, b = ref.Tensor(-4.0), ref.Tensor(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    assert f"{g.item():.4f}" == "24.7041"
    g.backward()
    assert f"{a.grad.item():.4f}" == "138.8338"
    assert f"{b.grad.item():.4f}" == "645.5773"
    g.backward()                      # leaves accumulate, as in PyTorch
    assert f"{a.grad.item():.4f}" == f"{2 * 138.83381924198252:.4f}"


def test_reference_engine_matches_numerical_gradients_on_an_mlp(ref):
    from coursekit.gradcheck import eval_numerical_gradient
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 3)), rng.integers(4, size=6)
    net = ref.MLP([3, 5, 4], rng)
    loss = ref.cross_entropy(net(X), y)
    loss.backward()
    for p in net.parameters():
        num = eval_numerical_gradient(lambda _: ref.cross_entropy(net(X), y).item(), p.data)
        assert np.allclose(p.grad, num, rtol=1e-5, atol=1e-8)


def test_reference_engine_equals_the_02_layers(ref):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(7, 2)), rng.integers(3, size=7)
    net = ref.MLP([2, 6, 5, 3], rng)
    loss = ref.cross_entropy(net(X), y)
    loss.backward()
    layer_loss, grads = ref.mlp_by_layers([p.data for p in net.parameters()], X, y)
    assert np.isclose(loss.item(), layer_loss, rtol=1e-12)
    for p, g in zip(net.parameters(), grads):
        assert np.allclose(p.grad, g, rtol=1e-10, atol=1e-12)


def test_reference_engine_matches_pytorch_where_installed(ref):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(5, 4)), rng.integers(3, size=5)
    net = ref.MLP([4, 7, 3], rng)
    loss = ref.cross_entropy(net(X), y)
    loss.backward()
    ts = [torch.tensor(p.data, requires_grad=True) for p in net.parameters()]
    h = torch.relu(torch.tensor(X) @ ts[0] + ts[1]) @ ts[2] + ts[3]
    tl = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    tl.backward()
    assert np.isclose(loss.item(), tl.item(), rtol=1e-12)
    for p, t in zip(net.parameters(), ts):
        assert np.allclose(p.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_is_finite_for_huge_logits(ref):
    logits = ref.Tensor(np.array([[1e4, -1e4, 0.0], [3e3, 3e3, -1e4]]))
    loss = ref.cross_entropy(logits, np.array([1, 0]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(logits.grad))
    assert np.isclose(loss.item(), (2e4 + np.log(2)) / 2)


def test_backward_handles_a_deep_chain_without_recursion_limit(ref):
    x = ref.Tensor(1.0)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
