"""coursekit.augment: shifts and rotations of the 8x8 digits."""
import numpy as np
import pytest

from coursekit.augment import augment, random_warp, warp
from coursekit.data import load_digits


def dot(r, c, size=8):
    img = np.zeros((1, size, size))
    img[0, r, c] = 1.0
    return img


def test_integer_shifts_move_pixels_exactly():
    moved = warp(dot(3, 3), shifts=[(1, 2)])
    assert np.array_equal(np.argwhere(moved[0] > 0), [[4, 5]])
    assert moved.sum() == 1.0
    moved = warp(dot(3, 3), shifts=[(-2, -3)])
    assert np.array_equal(np.argwhere(moved[0] > 0), [[1, 0]])


def test_ink_shifted_out_of_the_frame_is_lost_and_nothing_comes_in():
    moved = warp(dot(0, 7), shifts=[(0, 1)])
    assert moved.sum() == 0.0
    X, _ = load_digits("train", flatten=False)
    moved = warp(X[:20], shifts=np.tile([[0, 3]], (20, 1)))
    assert np.all(moved[:, :, :3] == 0)  # three blank columns come in from the left
    np.testing.assert_allclose(moved[:, :, 3:], X[:20, :, :5])


def test_rotation_turns_counter_clockwise_about_the_centre():
    img = dot(3, 7)  # right of the centre (3.5, 3.5), half a pixel above it
    turned = warp(img, degrees=90)
    assert np.array_equal(np.argwhere(turned[0] > 0.99), [[0, 3]])  # now above the centre
    back = warp(turned, degrees=-90)
    np.testing.assert_allclose(back, img, atol=1e-12)
    np.testing.assert_allclose(warp(img, degrees=360), img, atol=1e-12)


def test_small_rotation_keeps_the_ink_roughly():
    X, _ = load_digits("train", flatten=False)
    turned = warp(X[:50], degrees=np.full(50, 8.0))
    assert turned.shape == X[:50].shape
    assert np.all(turned >= 0) and np.all(turned <= 1 + 1e-12)
    ratio = turned.sum(axis=(1, 2)) / X[:50].sum(axis=(1, 2))
    assert np.all((ratio > 0.85) & (ratio < 1.1))
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(X[:50], turned)]
    assert np.mean(corr) > 0.8


def test_flat_rows_come_back_flat_and_input_is_untouched():
    X, _ = load_digits("val")
    before = X.copy()
    out = warp(X[:5], shifts=[1, 0], degrees=5)
    assert out.shape == (5, 64) and out.dtype == np.float64
    assert np.array_equal(X, before)
    assert warp(X[:3].astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(warp(X[:3]), X[:3])  # no shift, no rotation: identity
    with pytest.raises(ValueError, match="shape"):
        warp(np.zeros((2, 7, 7)))


def test_random_warp_is_reproducible_and_uses_its_own_generator():
    X, _ = load_digits("train")
    state = np.random.get_state()
    a = random_warp(X[:30], rng=7)
    b = random_warp(X[:30], rng=np.random.default_rng(7))
    c = random_warp(X[:30], rng=8)
    after = np.random.get_state()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(state[1], after[1])
    assert not np.allclose(a, X[:30])
    only_shift = random_warp(X[:30], rng=1, max_degrees=0.0)
    assert np.all(np.isin(np.round(only_shift * 16), np.arange(17)))  # whole-pixel moves keep grey levels


def test_augment_appends_warped_copies():
    X, y = load_digits("train")
    X_aug, y_aug = augment(X[:100], y[:100], copies=3, rng=0)
    assert X_aug.shape == (400, 64) and y_aug.shape == (400,)
    np.testing.assert_array_equal(X_aug[:100], X[:100])
    np.testing.assert_array_equal(y_aug, np.tile(y[:100], 4))
    assert not np.allclose(X_aug[100:200], X[:100])
    X0, y0 = augment(X[:10], y[:10], copies=0)
    np.testing.assert_array_equal(X0, X[:10])
    images, labels = load_digits("train", flatten=False)
    assert augment(images[:5], labels[:5], copies=1, rng=0)[0].shape == (10, 8, 8)
    with pytest.raises(ValueError, match="copies"):
        augment(X[:5], y[:5], copies=-1)
    with pytest.raises(ValueError, match="labels"):
        augment(X[:5], y[:4])


def test_jitter_is_fresh_small_and_keeps_blank_pixels_blank():
    from coursekit.augment import jitter

    X, _ = load_digits("test")
    before = X.copy()
    a = jitter(X, np.random.default_rng(0))
    b = jitter(X, np.random.default_rng(1))
    np.testing.assert_array_equal(X, before)  # input untouched
    assert a.shape == X.shape and a.dtype == np.float64
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.all(a[X == 0] == 0)  # no ink appears where there was none
    assert not np.array_equal(a, b) and not np.array_equal(a, X)  # fresh per generator
    ink = X > 0
    assert np.abs(a - X)[ink].mean() < 0.1  # small: ~3% noise and +-10% intensity
    images, _ = load_digits("test", flatten=False)
    assert jitter(images, np.random.default_rng(0)).shape == images.shape  # (N, 8, 8) works too
