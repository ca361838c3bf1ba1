"""02_backprop: the reference is right, its tests catch every mutant (in-process, fast);
the solved notebook runs without errors or stderr under nbgrader's budget (slow). Its full run
is nbval's: solutions/02_backprop/backprop.ipynb in the test command, where the repository's
conftest.py fails a cell that writes to stderr as well as one that raises."""
import re
import time

import nbformat
import numpy as np
import pytest

from coursekit.data import load_digits_splits, make_spirals
from coursekit.gradcheck import check_layer, check_loss, check_model, eval_numerical_gradient
from coursekit.solver import Solver

from .harness import ROOT, notebook_path, run_tests, unit_tests, units_of
from .harness import assert_blank_scores_zero, assert_mutant_caught
from .mutants.m02_backprop import MUTANTS

A = "02_backprop"
ALL_SOLUTION_CELLS = units_of(A)            # code units and written answers
UNITS = [u for u in ALL_SOLUTION_CELLS if not u.startswith("q_")]
QUESTIONS = [u for u in ALL_SOLUTION_CELLS if u.startswith("q_")]
CONTRACT_UNITS = ["count_paths", "add_mul_graph", "sigmoid_neuron", "affine_jacobian", "affine", "relu",
                  "sigmoid", "tanh", "leaky_relu", "elu", "mse_loss", "l1_loss", "sigmoid_bce_loss",
                  "TwoLayerNet"]
NUMPY_REPR = re.compile(r"np\.(float|int|uint|complex|bool|str|bytes)_?\d*\(|array\(")


@pytest.fixture(scope="module")
def ref():
    from coursekit.grading.reference import reference_namespace
    return reference_namespace(A)


# ----------------------------------------------------------------------------- structure

def test_every_contract_unit_has_a_solution_cell_and_several_tests():
    assert UNITS == CONTRACT_UNITS
    result = run_tests(A)
    for unit in UNITS:
        assert len(unit_tests(result, unit, UNITS)) >= 2, unit  # partial credit is real
    assert sum(len(unit_tests(result, u, UNITS)) for u in UNITS) == len(result.cells)


