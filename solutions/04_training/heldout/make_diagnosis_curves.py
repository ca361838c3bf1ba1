"""Build coursekit/data/diagnosis_curves.npz: the curves of 04's diagnosis exercise (grader-side).

Five panels of training curves (per epoch: training and validation loss and accuracy), each with
one thing wrong. They are synthetic, seeded and deterministic: the textbook shape of each failure
(as the runs of the notebook show them), plus a little noise, so every panel has exactly one
reading. Which panel shows which cause is the answer key, so this script lives beside the
grader-only data, never in the package or the release. Run from the course root:

    python solutions/04_training/heldout/make_diagnosis_curves.py
"""
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
EPOCHS = 30
e = np.arange(1, EPOCHS + 1, dtype=float)
rng = np.random.default_rng(404)
LOG10 = np.log(10)


def noisy(x, scale):
    return x + rng.normal(0.0, scale, size=x.shape)


def acc_from_loss(loss, top=1.0):
    """A plausible accuracy for a mean cross-entropy (chance 0.1 at log 10)."""
    return 0.1 + (top - 0.1) * (1 - np.clip(loss / LOG10, 0, 1)) ** 0.6


def high_lr():
    # fast first drop, then a noisy plateau with spikes: the steps overshoot the valley
    base = 0.9 + 1.4 * np.exp(-e / 1.2)
    spikes = np.where(rng.random(EPOCHS) < 0.25, rng.uniform(0.5, 1.5, EPOCHS), 0.0)
    train = np.clip(noisy(base, 0.18) + spikes, 0.4, None)
    val = np.clip(train + noisy(np.full(EPOCHS, 0.05), 0.08), 0.4, None)
    return train, val, acc_from_loss(train, 0.95), acc_from_loss(val, 0.95)


def low_lr():
    # barely moving: almost a straight line down from the initial loss
    train = noisy(LOG10 - 0.022 * e, 0.01)
    val = noisy(LOG10 - 0.021 * e + 0.01, 0.01)
    return train, val, acc_from_loss(train), acc_from_loss(val)


def overfitting():
    # training loss to ~0; validation loss reaches its minimum early, then climbs back up
    train = 0.02 + 2.2 * np.exp(-e / 3.0)
    val = 0.35 + 2.0 * np.exp(-e / 2.5) + 0.025 * np.maximum(e - 7, 0)
    train_acc = np.clip(noisy(1.0 - 0.9 * np.exp(-e / 2.5), 0.004), 0, 1)
    val_acc = noisy(0.93 - 0.83 * np.exp(-e / 2.2) - 0.0025 * np.maximum(e - 7, 0), 0.006)
    return noisy(train, 0.01), noisy(val, 0.015), train_acc, val_acc


def bad_init():
    # stuck at log 10 and chance accuracy: the signal dies in the layers, no gradient arrives
    train = noisy(np.full(EPOCHS, LOG10), 0.0008)
    val = noisy(np.full(EPOCHS, LOG10 + 0.0005), 0.0008)
    return train, val, noisy(np.full(EPOCHS, 0.10), 0.004), noisy(np.full(EPOCHS, 0.10), 0.006)


def mismatch():
    # both curves healthy and parallel, validation far worse from the first epoch on
    train = 0.08 + 1.6 * np.exp(-e / 3.0)
    val = train + 0.9
    return (noisy(train, 0.01), noisy(val, 0.02), np.clip(noisy(acc_from_loss(train, 0.99), 0.004), 0, 1),
            noisy(acc_from_loss(train, 0.99) - 0.32, 0.01))


CAUSE_CURVES = {"learning rate too high": high_lr, "learning rate too low": low_lr, "overfitting": overfitting,
                "bad initialization": bad_init, "train/validation mismatch": mismatch}
PANELS = dict(zip("ABCDE", ["bad initialization", "overfitting", "learning rate too high",
                            "train/validation mismatch", "learning rate too low"]))

if __name__ == "__main__":
    out = {}
    for letter, cause in PANELS.items():
        curves = CAUSE_CURVES[cause]()
        for key, values in zip(("train_loss", "val_loss", "train_acc", "val_acc"), curves):
            out[f"{letter}_{key}"] = np.round(values, 4).astype(np.float32)
    np.savez_compressed(ROOT / "coursekit" / "data" / "diagnosis_curves.npz", **out)
    print("wrote", ROOT / "coursekit" / "data" / "diagnosis_curves.npz")
