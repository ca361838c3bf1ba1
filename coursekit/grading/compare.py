"""Compare a student's function with the reference on the same inputs."""
from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .checks import CheckFailed, describe_inputs, expect_close, run_unit
from .reference import reference

__all__ = ["compare_to_reference", "compare_outputs"]


def _hints_for(hints: Mapping | None, part: str | None) -> Mapping[float, str] | None:
    """``hints`` is either ``{factor: text}`` for every output, or ``{output: {factor: text}}``."""
    if not hints:
        return None
    if all(isinstance(k, str) for k in hints):
        return hints.get(part) if part else None
    return hints


def _mistakes_for(mistakes: Mapping | None, part: str | None) -> Mapping[str, Any] | None:
    """``mistakes`` is ``{explanation: array}`` for a single output, or ``{output: {explanation: array}}``."""
    if not mistakes:
        return None
    if part is None:
        return mistakes
    value = mistakes.get(part)
    return value if isinstance(value, Mapping) else None


def compare_outputs(label: str, got: Any, want: Any, *, outputs: Sequence[str] | None = None,
                    rtol: float = 1e-6, atol: float = 1e-9, hints: Mapping | None = None,
                    masks: Mapping[str, np.ndarray] | None = None, part: str | None = None,
                    mistakes: Mapping | None = None) -> None:
    """Check a result (an array, a tuple of arrays or a dict of arrays) against the expected one.

    ``outputs`` names the parts of a tuple result (e.g. ``("loss", "dx")``).
    ``hints`` is ``{factor: text}`` or, per output, ``{"loss": {factor: text}}``;
    ``mistakes`` is ``{explanation: wrong_value}`` or, per output,
    ``{"dW": {explanation: wrong_value}}`` (see :func:`~coursekit.grading.checks.diagnose`).
    """
    if isinstance(want, tuple):
        names = list(outputs or [f"output {i + 1}" for i in range(len(want))])
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            got_desc = (f"{len(got)} values" if isinstance(got, (tuple, list))
                        else f"a single {type(got).__name__}")
            raise CheckFailed(f"{label} should return {len(want)} values "
                              f"({', '.join(names)}), but it returned {got_desc}.")
        for name, g, w in zip(names, got, want):
            compare_outputs(f"{name} from {label}", g, w, rtol=rtol, atol=atol,
                            hints=hints, masks=masks, part=name, mistakes=mistakes)
        return
    if isinstance(want, dict):
        missing = sorted(set(want) - set(got)) if isinstance(got, dict) else sorted(want)
        if missing:
            keys = ", ".join(str(k) for k in sorted(want))
            raise CheckFailed(f"{label} should be a dict with the keys {keys}; missing "
                              f"{', '.join(str(k) for k in missing)}.")
        for key in want:
            compare_outputs(f"{label}['{key}']", got[key], want[key], rtol=rtol, atol=atol,
                            hints=hints, masks=masks, part=key, mistakes=mistakes)
        return
    expect_close(label, got, want, rtol=rtol, atol=atol, hints=_hints_for(hints, part), masks=masks,
                 mistakes=_mistakes_for(mistakes, part))


def compare_to_reference(name: str, student_fn: Callable, *args: Any,
                         outputs: Sequence[str] | None = None,
                         rtol: float = 1e-6, atol: float = 1e-9,
                         hints: Mapping | None = None,
                         masks: Mapping[str, np.ndarray] | None = None,
                         mistakes: Mapping | None = None,
                         may_modify: tuple[str | int, ...] = (),
                         **kwargs: Any) -> Any:
    """Run the student's ``name`` and the reference on the same inputs; compare.

    Both get their own deep copies of the inputs. Returns the student's result.

    Example (a hidden test)::

        rng = fresh_rng("softmax_loss")
        x = rng.normal(size=(7, 5)); y = rng.integers(5, size=7)
        compare_to_reference("softmax_loss", softmax_loss, x, y, outputs=("loss", "dx"),
                             hints={"loss": {7: "sum over N instead of mean?"}})
    """
    ref_fn = reference(name)
    want = ref_fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    got = run_unit(student_fn, *copy.deepcopy(args), name=name, may_modify=may_modify,
                   **copy.deepcopy(kwargs))
    compare_outputs(f"{name}{describe_inputs(args, kwargs)}", got, want, outputs=outputs,
                    rtol=rtol, atol=atol, hints=hints, masks=masks, mistakes=mistakes)
    return got
