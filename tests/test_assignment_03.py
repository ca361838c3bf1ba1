"""03_optimizers: the reference is right, and its tests catch every mutant (in-process, fast)."""

import numpy as np
import pytest

from .harness import run_tests, unit_tests, units_of
from .harness import assert_blank_scores_zero, assert_full_marks, assert_mutant_caught
from .mutants.m03_optimizers import MUTANTS

A = "03_optimizers"
UNITS = units_of(A)  # every solution cell: code units, autograded answers, written answers
CONTRACT_UNITS = ["sgd", "lr_schedules", "minibatches", "sgd_momentum", "nesterov_momentum",
                  "adagrad", "rmsprop", "adam", "clip_grad_norm"]
NUMERIC_ANSWERS = ["q_noise_ratio", "q_terminal_velocity"]
RULES = ("sgd", "sgd_momentum", "nesterov_momentum", "adagrad", "rmsprop", "adam")


@pytest.fixture(scope="module")
def ref():
    from coursekit.grading.reference import reference_namespace
    return reference_namespace(A)


def run(rule, w, grads, config=None):
    """Positions and (copied) configs of ``rule`` over ``grads``."""
    import copy
    ws, configs = [np.array(w, dtype=float)], []
    for g in grads:
        w, config = rule(ws[-1].copy(), np.asarray(g, dtype=float), config)
        ws.append(np.array(w))
        configs.append(copy.deepcopy(config))
    return ws, configs


def test_every_contract_unit_has_a_solution_cell_and_tests():
    code_units = [u for u in UNITS if u in CONTRACT_UNITS]
    assert code_units == CONTRACT_UNITS
    result = run_tests(A)
    for unit in CONTRACT_UNITS:
        assert len(unit_tests(result, unit, UNITS)) >= 2, unit  # partial credit is real
    for unit in NUMERIC_ANSWERS:
        assert unit_tests(result, unit, UNITS) == [f"test_{unit}"]
    assert result.max_score() >= 40


def _nb(path):
    import nbformat
    return nbformat.read(path, as_version=4)


def test_written_questions_are_manually_graded_cells_whose_rubric_stays_out_of_the_release():
    from .harness import ROOT, meta, notebook_path
    written = [c for c in _nb(notebook_path(A)).cells
               if c.cell_type == "markdown" and meta(c).get("solution") and meta(c).get("grade")]
    assert len(written) >= 3
    for cell in written:
        m = meta(cell)
        assert m["grade_id"].startswith("q_") and m["points"] > 0 and not m.get("locked"), m
        body = cell.source.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
        assert "rubric" in body.lower() and body.count("point") >= 2, m["grade_id"]
    released = {meta(c).get("grade_id"): c for c in _nb(ROOT / "assignments" / A / "optimizers.ipynb").cells}
    text = (ROOT / "assignments" / A / "optimizers.ipynb").read_text()
    assert "rubric" not in text.lower()
    for cell in written:
        out = released[meta(cell)["grade_id"]]
        assert out.cell_type == "markdown" and "YOUR ANSWER HERE" in out.source
        assert meta(out)["points"] == meta(cell)["points"] and meta(out)["solution"] and meta(out)["grade"]


def test_no_unit_calls_another_graded_unit():
    """03's units are independent, so no hidden test needs with_reference (one bug, one charge holds)."""
    import re
    from .harness import meta, notebook_path
    cells = {meta(c)["grade_id"]: c.source for c in _nb(notebook_path(A)).cells
             if c.cell_type == "code" and meta(c).get("solution")}
    defined = {gid: set(re.findall(r"^def (\w+)\(", src, re.M)) for gid, src in cells.items()}
    for gid, src in cells.items():
        body = src.split("### BEGIN SOLUTION", 1)[-1]
        for other, names in defined.items():
            if other != gid:
                called = [n for n in names if re.search(rf"\b{n}\(", body)]
                assert not called, f"{gid} calls {called} of {other}: use with_reference in its hidden tests"


def test_defaults_test_does_not_blame_the_config_for_unrelated_failures():
    from .harness import assert_mutant_caught
    mutant = next(m for m in MUTANTS if m.name == "adagrad_no_epsilon")
    result = assert_mutant_caught(A, mutant, UNITS)
    message = result.cells["test_adagrad_defaults"].message
    assert "RuntimeWarning" in message and "without a config" not in message, message
    missing = next(m for m in MUTANTS if m.name == "momentum_no_default_config")
    result = assert_mutant_caught(A, missing, UNITS)
    assert "without a config (config=None)" in result.cells["test_sgd_momentum_defaults"].message


