"""Gradient checking: compare an analytic gradient with centred differences.

The numerical gradient of ``f`` at ``x`` is, entry by entry,
``(f(x + h e_i) - f(x - h e_i)) / (2 h)``, with error ``O(h**2)``. The functions
here perturb ``x`` *in place* (CS231n style), so ``f`` must read its input array
each time it is called; ``x`` is always restored, even if ``f`` raises.

Building blocks: :func:`rel_error`, :func:`eval_numerical_gradient`,
:func:`eval_numerical_gradient_array`, :func:`grad_check_sparse`.

One-call checks, each returning a :class:`GradCheckReport` (a table in notebooks):

- :func:`check_layer` -- a ``forward(**inputs) -> (out, cache)`` /
  ``backward(dout, cache) -> grads`` pair, every input checked;
- :func:`check_loss` -- a function ``f(*args) -> (loss, grad, ...)`` such as
  ``softmax_loss(x, y) -> (loss, dx)``;
- :func:`check_model` -- a model with ``params`` and ``loss(X, y) -> (loss, grads)``.

How a report decides pass or fail: for each checked array, the error is the
relative error of the whole gradient,
``||analytic - numeric|| / max(1e-8, ||analytic|| + ||numeric||)`` (Euclidean
norms). Unlike the largest entrywise relative error, it is not fooled by entries
whose true gradient is tiny, where round-off in the numerical gradient dominates.
The report also shows where ``|analytic - numeric|`` is largest, and both values
there. A correct float64 implementation typically scores 1e-12 .. 1e-9; the
default threshold is 1e-7.

>>> import numpy as np
>>> x = np.array([1.0, -2.0, 3.0])
>>> np.round(eval_numerical_gradient(lambda v: np.sum(v ** 2), x), 6)
array([ 2., -4.,  6.])
>>> round(rel_error(1.0, 1.5), 6)  # |1 - 1.5| / (1 + 1.5)
0.2
"""

from __future__ import annotations

import html
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "GradCheckReport",
    "GradCheckResult",
    "check_layer",
    "check_loss",
    "check_model",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",
    "rel_error",
]

_FLOOR = 1e-8  # denominators below this count as "both gradients are zero"
_DOUT_STREAM = 231  # check_layer draws dout from default_rng([231, seed])


# ------------------------------------------------------------ building blocks


def rel_error(x, y) -> float:
    """Largest entrywise relative error, ``max |x - y| / max(1e-8, |x| + |y|)``.

    Parameters
    ----------
    x, y : float or array_like, same shape

    Returns
    -------
    float
        0.0 for identical inputs (and for empty arrays), at most 1.0 otherwise.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error needs equal shapes, got {x.shape} and {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(_FLOOR, np.abs(x) + np.abs(y))))


def _check_perturbable(x, name: str = "x") -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{name} must be a NumPy array (it is perturbed in place), got {type(x).__name__}"
        )
    if x.dtype != np.float64:
        raise TypeError(
            f"{name} has dtype {x.dtype}; numerical gradients need float64 "
            f"(use {name}.astype(np.float64))"
        )
    if not x.flags.writeable:
        raise ValueError(f"{name} is read-only; pass a writable copy")


def _as_scalar(value, what: str = "f") -> float:
    value = np.asarray(value)
    if value.size != 1:
        raise ValueError(
            f"{what} must return a scalar, got an array of shape {value.shape}; "
            "for array-valued functions use eval_numerical_gradient_array"
        )
    return float(value.reshape(()))


#: set by coursekit's judge only: runs the loop below in the student's kernel, one round trip
_kernel_differences: Callable | None = None


def set_kernel_differences(hook: Callable | None) -> None:
    """Used by the judge only. ``hook(fn, args, kwargs, x, indices, h, take, df, what)`` returns
    what :func:`centred_differences` would, computed next to the student's ``fn``, or
    ``NotImplemented`` when ``fn`` is not the student's (then the loop runs here)."""
    global _kernel_differences
    _kernel_differences = hook