def test_solution_cells_define_exactly_the_contract_names():
    nb = nbformat.read(notebook_path(A), as_version=4)
    expected = {
        "count_paths": {"count_paths", "count_edges"}, "add_mul_graph": {"add_mul_graph"}, "sigmoid_neuron": {"sigmoid_neuron"},
        "affine_jacobian": {"affine_jacobian"}, "affine": {"affine_forward", "affine_backward"},
        "relu": {"relu_forward", "relu_backward"}, "sigmoid": {"sigmoid_forward", "sigmoid_backward"},
        "tanh": {"tanh_forward", "tanh_backward"},
        "leaky_relu": {"leaky_relu_forward", "leaky_relu_backward"},
        "elu": {"elu_forward", "elu_backward"}, "mse_loss": {"mse_loss"}, "l1_loss": {"l1_loss"},
        "sigmoid_bce_loss": {"sigmoid_bce_loss"}, "TwoLayerNet": {"TwoLayerNet"},
    }
    import ast
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            names = {n.name for n in ast.parse(cell.source).body
                     if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            assert names == expected[meta["grade_id"]], meta["grade_id"]


def test_every_test_cell_calls_student_code_before_its_hidden_part():
    nb = nbformat.read(notebook_path(A), as_version=4)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            assert "run_unit(" in visible or "run_layer(" in visible or "two_layer_net_with(" in visible, \
                meta["grade_id"]
            assert "### BEGIN HIDDEN TESTS" in cell.source, meta["grade_id"]


def test_reference_scores_full_marks_for_several_seeds():
    for seed in (1, 2, 3, 4, 5):
        result = run_tests(A, seed=seed)
        assert result.failed() == [], {g: result.cells[g].message for g in result.failed()}
        assert result.score() == result.max_score() == 55


def test_blank_release_scores_zero():
    assert_blank_scores_zero(A)


def test_seed_changes_hidden_inputs_and_replays():
    a, b, a2 = run_tests(A, seed=11), run_tests(A, seed=12), run_tests(A, seed=11)
    hidden = "test_affine_backward"
    assert "seed 11" in a.cells[hidden].output and "seed 12" in b.cells[hidden].output
    assert a.cells[hidden].output == a2.cells[hidden].output


# ----------------------------------------------------------------------------- the reference is right

def test_computational_graph_numbers_from_the_lecture(ref):
    assert ref.add_mul_graph(1.0, -3.0, 4.0) == (-8.0, 4.0, 4.0, -2.0)
    check_loss(ref.add_mul_graph, -2.0, 5.0, -4.0, wrt=(0, 1, 2)).raise_if_failed()
    f, dw, dx = ref.sigmoid_neuron(np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0]))
    assert round(f, 2) == 0.73
    np.testing.assert_allclose(np.round(dw, 2), [-0.20, -0.39, 0.20])
    np.testing.assert_allclose(np.round(dx, 2), [0.39, -0.59])
    w, x = np.array([0.3, -1.2, 0.8, 0.1]), np.array([1.0, 2.0, -0.5])
    _, dw, dx = ref.sigmoid_neuron(w, x)
    np.testing.assert_allclose(dw, eval_numerical_gradient(lambda v: ref.sigmoid_neuron(v, x)[0], w.copy()),
                               rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(dx, eval_numerical_gradient(lambda v: ref.sigmoid_neuron(w, v)[0], x.copy()),
                               rtol=1e-7, atol=1e-10)


def test_affine_jacobian_is_the_lectures_matrix_and_gives_the_backward_pass(ref):
    J = ref.affine_jacobian(np.array([1.0, 2.0, 3.0]), 2)
    np.testing.assert_array_equal(J, [[1, 2, 3, 0, 0, 0, 1, 0], [0, 0, 0, 1, 2, 3, 0, 1]])
    rng = np.random.default_rng(0)
    for D, M in [(1, 1), (4, 3), (2, 6)]:
        x, V, b, g = rng.normal(size=D), rng.normal(size=(M, D)), rng.normal(size=M), rng.normal(size=M)
        J = ref.affine_jacobian(x, M)
        w = np.concatenate([V.ravel(), b])
        np.testing.assert_allclose(J @ w, V @ x + b)
        np.testing.assert_allclose((g @ J)[:M * D].reshape(M, D), np.outer(g, x))  # dV = g x^T
        np.testing.assert_allclose((g @ J)[M * D:], g)                             # db = g
        # and affine_backward (w = V^T) gives the same for a batch of one
        _, cache = ref.affine_forward(x[None], V.T, b)
        dx, dw, db = ref.affine_backward(g[None], cache)
        np.testing.assert_allclose(dw, np.outer(g, x).T)
        np.testing.assert_allclose(db, g)
        np.testing.assert_allclose(dx[0], V.T @ g)


@pytest.mark.parametrize("name, hyper", [("affine", None), ("relu", {}), ("sigmoid", {}), ("tanh", {}),
                                         ("leaky_relu", {"alpha": 0.2}), ("elu", {"alpha": 0.6}),
                                         ("elu", {})])
def test_layers_against_numerical_gradients(ref, name, hyper):
    rng = np.random.default_rng(1)
    forward, backward = getattr(ref, f"{name}_forward"), getattr(ref, f"{name}_backward")
    if name == "affine":
        inputs = {"x": rng.normal(size=(4, 2, 3)), "w": rng.normal(size=(6, 5)), "b": rng.normal(size=5)}
    else:
        x = rng.normal(scale=2.0, size=(5, 6))
        x[np.abs(x) < 0.01] = 0.5  # away from kinks
        inputs = {"x": x, **hyper}
    report = check_layer(forward, backward, inputs, threshold=1e-8)
    assert report.passed, str(report)


def test_relu_gradient_is_zero_at_zero_and_layers_keep_their_input(ref):
    x = np.array([[-1.0, 0.0, 2.0]])
    out, cache = ref.relu_forward(x)
    np.testing.assert_array_equal(ref.relu_backward(np.ones_like(x), cache), [[0.0, 0.0, 1.0]])
    for name in ("relu", "sigmoid", "tanh", "leaky_relu", "elu"):
        x = np.linspace(-3, 3, 12).reshape(3, 4)
        before = x.copy()
        out, cache = getattr(ref, f"{name}_forward")(x)
        getattr(ref, f"{name}_backward")(np.ones_like(out), cache)
        np.testing.assert_array_equal(x, before)


def test_sigmoid_and_bce_are_stable_and_warning_free(ref):
    x = np.array([[-1e3, -50.0, 0.0, 50.0, 1e3]])
    with np.errstate(all="raise", under="ignore"):
        s, cache = ref.sigmoid_forward(x)
        ds = ref.sigmoid_backward(np.ones_like(x), cache)
        loss, dx = ref.sigmoid_bce_loss(np.array([[1e3, -1e3], [-1e3, 1e3]]), np.array([[1, 0], [1, 0]]))
        elu, _ = ref.elu_forward(np.array([1e3, -1e3]))
    np.testing.assert_allclose(s, [[0.0, 1.928749847963918e-22, 0.5, 1.0, 1.0]], rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(ds)) and ds[0, 2] == 0.25
    assert loss == 1000.0
    np.testing.assert_allclose(dx, [[0, 0], [-0.5, 0.5]])
    np.testing.assert_allclose(elu, [1e3, -1.0])


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "sigmoid_bce_loss"])
def test_losses_against_numerical_gradients_and_definitions(ref, name):
    rng = np.random.default_rng(2)
    x = rng.normal(scale=2.0, size=(5, 3))
    y = rng.integers(0, 2, size=x.shape) if name == "sigmoid_bce_loss" else rng.normal(size=x.shape)
    check_loss(getattr(ref, name), x, y, threshold=1e-8).raise_if_failed()
    loss, _ = getattr(ref, name)(x, y)
    s = 1 / (1 + np.exp(-x))
    want = {"mse_loss": np.sum((x - y) ** 2) / 5, "l1_loss": np.sum(np.abs(x - y)) / 5,
            "sigmoid_bce_loss": -np.sum(y * np.log(s) + (1 - y) * np.log(1 - s)) / 5}[name]
    np.testing.assert_allclose(loss, want, rtol=1e-12)


