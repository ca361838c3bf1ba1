"""Data augmentation for the 8x8 digits: small shifts and rotations.

A shifted or slightly rotated "3" is still a "3". Training on such variants of
the training images tells the network which changes do not matter, the cheapest
regularizer there is: it lowers variance without touching the model.

- :func:`warp` moves and rotates images by given amounts (bilinear sampling,
  zeros -- no ink -- from outside the frame). Integer shifts without rotation
  are exact pixel moves.
- :func:`random_warp` draws one small random shift and rotation per image.
- :func:`augment` returns the training set plus ``copies`` randomly warped
  versions of it, labels repeated, ready for the solver.

Images may be given as ``(N, 8, 8)`` arrays or flattened ``(N, 64)`` rows (as
``coursekit.data.load_digits`` returns them); results come back in the same layout.
Nothing here draws from NumPy's global generator.

>>> import numpy as np
>>> img = np.zeros((1, 8, 8)); img[0, 3, 3] = 1.0
>>> moved = warp(img, shifts=[(1, 2)])        # one row down, two columns right
>>> [tuple(int(v) for v in ix) for ix in np.argwhere(moved[0] > 0)]
[(4, 5)]
"""

from __future__ import annotations

import numpy as np

__all__ = ["warp", "random_warp", "augment", "jitter"]


def _as_images(X, image_shape):
    """``X`` as an (N, H, W) float array, and a function putting results back in X's layout."""
    X = np.asarray(X)
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    H, W = image_shape
    if X.ndim == 3 and X.shape[1:] == (H, W):
        return X, lambda out: out
    if X.ndim == 2 and X.shape[1] == H * W:
        return X.reshape(len(X), H, W), lambda out: out.reshape(len(out), H * W)
    raise ValueError(f"expected images of shape (N, {H}, {W}) or (N, {H * W}), got {X.shape}")


def warp(X, shifts=None, degrees=None, image_shape=(8, 8)):
    """Shift and rotate each image (rotation about the image centre, then the shift).

    Parameters
    ----------
    X : ndarray, shape (N, H, W) or (N, H*W)
        Images, e.g. digits from ``load_digits(split, flatten=False)``.
    shifts : array_like, shape (N, 2) or (2,), optional
        ``(down, right)`` in pixels for each image (fractions allowed; default 0).
    degrees : array_like, shape (N,) or scalar, optional
        Counter-clockwise rotation of each image in degrees (default 0).
    image_shape : (int, int)
        ``(H, W)`` of one image; used to unflatten ``(N, H*W)`` input.

    Returns
    -------
    ndarray, the shape and float dtype of ``X`` (a new array)
        Pixels sampled bilinearly; ink moved outside the frame is lost, and
        pixels with no source inside the frame are 0.
    """
    images, restore = _as_images(X, image_shape)
    N, H, W = images.shape
    shifts = np.broadcast_to(np.zeros(2) if shifts is None else np.asarray(shifts, float), (N, 2))
    theta = np.deg2rad(np.broadcast_to(0.0 if degrees is None else np.asarray(degrees, float), (N,)))
    rows, cols = np.meshgrid(np.arange(H, dtype=float), np.arange(W, dtype=float), indexing="ij")
    cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
    # Output pixel (r, c) takes its value from the source point found by undoing the
    # shift, then turning back by theta about the centre. Rows grow downwards, so
    # turning back a counter-clockwise rotation maps the offset (dy, dx) to
    # (cos*dy + sin*dx, -sin*dy + cos*dx).
    dy = rows[None] - cy - shifts[:, 0, None, None]
    dx = cols[None] - cx - shifts[:, 1, None, None]
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    src_r = cy + cos * dy + sin * dx
    src_c = cx - sin * dy + cos * dx

    # Bilinear sampling from the image padded with one ring of zeros.
    padded = np.zeros((N, H + 2, W + 2), dtype=images.dtype)
    padded[:, 1:-1, 1:-1] = images
    src_r = np.clip(src_r + 1.0, 0.0, H + 1.0)
    src_c = np.clip(src_c + 1.0, 0.0, W + 1.0)
    r0 = np.minimum(np.floor(src_r).astype(np.intp), H)
    c0 = np.minimum(np.floor(src_c).astype(np.intp), W)
    fr, fc = src_r - r0, src_c - c0
    n = np.arange(N)[:, None, None]
    out = ((1 - fr) * (1 - fc) * padded[n, r0, c0] + (1 - fr) * fc * padded[n, r0, c0 + 1]
           + fr * (1 - fc) * padded[n, r0 + 1, c0] + fr * fc * padded[n, r0 + 1, c0 + 1])
    return restore(out.astype(images.dtype, copy=False))


