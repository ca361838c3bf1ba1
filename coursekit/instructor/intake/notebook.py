"""Reading a submitted notebook and repairing it against the trusted source.

Whatever the file looks like, the notebook that gets graded has every test
cell of the source exactly once, with the source's code (hidden tests
included), type and points; every setup cell restored; the student's own
cells as they wrote them. What was wrong is said in words:

- not valid JSON / not a notebook / too large -> nothing can be run, 0 points;
- a test or setup cell deleted, renamed or moved into another cell type ->
  put back where the source has it;
- a test cell edited or emptied -> its source restored;
- a cell copied (duplicated ``grade_id``): test cells are graded once, at the
  last copy; copies of the student's own cells all run, as they would in
  Jupyter;
- a cell with an unknown ``grade_id`` -> treated as the student's own cell.

The trusted source comes from the gradebook (what ``generate_assignment``
recorded), as nbgrader's own ``OverwriteCells`` uses it.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from typing import Any

import nbformat

from coursekit.instructor.markers import Markers

__all__ = ["NotebookSpec", "Intake", "read_submission", "unit_names"]

MAX_NOTEBOOK_BYTES = 64 << 20


@dataclass
class NotebookSpec:
    """What the gradebook says about one notebook of an assignment (plain data, picklable)."""

    name: str                                   # without .ipynb
    order: list[str]                            # grade ids in source order
    cells: dict[str, dict]                      # grade id -> {cell_type, locked, source, checksum}
    points: dict[str, float]                    # grade id -> points, for grade cells
    solutions: list[str]                        # grade ids of solution cells
    units: list[str] = field(default_factory=list)  # names the solution cells define
    markers: dict | None = None                 # the course's delimiters (Markers.to_dict); None: nbgrader's

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> "NotebookSpec":
        return cls(**d)

    def is_test(self, gid: str) -> bool:
        return gid in self.points and gid not in self.solutions

    def is_setup(self, gid: str) -> bool:
        c = self.cells.get(gid)
        return bool(c and c["locked"] and gid not in self.points and c["cell_type"] == "code")


@dataclass
class Intake:
    status: str                       # "ok", "missing", "broken"
    notebook: Any = None              # nbformat NotebookNode ready to run
    problems: list[str] = field(default_factory=list)


def unit_names(sources: list[str]) -> list[str]:
    """Top-level names bound by solution cells (the student's units)."""
    names: list[str] = []
    for src in sources:
        lines = [line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        for node in tree.body:
            targets = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                targets = [node.name]
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                tl = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in tl:
                    targets += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
            for t in targets:
                if t not in names:
                    names.append(t)
    return names


def visible_part(source: str, markers: dict | None = None) -> str:
    """A test cell as released: without its hidden-test regions (nbgrader's rule, with the
    course's delimiters ``markers``, :meth:`Markers.to_dict`; nbgrader's defaults if None)."""
    return Markers.from_dict(markers).visible_part(source)


def _same_code(a: str, b: str) -> bool:
    norm = lambda s: [line.rstrip() for line in s.strip().splitlines()]  # noqa: E731
    return norm(a) == norm(b)


def _source_text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(x) for x in value)
    return value if isinstance(value, str) else ""


def _nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata")
    if not isinstance(meta, dict):
        return {}
    nbg = meta.get("nbgrader")
    return nbg if isinstance(nbg, dict) else {}


def _restored(spec: NotebookSpec, gid: str) -> nbformat.NotebookNode:
    src = spec.cells[gid]
    meta = {"grade": gid in spec.points, "grade_id": gid, "locked": bool(src["locked"]),
            "schema_version": 3, "solution": gid in spec.solutions, "checksum": src.get("checksum")}
    if gid in spec.points:
        meta["points"] = spec.points[gid]
    if src["cell_type"] == "code":
        cell = nbformat.v4.new_code_cell(src["source"])
    else:
        cell = nbformat.v4.new_markdown_cell(src["source"])
    cell.metadata["nbgrader"] = meta
    if src["locked"]:
        cell.metadata["deletable"] = False
        cell.metadata["editable"] = False
    return cell


def read_submission(path, spec: NotebookSpec) -> Intake:
    """The notebook to grade, rebuilt from ``path`` (which may not exist or be garbage)."""
    import os

    name = os.path.basename(str(path))
    if os.path.islink(path):        # never read through: it may point at solutions/ or anywhere
        return Intake("broken", problems=[f"{name} is a symbolic link, not a notebook file: it was not graded "
                                          "(0 points) and what it points to was not read. Submit the "
                                          "notebook file itself."])
    if not os.path.exists(path):
        return Intake("missing", problems=[f"{name} was not submitted: its tests score 0."])
    try:
        size = os.path.getsize(path)
        if size > MAX_NOTEBOOK_BYTES:
            return Intake("broken", problems=[f"{name} is {size >> 20} MiB, over the "
                                              f"{MAX_NOTEBOOK_BYTES >> 20} MiB limit: not graded (0 points)."])
        with open(path, "rb") as f:
            raw = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        return Intake("broken", problems=[f"{name} is not a valid notebook file (not valid JSON: {err}). "
                                          "Nothing could be run: 0 points. Did the file get cut off or "
                                          "edited outside Jupyter?"])
    except OSError as err:
        return Intake("broken", problems=[f"{name} could not be read: {err}"])
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return Intake("broken", problems=[f"{name} is valid JSON but not a notebook (no list of cells): 0 points."])

    problems: list[str] = []
    rows: list[tuple[str, Any]] = []   # ("student", cell) or ("locked", gid)
    seen_locked: dict[str, int] = {}
    solution_seen: dict[str, int] = {}
    for index, cell in enumerate(raw["cells"]):
        if not isinstance(cell, dict):
            problems.append(f"cell {index + 1} is malformed and was skipped.")
            continue
        ctype = cell.get("cell_type")
        source = _source_text(cell.get("source", ""))
        nbg = _nbgrader_meta(cell)
        gid = nbg.get("grade_id") if isinstance(nbg.get("grade_id"), str) else None
        if gid is not None and gid in spec.cells:
            src = spec.cells[gid]
            if src["locked"]:
                seen_locked[gid] = seen_locked.get(gid, 0) + 1
                if ctype != src["cell_type"]:
                    problems.append(f"the cell {gid!r} was changed from {src['cell_type']} to {ctype}; "
                                    "it was restored.")
                elif not (_same_code(source, src["source"]) or _same_code(source, visible_part(src["source"], spec.markers))):
                    what = "emptied" if not source.strip() else "edited"
                    problems.append(f"the locked cell {gid!r} was {what}; the original was restored.")
                rows.append(("locked", gid))
                continue
            # a solution cell: the student's code, in the source's cell type
            solution_seen[gid] = solution_seen.get(gid, 0) + 1
            if ctype != src["cell_type"]:
                problems.append(f"your cell {gid!r} was turned into a {ctype} cell; it was run as "
                                f"{src['cell_type']} again.")
            rows.append(("solution", (gid, source)))
            continue
        if gid is not None or nbg.get("grade") or nbg.get("solution") or nbg.get("locked"):
            problems.append(f"cell {index + 1} carries grading marks ({'grade_id ' + repr(gid) if gid else 'no grade_id'}) "
                            "that are not in the assignment: it was treated as your own cell.")
        if ctype in ("code", "markdown"):
            rows.append(("student", (ctype, source)))
        # raw cells and unknown types are not run

    # duplicated locked cells: test cells graded once at the last copy, setup cells kept at the first
    for gid, n in seen_locked.items():
        if n > 1:
            keep_last = spec.is_test(gid)
            problems.append(f"the cell {gid!r} appears {n} times (copied?): it was kept once, at its "
                            f"{'last' if keep_last else 'first'} position.")
            positions = [i for i, r in enumerate(rows) if r[0] == "locked" and r[1] == gid]
            drop = positions[:-1] if keep_last else positions[1:]
            for i in drop:
                rows[i] = ("drop", None)
    for gid, n in solution_seen.items():
        if n > 1:
            problems.append(f"your cell {gid!r} appears {n} times (split or copied): all copies were run, "
                            "in order.")
    rows = [r for r in rows if r[0] != "drop"]

    # missing locked cells: put back after the previous source cell present
    present = {r[1] if r[0] == "locked" else r[1][0] for r in rows if r[0] in ("locked", "solution")}
    for pos, gid in enumerate(spec.order):
        if gid in present or not spec.cells.get(gid, {}).get("locked"):
            continue
        anchor = None
        for prev in reversed(spec.order[:pos]):
            if prev in present:
                anchor = prev
                break
        insert_at = 0
        if anchor is not None:
            idxs = [i for i, r in enumerate(rows)
                    if (r[0] == "locked" and r[1] == anchor) or (r[0] == "solution" and r[1][0] == anchor)]
            insert_at = idxs[-1] + 1 if idxs else len(rows)
        rows.insert(insert_at, ("locked", gid))
        present.add(gid)
        if spec.is_test(gid):
            problems.append(f"the test cell {gid!r} was missing (deleted or renamed?); it was put back.")
        elif spec.cells[gid]["cell_type"] == "code":
            problems.append(f"the setup cell {gid!r} was missing; it was put back.")
    for gid in spec.solutions:
        if gid not in present:
            problems.append(f"your answer cell {gid!r} is missing (deleted, or its grading marks removed?): "
                            "its tests will fail unless the code is elsewhere in the notebook.")

    nb = nbformat.v4.new_notebook()
    meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    nb.metadata = nbformat.from_dict({k: v for k, v in meta.items() if k in ("kernelspec", "language_info")})
    last_solution = {}
    for i, r in enumerate(rows):
        if r[0] == "solution":
            last_solution[r[1][0]] = i
    for i, (kind, item) in enumerate(rows):
        if kind == "locked":
            nb.cells.append(_restored(spec, item))
        elif kind == "solution":
            gid, source = item
            src = spec.cells[gid]
            cell = (nbformat.v4.new_code_cell(source) if src["cell_type"] == "code"
                    else nbformat.v4.new_markdown_cell(source))
            if last_solution[gid] == i:
                meta = {"grade": gid in spec.points, "grade_id": gid, "locked": False, "schema_version": 3,
                        "solution": True, "checksum": src.get("checksum")}
                if gid in spec.points:
                    meta["points"] = spec.points[gid]
                cell.metadata["nbgrader"] = meta
            nb.cells.append(cell)
        else:
            ctype, source = item
            nb.cells.append(nbformat.v4.new_code_cell(source) if ctype == "code"
                            else nbformat.v4.new_markdown_cell(source))
    return Intake("ok", notebook=nb, problems=problems)