def test_two_layer_net_reproduces_cs231n_numbers(ref):
    np.random.seed(231)
    model = ref.TwoLayerNet(5, 50, 7, weight_scale=1e-3)
    assert abs(model.params["W1"].std() - 1e-3) < 1e-4 and abs(model.params["W2"].std() - 1e-3) < 1e-4
    assert not model.params["b1"].any() and not model.params["b2"].any()
    for name, value in {"W1": np.linspace(-0.7, 0.3, num=250).reshape(5, 50), "b1": np.linspace(-0.1, 0.9, num=50),
                        "W2": np.linspace(-0.3, 0.4, num=350).reshape(50, 7),
                        "b2": np.linspace(-0.9, 0.1, num=7)}.items():
        model.params[name] = value
    X = np.linspace(-5.5, 4.5, num=15).reshape(5, 3).T
    np.testing.assert_allclose(model.loss(X)[0, :3], [11.53165108, 12.2917344, 13.05181771], rtol=1e-8)
    y = np.array([0, 5, 1])
    assert abs(model.loss(X, y)[0] - 3.4702243556) < 1e-10
    model.reg = 1.0
    assert abs(model.loss(X, y)[0] - 26.5948426952) < 1e-10


def test_two_layer_net_init_order_and_gradients(ref):
    np.random.seed(7)
    model = ref.TwoLayerNet(3, 4, 2, weight_scale=0.5, reg=0.3)
    np.random.seed(7)
    W1, W2 = 0.5 * np.random.randn(3, 4), 0.5 * np.random.randn(4, 2)
    np.testing.assert_array_equal(model.params["W1"], W1)
    np.testing.assert_array_equal(model.params["W2"], W2)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 3)), rng.integers(2, size=6)
    report = check_model(model, X, y, threshold=1e-7)
    assert report.passed, str(report)


def test_two_layer_net_learns_spirals_and_digits_with_the_solver(ref):
    X, y = make_spirals(100, 3, seed=0)
    Xv, yv = make_spirals(100, 3, seed=1)
    np.random.seed(0)
    net = ref.TwoLayerNet(2, 100, 3, weight_scale=1.0, reg=1e-4)
    Solver(net, {"X_train": X, "y_train": y, "X_val": Xv, "y_val": yv}, optim_config={"learning_rate": 0.5},
           batch_size=32, num_epochs=120, verbose=False, progress=False, seed=0).train()
    assert np.mean(np.argmax(net.loss(X), axis=1) == y) >= 0.97
    np.random.seed(0)
    net = ref.TwoLayerNet(64, 100, 10, weight_scale=0.1, reg=1e-3)
    solver = Solver(net, load_digits_splits(), optim_config={"learning_rate": 0.3}, batch_size=64,
                    num_epochs=15, verbose=False, progress=False, seed=0).train()
    assert solver.best_val_acc >= 0.90


# ----------------------------------------------------------------------------- mutants

REQUIRED_BUGS = {  # the list -> the mutant that plays it
    "dx not reshaped to x's shape": "affine_dx_not_reshaped",
    "bias gradient averaged": "affine_db_averaged",
    "dw transposed": "affine_dw_transposed",
    "ReLU gradient wrong at exactly 0": "relu_grad_one_at_zero",
    "sigmoid backward missing (1 - s)": "sigmoid_backward_missing_one_minus_s",
    "tanh backward from the input": "tanh_backward_from_input",
    "leaky ReLU slope on the negative side": "leaky_relu_backward_zero_slope",
    "ELU slope on the negative side": "elu_backward_without_alpha",
    "MSE averaged over all elements": "mse_mean_over_all_entries",
    "BCE overflowing at |x| = 1e3": "bce_log_of_sigmoid_overflows",
    "regularization missing from a gradient": "two_layer_reg_missing_from_grads",
    "a float64 constant turning float32 into float64": "leaky_relu_backward_float64",
    "alpha = 0 replaced by a default": "leaky_relu_alpha_zero_ignored",
    "slope 1 at the kink x == 0": "elu_backward_kink_at_zero",
    "exp overflow for large positive x": "elu_forward_overflows",
    "upstream gradient changed in place": "relu_backward_in_place",
    "paths from every input to every output": "count_paths_all_units",
    "regularization with the wrong factor": "two_layer_reg_factor_two",
}