def random_warp(X, rng=None, max_shift=1, max_degrees=10.0, image_shape=(8, 8)):
    """Warp every image by its own random small shift and rotation.

    Parameters
    ----------
    X : ndarray, shape (N, H, W) or (N, H*W)
    rng : np.random.Generator or int, optional
        The generator (or a seed for one); NumPy's global generator is not used.
    max_shift : int
        Shifts are whole pixels drawn uniformly from ``-max_shift .. max_shift``
        along each axis (whole pixels keep strokes sharp).
    max_degrees : float
        Angles are drawn uniformly from ``[-max_degrees, max_degrees]``.
    image_shape : (int, int)

    Returns
    -------
    ndarray, the shape of ``X``
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    N = len(X)
    shifts = rng.integers(-int(max_shift), int(max_shift) + 1, size=(N, 2))
    degrees = rng.uniform(-max_degrees, max_degrees, size=N)
    return warp(X, shifts, degrees, image_shape)


def augment(X, y, copies=3, rng=None, max_shift=1, max_degrees=10.0, image_shape=(8, 8)):
    """The training set followed by ``copies`` randomly warped versions of it.

    Parameters
    ----------
    X : ndarray, shape (N, H, W) or (N, H*W)
        Training images (augment the training split only: validation and test
        images stay as they are).
    y : ndarray, shape (N,)
        Their labels.
    copies : int
        Number of warped copies; the result has ``(copies + 1) * N`` samples.
    rng, max_shift, max_degrees, image_shape
        As in :func:`random_warp`.

    Returns
    -------
    X_aug : ndarray, shape ((copies + 1) * N, ...) like ``X``
        ``X_aug[:N]`` is ``X`` itself; then copy 1, copy 2, ...
    y_aug : ndarray, shape ((copies + 1) * N,)
        ``y`` repeated ``copies + 1`` times.
    """
    if int(copies) < 0:
        raise ValueError(f"copies must be >= 0, got {copies}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} images but y has {len(y)} labels")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    parts = [np.asarray(X, dtype=float)]
    parts += [random_warp(X, rng, max_shift, max_degrees, image_shape) for _ in range(int(copies))]
    return np.concatenate(parts), np.tile(np.asarray(y), int(copies) + 1)


def jitter(X, rng, noise=0.03, intensity=0.1):
    """Small photometric noise on the ink: per-pixel Gaussian noise and a per-image intensity change.

    What a grader uses to make fresh copies of held-out images on every run: no
    two runs see the same pixels, yet an honest model's accuracy barely changes.
    Shapes are not moved, and blank pixels (exactly 0) stay blank: noise on the
    empty border, whose training standard deviation is tiny, would be blown up by
    per-pixel normalization and test that, not the model.

    Parameters
    ----------
    X : ndarray, shape (N, D), values in [0, 1]
    rng : np.random.Generator
    noise : float
        Standard deviation of the Gaussian noise added to every pixel.
    intensity : float
        Each image is multiplied by a factor drawn uniformly from
        ``[1 - intensity, 1 + intensity]``.

    Returns
    -------
    ndarray, shape of X, float64, clipped to [0, 1]; zeros stay 0; ``X`` is not modified.
    """
    X = np.asarray(X, dtype=np.float64)
    factor = rng.uniform(1.0 - intensity, 1.0 + intensity, size=(len(X),) + (1,) * (X.ndim - 1))
    out = np.clip(X * factor + rng.normal(0.0, noise, size=X.shape), 0.0, 1.0)
    return np.where(X > 0, out, 0.0)
