"""What actually runs: count the Python lines a call executes in the student's own code.

"Vectorized" means the work is done by array operations, not by Python loops.
Reading one function's source is not enough (it may delegate to a loop written
elsewhere), so tests look at what runs::

    from coursekit.grading import count_student_lines
    _, small = count_student_lines(softmax_loss_vectorized, W, X[:4], y[:4], 0.1)
    _, large = count_student_lines(softmax_loss_vectorized, W, X[:64], y[:64], 0.1)
    check(large <= small + 2, "... loops over the samples ...")

Lines are counted in code the student wrote (notebook cells), not in NumPy,
the standard library or coursekit. A loop over the ``N`` samples shows as a
line count that grows with ``N``.

Where it runs: in the student's kernel (plain nbgrader, the notebook itself)
the count is taken here with :func:`sys.settrace`. In coursekit's trusted judge
the call happens in the sandboxed kernel, so the judge installs a counter with
:func:`set_kernel_counter` that asks the kernel's runner to count.
"""
from __future__ import annotations

import os
import sys
import sysconfig
from typing import Any, Callable

__all__ = ["count_student_lines", "count_lines_here", "set_kernel_counter", "is_library_file"]

_kernel_counter: Callable[..., tuple[Any, int]] | None = None


def set_kernel_counter(counter: Callable[..., tuple[Any, int]] | None) -> None:
    """Used by the judge only: ``counter(fn, args, kwargs) -> (result, lines)`` runs in the kernel."""
    global _kernel_counter
    _kernel_counter = counter


def _library_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    import coursekit
    roots.add(os.path.dirname(os.path.abspath(coursekit.__file__)))
    return tuple(os.path.abspath(r) + os.sep for r in roots if r)


_ROOTS: tuple[str, ...] | None = None


def is_library_file(filename: str) -> bool:
    """True for code that is not the student's: installed packages, the standard library, coursekit."""
    global _ROOTS
    if _ROOTS is None:
        _ROOTS = _library_roots()
    if filename.startswith("<frozen"):
        return True
    return os.path.abspath(filename).startswith(_ROOTS) if os.path.isabs(filename) else False


def count_student_lines(fn: Callable, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Call ``fn(*args, **kwargs)``; return ``(result, number of lines run in student code)``."""
    if _kernel_counter is not None:
        return _kernel_counter(fn, args, kwargs)
    return count_lines_here(fn, args, kwargs)


def count_lines_here(fn: Callable, args: tuple, kwargs: dict) -> tuple[Any, int]:
    """The count itself, in this process (the student's kernel): ``sys.settrace`` over the call."""
    count = 0
    library: dict[str, bool] = {}

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def global_trace(frame, event, arg):
        name = frame.f_code.co_filename
        lib = library.get(name)
        if lib is None:
            lib = library[name] = is_library_file(name)
        return None if lib else local

    previous = sys.gettrace()
    sys.settrace(global_trace)
    try:
        result = fn(*args, **kwargs)
    finally:
        sys.settrace(previous)
    return result, count