def test_state_not_stored_is_not_called_not_returned():
    from .harness import assert_mutant_caught
    mutant = next(m for m in MUTANTS if m.name == "momentum_velocity_never_stored")
    result = assert_mutant_caught(A, mutant, UNITS)
    message = result.cells["test_sgd_momentum_defaults"].message
    assert "did not store its velocity in config" in message and "forget to" not in message, message
    assert not any("forget to `return`" in c.message for c in result.cells.values())


def test_in_place_messages_speak_of_update_rules_not_layers():
    from .harness import assert_mutant_caught
    for name in ("sgd_changes_w_in_place", "rmsprop_squares_dw_in_place", "adagrad_cache_updated_in_place"):
        mutant = next(m for m in MUTANTS if m.name == name)
        result = assert_mutant_caught(A, mutant, UNITS)
        for gid in result.failed():
            message = result.cells[gid].message
            assert "np.maximum" not in message and "argument 1" not in message, (name, message)


def test_the_notebook_leaves_few_figures_open_and_fits_the_output_area(monkeypatch):
    """Run every code cell in process (as `%matplotlib widget` keeps them, pyplot figures stay open)."""
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from .harness import _MAGIC, notebook_path

    matplotlib.use("Agg")
    monkeypatch.setenv("NBGRADER_EXECUTION", "1")   # the notebook's small demos
    widths = []
    original = Figure.__init__

    def recording_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        widths.append(self.get_figwidth())

    monkeypatch.setattr(Figure, "__init__", recording_init)
    plt.close("all")
    ns = {"__name__": "__main__"}
    monkeypatch.chdir(notebook_path(A).parent)
    for cell in _nb(notebook_path(A)).cells:
        if cell.cell_type == "code":
            exec(compile(_MAGIC.sub("", cell.source), "<cell>", "exec"), ns)
    try:
        assert len(plt.get_fignums()) <= 20
        assert widths and max(widths) <= 9.0, widths   # inches, at default dpi: fits JupyterLab's output area
    finally:
        plt.close("all")


def test_reference_scores_full_marks_for_several_seeds():
    assert_full_marks(A, seeds=(1, 2, 3, 4))


def test_blank_release_scores_zero():
    assert_blank_scores_zero(A)


def test_seed_changes_hidden_inputs_and_replays():
    a, b, a2 = run_tests(A, seed=11), run_tests(A, seed=12), run_tests(A, seed=11)
    hidden = "test_adam_steps"
    assert "seed 11" in a.cells[hidden].output and "seed 12" in b.cells[hidden].output
    assert a.cells[hidden].output == a2.cells[hidden].output


# --- the reference against the maths of the lecture -----------------------------------

