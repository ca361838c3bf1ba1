"""One table of the numerical tolerances every notebook's tests use.

Tests compare with ``np.allclose``-style ``rtol``/``atol`` pairs or with
``rel_error`` thresholds; picking them here keeps the five notebooks consistent
and lets a teacher see, in one place, how strict each kind of check is.

==============  ======================================  =====================
kind            used for                                 tolerance
==============  ======================================  =====================
``exact``       closed-form updates (optimizer rules,    rtol 1e-12, atol 1e-12
                schedules): the same arithmetic
``values``      float64 results against the reference    rtol 1e-6,  atol 1e-8
``float32``     float32 results against the reference    rtol 1e-4,  atol 1e-6
``gradient``    analytic vs centred-difference           rel_error < 1e-6
                gradients in float64
``loose``       results after many training steps or     rtol 1e-3,  atol 1e-6
                of a long chain of float operations
==============  ======================================  =====================
"""
from __future__ import annotations

__all__ = ["TOLERANCES", "REL_ERROR", "tol"]

TOLERANCES: dict[str, dict[str, float]] = {
    "exact": {"rtol": 1e-12, "atol": 1e-12},
    "values": {"rtol": 1e-6, "atol": 1e-8},
    "float32": {"rtol": 1e-4, "atol": 1e-6},
    "loose": {"rtol": 1e-3, "atol": 1e-6},
}

# rel_error thresholds (coursekit.gradcheck.rel_error): below is a pass
REL_ERROR: dict[str, float] = {
    "gradient": 1e-6,        # float64 analytic vs numerical gradient
    "gradient_float32": 1e-3,
}


def tol(kind: str = "values") -> dict[str, float]:
    """``{"rtol": ..., "atol": ...}`` for ``kind``; e.g. ``expect_close(name, got, want, **tol("exact"))``."""
    try:
        return dict(TOLERANCES[kind])
    except KeyError:
        raise KeyError(f"unknown tolerance kind {kind!r}; one of {sorted(TOLERANCES)}") from None
