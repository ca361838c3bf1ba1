"""What the benchmark scripts share: timing, a printed table, and the reference functions.

Benchmarks stand in for a student with the solved reference (read from
``solutions/`` by :func:`coursekit.grading.reference.reference_namespace`), so no
solution code is written twice. Run them from the repository root.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parents[1]


def median_ms(fn: Callable[[int], object], runs: int) -> float:
    """Median wall time of ``fn(i)`` over ``runs`` calls, in milliseconds."""
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def print_rows(rows: Iterable[tuple[str, float]], header: str, unit: str = "ms") -> None:
    """``name  value unit`` rows, names padded to one column."""
    rows = list(rows)
    width = max(len(name) for name, _ in rows)
    print(header)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:9.2f} {unit}")


def reference(assignment: str) -> SimpleNamespace:
    """The reference definitions of ``assignment`` (functions, classes) from ``solutions/``."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from coursekit.grading.reference import reference_namespace

    return reference_namespace(assignment, root=ROOT)
