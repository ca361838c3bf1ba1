"""Checks for notebook test cells: call a student's function, compare, explain.

Every check raises :class:`CheckFailed` (an ``AssertionError``) whose message
says what is wrong in words a student can act on: "dx has the right values but
is transposed", "loss is 4 times too large. You summed over the N=4 samples",
"is off by the same constant 0.5 everywhere", "wrong only where x == 0".

Typical test cell::

    from coursekit.grading import run_unit, expect_close
    p = run_unit(softmax, np.array([[1.0, 2.0, 3.0]]))
    expect_close("softmax([[1, 2, 3]])", p, [[0.09003057, 0.24472847, 0.66524096]])

A test cell's points are all-or-nothing (nbgrader scores a cell by whether it
raised), so tests for one unit are split over several cells for partial credit.
"""
from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Mapping

import numpy as np

from .dependencies import dependency_missing

__all__ = [
    "CheckFailed",
    "check",
    "run_unit",
    "diagnose",
    "expect_close",
    "expect_equal",
    "expect_shape",
    "expect_finite",
    "describe_inputs",
]


class CheckFailed(AssertionError):
    """A test found a mistake; the message explains it."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`CheckFailed` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


# ----------------------------------------------------------------------------
# formatting
# ----------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    """Short, readable rendering of a number or a small array."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        try:
            return f"{float(arr):.6g}"
        except (TypeError, ValueError):
            return str(value)  # never repr(): no "np.str_(...)" in a student's message
    if arr.size <= 12:
        return np.array2string(arr, precision=6, separator=", ", suppress_small=False)
    return f"array of shape {arr.shape}"


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array {value.shape}" if value.ndim else _fmt(value)
    if isinstance(value, (bool, int, float, np.number)):
        return _fmt(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"'{k}': {_describe(v)}" for k, v in list(value.items())[:6]) + "}"
    if isinstance(value, (list, tuple)) and len(value) <= 6:
        inner = ", ".join(_describe(v) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    return type(value).__name__


def describe_inputs(args: tuple = (), kwargs: Mapping[str, Any] | None = None) -> str:
    """``"(array (4, 10), array (4,), reg=0.1)"``: what a function was called with."""
    parts = [_describe(a) for a in args]
    parts += [f"{k}={_describe(v)}" for k, v in (kwargs or {}).items()]
    return "(" + ", ".join(parts) + ")"


# ----------------------------------------------------------------------------
# calling student code
# ----------------------------------------------------------------------------
def _snapshot(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    return None


def _changed(before: Any, after: Any) -> bool:
    if isinstance(before, np.ndarray):
        return not (isinstance(after, np.ndarray) and before.shape == after.shape
                    and np.array_equal(before, after, equal_nan=True))
    if isinstance(before, dict):
        return any(k in after and _changed(v, after[k]) for k, v in before.items())
    return False


def run_unit(fn: Callable, *args: Any, name: str | None = None,
             may_modify: tuple[str | int, ...] = (), **kwargs: Any) -> Any:
    """Call a student's function and turn the usual problems into clear failures.

    - a stub that still raises ``NotImplementedError`` -> "not implemented yet";
    - any other exception -> which function, on which inputs, raised what;
    - any warning (overflow in ``exp``, division by zero, ...) -> a failure that
      names it (nbgrader would silently give 0 for the stderr it writes);
    - an argument modified in place -> a failure, unless its position or name is
      listed in ``may_modify`` (e.g. ``bn_param``, whose running averages are
      updated in place by contract).

    Parameters
    ----------
    fn : callable
        The student's function.
    *args, **kwargs
        Passed to ``fn`` as they are.
    name : str, optional
        How to call the function in messages (default ``fn.__name__``).
    may_modify : tuple of int or str
        Positions or keyword names of arguments that ``fn`` may change.

    Returns
    -------
    Whatever ``fn`` returns.
    """
    label = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        raise CheckFailed(f"{label} should be a function, but it is a {type(fn).__name__}.")
    watched = {i: _snapshot(a) for i, a in enumerate(args) if i not in may_modify}
    watched.update({k: _snapshot(v) for k, v in kwargs.items() if k not in may_modify})
    inputs = describe_inputs(args, kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
            try:
                result = fn(*args, **kwargs)
            except NotImplementedError as err:
                missing = _missing_dependency(fn, err)
                if missing:
                    raise CheckFailed(dependency_missing(err, label, missing)) from None
                raise CheckFailed(
                    f"{label} is not implemented yet: it still raises NotImplementedError. "
                    f"Replace the `raise NotImplementedError(...)` line with your code."
                ) from None
            except CheckFailed:
                raise
            except Exception as err:  # the student's bug: report it, keep its traceback
                raise CheckFailed(
                    f"{label}{inputs} raised {type(err).__name__}: {err}"
                ) from err
    if caught:
        first = caught[0]
        raise CheckFailed(
            f"{label}{inputs} emitted a {first.category.__name__}: \"{first.message}\". "
            "A warning here usually means a numerical problem (overflow in exp, log of 0, "
            "division by zero); your code must run without warnings."
        )
    for key, before in watched.items():
        if before is None:
            continue
        after = args[key] if isinstance(key, int) else kwargs[key]
        if _changed(before, after):
            arg = _parameter_name(fn, key)
            raise CheckFailed(
                f"{label} changed its argument `{arg}` in place; the caller may still need it. "
                f"Build new arrays instead (`{arg} = {arg} + ...` rather than `{arg} += ...` or "
                f"`{arg}[...] = ...`), or work on a copy (`{arg} = {arg}.copy()`)."
            )
    return result


def _missing_dependency(fn: Callable, err: BaseException) -> str | None:
    """The other function whose stub raised ``err`` inside ``fn``, or None if ``fn``'s own did."""
    tb = err.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    raised_in = getattr(code, "co_qualname", code.co_name)
    own = getattr(fn, "__qualname__", getattr(fn, "__name__", ""))
    owner = own.rsplit(".", 1)[0] + "." if "." in own else None
    if not own or raised_in == own or raised_in.startswith(own + ".") \
            or (owner and raised_in.startswith(owner)) or "<" in raised_in:
        return None
    return raised_in


def _parameter_name(fn: Callable, key: int | str) -> str:
    """The name of ``fn``'s parameter that received positional argument ``key`` (or ``key`` itself)."""
    if isinstance(key, str):
        return key
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return f"argument {key + 1}"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if key < len(positional):
        return positional[key].name
    star = [p for p in params if p.kind is p.VAR_POSITIONAL]
    return f"{star[0].name}[{key - len(positional)}]" if star else f"argument {key + 1}"


# ----------------------------------------------------------------------------
# diagnosing a wrong array
# ----------------------------------------------------------------------------
def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _times(factor: float) -> str:
    """``4 times too large`` / ``4 times too small`` / ``-2 times the expected value``."""
    if factor < 0:
        return f"{_fmt(factor)} times the expected value (wrong sign and size)"
    if factor >= 1:
        return f"{_fmt(factor)} times too large"
    return f"{_fmt(1 / factor)} times too small"


def _hint_for(factor: float, hints: Mapping[float, str] | None) -> str | None:
    for key, text in (hints or {}).items():
        if np.isclose(factor, key, rtol=1e-3):
            return text
    return None


def diagnose(got: Any, want: Any, *, rtol: float = 1e-6, atol: float = 1e-9,
             hints: Mapping[float, str] | None = None,
             masks: Mapping[str, np.ndarray] | None = None,
             mistakes: Mapping[str, Any] | None = None) -> str | None:
    """Say how ``got`` differs from ``want``, or return None when they agree.

    Parameters
    ----------
    got, want : array_like
        The student's value and the expected one.
    rtol, atol : float
        Tolerances, as in ``np.allclose``.
    hints : dict {factor: sentence}, optional
        Extra explanation when ``got`` is ``factor`` times ``want`` (for
        example ``{N: "you summed over the N samples instead of averaging"}``).
    masks : dict {description: bool array}, optional
        Regions of the input (e.g. ``{"x == 0": x == 0}``); when every wrong
        entry lies inside one region, the message says so.
    mistakes : dict {explanation: array}, optional
        Known wrong answers (e.g. ``{"your gradient misses the regularization
        term reg * W": dW_without_reg}``); when ``got`` equals one, its
        explanation is the message.
    """
    if got is None:
        return "is None: did you forget to `return` it?"
    if isinstance(got, tuple) and not isinstance(want, tuple):
        return f"is a tuple of {len(got)} values, but a single array was expected."
    try:
        g = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return f"should be numeric, but it is a {type(got).__name__}."
    w = np.asarray(want, dtype=float)

    if g.shape != w.shape:
        msg = f"has shape {g.shape} but should have shape {w.shape}"
        if g.ndim == 2 and g.shape == w.shape[::-1]:
            if _close(g.T, w, rtol, atol):
                return msg + ": the values are right but transposed."
            return msg + ": it looks transposed."
        if w.ndim == 0:
            return msg + ": it should be a single number. Did you forget to sum or average?"
        if g.ndim == 0:
            return msg + ": it is a single number. Did you sum or average over an axis you should keep?"
        if g.size == w.size:
            if _close(g.reshape(w.shape), w, rtol, atol):
                return msg + ": the values are right; reshape it (e.g. `.reshape(x.shape)`)."
            return msg + " (same number of entries: reshape it, and check the order of the axes)."
        if g.size == 1 and w.size > 1:
            return msg + ". Did you average over everything instead of along one axis?"
        return msg + "."

    if g.ndim == 0:
        if not np.isfinite(g) and np.isfinite(w):
            return f"is {_fmt(g)} but should be {_fmt(w)}: a numerical overflow or a log of 0?"
    else:
        bad_finite = ~np.isfinite(g) & np.isfinite(w)
        if bad_finite.any():
            idx = tuple(int(i) for i in np.argwhere(bad_finite)[0])
            return (f"contains {int(bad_finite.sum())} NaN/inf value(s) (the first at index {idx}) "
                    "where finite numbers were expected: a numerical overflow or a log of 0?")

    if _close(g, w, rtol, atol):
        return None
    if g.ndim == 2 and g.shape[0] == g.shape[1] and g.shape[0] > 1 and _close(g.T, w, rtol, atol):
        return "has the right values but transposed."
    if np.any(w != 0) and _close(g, -w, rtol, atol):
        return "has the right size but the wrong sign."

    for desc, alt in (mistakes or {}).items():
        alt = np.asarray(alt, dtype=float)
        if alt.shape == g.shape and not _close(alt, w, rtol, atol) and _close(g, alt, rtol, atol):
            return f"is wrong: {desc}"

    if g.size == 1:
        # One number: a scale factor and an additive offset fit it equally well, so name a
        # factor only when a hint explains it.
        gv, wv = float(g.reshape(())), float(w.reshape(()))
        msg = f"is {_fmt(gv)} but should be {_fmt(wv)}"
        if wv != 0 and np.isfinite(gv):
            text = _hint_for(gv / wv, hints)
            if text:
                return f"{msg}: {_times(gv / wv)}. {text}"
        return msg + "."

    diff = g - w
    finite = bool(np.all(np.isfinite(diff)))
    offset = float(diff.flat[0]) if finite else 0.0
    additive = finite and offset != 0 and bool(
        np.allclose(diff, offset, rtol=0, atol=max(atol, 1e-9) * 10))
    denom = float(np.sum(w * w))
    factor = float(np.sum(g * w) / denom) if denom > 0 and finite else 1.0
    scaled = (not np.isclose(factor, 1.0, rtol=1e-4) and abs(factor) > 1e-12
              and _close(g, factor * w, rtol * 10, atol * 10))
    if scaled and not (additive and _hint_for(factor, hints) is None):
        msg = f"is {_times(factor)} (every entry scaled by the same factor)."
        text = _hint_for(factor, hints)
        return msg + (" " + text if text else "")
    if additive:
        return (f"is off by the same constant {_fmt(offset)} everywhere (an additive offset, "
                "not a scale factor).")

    with np.errstate(invalid="ignore"):
        wrong = ~np.isclose(g, w, rtol=rtol, atol=atol)
    err = np.where(wrong, np.abs(np.nan_to_num(diff, nan=np.inf)), 0)
    worst = np.unravel_index(int(np.argmax(err)), g.shape) if g.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if g.ndim else ""
    msg = (f"is wrong at {int(wrong.sum())} of {g.size} entries; the worst{where}: "
           f"got {_fmt(g[worst])}, expected {_fmt(w[worst])}.")
    for desc, mask in (masks or {}).items():
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), g.shape)
        if mask.any() and not (wrong & ~mask).any():
            msg += f" All the wrong entries are where {desc}."
            break
    return msg


def expect_close(what: str, got: Any, want: Any, *, rtol: float = 1e-6, atol: float = 1e-9,
                 hints: Mapping[float, str] | None = None,
                 masks: Mapping[str, np.ndarray] | None = None,
                 mistakes: Mapping[str, Any] | None = None) -> None:
    """Fail with an explanation unless ``got`` is close to ``want``.

    ``what`` names the value in the message, e.g. ``"dx from softmax_loss"``;
    ``hints``, ``masks`` and ``mistakes`` as in :func:`diagnose`.
    """
    problem = diagnose(got, want, rtol=rtol, atol=atol, hints=hints, masks=masks, mistakes=mistakes)
    if problem is not None:
        raise CheckFailed(f"{what} {problem}")


def expect_equal(what: str, got: Any, want: Any) -> None:
    """Fail unless ``got`` equals ``want`` exactly (labels, integer arrays, shapes)."""
    g, w = np.asarray(got), np.asarray(want)
    if g.shape != w.shape:
        raise CheckFailed(f"{what} has shape {g.shape} but should have shape {w.shape}.")
    if not np.array_equal(g, w):
        wrong = np.argwhere(g != w)
        first = tuple(int(i) for i in wrong[0]) if g.ndim else ()
        raise CheckFailed(
            f"{what} differs at {len(wrong) if g.ndim else 1} of {max(g.size, 1)} entries; "
            f"first at index {first}: got {_fmt(g[first])}, expected {_fmt(w[first])}."
        )


def expect_shape(what: str, got: Any, shape: tuple[int, ...]) -> None:
    """Fail unless ``got`` is an array of the given shape."""
    if not isinstance(got, (np.ndarray, np.generic, float, int)):
        raise CheckFailed(f"{what} should be a NumPy array of shape {shape}, "
                          f"but it is a {type(got).__name__}.")
    if np.shape(got) != tuple(shape):
        raise CheckFailed(f"{what} has shape {np.shape(got)} but should have shape {tuple(shape)}.")


def expect_finite(what: str, got: Any, hint: str = "") -> None:
    """Fail if ``got`` holds NaN or infinity."""
    g = np.asarray(got, dtype=float)
    if not np.all(np.isfinite(g)):
        count = int(np.sum(~np.isfinite(g)))
        msg = f"{what} contains {count} NaN/inf value(s)."
        raise CheckFailed(msg + (" " + hint if hint else ""))
