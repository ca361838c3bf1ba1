"""Wrong implementations of the 04_training units.

The small units are written out as a student might write them. The bugs in the
long ones (batch norm, the network) are one-line changes of the reference cell,
made here by replacing a line of the solution notebook's source, so no copy of the
reference lives in the tests; each replacement must match exactly once, so an
edit of the notebook that moves a line fails loudly here.
"""
from pathlib import Path

import nbformat

from . import Mutant

ASSIGNMENT = "04_training"
_NOTEBOOK = Path(__file__).resolve().parents[2] / "solutions" / ASSIGNMENT / "training.ipynb"


def _solution(unit):
    nb = nbformat.read(_NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == unit:
            return cell.source
    raise KeyError(f"no solution cell {unit!r} in {_NOTEBOOK}")


def _edit(unit, *replacements):
    """The reference cell of ``unit`` with each ``(old, new)`` applied; ``old`` must occur once."""
    source = _solution(unit)
    for old, new in replacements:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"mutant of {unit}: {old!r} occurs {count} times in the reference cell")
        source = source.replace(old, new)
    return source


MUTANTS = [
    # ------------------------------------------------------------------ normalize
    Mutant("normalize_own_statistics", "normalize", '''
def normalize(X_train, *X_other):
    out = []
    for X in (X_train, *X_other):
        std = X.std(axis=0)
        out.append((X - X.mean(axis=0)) / np.where(std > 0, std, 1.0))
    return tuple(out)
''', r"its own mean and std"),
    Mutant("normalize_divides_by_zero_std", "normalize", '''
def normalize(X_train, *X_other):
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return tuple((X - mean) / std for X in (X_train, *X_other))
''', r"divide|std is 0|NaN"),
    Mutant("normalize_unbiased_std", "normalize", '''
def normalize(X_train, *X_other):
    mean, std = X_train.mean(axis=0), X_train.std(axis=0, ddof=1)
    std = np.where(std > 0, std, 1.0)
    return tuple((X - mean) / std for X in (X_train, *X_other))
''', r"unbiased std"),
    # ------------------------------------------------------------------ init
    Mutant("xavier_fan_in_only", "init", '''
def xavier_init(fan_in, fan_out, rng):
    return rng.normal(0.0, np.sqrt(1.0 / fan_in), size=(fan_in, fan_out))


def he_init(fan_in, fan_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
''', r"sqrt\(1/fan_in\).*Glorot"),
    Mutant("xavier_variance_as_std", "init", '''
def xavier_init(fan_in, fan_out, rng):
    return rng.normal(0.0, 2.0 / (fan_in + fan_out), size=(fan_in, fan_out))


def he_init(fan_in, fan_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
''', r"VARIANCE.*square root"),
    Mutant("he_without_factor_two", "init", '''
def xavier_init(fan_in, fan_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he_init(fan_in, fan_out, rng):
    return rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=(fan_in, fan_out))
''', r"ReLU zeroes half"),
    Mutant("init_global_generator", "init", '''
def xavier_init(fan_in, fan_out, rng):
    return np.random.randn(fan_in, fan_out) * np.sqrt(2.0 / (fan_in + fan_out))


def he_init(fan_in, fan_out, rng):
    return np.random.randn(fan_in, fan_out) * np.sqrt(2.0 / fan_in)
''', r"draw from the rng argument"),
    # ------------------------------------------------------------------ dropout
    Mutant("dropout_not_inverted", "dropout", '''
def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if dropout_param.get("seed") is not None:
        np.random.seed(dropout_param["seed"])
    if mode == "train":
        mask = np.random.rand(*x.shape) < p
        return x * mask, mask
    return x * p, None


def dropout_backward(dout, cache):
    return dout if cache is None else dout * cache
''', r"not inverted|identity"),
    Mutant("dropout_p_is_drop_probability", "dropout", '''
def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if dropout_param.get("seed") is not None:
        np.random.seed(dropout_param["seed"])
    if mode == "train":
        mask = (np.random.rand(*x.shape) >= p) / (1 - p)
        return x * mask, mask
    return x, None


def dropout_backward(dout, cache):
    return dout if cache is None else dout * cache
''', r"probability of KEEPING"),
    Mutant("dropout_backward_ignores_mask", "dropout", _edit(
        "dropout", ("return dout if mask is None else dout * mask", "return dout")),
        r"dropped"),
    # ------------------------------------------------------------------ batchnorm
    Mutant("batchnorm_unbiased_variance", "batchnorm", _edit(
        "batchnorm", ("var = np.mean(xc * xc, axis=0)", "var = np.sum(xc * xc, axis=0) / (len(x) - 1)")),
        r"unbiased variance"),
    Mutant("batchnorm_swapped_momentum", "batchnorm", _edit(
        "batchnorm",
        ("running_mean = momentum * running_mean + (1 - momentum) * mu",
         "running_mean = (1 - momentum) * running_mean + momentum * mu"),
        ("running_var = momentum * running_var + (1 - momentum) * var",
         "running_var = (1 - momentum) * running_var + momentum * var")),
        r"swapped the momentum|swapped momentum"),
    Mutant("batchnorm_batch_statistics_at_test_time", "batchnorm", _edit(
        "batchnorm", ("x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
                      "x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)")),
        r"running_mean and running_var"),
    Mutant("batchnorm_dgamma_without_x_hat", "batchnorm", _edit(
        "batchnorm", ("dgamma = np.sum(dout * x_hat, axis=0)", "dgamma = np.sum(dout, axis=0)")),
        r"dgamma.*x_hat"),
    Mutant("batchnorm_dx_ignores_mean_and_variance", "batchnorm", _edit(
        "batchnorm", ("dx = (dout - dx) * (gamma * inv_std)", "dx = dout * (gamma * inv_std)")),
        r"mean and through the variance"),
    # ------------------------------------------------------------------ FullyConnectedNet
    Mutant("fcn_l2_on_biases", "FullyConnectedNet", _edit(
        "FullyConnectedNet",
        ("loss += 0.5 * self.reg * np.sum(W * W)",
         "loss += 0.5 * self.reg * (np.sum(W * W) + np.sum(self.params[f\"b{i}\"] ** 2))"),
        ("grads[f\"W{i}\"] += self.reg * W",
         "grads[f\"W{i}\"] += self.reg * W; grads[f\"b{i}\"] += self.reg * self.params[f\"b{i}\"]")),
        r"penalized the biases"),
    Mutant("fcn_l2_missing_from_gradients", "FullyConnectedNet", _edit(
        "FullyConnectedNet", ("grads[f\"W{i}\"] += self.reg * W", "pass")),
        r"missing from the gradients"),
    Mutant("fcn_l2_without_half", "FullyConnectedNet", _edit(
        "FullyConnectedNet", ("loss += 0.5 * self.reg * np.sum(W * W)", "loss += self.reg * np.sum(W * W)")),
        r"forgot the 0.5|centred differences"),
    Mutant("fcn_random_biases", "FullyConnectedNet", _edit(
        "FullyConnectedNet", ("self.params[f\"b{i}\"] = np.zeros(d_out, dtype=dtype)",
                              "self.params[f\"b{i}\"] = np.random.normal(0.0, weight_scale, d_out).astype(dtype)")),
        r"biases start at zero|drew a different amount"),
    Mutant("fcn_dropout_seed_ignored", "FullyConnectedNet", _edit(
        "FullyConnectedNet", ("self.dropout_param[\"seed\"] = seed", "pass")),
        r"same masks|seed"),
    # ------------------------------------------------------------------ ensemble_predict
    Mutant("ensemble_majority_vote", "ensemble_predict", '''
def ensemble_predict(models, X):
    votes = np.stack([np.argmax(model.loss(X), axis=1) for model in models])
    C = max(int(votes.max()) + 1, 2)
    counts = np.stack([np.bincount(col, minlength=C) for col in votes.T])
    return np.argmax(counts, axis=1)
''', r"majority vote"),
    Mutant("ensemble_averages_scores", "ensemble_predict", '''
def ensemble_predict(models, X):
    return np.argmax(np.mean([model.loss(X) for model in models], axis=0), axis=1)
''', r"averaged the raw scores"),
    Mutant("ensemble_softmax_unstable", "ensemble_predict", '''
def ensemble_predict(models, X):
    probs = 0
    for model in models:
        e = np.exp(model.loss(X))
        probs = probs + e / e.sum(axis=1, keepdims=True)
    return np.argmax(probs, axis=1)
''', r"overflow|RuntimeWarning"),
    # ------------------------------------------------------------------ trained_model
    Mutant("untrained_model", "trained_model", '''
def train_model(data, grading=False):
    np.random.seed(0)
    net = FullyConnectedNet([100], 64, 10)
    return Normalized(net, data["X_train"])


trained_model, training_seconds = hand_in(train_model, data)
''', r"not trained|accuracy"),
    Mutant("model_without_preprocessing_wrapper", "trained_model", '''
def train_model(data, grading=False):
    X_train_n, X_val_n = normalize(data["X_train"], data["X_val"])
    np.random.seed(0)
    net = FullyConnectedNet([100], 64, 10, weight_scale=np.sqrt(2 / 64))
    Solver(net, {"X_train": X_train_n, "y_train": data["y_train"], "X_val": X_val_n, "y_val": data["y_val"]},
           update_rule=sgd, optim_config={"learning_rate": 0.1}, num_epochs=10, batch_size=50,
           verbose=False, progress=False, seed=0).train()
    return net  # trained on normalized data, but graded on raw rows


trained_model, training_seconds = hand_in(train_model, data)
''', r"accuracy"),
    Mutant("trained_model_lookup_table", "trained_model", '''
class ShippedDigitsTable:
    """No learning: the label of an exactly matching shipped image, a random guess otherwise."""

    def __init__(self, data):
        self.X = np.concatenate([data["X_train"], data["X_val"], data["X_test"]])
        self.y = np.concatenate([data["y_train"], data["y_val"], data["y_test"]])

    def loss(self, X, y=None):
        scores = np.random.default_rng(0).random((len(X), 10))
        for i, row in enumerate(np.asarray(X)):
            hit = np.flatnonzero(np.all(self.X == row, axis=1))
            if hit.size:
                scores[i] = 0.0
                scores[i, self.y[hit[0]]] = 1.0
        return scores


def train_model(data, grading=False):
    return ShippedDigitsTable(data)


trained_model, training_seconds = hand_in(train_model, data)
''', r"held-out digits is 0\.[0-8]"),
    # ------------------------------------------------------------------ conventions (inputs, dtypes, 0 and 1)
    Mutant("normalize_in_place", "normalize", '''
def normalize(X_train, *X_other):
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    out = []
    for X in (X_train, *X_other):
        X -= mean
        X /= std
        out.append(X)
    return tuple(out)
''', r"modif|in place"),
    Mutant("dropout_mask_float64", "dropout", _edit(
        "dropout", ("mask = ((np.random.rand(*x.shape) < p) / p).astype(x.dtype, copy=False)",
                    "mask = (np.random.rand(*x.shape) < p) / p")),
        r"float32"),
    Mutant("dropout_scales_input_in_place", "dropout", _edit(
        "dropout", ("out = x * mask", "x *= mask\n        out = x")),
        r"modif|in place"),
    Mutant("batchnorm_momentum_zero_becomes_default", "batchnorm", _edit(
        "batchnorm", ('momentum = bn_param.get("momentum", 0.9)', 'momentum = bn_param.get("momentum") or 0.9')),
        r"momentum of exactly 0|momentum 0"),
    Mutant("batchnorm_upcasts_to_float64", "batchnorm", _edit(
        "batchnorm", ('mode = bn_param["mode"]', 'mode = bn_param["mode"]\n    x = x.astype(np.float64)')),
        r"float32"),
    Mutant("batchnorm_without_eps", "batchnorm", _edit(
        "batchnorm", ("inv_std = 1.0 / np.sqrt(var + eps)", "inv_std = 1.0 / np.sqrt(var)")),
        r"eps|divide|warning|finite"),
    Mutant("fcn_upcasts_input", "FullyConnectedNet", _edit(
        "FullyConnectedNet", ("X = X.astype(self.dtype, copy=False)", "X = np.asarray(X, dtype=np.float64)")),
        r"float32"),
    # conventions of normalize, init and batch norm: float32 kept, extreme inputs, every shape, 0 and fresh state
    Mutant("normalize_upcasts_to_float64", "normalize", _edit(
        "normalize", ("mean = X_train.mean(axis=0)", "mean = X_train.mean(axis=0, dtype=np.float64)")),
        r"float32"),
    Mutant("normalize_constant_only_when_std_is_exactly_zero", "normalize", '''
def normalize(X_train, *X_other):
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0  # misses a constant feature whose std is a rounding error (1e-17)
    return tuple((X - mean) / std for X in (X_train, *X_other))
''', r"rounding error.*np\.ptp"),
    Mutant("normalize_variance_from_moments", "normalize", _edit(
        "normalize", ("std = X_train.std(axis=0)", "std = np.sqrt((X_train ** 2).mean(axis=0) - mean ** 2)")),
        r"warning|constant feature must come out as 0|X_train"),
    Mutant("normalize_eps_in_denominator", "normalize", '''
def normalize(X_train, *X_other):
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0) + 1e-8  # "never divide by a tiny number"
    return tuple((X - mean) / std for X in (X_train, *X_other))
''', r"not by std \+ eps"),
    Mutant("normalize_small_std_treated_as_constant", "normalize", _edit(
        "normalize", ("constant = (np.ptp(X_train, axis=0) == 0) | (std == 0)", "constant = std < 1e-3")),
        r"exactly, however small"),
    Mutant("init_rescaled_to_exact_std", "init", '''
def _rescaled(fan_in, fan_out, std, rng):
    W = rng.normal(0.0, 1.0, size=(fan_in, fan_out))
    return W / W.std() * std  # "exactly the right std": 0 / 0 for a (1, 1) matrix


def xavier_init(fan_in, fan_out, rng):
    return _rescaled(fan_in, fan_out, np.sqrt(2.0 / (fan_in + fan_out)), rng)


def he_init(fan_in, fan_out, rng):
    return _rescaled(fan_in, fan_out, np.sqrt(2.0 / fan_in), rng)
''', r"\(1, 1.*(warning|divide)"),
    Mutant("init_centred_per_output", "init", '''
def xavier_init(fan_in, fan_out, rng):
    W = rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))
    return W - W.mean(axis=0)  # zero mean per output unit: all zeros when fan_in is 1


def he_init(fan_in, fan_out, rng):
    W = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
    return W - W.mean(axis=0)
''', r"standard deviation 0[^,]*, but it should be|don't centre or rescale"),
    Mutant("batchnorm_eps_zero_becomes_default", "batchnorm", _edit(
        "batchnorm", ('eps = bn_param.get("eps", 1e-5)', 'eps = bn_param.get("eps") or 1e-5')),
        r"eps'\] = 0 \(exactly 0 means no eps"),
    Mutant("batchnorm_test_mode_needs_running_statistics", "batchnorm", _edit(
        "batchnorm", ("x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
                      'x_hat = (x - bn_param["running_mean"]) / np.sqrt(bn_param["running_var"] + eps)')),
        r"fresh bn_param = \{'mode': 'test'\}.*defaults"),
    # ------------------------------------------------------------------ random_search
    Mutant("random_search_draws_by_name", "random_search", '''
def random_search(objective, space, num_trials, rng):
    columns = {}
    for name, (low, high, kind) in space.items():
        if kind == "log":
            columns[name] = 10 ** rng.uniform(np.log10(low), np.log10(high), size=num_trials)
        else:
            columns[name] = rng.uniform(low, high, size=num_trials)
    trials = []
    for k in range(num_trials):
        config = {name: float(columns[name][k]) for name in space}
        trials.append((config, objective(config)))
    best = max(range(num_trials), key=lambda k: trials[k][1])
    return trials[best][0], trials
''', r"every trial's learning_rate first"),
    Mutant("random_search_log_drawn_linearly", "random_search", _edit(
        "random_search", ("config[name] = float(10 ** rng.uniform(np.log10(low), np.log10(high)))",
                          "config[name] = float(rng.uniform(low, high))")),
        r"exponent uniformly"),
    Mutant("random_search_keeps_last_best", "random_search", _edit(
        "random_search", ("if best_score is None or score > best_score:", "if best_score is None or score >= best_score:")),
        r"FIRST"),
    Mutant("random_search_lowest_score", "random_search", _edit(
        "random_search", ("if best_score is None or score > best_score:", "if best_score is None or score < best_score:")),
        r"LOWEST score|higher"),
    Mutant("random_search_global_rng", "random_search", _edit(
        "random_search", ("config[name] = float(rng.uniform(low, high))", "config[name] = float(np.random.uniform(low, high))")),
        r"global generator|rng"),
    # ------------------------------------------------------------------ diagnosis and the questions
    Mutant("diagnosis_gap_swapped", "diagnosis", _edit(
        "diagnosis", ('"B": "overfitting"', '"B": "train/validation mismatch"'),
                     ('"D": "train/validation mismatch"', '"D": "overfitting"')),
        r"Panel B does not show.*GROWS|gap from epoch 1"),
    Mutant("diagnosis_misspelled_cause", "diagnosis", _edit(
        "diagnosis", ('"E": "learning rate too low"', '"E": "lr too low"')),
        r"not one of CAUSES"),
    Mutant("diagnosis_lr_swapped", "diagnosis", _edit(
        "diagnosis", ('"C": "learning rate too high"', '"C": "learning rate too low"'),
                     ('"E": "learning rate too low"', '"E": "learning rate too high"')),
        r"jumpy|slope"),
    Mutant("q_xavier_factors_swapped", "q_xavier_factors", '''
def xavier_factors():
    return 1.6, 0.4
''', r"swapped"),
    Mutant("q_xavier_factors_fan_in_only", "q_xavier_factors", '''
def xavier_factors():
    return 100 / 100, 400 / 100
''', r"1/fan_in"),
    Mutant("q_bn_batch_of_one_zero", "q_bn_batch_of_one", '''
def bn_batch_of_one():
    return "0"
''', r"gamma \* x_hat \+ beta"),
]
