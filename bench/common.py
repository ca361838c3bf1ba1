"""What the benchmark scripts share: timing, a printed table, and the reference functions.

Every script times with :func:`time_once` / :func:`median_ms` (one harness), and stands
in for a student with the solved reference (read from ``solutions/`` by
:func:`coursekit.grading.reference.reference_namespace`), so no solution code is written
twice. Run them from the repository root as ``python bench/<script>.py`` (this folder is
then on ``sys.path``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterable, TypeVar

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def time_once(fn: Callable[[], T]) -> tuple[float, T]:
    """``(seconds, fn())``: the wall time of one call and what it returned."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def median_ms(fn: Callable[[int], object], runs: int) -> float:
    """Median wall time of ``fn(i)`` over ``runs`` calls (``i = 0 .. runs - 1``), in milliseconds."""
    return 1e3 * statistics.median(time_once(lambda: fn(i))[0] for i in range(runs))


def parse_runs(doc: str, default: int) -> int:
    """``--runs N`` from the command line (default ``default``); ``doc``'s first line is the help."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=int, default=default, help=f"timed calls per row (default {default})")
    return parser.parse_args().runs


def print_rows(rows: Iterable[tuple], header: str, unit: str = "ms") -> None:
    """``name  value unit`` rows, names padded to one column.

    A row is ``(name, value)`` (printed in ``unit``) or ``(name, value, its_unit)``.
    """
    rows = [(row[0], row[1], row[2] if len(row) > 2 else unit) for row in rows]
    width = max(len(name) for name, _, _ in rows)
    print(header)
    for name, value, its_unit in rows:
        print(f"  {name:<{width}}  {value:9.2f} {its_unit}")


def reference(assignment: str) -> SimpleNamespace:
    """The reference definitions of ``assignment`` (functions, classes) from ``solutions/``."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from coursekit.grading.reference import reference_namespace

    return reference_namespace(assignment, root=ROOT)