def _centred_differences(fn: Callable, args: tuple, kwargs: dict, x: np.ndarray,
                         indices: Sequence[tuple], h: float, take: int | None = None,
                         df: np.ndarray | None = None, what: str = "f") -> np.ndarray:
    """:func:`centred_differences`, in the student's kernel when the judge grades."""
    if _kernel_differences is not None:
        got = _kernel_differences(fn, args, kwargs, x, indices, h, take, df, what)
        if got is not NotImplemented:
            return got
    return centred_differences(fn, args, kwargs, x, indices, h, take, df, what)


def centred_differences(fn: Callable, args: tuple, kwargs: dict, x: np.ndarray,
                        indices: Iterable[tuple], h: float, take: int | None = None,
                        df: np.ndarray | None = None, what: str = "f") -> np.ndarray:
    """Centred differences of ``v = fn(*args, **kwargs)`` as ``x`` moves, at ``indices``.

    ``x`` is perturbed in place (it is among ``args``/``kwargs``, or an array ``fn`` reads,
    such as a model's parameter) and restored, also if ``fn`` raises. ``take``: use
    ``v[take]`` (``0`` for a ``(loss, grads)`` or ``(out, cache)`` return). Without ``df``,
    ``v`` must be a scalar and entry ``i`` is ``(v(x + h e_i) - v(x - h e_i)) / 2h``; with
    ``df`` (shape of ``v``), it is ``sum((v(x + h e_i) - v(x - h e_i)) * df) / 2h``.

    Returns a float64 array, one value per index.
    """
    def value():
        out = fn(*args, **kwargs)
        if take is not None:
            out = out[take]
        if df is None:
            return _as_scalar(out, what)
        out = np.array(out, dtype=np.float64)  # a copy: fn may return a view of x
        if out.shape != df.shape:
            raise ValueError(f"{what}(x) has shape {out.shape} but df has shape {df.shape}")
        return out

    values = []
    for ix in indices:
        old = x[ix]
        try:
            x[ix] = old + h
            plus = value()
            x[ix] = old - h
            minus = value()
        finally:
            x[ix] = old
        values.append((plus - minus) / (2.0 * h) if df is None else np.sum((plus - minus) * df) / (2.0 * h))
    return np.array(values, dtype=np.float64)


def eval_numerical_gradient(f: Callable, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Numerical gradient of a scalar function by centred differences.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``, called ``2 * x.size`` times with ``x`` perturbed in place.
    x : ndarray of float64, any shape
        The point; restored exactly on return (also if ``f`` raises).
    h : float
        Step size.

    Returns
    -------
    grad : ndarray of float64, shape ``x.shape``
    """
    _check_perturbable(x)
    values = _centred_differences(f, (x,), {}, x, list(np.ndindex(x.shape)), h)
    return values.reshape(x.shape)


def eval_numerical_gradient_array(
    f: Callable, x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Numerical gradient of ``sum(f(x) * df)``: backpropagates ``df`` through ``f``.

    Parameters
    ----------
    f : callable
        ``f(x) -> ndarray`` of any shape (``out``).
    x : ndarray of float64, any shape
        The point, perturbed in place and restored (also if ``f`` raises).
    df : array_like, shape ``out.shape``
        Upstream gradient ``dL/dout``.
    h : float
        Step size.

    Returns
    -------
    dx : ndarray of float64, shape ``x.shape``
        What ``backward(df, cache)`` should return for ``x``.
    """
    _check_perturbable(x)
    df = np.asarray(df, dtype=np.float64)
    values = _centred_differences(f, (x,), {}, x, list(np.ndindex(x.shape)), h, df=df)
    return values.reshape(x.shape)


def _make_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)


def _sample_indices(shape: tuple, num: int, rng: np.random.Generator) -> list[tuple]:
    """``num`` distinct random indices into an array of ``shape`` (all if fewer)."""
    size = int(np.prod(shape))
    flat = rng.choice(size, size=min(num, size), replace=False)
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in flat]


