"""Grading helpers for notebook test cells (the student's side; students get this package).

The instructor's grading pipeline is :mod:`coursekit.instructor`; nothing here imports it,
and this package needs only the base install (numpy).

Test cells import from here::

    from coursekit.grading import run_unit, expect_close, compare_to_reference, fresh_rng
"""
from .checks import (CheckFailed, check, describe_inputs, diagnose, expect_close,
                     expect_equal, expect_finite, expect_shape, run_unit)
from .compare import compare_outputs, compare_to_reference
from .dependencies import dependency_missing, with_reference
from .reference import reference
from .measured import kernel_seconds
from .seeds import fresh_rng, run_seed
from .tolerances import REL_ERROR, TOLERANCES, tol
from .tracing import count_student_lines

__all__ = [
    "CheckFailed", "check", "describe_inputs", "diagnose", "expect_close", "expect_equal",
    "expect_finite", "expect_shape", "run_unit", "compare_outputs", "compare_to_reference",
    "reference", "fresh_rng", "run_seed", "with_reference", "dependency_missing",
    "TOLERANCES", "REL_ERROR", "tol", "count_student_lines", "kernel_seconds",
]
