"""Wrong implementations of the 02_backprop units: classic backward-pass bugs."""
from . import Mutant

ASSIGNMENT = "02_backprop"

MUTANTS = [
    # --------------------------------------------------------------- graphs
    Mutant("add_mul_dx_is_q", "add_mul_graph", '''
def add_mul_graph(x, y, z):
    q = x + y
    return q * z, q, q, z
''', r"that is df/dz|df/dz is the OTHER input"),
    Mutant("sigmoid_neuron_no_bias_grad", "sigmoid_neuron", '''
def sigmoid_neuron(w, x):
    a = w[:-1] @ x + w[-1]
    f = 1.0 / (1.0 + np.exp(-a))
    return float(f), f * (1 - f) * x, f * (1 - f) * w[:-1]
''', r"gradient of the bias"),
    Mutant("sigmoid_neuron_output_not_derivative", "sigmoid_neuron", '''
def sigmoid_neuron(w, x):
    a = w[:-1] @ x + w[-1]
    f = 1.0 / (1.0 + np.exp(-a))
    return float(f), f * np.append(x, 1.0), f * w[:-1]
''', r"instead of its local derivative f \* \(1 - f\)"),
    Mutant("affine_jacobian_column_major", "affine_jacobian", '''
def affine_jacobian(x, M):
    x = np.asarray(x, dtype=float)
    return np.hstack([np.kron(x, np.eye(M)), np.eye(M)])
''', r"column by column"),
    Mutant("affine_jacobian_no_identity", "affine_jacobian", '''
def affine_jacobian(x, M):
    x = np.asarray(x, dtype=float)
    D = x.size
    J = np.zeros((M, M * (D + 1)))
    for i in range(M):
        J[i, i * D:(i + 1) * D] = x
    return J
''', r"M x M identity"),
    # --------------------------------------------------------------- affine
    Mutant("affine_forward_no_flatten", "affine", '''
def affine_forward(x, w, b):
    return x @ w + b, (x, w)

def affine_backward(dout, cache):
    x, w = cache
    xf = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), xf.T @ dout, dout.sum(axis=0)
''', r"flatten each sample first"),
    Mutant("affine_dx_not_reshaped", "affine", '''
def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w)

def affine_backward(dout, cache):
    x, w = cache
    xf = x.reshape(x.shape[0], -1)
    return dout @ w.T, xf.T @ dout, dout.sum(axis=0)
''', r"reshape it"),
    Mutant("affine_db_averaged", "affine", '''
def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w)

def affine_backward(dout, cache):
    x, w = cache
    xf = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), xf.T @ dout, dout.mean(axis=0)
''', r"SUM of dout over the batch, not the average"),
    Mutant("affine_dw_transposed", "affine", '''
def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w)

def affine_backward(dout, cache):
    x, w = cache
    xf = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), dout.T @ xf, dout.sum(axis=0)
''', r"dw .*right (values )?but (is )?transposed"),
    # --------------------------------------------------------------- activations
    Mutant("relu_grad_one_at_zero", "relu", '''
def relu_forward(x):
    return np.maximum(x, 0), x

def relu_backward(dout, cache):
    return dout * (cache >= 0)
''', r"wrong entries are where x == 0"),
    Mutant("relu_forward_in_place", "relu", '''
def relu_forward(x):
    x[x < 0] = 0
    return x, x

def relu_backward(dout, cache):
    return dout * (cache > 0)
''', r"changed its argument `x` in place"),
    Mutant("sigmoid_forward_overflows", "sigmoid", '''
def sigmoid_forward(x):
    s = 1.0 / (1.0 + np.exp(-x))
    return s, s

def sigmoid_backward(dout, cache):
    return dout * cache * (1 - cache)
''', r"overflow"),
    Mutant("sigmoid_backward_missing_one_minus_s", "sigmoid", '''
def sigmoid_forward(x):
    e = np.exp(-np.abs(x))
    s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return s, s

def sigmoid_backward(dout, cache):
    return dout * cache
''', r"left out the \(1 - s\) factor"),
    Mutant("tanh_backward_from_input", "tanh", '''
def tanh_forward(x):
    return np.tanh(x), x

def tanh_backward(dout, cache):
    return dout * (1 - cache ** 2)
''', r"1 - out\*\*2"),
    Mutant("leaky_relu_backward_zero_slope", "leaky_relu", '''
def leaky_relu_forward(x, alpha=0.01):
    return np.where(x > 0, x, alpha * x), (x, alpha)

def leaky_relu_backward(dout, cache):
    x, alpha = cache
    return dout * (x > 0)
''', r"wrong entries are where x < 0"),
    Mutant("leaky_relu_ignores_alpha", "leaky_relu", '''
def leaky_relu_forward(x, alpha=0.01):
    return np.where(x > 0, x, 0.01 * x), x

def leaky_relu_backward(dout, cache):
    return dout * np.where(cache > 0, 1.0, 0.01)
''', r"wrong entries are where x < 0"),
    Mutant("elu_backward_without_alpha", "elu", '''
def elu_forward(x, alpha=1.0):
    out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return out, (x, alpha)

def elu_backward(dout, cache):
    x, alpha = cache
    return dout * np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))
''', r"wrong entries are where x < 0"),
    Mutant("elu_backward_forgets_plus_alpha", "elu", '''
def elu_forward(x, alpha=1.0):
    out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return out, (x, out)

def elu_backward(dout, cache):
    x, out = cache
    return dout * np.where(x > 0, 1.0, out)
''', r"wrong entries are where x < 0"),
    # --------------------------------------------------------------- losses
    Mutant("mse_mean_over_all_entries", "mse_loss", '''
def mse_loss(x, y):
    d = x - y
    return float(np.mean(d ** 2)), 2 * d / d.size
''', r"averaged over all N\*M"),
    Mutant("mse_dx_missing_factor_2", "mse_loss", '''
def mse_loss(x, y):
    d = x - y
    return float(np.sum(d ** 2) / x.shape[0]), d / x.shape[0]
''', r"lost the factor 2"),
    Mutant("l1_dx_not_divided_by_n", "l1_loss", '''
def l1_loss(x, y):
    d = x - y
    return float(np.sum(np.abs(d)) / x.shape[0]), np.sign(d)
''', r"N=\d+ times too large"),
    Mutant("bce_log_of_sigmoid_overflows", "sigmoid_bce_loss", '''
def sigmoid_bce_loss(x, y):
    n = x.shape[0]
    s = 1.0 / (1.0 + np.exp(-x))
    loss = -np.sum(y * np.log(s) + (1 - y) * np.log(1 - s)) / n
    return float(loss), (s - y) / n
''', r"overflow|divide by zero"),
    Mutant("bce_summed_over_n", "sigmoid_bce_loss", '''
def sigmoid_bce_loss(x, y):
    e = np.exp(-np.abs(x))
    loss = np.sum(np.maximum(x, 0) - x * y + np.log1p(e))
    s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return float(loss), s - y
''', r"summed over the N"),
    # --------------------------------------------------------------- TwoLayerNet
    Mutant("two_layer_reg_missing_from_grads", "TwoLayerNet", '''
class TwoLayerNet:
    def __init__(self, input_dim, hidden_dim, num_classes, weight_scale=1e-3, reg=0.0):
        self.reg = reg
        self.params = {"W1": weight_scale * np.random.randn(input_dim, hidden_dim), "b1": np.zeros(hidden_dim),
                       "W2": weight_scale * np.random.randn(hidden_dim, num_classes), "b2": np.zeros(num_classes)}

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        h, c1 = affine_forward(X, W1, b1)
        a, cr = relu_forward(h)
        scores, c2 = affine_forward(a, W2, b2)
        if y is None:
            return scores
        n = scores.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_p[np.arange(n), y].mean() + 0.5 * self.reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
        d = np.exp(log_p)
        d[np.arange(n), y] -= 1
        da, dW2, db2 = affine_backward(d / n, c2)
        _, dW1, db1 = affine_backward(relu_backward(da, cr), c1)
        return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
''', r"is the same with reg=\S+ as with reg=0: it misses the regularization term reg \* W\d"),
    Mutant("two_layer_reg_factor_two", "TwoLayerNet", '''
class TwoLayerNet:
    def __init__(self, input_dim, hidden_dim, num_classes, weight_scale=1e-3, reg=0.0):
        self.reg = reg
        self.params = {"W1": weight_scale * np.random.randn(input_dim, hidden_dim), "b1": np.zeros(hidden_dim),
                       "W2": weight_scale * np.random.randn(hidden_dim, num_classes), "b2": np.zeros(num_classes)}

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        h, c1 = affine_forward(X, W1, b1)
        a, cr = relu_forward(h)
        scores, c2 = affine_forward(a, W2, b2)
        if y is None:
            return scores
        n = scores.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_p[np.arange(n), y].mean() + self.reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
        d = np.exp(log_p)
        d[np.arange(n), y] -= 1
        da, dW2, db2 = affine_backward(d / n, c2)
        _, dW1, db1 = affine_backward(relu_backward(da, cr), c1)
        return loss, {"W1": dW1 + 2 * self.reg * W1, "b1": db1, "W2": dW2 + 2 * self.reg * W2, "b2": db2}
''', r"0\.5 \* reg \* \(sum\(W1\*\*2\) \+ sum\(W2\*\*2\)\): yours is twice that"),
    Mutant("two_layer_reg_on_biases", "TwoLayerNet", '''
class TwoLayerNet:
    def __init__(self, input_dim, hidden_dim, num_classes, weight_scale=1e-3, reg=0.0):
        self.reg = reg
        self.params = {"W1": weight_scale * np.random.randn(input_dim, hidden_dim), "b1": np.zeros(hidden_dim),
                       "W2": weight_scale * np.random.randn(hidden_dim, num_classes), "b2": np.zeros(num_classes)}

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        h, c1 = affine_forward(X, W1, b1)
        a, cr = relu_forward(h)
        scores, c2 = affine_forward(a, W2, b2)
        if y is None:
            return scores
        n = scores.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_p[np.arange(n), y].mean()
        d = np.exp(log_p)
        d[np.arange(n), y] -= 1
        da, dW2, db2 = affine_backward(d / n, c2)
        _, dW1, db1 = affine_backward(relu_backward(da, cr), c1)
        grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
        for k in grads:
            loss += 0.5 * self.reg * np.sum(self.params[k] ** 2)
            grads[k] = grads[k] + self.reg * self.params[k]
        return loss, grads
''', r"weight matrices W1 and W2 only"),
    Mutant("two_layer_w2_drawn_first", "TwoLayerNet", '''
class TwoLayerNet:
    def __init__(self, input_dim, hidden_dim, num_classes, weight_scale=1e-3, reg=0.0):
        self.reg = reg
        W2 = weight_scale * np.random.randn(hidden_dim, num_classes)
        W1 = weight_scale * np.random.randn(input_dim, hidden_dim)
        self.params = {"W1": W1, "b1": np.zeros(hidden_dim), "W2": W2, "b2": np.zeros(num_classes)}

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        h, c1 = affine_forward(X, W1, b1)
        a, cr = relu_forward(h)
        scores, c2 = affine_forward(a, W2, b2)
        if y is None:
            return scores
        n = scores.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_p[np.arange(n), y].mean() + 0.5 * self.reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
        d = np.exp(log_p)
        d[np.arange(n), y] -= 1
        da, dW2, db2 = affine_backward(d / n, c2)
        _, dW1, db1 = affine_backward(relu_backward(da, cr), c1)
        return loss, {"W1": dW1 + self.reg * W1, "b1": db1, "W2": dW2 + self.reg * W2, "b2": db2}
''', r"draw W1 first, then W2"),
    Mutant("two_layer_loss_summed", "TwoLayerNet", '''
class TwoLayerNet:
    def __init__(self, input_dim, hidden_dim, num_classes, weight_scale=1e-3, reg=0.0):
        self.reg = reg
        self.params = {"W1": weight_scale * np.random.randn(input_dim, hidden_dim), "b1": np.zeros(hidden_dim),
                       "W2": weight_scale * np.random.randn(hidden_dim, num_classes), "b2": np.zeros(num_classes)}

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        h, c1 = affine_forward(X, W1, b1)
        a, cr = relu_forward(h)
        scores, c2 = affine_forward(a, W2, b2)
        if y is None:
            return scores
        n = scores.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_p[np.arange(n), y].sum() + 0.5 * self.reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
        d = np.exp(log_p)
        d[np.arange(n), y] -= 1
        da, dW2, db2 = affine_backward(d, c2)
        _, dW1, db1 = affine_backward(relu_backward(da, cr), c1)
        return loss, {"W1": dW1 + self.reg * W1, "b1": db1, "W2": dW2 + self.reg * W2, "b2": db2}
''', r"summed over the N=\d+ samples"),
    # --------------------------------------------------------------- counting paths
    Mutant("count_paths_all_units", "count_paths", """
def count_paths(widths):
    return int(np.prod(widths))

def count_edges(widths):
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))
""", r"from ONE input unit to ONE output unit"),
    Mutant("count_paths_sum", "count_paths", """
def count_paths(widths):
    return sum(widths[1:-1]) + 1

def count_edges(widths):
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))
""", r"adds the widths|choices multiply"),
    Mutant("count_paths_numpy_overflow", "count_paths", """
def count_paths(widths):
    return np.prod(np.array(widths[1:-1], dtype=np.int64))

def count_edges(widths):
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))
""", r"NumPy integers overflow"),
    Mutant("count_edges_counts_units", "count_paths", """
def count_paths(widths):
    paths = 1
    for h in widths[1:-1]:
        paths *= h
    return paths

def count_edges(widths):
    return sum(widths)
""", r"count_edges counts units"),
    # --------------------------------------------------------------- conventions
    Mutant("leaky_relu_backward_float64", "leaky_relu", """
def leaky_relu_forward(x, alpha=0.01):
    return np.where(x > 0, x, alpha * x), (x, alpha)

def leaky_relu_backward(dout, cache):
    x, alpha = cache
    return dout * np.where(x > 0, 1.0, alpha)
""", r"leaky_relu_backward returns float64 for float32 input: keep the input's dtype"),
    Mutant("leaky_relu_alpha_zero_ignored", "leaky_relu", """
def leaky_relu_forward(x, alpha=0.01):
    alpha = alpha or 0.01
    return np.where(x > 0, x, alpha * x), (x, alpha)

def leaky_relu_backward(dout, cache):
    x, alpha = cache
    return np.where(x > 0, dout, alpha * dout)
""", r"alpha=0 means slope 0 there"),
    Mutant("elu_backward_kink_at_zero", "elu", """
def elu_forward(x, alpha=1.0):
    out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))
    return out, (x, out, alpha)

def elu_backward(dout, cache):
    x, out, alpha = cache
    return np.where(x >= 0, dout, dout * (out + alpha))
""", r"wrong entries are where x == 0"),
    Mutant("elu_forward_overflows", "elu", """
def elu_forward(x, alpha=1.0):
    out = np.where(x > 0, x, alpha * (np.exp(x) - 1))
    return out, (x, out, alpha)

def elu_backward(dout, cache):
    x, out, alpha = cache
    return np.where(x > 0, dout, dout * (out + alpha))
""", r"overflow"),
    Mutant("relu_backward_in_place", "relu", """
def relu_forward(x):
    return np.maximum(x, 0.0), x

def relu_backward(dout, cache):
    dout[cache <= 0] = 0
    return dout
""", r"changed its argument `dout` in place"),
]
