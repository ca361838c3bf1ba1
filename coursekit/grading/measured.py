"""Numbers the grader measures itself, so that a test need not believe the student's kernel.

``training_seconds`` computed inside a notebook is whatever the student's code
says it is. Under ``coursekit grade`` the trusted judge times every cell it
sends to the sandboxed kernel; a test cell asks for that number with
:func:`kernel_seconds`. Where no trusted grader runs (the student's own
notebook, plain ``nbgrader autograde``) there is no trustworthy measurement and
:func:`kernel_seconds` returns ``None``: tests then fall back to what the
notebook reports.
"""
from __future__ import annotations

from typing import Callable

__all__ = ["kernel_seconds", "set_kernel_timer"]

_timer: Callable[[str], float | None] | None = None


def set_kernel_timer(timer: Callable[[str], float | None] | None) -> None:
    """Used by the judge only: ``timer(grade_id) -> seconds`` the kernel spent on that cell."""
    global _timer
    _timer = timer


def kernel_seconds(grade_id: str) -> float | None:
    """Wall-clock seconds the grader measured for the student's cell ``grade_id``, or None."""
    return None if _timer is None else _timer(grade_id)