def grad_check_sparse(
    f: Callable,
    x: np.ndarray,
    analytic_grad: np.ndarray,
    num_checks: int = 10,
    h: float = 1e-5,
    rng: np.random.Generator | int | None = None,
    verbose: bool = False,
) -> np.ndarray:
    """Compare ``analytic_grad`` with centred differences at a few random entries.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : ndarray of float64, any shape
        Perturbed in place and restored.
    analytic_grad : array_like, shape ``x.shape``
    num_checks : int
        Number of distinct entries to check (all of them if ``x`` is smaller).
    h : float
        Step size.
    rng : np.random.Generator or int, optional
        Picks the entries; an int is a seed. Default: ``default_rng(0)``, so the
        same call checks the same entries every time.
    verbose : bool
        Print one line per entry (numerical, analytic, relative error).

    Returns
    -------
    errors : ndarray of float64, shape (min(num_checks, x.size),)
        Relative error ``|a - n| / max(1e-8, |a| + |n|)`` at each checked entry.
    """
    _check_perturbable(x)
    analytic_grad = np.asarray(analytic_grad, dtype=np.float64)
    if analytic_grad.shape != x.shape:
        raise ValueError(f"analytic_grad has shape {analytic_grad.shape}, x has {x.shape}")
    indices = _sample_indices(x.shape, num_checks, _make_rng(rng))
    numeric = _centred_differences(f, (x,), {}, x, indices, h)
    errors = np.empty(len(indices))
    for k, (ix, num) in enumerate(zip(indices, numeric)):
        errors[k] = rel_error(analytic_grad[ix], num)
        if verbose:
            print(
                f"{ix}: numerical {num: .6e}  analytic {analytic_grad[ix]: .6e}  "
                f"relative error {errors[k]:.2e}"
            )
    return errors


# ------------------------------------------------------------------- reports


@dataclass(frozen=True)
class GradCheckResult:
    """The check of one input or parameter (one row of a :class:`GradCheckReport`).

    Attributes
    ----------
    name : str
        Input or parameter name.
    shape : tuple
        Shape of the input.
    error : float
        Relative error of the whole gradient (see the module docstring);
        ``inf`` when the analytic gradient is missing or has the wrong shape.
    worst_index : tuple or None
        Index where ``|analytic - numeric|`` is largest.
    analytic, numeric : float
        Both gradients at ``worst_index`` (``nan`` if unavailable).
    threshold : float
        The row passes when ``error < threshold``.
    note : str
        What went wrong before any numbers could be compared, else ``""``.
    hint : str
        For a failed row whose gradient is a constant multiple of the numerical
        one, e.g. ``"4 times too large"``; else ``""``.
    """

    name: str
    shape: tuple
    error: float
    worst_index: tuple | None
    analytic: float
    numeric: float
    threshold: float
    note: str = ""
    hint: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.error < self.threshold)  # False for nan


def _compare(name, shape, analytic, numeric, threshold, index=None) -> GradCheckResult:
    """One result row: whatever backward returned against the numerical gradient.

    ``numeric`` is the full numerical gradient (shape ``shape``), or, when ``index``
    lists some entries, the numerical gradient at those entries only.
    """
    nan, inf = float("nan"), float("inf")
    if analytic is None:
        return GradCheckResult(name, shape, inf, None, nan, nan, threshold,
                               "no gradient returned (None)")
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != shape:
        return GradCheckResult(name, shape, inf, None, nan, nan, threshold,
                               f"gradient has shape {analytic.shape}, expected {shape}")
    if index is None:
        a, n = analytic.ravel(), np.asarray(numeric, dtype=np.float64).ravel()
    else:
        a, n = np.array([analytic[ix] for ix in index]), np.asarray(numeric, np.float64)
    if a.size == 0:
        return GradCheckResult(name, shape, 0.0, None, nan, nan, threshold)
    scale = max(_FLOOR, float(np.linalg.norm(a) + np.linalg.norm(n)))
    error = float(np.linalg.norm(a - n) / scale)
    diff = np.abs(a - n)
    k = int(np.argmax(np.where(np.isnan(diff), np.inf, diff)))
    worst = index[k] if index is not None else np.unravel_index(k, shape) if shape else ()
    hint = _scale_hint(a, n) if not error < threshold else ""
    return GradCheckResult(name, shape, error, tuple(int(i) for i in worst),
                           float(a[k]), float(n[k]), threshold, hint=hint)


