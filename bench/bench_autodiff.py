"""One training epoch of the 05 engine's MLP against the same net with 02-style layers (prints; asserts nothing).

    python bench/bench_autodiff.py [--runs 5] [--hidden 64] [--batch 32]

Both train MLP([2, H, 3]) on the spirals (300 points) for one epoch of minibatch SGD with
the same weights, batches and learning rate: once through the reference engine
(graph recorded per batch, ``loss.backward()``), once through the hand-written affine /
ReLU / softmax-loss backward passes. The ratio is the price of recording the graph and
sweeping it in Python. Also printed: one forward+backward of a single batch each way.
"""
import argparse

import numpy as np

from coursekit.data import make_spirals

from common import median_ms, print_rows, reference

REF = reference("05_autodiff")   # the solved reference stands in for a correct student


def batches(n, batch, seed):
    order = np.random.default_rng(seed).permutation(n)
    return [order[i:i + batch] for i in range(0, n, batch)]


def epoch_engine(model, X, y, idx_list, lr):
    params = model.parameters()
    for idx in idx_list:
        loss = REF.cross_entropy(model(X[idx]), y[idx])
        loss.zero_grad()
        loss.backward()
        for p in params:
            p.data -= lr * p.grad


def epoch_layers(arrays, X, y, idx_list, lr):
    for idx in idx_list:
        _, grads = REF.mlp_by_layers(arrays, X[idx], y[idx])
        for a, g in zip(arrays, grads):
            a -= lr * g


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    X, y = make_spirals(n_per_class=100, n_classes=3, seed=0)
    idx_list = batches(len(X), args.batch, seed=0)
    dims = [2, args.hidden, 3]

    def fresh():
        model = REF.MLP(dims, np.random.default_rng(0))
        return model, [p.data.copy() for p in model.parameters()]

    engine_ms = median_ms(lambda i: epoch_engine(fresh()[0], X, y, idx_list, 0.5), args.runs)
    layers_ms = median_ms(lambda i: epoch_layers(fresh()[1], X, y, idx_list, 0.5), args.runs)
    model, arrays = fresh()
    one = idx_list[0]

    def step_engine(i):
        loss = REF.cross_entropy(model(X[one]), y[one])
        loss.zero_grad()
        loss.backward()

    step_e = median_ms(step_engine, 20 * args.runs)
    step_l = median_ms(lambda i: REF.mlp_by_layers(arrays, X[one], y[one]), 20 * args.runs)

    # the two epochs give the same weights (same arithmetic, different bookkeeping)
    m, a = fresh()
    epoch_engine(m, X, y, idx_list, 0.5)
    epoch_layers(a, X, y, idx_list, 0.5)
    worst = max(float(np.max(np.abs(p.data - q))) for p, q in zip(m.parameters(), a))

    print_rows([(f"one epoch, engine (MLP{dims}, {len(idx_list)} batches of {args.batch})", engine_ms),
                ("one epoch, 02-style layers", layers_ms),
                ("one batch forward+backward, engine", step_e),
                ("one batch forward+backward, 02-style layers", step_l)],
               header=f"05_autodiff: engine vs hand-written backward passes (median of {args.runs} runs)")
    print(f"  ratio engine / layers: epoch {engine_ms / layers_ms:.2f}x, one batch {step_e / step_l:.2f}x")
    print(f"  largest weight difference after the epoch: {worst:.1e}")


if __name__ == "__main__":
    main()
