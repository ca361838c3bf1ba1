"""Tests for coursekit.data: the shipped digits set and the 2-D toy sets."""

import subprocess
import sys
from pathlib import Path
from importlib import resources

import numpy as np
import pytest

from coursekit import data
from coursekit.data import (
    DIGITS_CLASSES,
    load_digits,
    load_digits_splits,
    make_blobs,
    make_spirals,
)

SIZES = {"train": 1197, "val": 300, "test": 150, "all": 1647}
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------- digits


def test_digits_file_is_shipped_and_small():
    path = resources.files("coursekit").joinpath("data", "digits.npz")
    assert path.is_file()
    assert len(path.read_bytes()) < 100_000


@pytest.mark.parametrize("split", list(SIZES))
def test_load_digits_shapes_dtypes_ranges(split):
    X, y = load_digits(split)
    n = SIZES[split]
    assert X.shape == (n, 64) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))

    images, y2 = load_digits(split, flatten=False, scale=False)
    assert images.shape == (n, 8, 8) and images.dtype == np.float64
    assert images.max() == 16.0 and np.all(images == np.round(images))
    np.testing.assert_array_equal(images.reshape(n, 64) / 16.0, X)
    np.testing.assert_array_equal(y, y2)


def test_load_digits_rejects_unknown_split():
    with pytest.raises(ValueError, match="split"):
        load_digits("validation")


def test_classes():
    assert DIGITS_CLASSES == tuple("0123456789")


def _split_indices():
    arrays = data._digits_arrays()
    return {s: arrays[f"{s}_idx"].astype(np.int64) for s in ("train", "val", "test")}


def test_splits_are_disjoint_and_cover_everything():
    idx = _split_indices()
    assert {s: len(i) for s, i in idx.items()} == {"train": 1197, "val": 300, "test": 150}
    everything = np.concatenate(list(idx.values()))
    assert len(np.unique(everything)) == 1647
    np.testing.assert_array_equal(np.sort(everything), np.arange(1647))
    X_all, y_all = load_digits("all")
    for split, i in idx.items():
        X, y = load_digits(split)
        np.testing.assert_array_equal(X, X_all[i])
        np.testing.assert_array_equal(y, y_all[i])


def test_splits_are_stratified():
    _, y_all = load_digits("all")
    overall = np.bincount(y_all, minlength=10) / len(y_all)
    for split, n in SIZES.items():
        _, y = load_digits(split)
        counts = np.bincount(y, minlength=10)
        assert np.all(np.abs(counts - overall * n) <= 1), (split, counts, overall * n)


def _heldout():
    with np.load(ROOT / data.HELDOUT_PATH) as npz:
        return npz["images"], npz["labels"]


def test_stratified_split_is_disjoint_covering_and_reproducible():
    labels = np.repeat(np.arange(10), [30, 31, 29, 30, 30, 30, 30, 30, 30, 30])
    a = data._stratified_split(labels, {"val": 60, "test": 30}, seed=1)
    b = data._stratified_split(labels, {"val": 60, "test": 30}, seed=1)
    assert {k: len(v) for k, v in a.items()} == {"val_idx": 60, "test_idx": 30, "train_idx": 210}
    np.testing.assert_array_equal(np.sort(np.concatenate(list(a.values()))), np.arange(300))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        assert np.all(np.abs(np.bincount(labels[a[key]], minlength=10) - len(a[key]) / 10) <= 1)
    assert not np.array_equal(a["val_idx"], data._stratified_split(labels, {"val": 60, "test": 30}, 2)["val_idx"])


def test_heldout_images_are_grader_only_stratified_and_not_shipped():
    """The 150 held-out images exist beside the solutions, are not in the package, and the four
    parts together are the 1797 digits (no image dropped twice or duplicated by the split)."""
    images, labels = _heldout()
    assert images.shape == (150, 8, 8) and images.dtype == np.uint8 and labels.shape == (150,)
    assert np.all(np.abs(np.bincount(labels, minlength=10) - 15) <= 1)
    shipped = data._digits_arrays()
    assert shipped["images"].shape == (1647, 8, 8)
    assert not (ROOT / "coursekit" / "data" / Path(data.HELDOUT_PATH).name).exists()
    # each held-out image (as raw pixels) is absent from the shipped images, unless the digits
    # set itself holds the same picture twice
    flat = {img.tobytes() for img in shipped["images"]}
    assert sum(img.tobytes() in flat for img in images) <= 2
    # split over all 1797 labels: train and val are the published 1197 / 300; test + heldout = 300
    all_labels = np.concatenate([shipped["labels"], labels])
    assert len(all_labels) == 1797
    assert np.all(np.abs(np.bincount(all_labels, minlength=10) - np.bincount(all_labels, minlength=10).mean()) < 10)