def _scale_hint(analytic: np.ndarray, numeric: np.ndarray) -> str:
    """``"4 times too large"`` when ``analytic`` is a constant multiple of ``numeric``, else ``""``."""
    if not (np.all(np.isfinite(analytic)) and np.all(np.isfinite(numeric))):
        return ""
    nn = float(numeric @ numeric)
    if nn <= _FLOOR ** 2:
        return ""
    factor = float(analytic @ numeric) / nn
    residual = np.linalg.norm(analytic - factor * numeric)
    if residual > 1e-4 * max(_FLOOR, float(np.linalg.norm(analytic))) or abs(factor) < 1e-8 \
            or np.isclose(factor, 1.0, rtol=1e-3):
        return ""
    if np.isclose(factor, -1.0, rtol=1e-3):
        return "the right size but the wrong sign"
    if factor < 0:
        return f"{-factor:.3g} times the numerical gradient, with the wrong sign"
    if factor > 1:
        return f"{factor:.3g} times too large"
    return f"{1 / factor:.3g} times too small"


class GradCheckReport:
    """Per-input results of a gradient check; shows as a table.

    Attributes
    ----------
    title : str
        What was checked.
    results : list of GradCheckResult
        One per input or parameter; ``report["w"]`` looks one up by name.
    passed : bool
        True when every row passed.
    worst : GradCheckResult
        The row with the largest error.
    """

    def __init__(self, title: str, results: Sequence[GradCheckResult], h: float):
        self.title = title
        self.results = list(results)
        self.h = h

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def worst(self) -> GradCheckResult:
        return max(self.results, key=lambda r: np.inf if np.isnan(r.error) else r.error)

    def __getitem__(self, name: str) -> GradCheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no input named '{name}'; checked {', '.join(str(r.name) for r in self.results)}")

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    _HEADER = ("name", "shape", "rel. error", "worst at", "analytic", "numeric", "")

    def _rows(self) -> list[tuple[str, ...]]:
        rows = []
        for r in self.results:
            verdict = "ok" if r.passed else "FAIL"
            if r.note or r.hint:
                verdict += f": {r.note or r.hint}"
            where = "-" if r.worst_index is None else str(r.worst_index)
            rows.append((r.name, str(r.shape), f"{r.error:.2e}", where,
                         f"{r.analytic:.6e}", f"{r.numeric:.6e}", verdict))
        return rows

    def _summary(self) -> str:
        threshold = self.results[0].threshold if self.results else float("nan")
        failed = [r.name for r in self.results if not r.passed]
        verdict = "passed" if not failed else "FAILED for " + ", ".join(failed)
        return f"{verdict} (threshold {threshold:.0e}, h {self.h:.0e})"

    def __str__(self) -> str:
        rows = [self._HEADER, *self._rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self._HEADER))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                 for row in rows]
        return "\n".join([f"Gradient check: {self.title}", *lines, self._summary()])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in self._HEADER)
        body = []
        for r, row in zip(self.results, self._rows()):
            style = "" if r.passed else ' style="background-color:#fdd"'
            body.append(f"<tr{style}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        return (
            f"<div><b>Gradient check: {esc(self.title)}</b>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<p>{esc(self._summary())}</p></div>"
        )

    def raise_if_failed(self) -> GradCheckReport:
        """Raise ``AssertionError`` explaining the failed rows; return self if all passed."""
        if self.passed:
            return self
        reasons = []
        for r in self.results:
            if r.passed:
                continue
            if r.note:
                reasons.append(f"- {r.name}: {r.note}")
            else:
                scale = (f": your gradient is {r.hint} (the same factor for every entry)"
                         if r.hint else "")
                reasons.append(
                    f"- {r.name}: relative error {r.error:.2e} >= {r.threshold:.0e}{scale}; at "
                    f"index {r.worst_index} your gradient is {r.analytic:.6e} but the "
                    f"centred difference gives {r.numeric:.6e}"
                )
        raise AssertionError(f"{self}\n" + "\n".join(reasons))


# ----------------------------------------------------------- one-call checks


def _float_copy(value) -> np.ndarray:
    return np.array(value, dtype=np.float64)  # a fresh, writable float64 copy


def _func_name(f) -> str:
    return getattr(f, "__name__", type(f).__name__)


