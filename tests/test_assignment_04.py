"""04_training: the reference is right, and its tests catch every mutant (in-process, fast).

The notebook's `train_model` trains on a small fixed budget while nbgrader grades
(``NBGRADER_EXECUTION`` set); most tests here run that way too, as the grader does.
"""
import time

import numpy as np
import pytest

from coursekit.gradcheck import check_layer, check_model

from .harness import run_tests, unit_tests, units_of
from .harness import assert_blank_scores_zero, assert_full_marks, assert_mutant_caught
from .mutants.m04_training import MUTANTS

A = "04_training"
UNITS = units_of(A)


@pytest.fixture(autouse=True)
def grading_budget(monkeypatch):
    """Run the notebook's cells as the autograder does (small training budget)."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """The matrices are tiny: one BLAS thread is fastest, and immune to a busy machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def ref():
    from coursekit.grading.reference import reference_namespace
    return reference_namespace(A)


@pytest.fixture(scope="module")
def digits():
    from coursekit.data import load_digits_splits
    return load_digits_splits()


def test_every_contract_unit_has_a_solution_cell_and_tests():
    assert UNITS == ["normalize", "init", "batchnorm", "dropout", "FullyConnectedNet",
                     "ensemble_predict", "trained_model"]
    result = run_tests(A)
    for unit in UNITS:
        assert len(unit_tests(result, unit, UNITS)) >= 2, unit  # partial credit is real
    assert result.max_score() >= 40


def test_reference_scores_full_marks_for_several_seeds():
    assert_full_marks(A, seeds=(1, 2, 3))


def test_reference_scores_full_marks_with_the_home_budget(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION")  # train_model(grading=False): augmentation, longer
    result = run_tests(A, seed=4)
    assert result.failed() == [], {g: result.cells[g].message for g in result.failed()}


def test_blank_release_scores_zero():
    assert_blank_scores_zero(A)


def test_seed_changes_hidden_inputs_and_replays():
    a, b, a2 = run_tests(A, seed=11), run_tests(A, seed=12), run_tests(A, seed=11)
    hidden = "test_FullyConnectedNet_params"
    assert "seed 11" in a.cells[hidden].output and "seed 12" in b.cells[hidden].output
    assert a.cells[hidden].output == a2.cells[hidden].output


# ----------------------------------------------------------------------------- the reference itself


def test_normalize_reference(ref, digits):
    X_train, X_val = digits["X_train"], digits["X_val"]
    Xt, Xv = ref.normalize(X_train, X_val)
    std = X_train.std(axis=0)
    assert np.all(np.isfinite(Xt)) and np.any(std == 0)  # the digits have blank pixels
    assert np.allclose(Xt.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(Xt.std(axis=0)[std > 0], 1)
    assert np.allclose(Xv, (X_val - X_train.mean(0)) / np.where(std > 0, std, 1))
    assert ref.normalize(X_train)[0].shape == X_train.shape and len(ref.normalize(X_train)) == 1


def test_init_reference_statistics(ref):
    rng = np.random.default_rng(0)
    W = ref.xavier_init(300, 200, rng)
    assert W.shape == (300, 200) and abs(W.std() / np.sqrt(2 / 500) - 1) < 0.02
    W = ref.he_init(300, 200, rng)
    assert W.shape == (300, 200) and abs(W.std() / np.sqrt(2 / 300) - 1) < 0.02


def test_dropout_reference(ref):
    x = np.random.default_rng(0).normal(size=(400, 300)) + 2
    out, cache = ref.dropout_forward(x, {"mode": "train", "p": 0.3, "seed": 1})
    np.random.seed(1)
    mask = (np.random.rand(*x.shape) < 0.3) / 0.3
    assert np.allclose(out, x * mask)
    assert abs(np.mean(out != 0) - 0.3) < 0.01 and abs(out.mean() / x.mean() - 1) < 0.02
    dout = np.ones_like(x)
    assert np.allclose(ref.dropout_backward(dout, cache), mask)
    out, cache = ref.dropout_forward(x, {"mode": "test", "p": 0.3})
    assert out is x or np.array_equal(out, x)
    x32 = x.astype(np.float32)
    assert ref.dropout_forward(x32, {"mode": "train", "p": 0.5})[0].dtype == np.float32


def test_batchnorm_reference_against_numerical_gradients(ref):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 5)) * 4 + 2
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    report = check_layer(ref.batchnorm_forward, ref.batchnorm_backward,
                         {"x": x, "gamma": gamma, "beta": beta, "bn_param": {"mode": "train"}},
                         wrt=["x", "gamma", "beta"])
    assert report.passed, report
    bn = {"mode": "train"}
    out, _ = ref.batchnorm_forward(x, gamma, beta, bn)
    assert np.allclose(out.mean(0), beta) and np.allclose(out.std(0), np.abs(gamma), rtol=1e-4)
    assert np.allclose(bn["running_mean"], 0.1 * x.mean(0)) and np.allclose(bn["running_var"], 0.1 * x.var(0))
    bn["mode"] = "test"
    one, _ = ref.batchnorm_forward(x[:1], gamma, beta, bn)
    assert np.allclose(one, gamma * (x[:1] - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-5) + beta)


