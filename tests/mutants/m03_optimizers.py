"""Wrong implementations of the 03_optimizers units: classic update-rule, schedule and batching bugs."""
from . import Mutant

ASSIGNMENT = "03_optimizers"

_SCHEDULES_OK = {
    "step": '''
def step_decay(lr0, epoch, drop=0.5, every=10):
    return lr0 * drop ** (epoch // every)
''',
    "exp": '''
def exponential_decay(lr0, epoch, k):
    return lr0 * np.exp(-k * epoch)
''',
    "cos": '''
def cosine_decay(lr0, step, total_steps, lr_min=0.0):
    step = min(step, total_steps)
    return lr_min + 0.5 * (lr0 - lr_min) * (1 + np.cos(np.pi * step / total_steps))
''',
}


def _schedules(**wrong):
    """The lr_schedules cell with some of its three functions replaced."""
    return "".join(wrong.get(k, v) for k, v in _SCHEDULES_OK.items())


MUTANTS = [
    # ------------------------------------------------------------------ sgd
    Mutant("sgd_wrong_sign", "sgd", '''
def sgd(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    return w + config["learning_rate"] * dw, config
''', r"stepped uphill"),
    Mutant("sgd_ignores_config_rate", "sgd", '''
def sgd(w, dw, config=None):
    if config is None:
        config = {"learning_rate": 1e-2}
    return w - 1e-2 * dw, config
''', r"default learning rate 1e-2 although config\['learning_rate'\]"),

    # ------------------------------------------------------------------ momentum
    Mutant("momentum_velocity_not_stored", "sgd_momentum", '''
def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", np.zeros_like(w))
    v = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    return w + v, config
''', r"config\['velocity'\] did not change .* did not store it back"),
    Mutant("momentum_velocity_restarts_from_zero", "sgd_momentum", '''
def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = np.zeros_like(w)
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config
''', r"restarted from zero"),
    Mutant("momentum_steps_with_old_velocity", "sgd_momentum", '''
def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    next_w = w + v
    config["velocity"] = config["momentum"] * v - config["learning_rate"] * dw
    return next_w, config
''', r"did not move w at the first step"),
    Mutant("momentum_hardcoded_mu", "sgd_momentum", '''
def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = 0.9 * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config
''', r"used momentum 0\.9 .* read it from the config"),
    Mutant("momentum_no_default_config", "sgd_momentum", '''
def sgd_momentum(w, dw, config=None):
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config
''', r"without a config \(config=None\)"),

    # ------------------------------------------------------------------ Nesterov
    Mutant("nesterov_as_plain_momentum", "nesterov_momentum", '''
def nesterov_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config
''', r"took the plain momentum step"),
    Mutant("nesterov_velocity_updated_in_place", "nesterov_momentum", '''
def nesterov_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", np.zeros_like(w, dtype=float))
    mu = config["momentum"]
    v = config["velocity"]
    v_prev = v                      # an alias, not a copy
    v *= mu
    v -= config["learning_rate"] * dw
    return w - mu * v_prev + (1 + mu) * v, config
''', r"took the plain momentum step"),
    Mutant("nesterov_velocity_not_stored", "nesterov_momentum", '''
def nesterov_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", np.zeros_like(w))
    mu = config["momentum"]
    v_prev = config["velocity"]
    v = mu * v_prev - config["learning_rate"] * dw
    return w - mu * v_prev + (1 + mu) * v, config
''', r"did not store it back"),

    # ------------------------------------------------------------------ AdaGrad
    Mutant("adagrad_not_accumulating", "adagrad", '''
def adagrad(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    config["cache"] = dw ** 2
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config
''', r"holds only the last squared gradient"),
    Mutant("adagrad_epsilon_inside_sqrt", "adagrad", '''
def adagrad(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    config["cache"] = config.get("cache", np.zeros_like(w)) + dw ** 2
    return w - config["learning_rate"] * dw / np.sqrt(config["cache"] + config["epsilon"]), config
''', r"epsilon inside the square root"),
    Mutant("adagrad_no_square_root", "adagrad", '''
def adagrad(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    config["cache"] = config.get("cache", np.zeros_like(w)) + dw ** 2
    return w - config["learning_rate"] * dw / (config["cache"] + config["epsilon"]), config
''', r"divide by its square root"),

    # ------------------------------------------------------------------ RMSProp
    Mutant("rmsprop_missing_one_minus_decay", "rmsprop", '''
def rmsprop(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config["cache"] = config["decay_rate"] * config.get("cache", np.zeros_like(w)) + dw ** 2
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config
''', r"missing its \(1 - decay_rate\) factor"),
    Mutant("rmsprop_decay_swapped", "rmsprop", '''
def rmsprop(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    dr = config["decay_rate"]
    config["cache"] = (1 - dr) * config.get("cache", np.zeros_like(w)) + dr * dw ** 2
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config
''', r"are swapped"),

    # ------------------------------------------------------------------ Adam
    Mutant("adam_no_bias_correction", "adam", '''
def adam(w, dw, config=None):
    if config is None:
        config = {}
    for key, value in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8), ("t", 0)):
        config.setdefault(key, value)
    config["t"] += 1
    config["m"] = config["beta1"] * config.get("m", np.zeros_like(w)) + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config.get("v", np.zeros_like(w)) + (1 - config["beta2"]) * dw ** 2
    return w - config["learning_rate"] * config["m"] / (np.sqrt(config["v"]) + config["epsilon"]), config
''', r"skipped the bias correction"),
    Mutant("adam_t_incremented_after_use", "adam", '''
def adam(w, dw, config=None):
    if config is None:
        config = {}
    for key, value in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8), ("t", 0)):
        config.setdefault(key, value)
    t = config["t"]
    config["m"] = config["beta1"] * config.get("m", np.zeros_like(w)) + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config.get("v", np.zeros_like(w)) + (1 - config["beta2"]) * dw ** 2
    m_hat = config["m"] / (1 - config["beta1"] ** t)
    v_hat = config["v"] / (1 - config["beta2"] ** t)
    config["t"] = t + 1
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config
''', r"increment config\['t'\] (first|before)"),
    Mutant("adam_stores_corrected_moments", "adam", '''
def adam(w, dw, config=None):
    if config is None:
        config = {}
    for key, value in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8), ("t", 0)):
        config.setdefault(key, value)
    config["t"] += 1
    t = config["t"]
    m = config["beta1"] * config.get("m", np.zeros_like(w)) + (1 - config["beta1"]) * dw
    v = config["beta2"] * config.get("v", np.zeros_like(w)) + (1 - config["beta2"]) * dw ** 2
    config["m"] = m / (1 - config["beta1"] ** t)
    config["v"] = v / (1 - config["beta2"] ** t)
    return w - config["learning_rate"] * config["m"] / (np.sqrt(config["v"]) + config["epsilon"]), config
''', r"holds the bias-corrected moment"),
    Mutant("adam_t_not_stored", "adam", '''
def adam(w, dw, config=None):
    if config is None:
        config = {}
    for key, value in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8), ("t", 0)):
        config.setdefault(key, value)
    t = config["t"] + 1
    m = config["beta1"] * config.get("m", np.zeros_like(w)) + (1 - config["beta1"]) * dw
    v = config["beta2"] * config.get("v", np.zeros_like(w)) + (1 - config["beta2"]) * dw ** 2
    config["m"], config["v"] = m, v
    m_hat, v_hat = m / (1 - config["beta1"] ** t), v / (1 - config["beta2"] ** t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config
''', r"config\['t'\] did not change"),

    # ------------------------------------------------------------------ schedules
    Mutant("step_decay_counts_epochs_from_one", "lr_schedules", _schedules(step='''
def step_decay(lr0, epoch, drop=0.5, every=10):
    return lr0 * drop ** int((epoch - 1) / every)
'''), r"first drop happens at epoch == every"),
    Mutant("step_decay_drops_early", "lr_schedules", _schedules(step='''
def step_decay(lr0, epoch, drop=0.5, every=10):
    return lr0 * drop ** np.ceil(epoch / every)
'''), r"has already dropped"),
    Mutant("exponential_decay_grows", "lr_schedules", _schedules(exp='''
def exponential_decay(lr0, epoch, k):
    return lr0 * np.exp(k * epoch)
'''), r"grows with the epoch"),
    Mutant("cosine_decay_off_by_one", "lr_schedules", _schedules(cos='''
def cosine_decay(lr0, step, total_steps, lr_min=0.0):
    step = min(step, total_steps)
    return lr_min + 0.5 * (lr0 - lr_min) * (1 + np.cos(np.pi * step / (total_steps + 1)))
'''), r"should be exactly lr_min"),
    Mutant("cosine_decay_ignores_lr_min", "lr_schedules", _schedules(cos='''
def cosine_decay(lr0, step, total_steps, lr_min=0.0):
    step = min(step, total_steps)
    return 0.5 * lr0 * (1 + np.cos(np.pi * step / total_steps))
'''), r"ignores lr_min"),

    # ------------------------------------------------------------------ minibatches
    Mutant("minibatches_with_replacement", "minibatches", '''
def minibatches(X, y, batch_size, rng=None, shuffle=True):
    rng = np.random.default_rng() if rng is None else rng
    N = len(X)
    for start in range(0, N, batch_size):
        idx = rng.integers(0, N, size=min(batch_size, N - start)) if shuffle else np.arange(start, min(start + batch_size, N))
        yield X[idx], y[idx]
''', r"exactly once per epoch"),
    Mutant("minibatches_drop_last", "minibatches", '''
def minibatches(X, y, batch_size, rng=None, shuffle=True):
    rng = np.random.default_rng() if rng is None else rng
    N = len(X)
    order = rng.permutation(N) if shuffle else np.arange(N)
    for start in range(0, N - batch_size + 1, batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]
''', r"last, short batch is missing"),
    Mutant("minibatches_never_shuffle", "minibatches", '''
def minibatches(X, y, batch_size, rng=None, shuffle=True):
    for start in range(0, len(X), batch_size):
        yield X[start:start + batch_size], y[start:start + batch_size]
''', r"same order in all"),
    Mutant("minibatches_x_y_shuffled_apart", "minibatches", '''
def minibatches(X, y, batch_size, rng=None, shuffle=True):
    rng = np.random.default_rng() if rng is None else rng
    N = len(X)
    ox = rng.permutation(N) if shuffle else np.arange(N)
    oy = rng.permutation(N) if shuffle else np.arange(N)
    for start in range(0, N, batch_size):
        yield X[ox[start:start + batch_size]], y[oy[start:start + batch_size]]
''', r"y_batch does not belong to X_batch"),
    Mutant("minibatches_ignores_rng", "minibatches", '''
def minibatches(X, y, batch_size, rng=None, shuffle=True):
    N = len(X)
    order = np.random.permutation(N) if shuffle else np.arange(N)
    for start in range(0, N, batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]
''', r"same seed gave different batches"),
    # ------------------------------------------------------------------ conventions (issue 11)
    Mutant("sgd_changes_w_in_place", "sgd", """
def sgd(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    w -= config["learning_rate"] * dw
    return w, config
""", r"sgd changed w in place.*next_w = w - "),
    Mutant("sgd_rate_zero_becomes_default", "sgd", """
def sgd(w, dw, config=None):
    config = config if config is not None else {}
    config["learning_rate"] = config.get("learning_rate") or 1e-2
    return w - config["learning_rate"] * dw, config
""", r"learning_rate 0 moved w.*a rate of 0 means no step"),
    Mutant("momentum_velocity_never_stored", "sgd_momentum", """
def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    return w + v, config
""", r"has no 'velocity'|did not store its velocity"),
    Mutant("momentum_float64_state", "sgd_momentum", """
def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config["momentum"] * config.get("velocity", np.zeros(np.shape(w))) - config["learning_rate"] * dw
    config["velocity"] = v.astype(np.float64)
    return w + config["velocity"], config
""", r"turned float32 parameters into float64.*np\.zeros_like\(w\)"),
    Mutant("momentum_opposite_sign_convention", "sgd_momentum", """
def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) + config["learning_rate"] * dw
    config["velocity"] = v
    return w - v, config
""", r"your velocity has the opposite sign: the contract stores v = mu\*v - lr\*dw"),
    Mutant("momentum_zero_becomes_default", "sgd_momentum", """
def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    mu = config.get("momentum") or 0.9
    config["momentum"] = mu
    v = mu * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config
""", r"with momentum = 0.*momentum 0 is plain SGD.*setdefault"),
    Mutant("nesterov_opposite_sign_convention", "nesterov_momentum", """
def nesterov_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    mu = config["momentum"]
    v_prev = config.get("velocity", np.zeros_like(w))
    v = mu * v_prev + config["learning_rate"] * dw
    config["velocity"] = v
    return w + mu * v_prev - (1 + mu) * v, config
""", r"your velocity has the opposite sign"),
    Mutant("adagrad_cache_updated_in_place", "adagrad", """
def adagrad(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    if "cache" in config:
        config["cache"] += dw * dw
    else:
        config["cache"] = dw * dw
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config
""", r"updated the array config\['cache'\] it was given in place"),
    Mutant("adagrad_no_epsilon", "adagrad", """
def adagrad(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    config["cache"] = config.get("cache", np.zeros_like(w)) + dw * dw
    return w - config["learning_rate"] * dw / np.sqrt(config["cache"]), config
""", r"RuntimeWarning"),
    Mutant("adagrad_flattens_w", "adagrad", """
def adagrad(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    w, dw = np.ravel(w), np.ravel(dw)
    config["cache"] = np.ravel(config.get("cache", np.zeros_like(w))) + dw * dw
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config
""", r"returned next_w of shape \(\d+,\)"),
    Mutant("rmsprop_squares_dw_in_place", "rmsprop", """
def rmsprop(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    step = config["learning_rate"] * dw
    squared = dw
    squared **= 2
    rho = config["decay_rate"]
    config["cache"] = rho * config.get("cache", np.zeros_like(w)) + (1 - rho) * squared
    return w - step / (np.sqrt(config["cache"]) + config["epsilon"]), config
""", r"changed the gradient dw in place"),
    Mutant("rmsprop_epsilon_inside_sqrt", "rmsprop", """
def rmsprop(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    rho = config["decay_rate"]
    config["cache"] = rho * config.get("cache", np.zeros_like(w)) + (1 - rho) * dw * dw
    return w - config["learning_rate"] * dw / np.sqrt(config["cache"] + config["epsilon"]), config
""", r"rmsprop added epsilon inside the square root"),
    Mutant("rmsprop_decay_zero_becomes_default", "rmsprop", """
def rmsprop(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    rho = config.get("decay_rate") or 0.99
    config["decay_rate"] = rho
    config["cache"] = rho * config.get("cache", np.zeros_like(w)) + (1 - rho) * dw * dw
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config
""", r"with decay_rate = 0.*keeps no memory"),
    Mutant("adam_epsilon_inside_sqrt", "adam", """
def adam(w, dw, config=None):
    if config is None:
        config = {}
    for key, value in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8), ("t", 0)):
        config.setdefault(key, value)
    config["t"] += 1
    t = config["t"]
    config["m"] = config["beta1"] * config.get("m", np.zeros_like(w)) + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config.get("v", np.zeros_like(w)) + (1 - config["beta2"]) * dw ** 2
    m_hat, v_hat = config["m"] / (1 - config["beta1"] ** t), config["v"] / (1 - config["beta2"] ** t)
    return w - config["learning_rate"] * m_hat / np.sqrt(v_hat + config["epsilon"]), config
""", r"adam added epsilon inside the square root"),
    Mutant("adam_beta1_zero_becomes_default", "adam", """
def adam(w, dw, config=None):
    if config is None:
        config = {}
    for key, value in (("learning_rate", 1e-3), ("beta2", 0.999), ("epsilon", 1e-8), ("t", 0)):
        config.setdefault(key, value)
    config["beta1"] = b1 = config.get("beta1") or 0.9
    config["t"] += 1
    t = config["t"]
    config["m"] = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    config["v"] = config["beta2"] * config.get("v", np.zeros_like(w)) + (1 - config["beta2"]) * dw ** 2
    m_hat, v_hat = config["m"] / (1 - b1 ** t), config["v"] / (1 - config["beta2"] ** t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config
""", r"with beta1 = 0.*keeps no momentum"),

    # ------------------------------------------------------------------ clip_grad_norm
    Mutant("clip_scales_in_place", "clip_grad_norm", """
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    scale = min(1.0, max_norm / (total + 1e-6))
    for g in grads.values():
        g *= scale
    return dict(grads), total
""", r"changed the gradients it was given .* in place"),
    Mutant("clip_without_the_1e-6", "clip_grad_norm", """
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    return {k: g * scale for k, g in grads.items()}, total
""", r"max_norm / \(total_norm \+ 1e-6\)"),
    Mutant("clip_each_array_by_its_own_norm", "clip_grad_norm", """
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    return {k: g * min(1.0, max_norm / (np.sqrt(np.sum(g ** 2)) + 1e-6)) for k, g in grads.items()}, total
""", r"clipped each array by its own norm"),
    Mutant("clip_always_scales", "clip_grad_norm", """
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    scale = max_norm / (total + 1e-6)
    return {k: g * scale for k, g in grads.items()}, total
""", r"scaled up .* never above 1"),
    Mutant("clip_returns_squared_norm", "clip_grad_norm", """
def clip_grad_norm(grads, max_norm):
    squared = float(sum(np.sum(g ** 2) for g in grads.values()))
    scale = min(1.0, max_norm / (np.sqrt(squared) + 1e-6))
    return {k: g * scale for k, g in grads.items()}, squared
""", r"the squared norm"),
    Mutant("clip_float32_becomes_float64", "clip_grad_norm", """
def clip_grad_norm(grads, max_norm):
    total = np.sqrt(sum(np.sum(np.asarray(g, dtype=np.float64) ** 2) for g in grads.values()))
    scale = np.minimum(1.0, max_norm / (total + 1e-6))
    return {k: g * scale for k, g in grads.items()}, float(total)
""", r"is float64, but the gradient was float32"),

    # ------------------------------------------------------------------ autograded answers
    Mutant("q_terminal_velocity_mu_over_one_minus_mu", "q_terminal_velocity", """
def terminal_velocity_answers():
    return 0.99 / (1 - 0.99), 100
""", r"mu / \(1 - mu\)"),
    Mutant("q_terminal_velocity_time_scale", "q_terminal_velocity", """
def terminal_velocity_answers():
    return 100.0, 100
""", r"time scale 1 / \(1 - mu\)"),
    Mutant("q_noise_ratio_standard_deviation", "q_noise_ratio", """
def noise_ratio_answer():
    return 2.0
""", r"ratio of the standard deviations"),
]