def check_layer(
    forward: Callable,
    backward: Callable,
    inputs: Mapping[str, Any],
    dout=None,
    *,
    wrt: Sequence[str] | None = None,
    threshold: float = 1e-7,
    h: float = 1e-5,
    seed: int = 0,
) -> GradCheckReport:
    """Check a layer's backward pass against centred differences of its forward pass.

    Calls ``out, cache = forward(**inputs)`` and ``grads = backward(dout, cache)``,
    then compares each gradient with the numerical gradient of ``sum(out * dout)``.

    Parameters
    ----------
    forward : callable
        ``forward(**inputs) -> (out, cache)``.
    backward : callable
        ``backward(dout, cache) -> grads``: one array, or a tuple of arrays in the
        order of ``wrt`` (e.g. ``(dx, dw, db)`` for ``affine_backward``).
    inputs : dict
        Keyword arguments of ``forward``. Values that are float arrays are checked
        (as float64 copies; the caller's arrays are never touched); everything else
        (``bn_param``, ``alpha``, ...) is passed through unchanged.
    dout : array_like, optional
        Upstream gradient, shape ``out.shape``. Default: standard normal draws from
        ``np.random.default_rng([231, seed])``.
    wrt : list of str, optional
        Names of the inputs that ``backward`` returns gradients for, in its order.
        Default: every float-array input, in the order of ``inputs``.
    threshold, h : float
        Pass threshold for each input's relative error, and the step size.
    seed : int
        Seed for ``dout``.

    Returns
    -------
    GradCheckReport
        One row per name in ``wrt``.

    Examples
    --------
    >>> report = check_layer(affine_forward, affine_backward,
    ...                      {"x": x, "w": w, "b": b})  # doctest: +SKIP
    >>> report.raise_if_failed()                        # doctest: +SKIP
    """
    inputs = dict(inputs)
    if wrt is None:
        wrt = [k for k, v in inputs.items()
               if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    wrt = list(wrt)
    if not wrt:
        raise ValueError("no float array among the inputs; nothing to check")
    for name in wrt:
        if name not in inputs:
            raise KeyError(f"wrt names '{name}', which is not among the inputs {', '.join(map(str, inputs))}")
        inputs[name] = _float_copy(inputs[name])

    out, cache = forward(**inputs)
    out = np.asarray(out, dtype=np.float64)
    if dout is None:
        # Not default_rng(seed) itself: inputs drawn from default_rng(0) would equal dout.
        dout = np.random.default_rng([_DOUT_STREAM, seed]).standard_normal(out.shape)
    dout = _float_copy(dout)
    if dout.shape != out.shape:
        raise ValueError(f"dout has shape {dout.shape} but forward's output has {out.shape}")

    # Numerical gradients first, so a backward that mutates its cache cannot spoil them.
    numeric = {}
    for name in wrt:
        x = inputs[name]
        values = _centred_differences(forward, (), inputs, x, list(np.ndindex(x.shape)), h,
                                      take=0, df=dout, what=_func_name(forward))
        numeric[name] = values.reshape(x.shape)

    grads = backward(dout.copy(), cache)
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(wrt):
        raise ValueError(
            f"backward returned {len(grads)} gradient(s) but {len(wrt)} input(s) are "
            f"checked ({', '.join(wrt)}); pass wrt=[...] naming the inputs backward "
            "differentiates, in its order"
        )
    results = [
        _compare(name, inputs[name].shape, analytic, numeric[name], threshold)
        for name, analytic in zip(wrt, grads)
    ]
    return GradCheckReport(f"{_func_name(forward)} / {_func_name(backward)}", results, h)


def check_loss(
    f: Callable,
    *args,
    wrt: int | str | Sequence[int | str] = 0,
    threshold: float = 1e-7,
    h: float = 1e-5,
    **kwargs,
) -> GradCheckReport:
    """Check a function that returns a scalar loss and its gradients.

    ``f(*args, **kwargs)`` must return ``(loss, grad)`` or ``(loss, grad_1, ...,
    grad_k)``: the gradients of ``loss`` with respect to the arguments named by
    ``wrt``, in that order.

    Parameters
    ----------
    f : callable
        E.g. ``softmax_loss(x, y) -> (loss, dx)`` or
        ``softmax_loss_vectorized(W, X, y, reg) -> (loss, dW)``.
    *args, **kwargs
        The arguments of ``f``. Differentiated ones are passed as float64 copies
        (scalars become 0-d arrays); the caller's values are never touched.
    wrt : int, str, or a sequence of them
        Which arguments are differentiated: positions in ``args`` or names in
        ``kwargs``. Default 0, the first positional argument.
    threshold, h : float
        Pass threshold for each argument's relative error, and the step size.

    Returns
    -------
    GradCheckReport
        One row per entry of ``wrt``, named after ``f``'s parameter where known.

    Examples
    --------
    >>> check_loss(softmax_loss, x, y).raise_if_failed()                  # doctest: +SKIP
    >>> check_loss(softmax_loss_vectorized, W, X, y, 0.1, wrt=0)          # doctest: +SKIP
    >>> check_loss(add_mul_graph, -2.0, 5.0, -4.0, wrt=(0, 1, 2))         # doctest: +SKIP
    """
    keys = [wrt] if isinstance(wrt, (int, str)) else list(wrt)
    args, kwargs = list(args), dict(kwargs)
    try:
        param_names = list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        param_names = []
    names = []
    for key in keys:
        container = args if isinstance(key, int) else kwargs
        try:
            container[key] = _float_copy(container[key])
        except (IndexError, KeyError):
            raise KeyError(f"wrt={key!r} names no argument of the call") from None
        if isinstance(key, str):
            names.append(key)
        else:
            names.append(param_names[key] if key < len(param_names) else f"arg{key}")

    returned = f(*args, **kwargs)
    if not isinstance(returned, (tuple, list)) or len(returned) < 2:
        raise ValueError(
            f"{_func_name(f)} must return (loss, grad, ...), got {type(returned).__name__}"
        )
    _as_scalar(returned[0], _func_name(f))
    grads = list(returned[1:])
    if len(grads) != len(keys):
        raise ValueError(
            f"{_func_name(f)} returned {len(grads)} gradient(s) but wrt names "
            f"{len(keys)} argument(s) ({', '.join(names)})"
        )

    results = []
    for key, name, analytic in zip(keys, names, grads):
        x = args[key] if isinstance(key, int) else kwargs[key]
        # x sits inside args/kwargs and is perturbed in place, so f sees every step.
        _check_perturbable(x)
        numeric = _centred_differences(f, tuple(args), kwargs, x, list(np.ndindex(x.shape)), h,
                                       take=0, what=_func_name(f)).reshape(x.shape)
        results.append(_compare(name, x.shape, analytic, numeric, threshold))
    return GradCheckReport(_func_name(f), results, h)


def check_model(
    model,
    X: np.ndarray,
    y: np.ndarray,
    *,
    params: Sequence[str] | None = None,
    num_checks: int | None = None,
    threshold: float = 1e-7,
    h: float = 1e-5,
    seed: int = 0,
) -> GradCheckReport:
    """Check ``model.loss(X, y) -> (loss, grads)`` against centred differences.

    Each parameter ``model.params[name]`` is perturbed in place and restored.

    Parameters
    ----------
    model : object
        Has ``params`` (dict name -> float64 array) and ``loss(X, y) -> (loss,
        grads)`` with ``grads[name]`` shaped like ``params[name]``. The loss must be
        deterministic (e.g. dropout with a fixed seed); build float32 models with
        ``dtype=np.float64`` for checking.
    X : ndarray, shape (N, ...)
    y : ndarray of int, shape (N,)
    params : list of str, optional
        Parameters to check; default all, in ``model.params`` order.
    num_checks : int, optional
        Check only this many random entries per parameter (faster for big models);
        default every entry.
    threshold, h : float
        Pass threshold for each parameter's relative error, and the step size.
    seed : int
        Seed choosing the entries when ``num_checks`` is given.

    Returns
    -------
    GradCheckReport
        One row per parameter.
    """
    names = list(model.params) if params is None else list(params)
    _, grads = model.loss(X, y)
    grads = {k: None if g is None else _float_copy(g) for k, g in grads.items()}
    rng = np.random.default_rng(seed)
    results = []
    for name in names:
        p = model.params[name]
        _check_perturbable(p, f"model.params['{name}']")
        if num_checks is None:
            index = list(np.ndindex(p.shape))
        else:
            index = _sample_indices(p.shape, num_checks, rng)
        numeric = _centred_differences(model.loss, (X, y), {}, p, index, h, take=0, what="model.loss")
        results.append(_compare(name, p.shape, grads.get(name), numeric, threshold, index))
    return GradCheckReport(f"{type(model).__name__}.loss", results, h)
