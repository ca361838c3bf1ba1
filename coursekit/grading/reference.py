"""The solved reference, loaded from the one place it lives: ``solutions/``.

Hidden tests compare a student's function with the reference implementation on
fresh inputs. The reference is never copied: this module reads the solved
source notebook, runs its definitional cells (imports, function and class
definitions; nothing that trains or plots) in a private namespace and hands
out the names defined there.

Only the instructor's side has ``solutions/``; hidden tests (which call this)
are stripped from the student release.
"""
from __future__ import annotations

import ast
import functools
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["reference", "reference_namespace", "find_course_root", "ReferenceNotFound"]

ROOT_VARIABLE = "COURSEKIT_COURSE_ROOT"
_DEFINITIONAL = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)


class ReferenceNotFound(LookupError):
    """The reference solution could not be located (not on the instructor's side?)."""


def find_course_root(start: str | os.PathLike | None = None) -> Path:
    """The course root: ``$COURSEKIT_COURSE_ROOT``, else the nearest folder above
    ``start`` (default: the working directory) holding ``nbgrader_config.py`` and
    ``solutions/``."""
    env = os.environ.get(ROOT_VARIABLE)
    if env:
        return Path(env).resolve()
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    raise ReferenceNotFound(
        f"no course root (a folder with nbgrader_config.py and solutions/) above {here}; "
        f"hidden tests run only where the solutions are (set {ROOT_VARIABLE} to point at it)"
    )


def _definitions(source: str) -> ast.Module | None:
    """The top-level imports, definitions and constants of a cell (None if there are none).

    IPython magics (``%matplotlib inline``) are dropped; statements that do work
    (training, plotting, printing) are skipped.
    """
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return None
    keep = []
    for node in tree.body:
        if isinstance(node, _DEFINITIONAL):
            keep.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            try:
                ast.literal_eval(node.value)
            except ValueError:
                continue
            keep.append(node)
    return ast.Module(body=keep, type_ignores=[]) if keep else None


@functools.lru_cache(maxsize=None)
def _load(path: str, mtime: float) -> dict[str, Any]:
    import nbformat  # instructor side only: students' installs need not have it

    nb = nbformat.read(path, as_version=4)
    namespace: dict[str, Any] = {"__name__": f"coursekit_reference_{Path(path).stem}"}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        # the reference: solution cells and the locked (instructor-written) setup
        # cells; test cells and free code cells (plots, training) are not part of it
        if cell.cell_type != "code" or not (meta.get("solution") or
                                             (meta.get("locked") and not meta.get("grade"))):
            continue
        module = _definitions(cell.source)
        if module is not None:
            exec(compile(module, f"<reference {Path(path).name}>", "exec"), namespace)
    return namespace


def reference_namespace(assignment: str | None = None, root: str | os.PathLike | None = None) -> SimpleNamespace:
    """Every name the reference notebooks of ``assignment`` (default: all) define."""
    base = find_course_root(root) / "solutions"
    folders = [base / assignment] if assignment else sorted(p for p in base.iterdir() if p.is_dir())
    merged: dict[str, Any] = {}
    for folder in folders:
        for nb_path in sorted(folder.glob("*.ipynb")):
            merged.update(_load(str(nb_path), nb_path.stat().st_mtime))
    return SimpleNamespace(**{k: v for k, v in merged.items() if not k.startswith("__")})


def _current_assignment(root: Path) -> str | None:
    """The assignment being graded, from the working directory's name
    (``autograded/<student>/<assignment>/`` or ``solutions/<assignment>/``)."""
    name = Path(os.getcwd()).name
    return name if (root / "solutions" / name).is_dir() else None


def reference(name: str, assignment: str | None = None) -> Any:
    """The reference definition of ``name`` (a function or class), e.g. ``reference("softmax")``.

    ``assignment`` defaults to the one being graded (from the working directory);
    failing that, every assignment's reference is searched.
    """
    if assignment is None:
        assignment = _current_assignment(find_course_root())
    namespace = reference_namespace(assignment)
    try:
        return getattr(namespace, name)
    except AttributeError:
        raise ReferenceNotFound(f"no reference definition of {name!r} in solutions/") from None
