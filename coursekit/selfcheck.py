"""``coursekit check NOTEBOOK``: a student's self-check before submitting.

Runs the saved notebook from top to bottom in a **fresh kernel** (nbclient),
the way grading will: every cell in order, errors do not stop later cells,
the same time limit per cell (the course's ``Execute.timeout`` when an
``nbgrader_config.py`` is found above the notebook, else grading's default
60 s) and the same output cap per cell (grading keeps 1 MiB). Then scores each
test cell as nbgrader does (any error or stderr output: 0 points) and prints,
per unit, the points of the **visible** tests and the first message of a
failing one. It needs no gradebook, no course folder and no network. The
hidden tests run only at grading, on fresh inputs: passing here is necessary,
not sufficient.

From a terminal::

    coursekit check softmax.ipynb

From the notebook itself (save it first: the check runs the saved file)::

    !coursekit check softmax.ipynb

nbgrader's **Validate** button in JupyterLab runs the same visible tests.
Exit status: 0 when every visible test passes, 1 otherwise, 2 when the
notebook cannot be read.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["check_notebook", "CheckReport", "main", "DEFAULT_CELL_TIMEOUT", "OUTPUT_LIMIT"]

DEFAULT_CELL_TIMEOUT = 60.0     # coursekit.instructor.execute.limits.Limits.cell_timeout
OUTPUT_LIMIT = 1 << 20          # coursekit.instructor.execute.limits.Limits.output
MAX_NOTEBOOK_BYTES = 64 << 20
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class TestResult:
    name: str
    unit: str
    points: float
    max_points: float
    message: str = ""


@dataclass
class CheckReport:
    notebook: Path
    seconds: float
    cell_timeout: float
    tests: list[TestResult] = field(default_factory=list)
    own_errors: list[str] = field(default_factory=list)     # errors in the student's own cells
    notes: list[str] = field(default_factory=list)

    @property
    def units(self) -> dict[str, tuple[float, float, str]]:
        """``{unit: (points, max, first failure message)}`` in notebook order."""
        out: dict[str, list] = {}
        for t in self.tests:
            u = out.setdefault(t.unit, [0.0, 0.0, ""])
            u[0] += t.points
            u[1] += t.max_points
            if t.points < t.max_points and not u[2]:
                u[2] = f"{t.name}: {t.message or 'failed'}"
        return {k: tuple(v) for k, v in out.items()}

    @property
    def passed(self) -> bool:
        return all(t.points >= t.max_points for t in self.tests)


def _course_timeout(notebook: Path) -> float:
    for folder in notebook.resolve().parents:
        if (folder / "nbgrader_config.py").is_file():
            try:
                from traitlets.config.loader import PyFileConfigLoader

                cfg = PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
                value = cfg.get("Execute", {}).get("timeout")
                if isinstance(value, (int, float)) and value > 0:
                    return float(value)
            except Exception:  # noqa: BLE001 - a broken config: the default
                pass
            break
    return DEFAULT_CELL_TIMEOUT


def _message(cell) -> str:
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            ename, evalue = o.get("ename", ""), o.get("evalue", "")
            text = evalue if ename in ("CheckFailed", "AssertionError") and evalue else f"{ename}: {evalue}"
            return _ANSI.sub("", text).strip()
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream" and o.get("name") == "stderr":
            return ("the cell wrote to stderr (a warning?), which scores 0: "
                    + _ANSI.sub("", o.get("text", "")).strip()[-300:])
    return ""


def determine_grade(cell) -> tuple[float, float]:
    """nbgrader's ``determine_grade`` when nbgrader is installed; else the same rule for test cells
    (an error or stderr output: 0; a numeric last result: partial credit; otherwise full points)."""
    try:
        from nbgrader.utils import determine_grade as nbgrader_grade
    except ImportError:
        nbgrader_grade = None
    if nbgrader_grade is not None:
        return nbgrader_grade(cell)
    max_points = float(cell.metadata["nbgrader"]["points"])
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error" or (o.get("output_type") == "stream" and o.get("name") == "stderr"):
            return 0.0, max_points
    for o in cell.get("outputs", []):
        if o.get("output_type") == "execute_result":
            try:
                value = float(o.get("data", {}).get("text/plain", ""))
            except ValueError:
                break
            return (value, max_points) if 0 <= value <= max_points else (max_points, max_points)
    return max_points, max_points


def _output_bytes(cell) -> int:
    import json

    return len(json.dumps(cell.get("outputs", [])))


def _start_kernel(cwd: str):
    """A fresh ``python3`` kernel started now, as nbclient would start it (its history in memory),
    so that it boots while this process imports the notebook libraries."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    km = AsyncKernelManager(kernel_name="python3")
    run_sync(km.start_kernel)(extra_arguments=["--HistoryManager.hist_file=:memory:"], cwd=cwd)
    return km


