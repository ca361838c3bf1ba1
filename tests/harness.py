"""Test harness: run a notebook's test cells in-process, without a kernel.

Fast enough to try every deliberately wrong implementation (a "mutant") against
every test cell, including the hidden ones, in a second or two. The end-to-end
tests then confirm the same verdicts through real nbgrader grading.
"""
from __future__ import annotations

import contextlib
import io
import linecache
import os
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
_MAGIC = re.compile(r"^\s*[%!].*$", re.M)


def notebook_path(assignment: str) -> Path:
    paths = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    assert len(paths) == 1, f"expected one notebook in solutions/{assignment}, found {paths}"
    return paths[0]


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@dataclass
class CellResult:
    grade_id: str
    points: float
    passed: bool
    message: str = ""
    output: str = ""


@dataclass
class RunResult:
    cells: dict[str, CellResult] = field(default_factory=dict)
    namespace: dict = field(default_factory=dict, repr=False)  # the notebook's globals after the run
    partial: bool = False  # stopped early (run_tests' stop_after): later test cells are not in ``cells``

    def failed(self) -> list[str]:
        return [gid for gid, c in self.cells.items() if not c.passed]

    def score(self) -> float:
        return sum(c.points for c in self.cells.values() if c.passed)

    def max_score(self) -> float:
        return sum(c.points for c in self.cells.values())


def run_tests(assignment: str, replace: dict[str, str] | None = None,
              blank: bool = False, seed: int | None = 1234,
              stop_after: set[str] | frozenset = frozenset()) -> RunResult:
    """Execute setup cells, solution cells (reference code, or ``replace``d) and every test cell.

    Free code cells (plots, widgets, training) are skipped: test cells must not
    depend on them. ``blank`` replaces every solution with the release stub.
    ``stop_after``: stop once these test cells have run. A cell's verdict depends only on the
    cells before it (they run in order, and a recorded verdict is never changed), so the verdicts
    of these cells and of every cell before them are those of the whole run; later cells are
    absent from the result (``partial``).
    """
    matplotlib.use("Agg")
    nb = nbformat.read(notebook_path(assignment), as_version=4)
    replace = dict(replace or {})
    ns: dict = {"__name__": "__main__"}
    result = RunResult()
    result.namespace = ns
    old_cwd = os.getcwd()
    old_seed = os.environ.get("COURSEKIT_SEED")
    if seed is not None:
        os.environ["COURSEKIT_SEED"] = str(seed)
    os.chdir(notebook_path(assignment).parent)
    try:
        for cell in nb.cells:
            m = meta(cell)
            if cell.cell_type != "code":
                continue
            source = _MAGIC.sub("", cell.source)
            if m.get("solution"):
                gid = m["grade_id"]
                if blank:
                    source = _stub(source)
                source = replace.pop(gid, source)
                filename = f"<cell {gid}>"
                linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
                exec(compile(source, filename, "exec"), ns)
            elif m.get("grade"):
                out = io.StringIO()
                try:
                    with contextlib.redirect_stdout(out):
                        exec(compile(source, f"<{m['grade_id']}>", "exec"), ns)
                    result.cells[m["grade_id"]] = CellResult(m["grade_id"], m["points"], True,
                                                             output=out.getvalue())
                except Exception as err:  # noqa: BLE001 - any failure fails the cell
                    msg = f"{type(err).__name__}: {err}"
                    if not str(err):
                        msg += "\n" + traceback.format_exc(limit=-2)
                    result.cells[m["grade_id"]] = CellResult(m["grade_id"], m["points"], False,
                                                             message=msg, output=out.getvalue())
            elif m.get("locked"):
                exec(compile(source, "<setup>", "exec"), ns)
            if stop_after and set(stop_after) <= set(result.cells):
                result.partial = True
                break
    finally:
        os.chdir(old_cwd)
        if seed is not None:
            if old_seed is None:
                os.environ.pop("COURSEKIT_SEED", None)
            else:
                os.environ["COURSEKIT_SEED"] = old_seed
    assert not replace, f"no solution cell named {sorted(replace)}"
    return result


def _stub(source: str) -> str:
    """What nbgrader's ClearSolutions leaves of a solution cell."""
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == "### BEGIN SOLUTION":
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError('not implemented yet')")
            inside = True
        elif line.strip() == "### END SOLUTION":
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def unit_tests(result: RunResult, unit: str, units: list[str]) -> list[str]:
    """The test cells that belong to ``unit`` (longest-prefix rule, as the grader uses)."""
    from coursekit.instructor.store.results import unit_of

    return [gid for gid in result.cells if unit_of(gid, units) == unit]


def graded_cells_of(assignment: str) -> list[str]:
    """The grade ids of the notebook's test cells, in order."""
    nb = nbformat.read(notebook_path(assignment), as_version=4)
    return [meta(c)["grade_id"] for c in nb.cells
            if c.cell_type == "code" and meta(c).get("grade") and not meta(c).get("solution")]


def units_of(assignment: str) -> list[str]:
    nb = nbformat.read(notebook_path(assignment), as_version=4)
    return [meta(c)["grade_id"] for c in nb.cells if meta(c).get("solution")]


# ----------------------------------------------------------------------------
# the checks every assignment's test module makes
# ----------------------------------------------------------------------------
def assert_full_marks(assignment: str, seeds=(1, 2, 3)) -> None:
    """The reference passes every test cell, whatever the hidden inputs' seed."""
    for seed in seeds:
        result = run_tests(assignment, seed=seed)
        assert result.failed() == [], {g: result.cells[g].message for g in result.failed()}


def assert_blank_scores_zero(assignment: str) -> None:
    """The release's stubs earn nothing, and every failure says "not implemented yet"."""
    result = run_tests(assignment, blank=True)
    assert result.score() == 0
    for cell in result.cells.values():
        assert "not implemented yet" in cell.message, (cell.grade_id, cell.message)


def assert_mutant_caught(assignment: str, mutant, units: list[str], seed: int | None = 1234,
                         only_own_unit: bool = False, stop_after_unit: bool = False) -> RunResult:
    """A wrong implementation fails a test of its own unit, with a message matching ``mutant.expect``.

    With ``stop_after_unit`` (not with ``only_own_unit``, which looks at every unit's verdicts), the
    run stops after the last test cell of the mutant's unit: those verdicts are the whole run's (see
    ``run_tests``), and the later cells (04's training, for instance) are not paid for; the result
    then holds only the cells up to there.
    """
    import re

    from coursekit.instructor.store.results import unit_of

    own_cells = {g for g in graded_cells_of(assignment) if unit_of(g, units) == mutant.unit}
    result = run_tests(assignment, replace={mutant.unit: mutant.code}, seed=seed,
                       stop_after=own_cells if stop_after_unit and not only_own_unit else frozenset())
    own = unit_tests(result, mutant.unit, units)
    failed_own = [g for g in own if g in result.failed()]
    assert failed_own, f"{mutant.name}: no test of {mutant.unit} failed"
    messages = " | ".join(result.cells[g].message for g in failed_own)
    assert re.search(mutant.expect, messages, re.I), f"{mutant.name}: message was {messages}"
    assert "AssertionError: \n" not in messages
    if only_own_unit:
        others = [g for g in result.failed() if g not in own]
        assert others == [], f"{mutant.name} also failed tests of other units: {others}"
    return result
