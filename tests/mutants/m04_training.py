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
]
