"""One bug, one charge: run a unit with the *reference* version of the units it calls.

When ``softmax_loss_vectorized`` calls the student's ``softmax_loss``, a mistake
in ``softmax_loss`` should cost points on ``softmax_loss`` only. Hidden tests
therefore call the unit under test inside::

    from coursekit.grading import with_reference
    with with_reference("softmax_loss"):
        loss, dW = run_unit(softmax_loss_vectorized, W, X, y, reg)

Inside the block, the notebook-global names listed (as the student's code sees
them) are bound to the reference definitions from ``solutions/``; on leaving the
block the student's own definitions (or their absence) are restored.

Where it runs:

- in the student's kernel (plain ``nbgrader autograde``, or the notebook itself):
  the names are swapped in the calling test cell's globals, which are the
  notebook's ``__main__`` namespace the student's functions read;
- in coursekit's trusted judge (``coursekit grade``), test cells run outside the
  student's kernel, so swapping the judge's globals would change nothing the
  student's code sees. The judge installs a binder with :func:`set_kernel_binder`
  that rebinds the names *inside the kernel* to handles of the judge's
  reference objects for the duration of the block.
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Any, Callable, ContextManager, Iterator

from .reference import reference

__all__ = ["with_reference", "set_kernel_binder", "dependency_missing"]

_MISSING = object()
# Installed by the judge: binder(bindings: dict[str, Any]) -> context manager that makes the
# student's kernel see ``bindings`` as its globals for the duration of the block.
_kernel_binder: Callable[[dict[str, Any]], ContextManager[None]] | None = None


def set_kernel_binder(binder: Callable[[dict[str, Any]], ContextManager[None]] | None) -> None:
    """Used by the judge only: route :func:`with_reference` into the student's kernel."""
    global _kernel_binder
    _kernel_binder = binder


@contextlib.contextmanager
def with_reference(*names: str, assignment: str | None = None) -> Iterator[dict[str, Any]]:
    """Bind ``names`` to their reference definitions for the student's code; restore on exit.

    Yields the mapping ``name -> reference object`` it installed.
    """
    bindings = {name: reference(name, assignment) for name in names}
    frame = inspect.currentframe()
    try:
        caller = frame.f_back.f_back  # the contextmanager machinery sits between us and the cell
        namespace = caller.f_globals
    finally:
        del frame
    # The test cell's own names see the references (a test comparing with ``softmax(z)`` compares
    # with the reference's), and so does the student's code: in this namespace when the notebook
    # runs in one process, in the student's kernel when the judge grades it.
    saved = {name: namespace.get(name, _MISSING) for name in names}
    namespace.update(bindings)
    try:
        if _kernel_binder is not None:
            with _kernel_binder(bindings):
                yield bindings
        else:
            yield bindings
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def dependency_missing(err: BaseException, unit: str, dependency: str) -> str | None:
    """If ``err`` means ``dependency`` is not implemented yet, the message a student should read."""
    if isinstance(err, NotImplementedError) or (isinstance(err, NameError) and dependency in str(err)):
        return (f"{unit} could not be checked: it calls {dependency}, which is not implemented yet. "
                f"Implement {dependency} first; this test will then check {unit} on its own.")
    return None
