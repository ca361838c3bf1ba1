"""One training epoch of the reference FullyConnectedNet against the same network in PyTorch.

    python bench/bench_training.py [--threads N] [--repeats 3] [--quick]

Run from the repository root (the reference network is read from
``solutions/04_training``). Prints, for each case, the time of one epoch
(forward, backward and a plain SGD step per minibatch, the same shuffled batches
for both) in NumPy and in PyTorch on the CPU, their ratio, and the share of each
epoch spent in matrix products (measured by replaying the epoch's matrix products
alone). Target: NumPy within 1.3x of PyTorch. Asserts nothing.

PyTorch is not a dependency of coursekit; without it only the NumPy side runs.
``--threads N`` sets both libraries' thread counts (default 1, as the notebook
runs NumPy: its matrices are small, and on a shared 2-core machine a second BLAS
thread mostly waits for the other core); ``--threads 0`` keeps each library's
default. OpenBLAS reads its setting before NumPy is imported, so it is set here.
"""

import argparse
import os
import sys


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for OpenBLAS and PyTorch (default 1; 0: each library's own default)")
    parser.add_argument("--repeats", type=int, default=5, help="epochs timed per case (the best counts)")
    parser.add_argument("--quick", action="store_true", help="smaller synthetic set")
    return parser.parse_args()


ARGS = _parse()
if ARGS.threads:
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)

import numpy as np  # noqa: E402

from coursekit.data import load_digits_splits  # noqa: E402
from coursekit.solver import sgd  # noqa: E402

from common import reference, time_once  # noqa: E402

try:
    import torch
except ImportError:  # benchmark-only dependency
    torch = None

LR = 0.05


def cases():
    """(name, X float32 (N, D), y (N,), hidden dims, normalization, batch size)."""
    digits = load_digits_splits()
    X = digits["X_train"]
    X = ((X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1)).astype(np.float32)
    y = digits["y_train"]
    rng = np.random.default_rng(0)
    n = 8_000 if ARGS.quick else 32_000
    Xs = rng.standard_normal((n, 256), dtype=np.float32)
    ys = (Xs[:, :10] + 0.5 * rng.standard_normal((n, 10), dtype=np.float32)).argmax(axis=1)
    return [
        ("digits 1197x64, [128, 128], batch 50", X, y, [128, 128], None, 50),
        ("digits 1197x64, [128, 128] + batchnorm, batch 50", X, y, [128, 128], "batchnorm", 50),
        (f"synthetic {n}x256, [512, 512], batch 256", Xs, ys, [512, 512], None, 256),
        (f"synthetic {n}x256, [512, 512] + batchnorm, batch 256", Xs, ys, [512, 512], "batchnorm", 256),
    ]


def batches(n, batch_size, seed):
    order = np.random.default_rng(seed).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


# ------------------------------------------------------------------------------ NumPy


def numpy_epoch(model, X, y, order):
    """What Solver does per step: loss and gradients, then the sgd rule on every parameter."""
    config = {"learning_rate": LR}
    for idx in order:
        _, grads = model.loss(X[idx], y[idx])
        for name, dw in grads.items():
            model.params[name], _ = sgd(model.params[name], dw, config)


def matmul_epoch(Ws, X, order, rows=lambda idx: idx):
    """An epoch's matrix products alone: x @ W forward, dout @ W.T and x.T @ dout backward.

    ``Ws`` and ``X`` are NumPy arrays or torch tensors; ``rows(idx)`` turns a batch's
    indices into what ``X`` is indexed with.
    """
    for idx in order:
        xs = [X[rows(idx)]]
        for W in Ws:
            xs.append(xs[-1] @ W)
        dout = xs[-1]
        for i in range(len(Ws) - 1, -1, -1):
            xs[i].T @ dout
            dout = dout @ Ws[i].T


def numpy_matmul_epoch(dims, X, order):
    """The NumPy epoch's matrix products alone (:func:`matmul_epoch`)."""
    matmul_epoch([np.full((a, b), 0.01, np.float32) for a, b in zip(dims[:-1], dims[1:])], X, order)


# ------------------------------------------------------------------------------ PyTorch


def torch_model(dims, normalization):
    layers = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(dims) - 2:
            if normalization == "batchnorm":
                layers.append(torch.nn.BatchNorm1d(b, momentum=0.1, eps=1e-5))  # torch's 0.1 = our 0.9
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_epoch(model, optimizer, X, y, order):
    loss_fn = torch.nn.CrossEntropyLoss()
    for idx in order:
        idx = torch.from_numpy(idx)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        optimizer.step()


def torch_matmul_epoch(dims, X, order):
    """The PyTorch epoch's matrix products alone (:func:`matmul_epoch`)."""
    with torch.no_grad():
        matmul_epoch([torch.full((a, b), 0.01) for a, b in zip(dims[:-1], dims[1:])], X, order,
                     torch.from_numpy)


# ------------------------------------------------------------------------------ timing


def best_times(fns, repeats):
    """Best time of each function over ``repeats`` rounds, the functions taking turns.

    Taking turns exposes both libraries to the same background load; the best round
    is the one least disturbed by it. One warm-up call each first.
    """
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            best[k] = min(best[k], time_once(fn)[0])
    return best


def main():
    ns = reference("04_training")
    if torch is not None and ARGS.threads:
        torch.set_num_threads(ARGS.threads)
    print(f"numpy {np.__version__}" + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
                                       if torch is not None else ", torch not installed: NumPy only"))
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(default)')}, float32, plain SGD "
          f"lr {LR}, best of {ARGS.repeats} epochs after a warm-up epoch, NumPy and PyTorch taking turns\n")
    header = f"{'case':52s} {'numpy':>9s} {'torch':>9s} {'ratio':>6s}  {'matmul share np / torch':>24s}"
    print(header)
    print("-" * len(header))
    ratios = []
    for name, X, y, hidden, normalization, batch_size in cases():
        dims = [X.shape[1], *hidden, 10]
        order = batches(len(X), batch_size, seed=0)
        np.random.seed(0)
        model = ns.FullyConnectedNet(hidden, X.shape[1], 10, normalization=normalization,
                                     weight_scale=float(np.sqrt(2 / X.shape[1])), dtype=np.float32)
        fns = [lambda: numpy_epoch(model, X, y, order), lambda: numpy_matmul_epoch(dims, X, order)]
        if torch is not None:
            torch.manual_seed(0)
            tmodel = torch_model(dims, normalization)
            optimizer = torch.optim.SGD(tmodel.parameters(), lr=LR)
            Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
            fns += [lambda: torch_epoch(tmodel, optimizer, Xt, yt, order), lambda: torch_matmul_epoch(dims, Xt, order)]
        times = best_times(fns, ARGS.repeats)
        t_np, mm_np = times[:2]
        row = f"{name:52s} {1e3 * t_np:7.1f}ms"
        if torch is None:
            print(row + f" {'-':>9s} {'-':>6s}  {mm_np / t_np:11.0%} / -")
            continue
        t_torch, mm_torch = times[2:]
        ratios.append(t_np / t_torch)
        print(row + f" {1e3 * t_torch:7.1f}ms {t_np / t_torch:5.2f}x  "
                    f"{mm_np / t_np:11.0%} / {mm_torch / t_torch:.0%}")
    if ratios:
        worst = max(ratios)
        print(f"\nnumpy / torch: worst {worst:.2f}x, best {min(ratios):.2f}x "
              f"({'within' if worst <= 1.3 else 'NOT within'} the 1.3x target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