@pytest.mark.parametrize("kwargs", [{}, {"normalization": "batchnorm"},
                                    {"dropout_keep_ratio": 0.6, "seed": 3, "reg": 0.3},
                                    {"normalization": "batchnorm", "dropout_keep_ratio": 0.8, "seed": 1, "reg": 0.1}],
                         ids=["plain", "batchnorm", "dropout+L2", "all"])
def test_fully_connected_net_reference_against_numerical_gradients(ref, kwargs):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(7, 6)), rng.integers(4, size=7)
    np.random.seed(0)
    model = ref.FullyConnectedNet([8, 5, 6], 6, 4, weight_scale=0.5, dtype=np.float64, **kwargs)
    for name in model.params:  # non-zero biases: no pre-activation sits exactly on ReLU's kink
        if name.startswith("b"):
            model.params[name] = rng.normal(scale=0.5, size=model.params[name].shape)
    before_bn = [f"b{i}" for i in (1, 2, 3)] if "normalization" in kwargs else []
    _, grads = model.loss(X, y)
    assert all(np.allclose(grads[b], 0, atol=1e-10) for b in before_bn)  # batch norm cancels them
    report = check_model(model, X, y, params=[k for k in model.params if k not in before_bn])
    assert report.passed, report
    scores = model.loss(X)
    assert scores.shape == (7, 4)
    if "normalization" in kwargs:
        assert set(model.params) >= {"gamma1", "beta1", "gamma3", "beta3"} and "gamma4" not in model.params


def test_fully_connected_net_construction_draws_only_the_weights(ref):
    np.random.seed(5)
    model = ref.FullyConnectedNet([4, 3], 5, 2, normalization="batchnorm", dropout_keep_ratio=0.5)
    after = np.random.rand()
    np.random.seed(5)
    W1, W2, W3 = (np.random.normal(0, 1e-2, s) for s in [(5, 4), (4, 3), (3, 2)])
    assert np.random.rand() == after
    for name, W in zip(("W1", "W2", "W3"), (W1, W2, W3)):
        assert model.params[name].dtype == np.float32
        assert np.array_equal(model.params[name], W.astype(np.float32))
    assert model.loss(np.zeros((3, 5), np.float32)).dtype == np.float32


def test_float32_network_stays_float32(ref):
    """Speed: no silent upcast to float64 in the forward or backward pass."""
    np.random.seed(0)
    model = ref.FullyConnectedNet([16, 16], 8, 3, normalization="batchnorm", dropout_keep_ratio=0.7, reg=0.1)
    X = np.random.default_rng(0).normal(size=(10, 8))  # float64 in: the model casts it
    loss, grads = model.loss(X, np.arange(10) % 3)
    assert all(g.dtype == np.float32 for g in grads.values()), {k: g.dtype for k, g in grads.items()}


def test_ensemble_predict_reference(ref):
    class Fixed:
        def __init__(self, scores):
            self.scores = np.asarray(scores, float)

        def loss(self, X, y=None):
            return self.scores

    models = [Fixed([[1e4, 0.0]]), Fixed([[0.0, 1e4 + 1.0]]), Fixed([[0.0, 1e4 + 1.0]])]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert ref.ensemble_predict(models, None).tolist() == [1]
    assert ref.ensemble_predict([Fixed([[0.2, 0.7, 0.1]])], None).tolist() == [1]


def test_trained_model_reference_is_fast_under_grading_and_accurate(ref, digits):
    for grading, budget in ((True, 20.0), (False, 60.0)):
        start = time.process_time()  # CPU time, as the notebook's hand_in measures it
        model = ref.train_model(digits, grading=grading)
        seconds = time.process_time() - start
        assert seconds < budget, (grading, seconds)
        acc = np.mean(np.argmax(model.loss(digits["X_test"]), axis=1) == digits["y_test"])
        assert acc >= 0.96, (grading, acc)  # a margin above the required 0.95


# ----------------------------------------------------------------------------- mutants


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # broken code may warn outside the tests, as in a notebook
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_loses_points_on_its_unit_with_a_clear_message(mutant):
    assert_mutant_caught(A, mutant, UNITS)


def test_there_are_at_least_fifteen_mutants_covering_every_unit():
    assert len(MUTANTS) >= 15
    assert {m.unit for m in MUTANTS} == set(UNITS)
    required = {"normalize_own_statistics", "normalize_divides_by_zero_std", "xavier_fan_in_only",
                "he_without_factor_two", "dropout_not_inverted", "dropout_p_is_drop_probability",
                "dropout_backward_ignores_mask", "batchnorm_unbiased_variance", "batchnorm_swapped_momentum",
                "batchnorm_batch_statistics_at_test_time", "batchnorm_dgamma_without_x_hat",
                "batchnorm_dx_ignores_mean_and_variance", "fcn_l2_on_biases", "fcn_l2_missing_from_gradients",
                "ensemble_majority_vote", "untrained_model"}
    assert required <= {m.name for m in MUTANTS}


def test_mutant_sources_are_current():
    """Derived mutants are made from the notebook: each is a real change of its reference cell."""
    from .mutants.m04_training import _solution
    for m in MUTANTS:
        assert m.code.strip() != _solution(m.unit).strip(), m.name
