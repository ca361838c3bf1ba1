"""Data sets for the course, all shipped with the package (no download).

- The 8x8 handwritten digits (the UCI "optdigits" test set as packaged by
  scikit-learn, 1,797 images, 10 classes), split once, stratified, into train /
  val / test / held-out parts of 1197 / 300 / 150 / 150 images. The package ships
  the first three (``coursekit/data/digits.npz``, 1,647 images); the 150 held-out
  images live only on the grader's side (``solutions/04_training/heldout/``),
  so a model graded on them cannot have seen their labels.
- Two small 2-D toy sets drawn on demand: the CS231n spirals and Gaussian blobs.
- The training curves of 04's diagnosis exercise (``diagnosis_curves.npz``): five
  panels A-E, each a run with one thing wrong; which is which is for the student
  to find (the key is the grader's).

Nothing is loaded at import time; the digits file is read once, on first use.

>>> X, y = load_digits("train")
>>> X.shape, X.dtype, y.shape, y.dtype
((1197, 64), dtype('float64'), (1197,), dtype('int64'))
>>> X, y = make_spirals(n_per_class=100, n_classes=3)
>>> X.shape, sorted(set(y.tolist()))
((300, 2), [0, 1, 2])
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

__all__ = [
    "DIGITS_CLASSES",
    "SPLITS",
    "load_digits",
    "load_digits_splits",
    "load_diagnosis_curves",
    "make_blobs",
    "make_spirals",
]

#: Class names of the digits set; ``DIGITS_CLASSES[y]`` is the name of label ``y``.
DIGITS_CLASSES: tuple[str, ...] = tuple("0123456789")

#: Split names accepted by :func:`load_digits`.
SPLITS: tuple[str, ...] = ("train", "val", "test", "all")

_DIGITS_FILE = "digits.npz"
_SPLIT_SIZES = {"val": 300, "test": 300}  # of all 1797 images; train gets the rest (1197)
_SPLIT_SEED = 231
# The 300 "test" images of that split are split again, stratified: 150 stay public (the test
# split), 150 go to the grader only (never shipped).
_HELDOUT_SIZES = {"heldout": 150}
_HELDOUT_SEED = 232
#: Where the grader-only images live, relative to the course root.
HELDOUT_PATH = "solutions/04_training/heldout/digits_heldout.npz"


# --------------------------------------------------------------------- digits


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> dict[str, np.ndarray]:
    """Read ``digits.npz`` once; the cached arrays are read-only (callers get copies)."""
    path = resources.files("coursekit").joinpath("data", _DIGITS_FILE)
    with path.open("rb") as fh, np.load(fh) as npz:
        arrays = {key: npz[key] for key in npz.files}
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


def load_digits(
    split: str = "train", flatten: bool = True, scale: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of the 8x8 digits set.

    Parameters
    ----------
    split : {"train", "val", "test", "all"}
        Which fixed split to return: 1197, 300, 150 or all 1647 shipped images. The split is
        stratified: each class has (within one image) the same share in every split.
    flatten : bool
        If True, each image is a row of 64 pixels; otherwise an 8x8 array.
    scale : bool
        If True, pixel values are divided by 16 to lie in [0, 1]; otherwise they are
        the raw ink counts 0..16 (still float64).

    Returns
    -------
    X : ndarray of float64, shape (N, 64) if ``flatten`` else (N, 8, 8)
    y : ndarray of int64, shape (N,)
        Labels 0..9; ``DIGITS_CLASSES[y[i]]`` names the class of ``X[i]``.

    Both arrays are fresh copies, so callers may modify them freely.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    arrays = _digits_arrays()
    images, labels = arrays["images"], arrays["labels"]
    if split != "all":
        index = arrays[f"{split}_idx"]
        images, labels = images[index], labels[index]
    X = images.astype(np.float64)  # always a copy
    if scale:
        X /= 16.0
    if flatten:
        X = X.reshape(len(X), -1)
    return X, labels.astype(np.int64)


def load_digits_splits(flatten: bool = True, scale: bool = True) -> dict[str, np.ndarray]:
    """All three digits splits at once, in CS231n's ``get_CIFAR10_data`` style.

    Parameters
    ----------
    flatten, scale : bool
        As in :func:`load_digits`.

    Returns
    -------
    dict
        ``X_train (1197, 64)``, ``y_train (1197,)``, ``X_val (300, 64)``,
        ``y_val (300,)``, ``X_test (150, 64)``, ``y_test (150,)``; X float64, y int64.
    """
    data = {}
    for split in ("train", "val", "test"):
        data[f"X_{split}"], data[f"y_{split}"] = load_digits(split, flatten, scale)
    return data


def load_diagnosis_curves() -> dict[str, dict[str, np.ndarray]]:
    """The five panels of training curves of the diagnosis exercise (04_training).

    Returns
    -------
    dict
        ``{"A": {"train_loss", "val_loss", "train_acc", "val_acc"}, ..., "E": {...}}``,
        each an array of float64 of shape (epochs,), one value per epoch.
    """
    path = resources.files("coursekit").joinpath("data", "diagnosis_curves.npz")
    with path.open("rb") as fh, np.load(fh) as npz:
        arrays = {key: npz[key].astype(np.float64) for key in npz.files}
    panels: dict[str, dict[str, np.ndarray]] = {}
    for key, values in sorted(arrays.items()):
        letter, curve = key.split("_", 1)
        panels.setdefault(letter, {})[curve] = values
    return panels


def _apportion(counts: np.ndarray, size: int) -> np.ndarray:
    """Split ``size`` over classes in proportion to ``counts`` (largest remainder).

    Each class gets ``floor`` or ``ceil`` of ``counts * size / counts.sum()``, and the
    result sums to ``size`` exactly. Ties go to the lower class label.
    """
    exact = counts * size / counts.sum()
    share = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - share), kind="stable")
    share[order[: size - share.sum()]] += 1
    return share


def _stratified_split(
    labels: np.ndarray, sizes: dict[str, int], seed: int
) -> dict[str, np.ndarray]:
    """Stratified index split: ``sizes`` held-out splits, ``"train"`` the rest.

    Parameters
    ----------
    labels : ndarray of int, shape (N,)
    sizes : dict
        Held-out split name -> number of samples, e.g. ``{"val": 300, "test": 300}``.
    seed : int
        Seed of the ``np.random.default_rng`` that shuffles each class.

    Returns
    -------
    dict
        ``"<name>_idx"`` -> sorted int64 indices into ``labels``, for every held-out
        split and for ``"train"``; disjoint and together covering ``range(N)``.
    """
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    shares = {name: _apportion(counts, size) for name, size in sizes.items()}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in [*sizes, "train"]}
    for c, cls in enumerate(classes):
        members = rng.permutation(np.flatnonzero(labels == cls))
        start = 0
        for name in sizes:
            parts[name].append(members[start : start + shares[name][c]])
            start += shares[name][c]
        parts["train"].append(members[start:])
    return {f"{name}_idx": np.sort(np.concatenate(p)) for name, p in parts.items()}


def _split_all_digits(labels: np.ndarray) -> dict[str, np.ndarray]:
    """The fixed split of all 1797 digits: ``train/val/test/heldout_idx`` into ``labels``.

    Train and validation come from the original 1197 / 300 / 300 split; its 300 test
    images are split again (stratified) into the public test split and the grader's
    held-out images, 150 each.
    """
    split = _stratified_split(labels, _SPLIT_SIZES, _SPLIT_SEED)
    old_test = split.pop("test_idx")
    second = _stratified_split(labels[old_test], _HELDOUT_SIZES, _HELDOUT_SEED)
    split["test_idx"] = old_test[second["train_idx"]]
    split["heldout_idx"] = old_test[second["heldout_idx"]]
    return split


def _build_digits_file(path=None, heldout_path=None) -> None:  # pragma: no cover - maintainer tool
    """Rebuild ``coursekit/data/digits.npz`` and the grader's held-out file (maintainers only).

    scikit-learn is needed only here, never when the package is used. The package
    file holds the train, val and test images only (in their original order, with
    indices into that subset); the held-out images and labels go to
    ``heldout_path`` (default: ``<course root>/`` :data:`HELDOUT_PATH`).
    """
    from pathlib import Path

    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.uint8)
    assert np.array_equal(images, bunch.images) and np.array_equal(labels, bunch.target)
    split = _split_all_digits(labels)
    shipped = np.sort(np.concatenate([split[f"{s}_idx"] for s in ("train", "val", "test")]))
    position = np.full(len(labels), -1)
    position[shipped] = np.arange(len(shipped))
    path = Path(path or Path(__file__).with_name("data") / _DIGITS_FILE)
    np.savez_compressed(
        path,
        images=images[shipped],
        labels=labels[shipped],
        **{f"{s}_idx": position[split[f"{s}_idx"]].astype(np.uint16) for s in ("train", "val", "test")},
    )
    heldout_path = Path(heldout_path or Path(__file__).resolve().parents[1] / HELDOUT_PATH)
    heldout_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(heldout_path, images=images[split["heldout_idx"]], labels=labels[split["heldout_idx"]])


# ------------------------------------------------------------------- toy sets


def _check_counts(n_per_class: int, n_classes: int) -> None:
    if int(n_per_class) < 1 or int(n_classes) < 1:
        raise ValueError(
            f"n_per_class and n_classes must be >= 1, got {n_per_class} and {n_classes}"
        )


def make_spirals(
    n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The CS231n spiral data set: one noisy spiral arm per class.

    Class ``k``'s points have radius ``linspace(0, 1)`` and angle
    ``linspace(4k, 4k + 4) + noise * N(0, 1)``, as in the CS231n notes; a linear
    classifier cannot separate them, a small neural network can.

    Parameters
    ----------
    n_per_class : int
        Points per class.
    n_classes : int
        Number of arms (classes).
    noise : float
        Standard deviation of the angle noise, in radians.
    seed : int
        Seed for ``np.random.default_rng``; the global NumPy generator is untouched.

    Returns
    -------
    X : ndarray of float64, shape (n_per_class * n_classes, 2)
        Points inside the unit disc, grouped by class.
    y : ndarray of int64, shape (n_per_class * n_classes,)
        Labels ``0 .. n_classes - 1``; ``y[k * n_per_class : (k + 1) * n_per_class] == k``.
    """
    _check_counts(n_per_class, n_classes)
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    angle = np.concatenate(
        [np.linspace(4.0 * k, 4.0 * (k + 1), n_per_class) for k in range(n_classes)]
    )
    angle += noise * rng.standard_normal(angle.shape)
    X = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    return X, y


