"""The student-only tree: what an instructor publishes for students.

``coursekit release --student-dir DIR`` writes, from the generated release::

    DIR/
      README.md              for students: Binder link, local install, how grading works
      assignments/<id>/...   the release notebooks (stubs, visible tests only)
      coursekit/             the kit's source, installed by binder/postBuild
      pyproject.toml
      binder/                requirements.txt, runtime.txt, postBuild (what Binder builds)
      .gitignore

and nothing else: no ``solutions/``, no hidden test, no gradebook, no submissions, no
nbgrader configuration, no test suite (so no mutant catalogue). :func:`leaks` scans a
tree for any of those; :func:`write_student_tree` runs it on what it wrote and refuses
to leave a leaking tree behind.

Push ``DIR`` as its own repository and point the Binder badge at it: the notebooks keep
the same paths (``assignments/<id>/<name>.ipynb``) as in the course repository.
"""
from __future__ import annotations

import json
import shutil
import string
import sys
from dataclasses import dataclass
from pathlib import Path

from .course import Course

__all__ = ["StudentTree", "write_student_tree", "leaks", "binder_url", "kit_source",
           "FORBIDDEN_TEXT", "MARKER_FILE"]

#: nbgrader's markers of solutions and hidden tests. No notebook of a student tree may
#: contain them anywhere, and no other file may hold a marker line (``### BEGIN SOLUTION``);
#: the kit's own code may still *mention* them (it parses them when grading).
#: (Spelled in two parts, so that this very file, which goes into the tree, holds none.)
FORBIDDEN_TEXT = tuple(f"{edge} {what}" for what in ("SOLUTION", "HIDDEN TESTS")
                       for edge in ("BEGIN", "END"))
#: Names that must not occur anywhere in a student tree (instructor-side folders and files).
FORBIDDEN_NAMES = ("solutions", "source", "submitted", "autograded", "feedback", "exchange",
                   "gradebook.db", "nbgrader_config.py", "tests", "mutants", "grades.csv",
                   "reports")
#: Written at the top of a student tree, so that a re-run may replace it (and nothing else).
MARKER_FILE = ".coursekit-student-tree"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info",
                                 ".pytest_cache", ".DS_Store")
_GITIGNORE = """\
.ipynb_checkpoints/
__pycache__/
*.egg-info/
.venv/
build/
"""


@dataclass(frozen=True)
class StudentTree:
    root: Path
    assignments: tuple[str, ...]
    notebooks: tuple[Path, ...]   # relative to root
    binder_repo: str | None


def kit_source(course: Course) -> Path:
    """The folder holding ``pyproject.toml``, ``coursekit/`` and ``binder/`` of the kit.

    The course root when it is the kit's repository; otherwise the checkout this
    ``coursekit`` is imported from (an editable install).
    """
    candidates = [course.root, Path(__file__).resolve().parents[2]]
    for folder in candidates:
        if ((folder / "pyproject.toml").is_file() and (folder / "coursekit" / "__init__.py").is_file()
                and (folder / "binder" / "requirements.txt").is_file()):
            return folder
    raise FileNotFoundError(
        "cannot find the coursekit source (pyproject.toml, coursekit/, binder/) at the course "
        f"root {course.root} or beside the imported package: write the student tree from the "
        "kit's repository or from an editable install (pip install -e .)")


def binder_url(binder_repo: str | None, path: str | None = None) -> str:
    """A mybinder.org launch link for ``OWNER/REPO[@REF]`` opening JupyterLab (on ``path``)."""
    repo, _, ref = (binder_repo or "OWNER/REPO").partition("@")
    url = f"https://mybinder.org/v2/gh/{repo}/{ref or 'HEAD'}"
    return f"{url}?urlpath=lab/tree/{path}" if path else f"{url}?urlpath=lab"


