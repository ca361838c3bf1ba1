"""Wrong implementations of the 01_softmax units."""
from . import Mutant

ASSIGNMENT = "01_softmax"

MUTANTS = [
    Mutant("softmax_no_shift", "softmax", '''
def softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
''', r"overflow|NaN|inf"),
    Mutant("softmax_wrong_axis", "softmax", '''
def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)
''', r"wrong at|shape|row sums"),
    Mutant("softmax_global_max", "softmax", '''
def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum(axis=-1, keepdims=True)
''', r"NaN|inf|divide|invalid"),
    Mutant("log_softmax_of_softmax", "log_softmax", '''
def log_softmax(z):
    return np.log(softmax(z))
''', r"divide by zero|log|NaN|inf"),
    Mutant("log_softmax_no_shift", "log_softmax", '''
def log_softmax(z):
    z = np.asarray(z, dtype=float)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
''', r"overflow|NaN|inf"),
    Mutant("softmax_loss_sum_not_mean", "softmax_loss", '''
def softmax_loss(x, y):
    n = x.shape[0]
    log_p = log_softmax(x)
    loss = -log_p[np.arange(n), y].sum()
    dx = np.exp(log_p)
    dx[np.arange(n), y] -= 1
    return loss, dx / n
''', r"summed over the N=\d+ samples"),
    Mutant("softmax_loss_dx_not_divided", "softmax_loss", '''
def softmax_loss(x, y):
    n = x.shape[0]
    log_p = log_softmax(x)
    loss = -log_p[np.arange(n), y].mean()
    dx = np.exp(log_p)
    dx[np.arange(n), y] -= 1
    return loss, dx
''', r"N=\d+ times too large"),
    Mutant("softmax_loss_dx_sign", "softmax_loss", '''
def softmax_loss(x, y):
    n = x.shape[0]
    log_p = log_softmax(x)
    loss = -log_p[np.arange(n), y].mean()
    dx = np.exp(log_p)
    dx[np.arange(n), y] -= 1
    return loss, -dx / n
''', r"wrong sign"),
    Mutant("softmax_loss_log_of_softmax", "softmax_loss", '''
def softmax_loss(x, y):
    n = x.shape[0]
    p = softmax(x)
    loss = -np.log(p[np.arange(n), y]).mean()
    dx = p.copy()
    dx[np.arange(n), y] -= 1
    return loss, dx / n
''', r"divide by zero|NaN|inf|log"),
    Mutant("softmax_loss_wrong_onehot", "softmax_loss", '''
def softmax_loss(x, y):
    n = x.shape[0]
    log_p = log_softmax(x)
    loss = -log_p[np.arange(n), y].mean()
    dx = np.exp(log_p)
    dx[:, y] -= 1
    return loss, dx / n
''', r"wrong at"),
    Mutant("naive_reg_missing_from_grad", "softmax_loss_naive", '''
def softmax_loss_naive(W, X, y, reg):
    n = X.shape[0]
    loss, dW = 0.0, np.zeros_like(W)
    for i in range(n):
        s = X[i] @ W
        s = s - s.max()
        p = np.exp(s) / np.exp(s).sum()
        loss -= np.log(p[y[i]])
        for j in range(W.shape[1]):
            dW[:, j] += (p[j] - (j == y[i])) * X[i]
    return loss / n + 0.5 * reg * np.sum(W * W), dW / n
''', r"misses the regularization term reg \* W"),
    Mutant("naive_reg_without_half", "softmax_loss_naive", '''
def softmax_loss_naive(W, X, y, reg):
    n = X.shape[0]
    loss, dW = 0.0, np.zeros_like(W)
    for i in range(n):
        s = X[i] @ W
        s = s - s.max()
        p = np.exp(s) / np.exp(s).sum()
        loss -= np.log(p[y[i]])
        for j in range(W.shape[1]):
            dW[:, j] += (p[j] - (j == y[i])) * X[i]
    return loss / n + reg * np.sum(W * W), dW / n + reg * W
''', r"forgot the 0\.5"),
    Mutant("vectorized_reg_missing_from_grad", "softmax_loss_vectorized", '''
def softmax_loss_vectorized(W, X, y, reg):
    loss, dscores = softmax_loss(X @ W, y)
    return loss + 0.5 * reg * np.sum(W * W), X.T @ dscores
''', r"misses the regularization term reg \* W"),
    Mutant("vectorized_dW_transposed", "softmax_loss_vectorized", '''
def softmax_loss_vectorized(W, X, y, reg):
    loss, dscores = softmax_loss(X @ W, y)
    return loss + 0.5 * reg * np.sum(W * W), dscores.T @ X + reg * W.T
''', r"transposed"),
    Mutant("vectorized_with_loop", "softmax_loss_vectorized", '''
def softmax_loss_vectorized(W, X, y, reg):
    total, dW = 0.0, np.zeros_like(W)
    for i in range(X.shape[0]):
        loss_i, ds = softmax_loss((X[i] @ W)[None, :], y[i:i + 1])
        total += loss_i
        dW += np.outer(X[i], ds[0])
    n = X.shape[0]
    return total / n + 0.5 * reg * np.sum(W * W), dW / n + reg * W
''', r"Python loop runs once per sample"),
    Mutant("predict_wrong_axis", "predict", '''
def predict(W, X):
    return np.argmax(X @ W, axis=0)
''', r"shape|one label per sample"),
    Mutant("predict_returns_scores", "predict", '''
def predict(W, X):
    return X @ W
''', r"shape"),
    # conventions: dtype, inputs untouched, every documented shape, hyper-parameters equal to 0
    Mutant("softmax_float64_out", "softmax", """
def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
""", r"returns float64 for float32 logits: keep the input's dtype"),
    Mutant("log_softmax_float64_out", "log_softmax", """
def log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))
""", r"returns float64 for float32 logits"),
    Mutant("softmax_in_place", "softmax", """
def softmax(z):
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z
""", r"changed its argument `z` in place"),
    Mutant("softmax_2d_only", "softmax", """
def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
""", r"AxisError|axis 1 is out of bounds|wrong at"),
    Mutant("vectorized_delegates_to_naive", "softmax_loss_vectorized", """
def softmax_loss_vectorized(W, X, y, reg):
    return softmax_loss_naive(W, X, y, reg)
""", r"Python loop runs once per sample or per class.*softmax_loss_naive"),
    Mutant("naive_reg_zero_ignored", "softmax_loss_naive", """
def softmax_loss_naive(W, X, y, reg):
    reg = reg or 1e-3            # a "default" for reg=0: but a hyper-parameter equal to 0 means 0
    n = X.shape[0]
    loss, dW = 0.0, np.zeros_like(W)
    for i in range(n):
        s = X[i] @ W
        s = s - s.max()
        p = np.exp(s) / np.exp(s).sum()
        loss -= np.log(p[y[i]])
        for j in range(W.shape[1]):
            dW[:, j] += (p[j] - (j == y[i])) * X[i]
    return loss / n + 0.5 * reg * np.sum(W * W), dW / n + reg * W
""", r"reg=0"),
    Mutant("initial_loss_is_probability", "expected_initial_loss", """
def expected_initial_loss(num_classes):
    return 1.0 / num_classes
""", r"probability 1/C"),
    Mutant("initial_loss_log10", "expected_initial_loss", """
def expected_initial_loss(num_classes):
    return float(np.log10(num_classes))
""", r"natural logarithm"),
]