def make_blobs(
    n_per_class: int = 100, n_classes: int = 3, spread: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian blobs, one per class, with centres evenly spaced on a circle.

    The circle's radius puts neighbouring centres 6 units apart, so with the default
    ``spread=1`` the classes are well separated (linearly separable in practice);
    raise ``spread`` to make them overlap.

    Parameters
    ----------
    n_per_class : int
        Points per class.
    n_classes : int
        Number of blobs (classes).
    spread : float
        Standard deviation of each blob along each axis.
    seed : int
        Seed for ``np.random.default_rng``; the global NumPy generator is untouched.

    Returns
    -------
    X : ndarray of float64, shape (n_per_class * n_classes, 2)
        Points grouped by class.
    y : ndarray of int64, shape (n_per_class * n_classes,)
        Labels ``0 .. n_classes - 1``; ``y[k * n_per_class : (k + 1) * n_per_class] == k``.
    """
    _check_counts(n_per_class, n_classes)
    rng = np.random.default_rng(seed)
    gap = 6.0
    radius = 0.0 if n_classes == 1 else gap / (2.0 * np.sin(np.pi / n_classes))
    theta = 2.0 * np.pi * np.arange(n_classes) / n_classes
    centres = radius * np.column_stack([np.cos(theta), np.sin(theta)])
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    X = centres[y] + spread * rng.standard_normal((len(y), 2))
    return X, y
