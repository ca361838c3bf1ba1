"""How long a student waits for ``coursekit check``, against a kernel start-up measured in the same run.

    python bench/bench_selfcheck.py [ASSIGNMENT ...] [--repeat N]

For each assignment (default: all): baseline = executing an empty notebook with
nbclient (kernel start and shutdown); then ``check_notebook`` on the solved
submission and on the blank release. Prints medians and their ratio to the
baseline. Nothing is asserted: it is a report.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coursekit.instructor.course import Course  # noqa: E402
from coursekit.instructor.intake.submissions import build_submission  # noqa: E402
from coursekit.selfcheck import check_notebook  # noqa: E402

from common import median_ms  # noqa: E402


def timed(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls of ``fn()``."""
    return median_ms(lambda i: fn(), repeat) / 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    course = Course(ROOT)
    empty = nbformat.v4.new_notebook()
    base = timed(lambda: NotebookClient(nbformat.from_dict(empty), kernel_name="python3").execute(), args.repeat)
    print(f"baseline (empty notebook, kernel start + stop): {base:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        for a in args.assignment or course.assignments():
            solved = build_submission(course, a, "solved", solve="all", submitted_root=Path(tmp) / "s")
            for label, folder in (("solved", solved), ("blank", course.release / a)):
                nb = next(iter(sorted(folder.glob("*.ipynb"))))
                t = timed(lambda: check_notebook(nb), args.repeat)
                print(f"{a:<14} check {label:<6}: {t:6.2f} s  ({t / base:5.1f}x the kernel start-up)")


if __name__ == "__main__":
    main()