def test_rules_create_their_defaults_and_leave_inputs_alone(ref):
    defaults = {
        "sgd": {"learning_rate": 1e-2},
        "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
        "nesterov_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
        "adagrad": {"learning_rate": 1e-2, "epsilon": 1e-8},
        "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
        "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    }
    w, dw = np.linspace(-1, 1, 6).reshape(2, 3), np.linspace(2, -1, 6).reshape(2, 3)
    w0, dw0 = w.copy(), dw.copy()
    for name, want in defaults.items():
        _, config = getattr(ref, name)(w, dw)
        assert {k: config[k] for k in want} == want, name
        np.testing.assert_array_equal(w, w0)
        np.testing.assert_array_equal(dw, dw0)


def test_momentum_reaches_terminal_velocity_and_warm_up_follows_it(ref):
    g = np.array([0.5, -1.0])
    for mu in (0.5, 0.9, 0.99):
        _, configs = run(ref.sgd_momentum, np.zeros(2), [g] * 3000, {"learning_rate": 0.1, "momentum": mu})
        np.testing.assert_allclose(configs[-1]["velocity"], -0.1 * g / (1 - mu), rtol=1e-9)
    config = {"learning_rate": 0.1, "momentum": 0.5}
    w = np.zeros(2)
    for t in range(200):  # warm-up 0.5 -> 0.9 over 50 steps
        config["momentum"] = min(0.9, 0.5 + 0.4 * t / 50)
        w, config = ref.sgd_momentum(w, g, config)
    np.testing.assert_allclose(config["velocity"], -0.1 * g / (1 - 0.9), rtol=1e-6)


def test_nesterov_is_the_lookahead_method_in_shifted_variables(ref):
    rng = np.random.default_rng(0)
    h = rng.uniform(0.5, 4.0, size=5)
    lr, mu = 0.07, 0.85
    theta, v = rng.normal(size=5), np.zeros(5)
    w, config = theta.copy(), {"learning_rate": lr, "momentum": mu}
    for _ in range(30):
        v = mu * v - lr * h * (theta + mu * v)
        theta = theta + v
        w, config = ref.nesterov_momentum(w, h * w, config)
        np.testing.assert_allclose(w, theta + mu * v, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(config["velocity"], v, rtol=1e-10, atol=1e-12)


def test_adagrad_step_shrinks_like_one_over_root_t_and_rmsprop_does_not(ref):
    lengths = {}
    for name in ("adagrad", "rmsprop"):
        ws, _ = run(getattr(ref, name), np.zeros(1), [[1.0]] * 400, {"learning_rate": 0.1})
        lengths[name] = np.abs(np.diff(np.concatenate(ws)))
    t = np.arange(1, 401)
    np.testing.assert_allclose(lengths["adagrad"], 0.1 / np.sqrt(t), rtol=1e-6)
    np.testing.assert_allclose(lengths["rmsprop"][-1], 0.1 / np.sqrt(1 - 0.99 ** 400), rtol=1e-6)


def test_adam_bias_correction_makes_steps_lr_sized_from_the_start(ref):
    # A steady gradient: corrected moments equal g and g**2 at every step, so each step is lr * sign(g).
    g = np.array([3.0, -0.02, 50.0])
    ws, configs = run(ref.adam, np.zeros(3), [g] * 20, {"learning_rate": 0.01})
    np.testing.assert_allclose(np.diff(np.array(ws), axis=0), np.tile(-0.01 * np.sign(g), (20, 1)), rtol=1e-5)
    assert [c["t"] for c in configs] == list(range(1, 21))
    np.testing.assert_allclose(configs[0]["m"], 0.1 * g)  # raw, not corrected
    np.testing.assert_allclose(configs[-1]["v"], (1 - 0.999 ** 20) * g ** 2)


def test_schedules_at_their_boundaries(ref):
    assert [ref.step_decay(1.0, e, 0.1, 5) for e in (0, 4, 5, 9, 10)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    assert ref.exponential_decay(2.0, 3, 0.5) == pytest.approx(2.0 * np.exp(-1.5))
    assert ref.cosine_decay(1.0, 0, 10, 0.1) == pytest.approx(1.0)
    assert ref.cosine_decay(1.0, 5, 10, 0.1) == pytest.approx(0.55)
    assert ref.cosine_decay(1.0, 10, 10, 0.1) == pytest.approx(0.1, abs=1e-15)
    assert ref.cosine_decay(1.0, 25, 10, 0.1) == pytest.approx(0.1, abs=1e-15)


def test_minibatches_partition_and_shuffle_statistics(ref):
    X, y = np.arange(23.0)[:, None] * [1, 2], np.arange(23)
    gen = np.random.default_rng(0)
    firsts = []
    for _ in range(400):
        batches = list(ref.minibatches(X, y, 5, gen))
        assert [len(b) for _, b in batches] == [5, 5, 5, 5, 3]
        order = np.concatenate([b for _, b in batches])
        np.testing.assert_array_equal(np.sort(order), y)
        np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches])[:, 0], order)
        firsts.append(order[0])
    counts = np.bincount(firsts, minlength=23)
    assert counts.min() > 0 and counts.max() < 45  # each sample first about 400/23 = 17 times
    in_order = [b.tolist() for _, b in ref.minibatches(X, y, 10, shuffle=False)]
    assert in_order == [list(range(10)), list(range(10, 20)), [20, 21, 22]]


# --- mutants -------------------------------------------------------------------------

@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_loses_points_on_its_unit_with_a_clear_message(mutant):
    assert_mutant_caught(A, mutant, UNITS, only_own_unit=True)


def test_there_are_at_least_fifteen_mutants_covering_every_unit():
    assert len(MUTANTS) >= 15
    assert {m.unit for m in MUTANTS} == set(CONTRACT_UNITS + NUMERIC_ANSWERS)
    kinds = {"in place": r"in_place", "float32": r"float", "zero hyper-parameter": r"zero", "shape": r"flattens"}
    for kind, pattern in kinds.items():
        import re
        assert any(re.search(pattern, m.name) for m in MUTANTS), kind
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