def _title(notebook: Path) -> str:
    """The first Markdown heading of a notebook (its file name if it has none)."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return notebook.stem
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        for line in source.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip().replace("|", "/")
    return notebook.stem


def _readme(tree_root: Path, assignments, notebooks, binder_repo, python_version) -> str:
    template = (Path(__file__).with_name("student_readme.md")).read_text(encoding="utf-8")
    rows = []
    for nb in notebooks:
        rel = nb.as_posix()
        assignment = nb.parts[1]
        rows.append(f"| {assignment} | [{_title(tree_root / nb)}]({rel}) | "
                    f"[launch]({binder_url(binder_repo, rel)}) |")
    first = notebooks[0].as_posix() if notebooks else None
    return string.Template(template).safe_substitute(
        course_title="coursekit", binder_lab=binder_url(binder_repo, first),
        assignment_rows="\n".join(rows), python_version=python_version)


def _marker_lines(text: str) -> list[str]:
    """Lines of ``text`` that are nbgrader marker lines (``### BEGIN SOLUTION`` and co)."""
    return [line.strip() for line in text.splitlines()
            if line.strip().lstrip("#").strip() in FORBIDDEN_TEXT]


def leaks(root: str | Path) -> list[str]:
    """What in the tree at ``root`` must not reach students (empty: nothing).

    Any file or folder named like an instructor-side one (``solutions``,
    ``gradebook.db``, ``tests``, ...), any notebook containing a solution or
    hidden-test marker, and any other file with a marker line.
    """
    root = Path(root)
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.name in FORBIDDEN_NAMES or path.name.startswith("gradebook"):
            found.append(f"{rel}: instructor-side {'folder' if path.is_dir() else 'file'}")
            continue
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        if path.suffix == ".ipynb":
            found += [f"{rel}: contains {m!r}" for m in FORBIDDEN_TEXT if m in text]
        else:
            found += [f"{rel}: marker line {m!r}" for m in _marker_lines(text)]
    return found


def _python_version(binder: Path) -> str:
    runtime = binder / "runtime.txt"
    if runtime.is_file():
        text = runtime.read_text().strip()
        if text.startswith("python-"):
            return text[len("python-"):]
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def write_student_tree(course: Course, dest: str | Path, assignments: list[str] | None = None,
                       *, binder_repo: str | None = None) -> StudentTree:
    """Write the student-only tree of ``assignments`` (default: all) into ``dest``.

    Reads the generated release (``assignments/<id>/``: run ``coursekit release``
    first), the kit's source and ``binder/``. ``dest`` must be empty, absent, or a
    student tree written before (which is replaced). Raises ``RuntimeError`` (and
    removes what it wrote) if the result contains anything from :func:`leaks`.
    """
    dest = Path(dest).resolve()
    root = course.root.resolve()
    if dest == root or dest in root.parents:
        raise ValueError(f"the student tree cannot be written into the course itself ({dest})")
    if dest.exists():
        if not dest.is_dir():
            raise FileExistsError(f"{dest} exists and is not a folder")
        if any(dest.iterdir()):
            if not (dest / MARKER_FILE).is_file():
                raise FileExistsError(
                    f"{dest} is not empty and is not a student tree written by coursekit: "
                    "choose an empty or new folder")
            shutil.rmtree(dest)
    kit = kit_source(course)

    assignments = list(assignments or course.assignments())
    notebooks: list[Path] = []
    staged = dest.parent / f".{dest.name}.partial"
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    try:
        for assignment in assignments:
            release = course.release / assignment
            if not any(release.glob("*.ipynb")):
                raise FileNotFoundError(f"no release notebook in {release}: run "
                                        f"`coursekit release {assignment}` first")
            shutil.copytree(release, staged / "assignments" / assignment, ignore=_IGNORE)
            notebooks += sorted(p.relative_to(staged)
                                for p in (staged / "assignments" / assignment).glob("*.ipynb"))
        shutil.copytree(kit / "coursekit", staged / "coursekit", ignore=_IGNORE)
        shutil.copytree(kit / "binder", staged / "binder", ignore=_IGNORE)
        shutil.copy2(kit / "pyproject.toml", staged / "pyproject.toml")
        (staged / ".gitignore").write_text(_GITIGNORE)
        (staged / "README.md").write_text(
            _readme(staged, assignments, notebooks, binder_repo,
                    _python_version(kit / "binder")), encoding="utf-8")
        (staged / MARKER_FILE).write_text(
            "Written by `coursekit release --student-dir`; safe to replace by a new run.\n")
        found = leaks(staged)
        if found:
            raise RuntimeError("the student tree would leak instructor material:\n  "
                               + "\n  ".join(found))
        if dest.exists():
            dest.rmdir()
        staged.rename(dest)
    finally:
        if staged.exists():
            shutil.rmtree(staged)
    return StudentTree(dest, tuple(assignments), tuple(notebooks), binder_repo)