def _import_nbgrader() -> None:
    """nbgrader's scoring rule is imported while the notebook runs (importing nbgrader takes seconds)."""
    try:
        import nbgrader.utils  # noqa: F401
    except Exception:  # noqa: BLE001 - determine_grade falls back to the same rule
        pass


def check_notebook(path: str | os.PathLike, cell_timeout: float | None = None) -> CheckReport:
    """Run the notebook in a fresh kernel and score its visible tests (see the module docstring).

    The kernel starts first, then this process imports nbformat and nbclient and reads the
    notebook while it boots; nbgrader is imported in a thread while the cells run."""
    import threading

    path = Path(path)
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"{path} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB: grading would not run it")
    start = time.perf_counter()
    env_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    km = None
    try:
        km = _start_kernel(str(path.parent.resolve()))
        loader = threading.Thread(target=_import_nbgrader, daemon=True)
        loader.start()
        import nbformat
        from nbclient import NotebookClient

        nb = nbformat.read(path, as_version=4)
        timeout = cell_timeout or _course_timeout(path)
        client = NotebookClient(nb, km=km, timeout=timeout, interrupt_on_timeout=True, allow_errors=True,
                                kernel_name="python3", resources={"metadata": {"path": str(path.parent.resolve())}})
        client.execute(cleanup_kc=True)
        km = None                       # nbclient shut it down
        loader.join()
    finally:
        if km is not None:              # the notebook could not be read or run: stop the kernel
            from jupyter_core.utils import run_sync

            try:
                run_sync(km.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001
                pass
        if env_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_backend
    from .grading.units import unit_of

    report = CheckReport(path, time.perf_counter() - start, timeout)
    units = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
             if c.get("metadata", {}).get("nbgrader", {}).get("solution")
             and c.metadata["nbgrader"].get("grade_id")]
    for index, cell in enumerate(nb.cells, start=1):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if _output_bytes(cell) > OUTPUT_LIMIT:
            report.notes.append(f"cell {index} printed more than {OUTPUT_LIMIT >> 20} MiB: grading cuts it there")
        if meta.get("grade") and not meta.get("solution"):
            points, max_points = determine_grade(cell)
            name = str(meta.get("grade_id", f"cell {index}"))
            report.tests.append(TestResult(name, unit_of(name, units), float(points or 0.0),
                                           float(max_points), _message(cell)))
        elif not meta.get("locked"):
            msg = _message(cell)
            if msg and any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                where = f"cell {index}" + (f" ({meta['grade_id']})" if meta.get("grade_id") else "")
                report.own_errors.append(f"{where}: {msg}")
    return report


def format_report(report: CheckReport) -> str:
    lines = [f"coursekit check {report.notebook.name}: ran in {report.seconds:.1f} s "
             f"(fresh kernel, {report.cell_timeout:g} s per cell, visible tests only)"]
    units = report.units
    width = max([len(u) for u in units] + [4])
    for unit, (got, out_of, msg) in units.items():
        state = "ok  " if got >= out_of else "FAIL"
        line = f"  {state} {unit:<{width}}  {got:g}/{out_of:g}"
        if msg:
            line += "  " + " ".join(msg.split())[:300]
        lines.append(line)
    if report.own_errors:
        lines.append("errors in your own cells (fix these first):")
        lines += [f"  {e[:300]}" for e in report.own_errors[:10]]
    lines += [f"note: {n}" for n in report.notes]
    got = sum(t.points for t in report.tests)
    total = sum(t.max_points for t in report.tests)
    lines.append(f"visible tests: {got:g}/{total:g} points. Grading also runs hidden tests on fresh inputs: "
                 "passing these is necessary, not sufficient.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="coursekit check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per cell (default: the course's)")
    args = parser.parse_args(argv)
    try:
        report = check_notebook(args.notebook, args.timeout)
    except (OSError, ValueError) as err:
        print(f"coursekit check: cannot run {args.notebook}: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0 if report.passed and not report.own_errors else 1


if __name__ == "__main__":
    sys.exit(main())