def test_public_test_split_is_stratified_at_150():
    _, y = load_digits("test")
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [15] * 10)


def test_load_digits_returns_fresh_copies():
    X, y = load_digits("train")
    X[:] = -1.0
    y[:] = -1
    X2, y2 = load_digits("train")
    assert X2.min() == 0.0 and y2.min() == 0
    X_all, _ = load_digits("all", scale=False)
    X_all[:] = 99
    assert load_digits("all", scale=False)[0].max() == 16.0
    assert data._digits_arrays() is data._digits_arrays()  # read once, cached


def test_load_digits_splits():
    splits = load_digits_splits()
    assert set(splits) == {"X_train", "y_train", "X_val", "y_val", "X_test", "y_test"}
    for split in ("train", "val", "test"):
        X, y = load_digits(split)
        np.testing.assert_array_equal(splits[f"X_{split}"], X)
        np.testing.assert_array_equal(splits[f"y_{split}"], y)
    assert load_digits_splits(flatten=False)["X_val"].shape == (300, 8, 8)


def test_digits_are_learnable_by_nearest_centroid():
    d = load_digits_splits()
    centroids = np.stack([d["X_train"][d["y_train"] == c].mean(axis=0) for c in range(10)])
    distances = ((d["X_val"][:, None, :] - centroids[None]) ** 2).sum(axis=2)
    accuracy = np.mean(distances.argmin(axis=1) == d["y_val"])
    assert accuracy > 0.85


def test_import_loads_nothing_and_not_sklearn():
    code = (
        "import sys, coursekit.data as d; "
        "assert 'sklearn' not in sys.modules, 'sklearn imported'; "
        "assert d._digits_arrays.cache_info().currsize == 0, 'digits loaded at import'; "
        "d.load_digits(); "
        "assert 'sklearn' not in sys.modules, 'sklearn imported by load_digits'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_diagnosis_curves_are_shipped_as_five_panels():
    from coursekit.data import load_diagnosis_curves

    panels = load_diagnosis_curves()
    assert sorted(panels) == list("ABCDE")
    for letter, curves in panels.items():
        assert sorted(curves) == ["train_acc", "train_loss", "val_acc", "val_loss"], letter
        lengths = {len(v) for v in curves.values()}
        assert lengths == {30} and all(np.all(np.isfinite(v)) for v in curves.values()), letter
        assert np.all((curves["train_acc"] >= 0) & (curves["train_acc"] <= 1)), letter
    # the key is not shipped: no cause is named anywhere in the package's data
    raw = resources.files("coursekit").joinpath("data", "diagnosis_curves.npz").read_bytes()
    for word in (b"overfit", b"learning", b"init", b"mismatch"):
        assert word not in raw


# ------------------------------------------------------------------ toy sets


@pytest.mark.parametrize("make", [make_spirals, make_blobs])
def test_toy_shapes_labels_and_balance(make):
    X, y = make(n_per_class=40, n_classes=4)
    assert X.shape == (160, 2) and X.dtype == np.float64
    assert y.shape == (160,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [40, 40, 40, 40])
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("make", [make_spirals, make_blobs])
def test_toy_determinism_per_seed(make):
    X1, y1 = make(seed=3)
    X2, y2 = make(seed=3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, make(seed=4)[0])


@pytest.mark.parametrize("make", [make_spirals, make_blobs])
def test_toy_sets_leave_global_rng_alone(make):
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    make()
    assert np.random.rand() == expected


@pytest.mark.parametrize("make", [make_spirals, make_blobs])
def test_toy_sets_reject_empty(make):
    with pytest.raises(ValueError):
        make(n_per_class=0)


def test_spirals_lie_in_unit_disc_on_cs231n_arms():
    X, y = make_spirals(n_per_class=100, n_classes=3, noise=0.0)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.max() <= 1.0 + 1e-12
    np.testing.assert_allclose(radius[:100], np.linspace(0, 1, 100))
    angle = np.arctan2(X[:, 0], X[:, 1])  # CS231n: x = r sin t, y = r cos t
    t = np.linspace(4.0, 8.0, 100)
    np.testing.assert_allclose(np.cos(angle[101:200]), np.cos(t[1:]), atol=1e-12)


def test_blobs_are_well_separated():
    X, y = make_blobs(n_per_class=200, n_classes=5, spread=1.0)
    centres = np.stack([X[y == c].mean(axis=0) for c in range(5)])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    assert gaps[~np.eye(5, dtype=bool)].min() > 5.0
    nearest = np.linalg.norm(X[:, None] - centres[None], axis=2).argmin(axis=1)
    assert np.mean(nearest == y) > 0.99
    X1, _ = make_blobs(n_per_class=50, n_classes=1)
    assert np.linalg.norm(X1.mean(axis=0)) < 0.5