def test_mutant_catalogue_covers_the_required_bugs_and_every_unit():
    names = {m.name for m in MUTANTS}
    assert len(MUTANTS) >= 15 and len(names) == len(MUTANTS)
    assert set(REQUIRED_BUGS.values()) <= names
    assert {m.unit for m in MUTANTS} == set(UNITS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_loses_points_on_its_unit_with_a_clear_message(mutant):
    for seed in (1, 2):
        # one bug, one charge: a mutant costs points on its own unit only
        result = assert_mutant_caught(A, mutant, UNITS, seed=seed, only_own_unit=True)
        for cell in result.cells.values():
            assert not NUMPY_REPR.search(cell.message), cell.message


def test_written_questions_are_manually_graded_with_a_rubric_hidden_from_students():
    assert QUESTIONS == ["q_paths", "q_saturation", "q_width_depth"]
    source = nbformat.read(notebook_path(A), as_version=4)
    release_path = ROOT / "assignments" / A / notebook_path(A).name
    released = {c.metadata.get("nbgrader", {}).get("grade_id"): c
                for c in nbformat.read(release_path, as_version=4).cells}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") in QUESTIONS:
            assert cell.cell_type == "markdown" and meta["grade"] and meta["points"] >= 1
            assert "*Rubric" in cell.source
            assert released[meta["grade_id"]].source.strip() == "YOUR ANSWER HERE"
    text = release_path.read_text()
    assert "Rubric" not in text and "Model answer" not in text


def test_a_wrong_layer_costs_only_the_layer_not_the_network():
    """relu that is wrong at x == 0 and an affine with an averaged db: TwoLayerNet keeps its points."""
    for name in ("relu_grad_one_at_zero", "affine_db_averaged"):
        mutant = next(m for m in MUTANTS if m.name == name)
        result = run_tests(A, replace={mutant.unit: mutant.code})
        assert not any(g.startswith("test_TwoLayerNet") for g in result.failed()), result.failed()


def test_a_missing_layer_is_named_in_the_students_own_copy(tmp_path, monkeypatch):
    (tmp_path / "solutions").mkdir()
    monkeypatch.setenv("COURSEKIT_COURSE_ROOT", str(tmp_path))
    stub = ("def relu_forward(x):\n    raise NotImplementedError('not implemented yet')\n\n"
            "def relu_backward(dout, cache):\n    raise NotImplementedError('not implemented yet')\n")
    result = run_tests(A, replace={"relu": stub})
    message = result.cells["test_TwoLayerNet_scores"].message
    assert "it calls relu_forward, which is not implemented yet" in message, message


def test_relu_at_zero_is_checked_explicitly_with_a_mask():
    mutant = next(m for m in MUTANTS if m.name == "relu_grad_one_at_zero")
    result = run_tests(A, replace={mutant.unit: mutant.code})
    assert result.failed() == ["test_relu_backward_at_zero"]
    assert "All the wrong entries are where x == 0" in result.cells["test_relu_backward_at_zero"].message


# ----------------------------------------------------------------------------- slow: the real notebook

def _run_notebook(path):
    import nbclient
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb, time.perf_counter() - start


@pytest.mark.slow
def test_solved_notebook_runs_without_errors_or_stderr_under_nbgraders_budget(monkeypatch):
    """The demos' short runs (``NBGRADER_EXECUTION`` set). The full run: nbval, see the docstring."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    nb, seconds = _run_notebook(notebook_path(A))
    problems = [(i, o.get("ename") or o.get("text", "")[:200]) for i, cell in enumerate(nb.cells)
                if cell.cell_type == "code" for o in cell.outputs
                if o.output_type == "error" or o.get("name") == "stderr"]
    assert problems == []
    print(f"solved 02_backprop notebook executed in {seconds:.1f} s")


# nbval-lax on the solved notebook (errors and, through conftest.py, stderr): the test command collects
# solutions/ (pyproject's testpaths, with --nbval-lax), so solutions/02_backprop/backprop.ipynb is that
# test; running it again here cost a kernel and a notebook run for the same proof.


# The release's freshness and its failing stubs are checked for every assignment in test_release.py.


def test_solved_notebook_closes_its_figures_and_they_fit(monkeypatch):
    from .notebook_run import run_notebook_in_process

    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")   # the demos' short runs
    stats = run_notebook_in_process(A)
    assert stats.most_open <= 20 and stats.left_open == 0, stats
    assert stats.widest <= 9.0, stats
