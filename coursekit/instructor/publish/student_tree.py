"""The student-only tree: what an instructor publishes for students.

``coursekit release --student-dir DIR`` writes, from the generated release::

    DIR/
      README.md              for students: Binder link, local install, how grading works
      assignments/<id>/...   the release notebooks (stubs, visible tests only), and the
                             files each declares (``metadata.coursekit.files``)
      coursekit/             the student-facing part of the kit, installed by binder/postBuild
      pyproject.toml         the kit's, without the instructor's ``coursekit`` command
      binder/                requirements.txt, runtime.txt, postBuild (what Binder builds)
      .gitignore

Everything is copied from an **allow-list**, never by copying a folder and removing
what looks wrong: from ``assignments/<id>/`` only the ``*.ipynb`` and the files their
metadata declares (a grades CSV or a database saved there stays behind); from
``coursekit/`` only :data:`KIT_FILES`, the ``widgets`` package and the helpers
notebooks' test cells import (``coursekit.grading``, :data:`STUDENT_GRADING_MODULES`) --
never ``cli.py`` or the instructor's package ``coursekit.instructor`` (sandbox, judge,
gradebook, release, ...). Every import of ``coursekit`` in what is shipped (modules
and notebooks) must resolve inside the tree, or the tree is refused.

Then :func:`leaks` searches what was written, and :func:`write_student_tree` refuses
(and removes it) if it finds instructor material: instructor-side names
(``solutions/``, ``gradebook.db``, ``tests/``, ...), kit modules outside the
allow-list, grades (a CSV with score columns), databases (sqlite files by their
magic bytes, ``*.db``), nbgrader's solution and hidden-test markers, and the text of
every solution in ``solutions/``.

Push ``DIR`` as its own repository and point the Binder badge at it: the notebooks keep
the same paths (``assignments/<id>/<name>.ipynb``) as in the course repository.
"""
from __future__ import annotations

import ast
import coursekit
import csv
import json
import re
import shutil
import string
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from coursekit.instructor.course import Course, MissingInput
from coursekit.instructor.markers import Markers

__all__ = ["StudentTree", "write_student_tree", "leaks", "binder_url", "kit_source",
           "declared_files", "solution_texts", "FORBIDDEN_TEXT", "MARKER_FILE", "KIT_FILES",
           "STUDENT_GRADING_MODULES"]

#: nbgrader's default markers of solutions and hidden tests (``begin solution, end solution,
#: begin hidden, end hidden``; a course may configure others: :class:`Markers`). No notebook
#: of a student tree may contain them anywhere, and no other file may hold a marker line;
#: the kit's own code may still *mention* them. (Read from nbgrader, never spelled here,
#: so that no file of the kit holds a marker line.)
FORBIDDEN_TEXT = Markers.default().all
#: Names that must not occur anywhere in a student tree (instructor-side folders and files).
FORBIDDEN_NAMES = ("solutions", "source", "submitted", "autograded", "feedback", "coursekit-feedback",
                   "exchange", "downloaded", "gradebook.db", "nbgrader_config.py", "tests", "mutants",
                   "grades.csv", "reports", "extensions.json")
#: The kit's files students get (paths under ``coursekit/``), besides ``widgets/*.py`` and
#: ``grading/<STUDENT_GRADING_MODULES>.py``. Not ``cli.py`` (the instructor's command), not
#: data the grader holds back.
KIT_FILES = ("__init__.py", "augment.py", "data.py", "gradcheck.py", "layers.py", "plots.py",
             "selfcheck.py", "solver.py", "surfaces.py", "data/digits.npz", "data/diagnosis_curves.npz")
KIT_PACKAGES = ("widgets",)
#: The helpers of ``coursekit.grading`` that notebooks' test cells import (``from
#: coursekit.grading import run_unit, expect_close, ...``): listed, so that a module added
#: there is shipped only once someone decides students get it. ``coursekit.instructor``
#: (the grading pipeline and the course operations) never is.
STUDENT_GRADING_MODULES = ("__init__", "checks", "compare", "dependencies", "reference",
                           "measured", "seeds", "tolerances", "tracing", "units")
#: Text files searched for grades (a header with a score-like column).
_TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".dat", ""}
_SCORE_COLUMN = re.compile(r"^(.*[\s_-])?(auto_?|manual_?|max_?)?(score|grade|points|marks?|total)"
                           r"s?([\s_-].*)?$", re.I)
_DATABASE_SUFFIXES = {".db", ".sqlite", ".sqlite3", ".db3", ".xlsx", ".xls", ".ods"}
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Solution bodies shorter than this (after normalising) are not searched for (a one-line
#: ``return np.argmax(...)`` may well appear as a hint in the text).
MIN_SOLUTION_CHARS = 40
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
    candidates = [course.root, Path(coursekit.__file__).resolve().parents[1]]
    for folder in candidates:
        if ((folder / "pyproject.toml").is_file() and (folder / "coursekit" / "__init__.py").is_file()
                and (folder / "binder" / "requirements.txt").is_file()):
            return folder
    raise MissingInput(
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


def _marker_lines(text: str, markers: Markers) -> list[str]:
    """Lines of ``text`` that are nothing but an nbgrader marker (and comment marks)."""
    return [line.strip() for line in text.splitlines() if markers.is_bare_marker_line(line)]


def _normalized(text: str) -> str:
    """``text`` with each line stripped and blank lines dropped (indentation-proof search)."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def solution_texts(solutions: Path, markers: Markers | None = None) -> list[str]:
    """The text of every solution in the solved notebooks under ``solutions`` (normalised).

    A solution cell's body between the begin and end solution markers (``markers``: the
    course's, nbgrader's defaults if None; the whole cell when it has none: a written
    answer). Left out: bodies shorter than :data:`MIN_SOLUTION_CHARS`, and bodies that the
    solved notebooks also give away outside any solution (given code of a later
    assignment), which the release rightly contains.
    """
    import nbformat

    markers = markers or Markers.default()
    bodies, given = [], []
    for path in sorted(Path(solutions).glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("solution"):
                found = markers.solution_bodies(cell.source)
                bodies += found if found else [cell.source]
                given.append(_normalized(markers.without_solutions(cell.source)))
            else:
                given.append(_normalized(cell.source))
    published = "\n".join(given)
    texts = {_normalized(b) for b in bodies}
    return sorted(t for t in texts if len(t) >= MIN_SOLUTION_CHARS and t not in published)


def _notebook_text(text: str) -> str | None:
    """The cells' sources and text outputs of a notebook file (None: not a notebook)."""
    try:
        nb = json.loads(text)
    except ValueError:
        return None
    parts = []
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        source = cell.get("source", "")
        parts.append("".join(source) if isinstance(source, list) else str(source))
        for out in cell.get("outputs", []) or []:
            for value in [out.get("text", "")] + list((out.get("data") or {}).values()):
                parts.append("".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)


def _grades_table(path: Path, text: str) -> str | None:
    """The score-like header columns if ``text`` is a table of grades (CSV/TSV), else None."""
    if path.suffix.lower() not in _TABLE_SUFFIXES:
        return None
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    for delimiter in (",", ";", "\t"):
        columns = next(csv.reader([first], delimiter=delimiter), [])
        if len(columns) >= 2:
            hits = [c.strip() for c in columns
                    if len(c.strip()) <= 40 and _SCORE_COLUMN.match(c.strip())]
            if hits:
                return ", ".join(hits[:3])
    return None


def _kit_allowed(rel: PurePosixPath) -> bool:
    """Whether ``coursekit/<rel>`` is on the student allow-list."""
    posix = rel.as_posix()
    if posix in KIT_FILES:
        return True
    if len(rel.parts) == 2 and rel.parts[0] in KIT_PACKAGES and rel.suffix == ".py":
        return True
    return (len(rel.parts) == 2 and rel.parts[0] == "grading" and rel.suffix == ".py"
            and rel.stem in STUDENT_GRADING_MODULES)


def leaks(root: str | Path, solutions: str | Path | None = None,
          markers: Markers | None = None) -> list[str]:
    """What in the tree at ``root`` must not reach students (empty: nothing).

    Any file or folder named like an instructor-side one (``solutions``,
    ``gradebook.db``, ``tests``, ...); any kit file outside the allow-list; a table of
    grades; a database (by name or sqlite's magic bytes); a notebook containing a
    solution or hidden-test marker, any other file with a marker line; and, given the
    course's ``solutions`` folder, the text of any of its solutions (:func:`solution_texts`).
    ``markers``: the course's (:meth:`Markers.of_course`); nbgrader's defaults if None.
    """
    root = Path(root)
    markers = markers or Markers.default()
    secrets = solution_texts(Path(solutions), markers) if solutions is not None else []
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        where = rel.as_posix()
        if path.name in FORBIDDEN_NAMES or path.name.startswith("gradebook"):
            found.append(f"{where}: instructor-side {'folder' if path.is_dir() else 'file'}")
            continue
        if path.is_symlink():
            found.append(f"{where}: a symbolic link")
            continue
        if not path.is_file():
            continue
        if rel.parts[0] == "coursekit" and not _kit_allowed(PurePosixPath(*rel.parts[1:])):
            found.append(f"{where}: not on the student allow-list of the kit")
        data = path.read_bytes()
        if data.startswith(SQLITE_MAGIC) or path.suffix.lower() in _DATABASE_SUFFIXES:
            found.append(f"{where}: a database")
            continue
        text = data.decode("utf-8", errors="replace")
        columns = _grades_table(path, text)
        if columns:
            found.append(f"{where}: a table of grades (columns {columns})")
        if path.suffix == ".ipynb":
            found += [f"{where}: contains {m!r}" for m in markers.all if m in text]
        else:
            found += [f"{where}: marker line {m!r}" for m in _marker_lines(text, markers)]
        if secrets:
            readable = (_notebook_text(text) or text) if path.suffix == ".ipynb" else text
            searched = _normalized(readable)
            for secret in secrets:
                if secret in searched:
                    first = secret.splitlines()[0]
                    found.append(f"{where}: contains the solution starting {first[:60]!r}")
    return found


def declared_files(notebook: Path) -> list[str]:
    """The files a release notebook declares it needs beside it (``metadata.coursekit.files``).

    Paths relative to the notebook's folder; absolute paths, ``..`` and anything that is
    not a plain file in that folder are refused (``ValueError``).
    """
    meta = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {})
    files = (meta.get("coursekit") or {}).get("files") or []
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ValueError(f"{notebook}: metadata.coursekit.files must be a list of paths")
    folder = notebook.parent.resolve()
    for name in files:
        rel = PurePosixPath(name)
        target = notebook.parent / name
        if (rel.is_absolute() or ".." in rel.parts or target.is_symlink() or not target.is_file()
                or folder not in target.resolve().parents):
            raise ValueError(f"{notebook}: declared file {name!r} is not a file inside "
                             f"{notebook.parent}")
    return list(files)


def _coursekit_imports(source: str, module: str | None = None) -> set[str]:
    """Modules of ``coursekit`` that ``source`` imports (``module``: its dotted name, for ``.``)."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return set()
    package = module.rsplit(".", 1)[0] if module else ""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == "coursekit"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.split(".")[0] != "coursekit":
                continue
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}   # maybe submodules
    return names


def _missing_imports(tree: Path, kit: Path) -> list[str]:
    """Imports of ``coursekit`` modules (by the shipped modules and notebooks) that exist in
    the kit at ``kit`` but not in the tree: what students would hit as ModuleNotFoundError."""
    def module_in(root: Path, name: str) -> bool:
        path = root.joinpath(*name.split("."))
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    users = []   # (shipped file, source, its dotted module name or None)
    for path in sorted(tree.glob("coursekit/**/*.py")):
        module = ".".join(path.relative_to(tree).with_suffix("").parts)
        users.append((path, path.read_text(encoding="utf-8"), module))
    for nb in sorted(tree.glob("assignments/*/*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8")).get("cells", []):
            if cell.get("cell_type") == "code":
                source = cell.get("source", "")
                users.append((nb, "".join(source) if isinstance(source, list) else source, None))
    missing = set()
    for path, source, module in users:
        for name in _coursekit_imports(source, module):
            if module_in(kit, name) and not module_in(tree, name):
                missing.add(f"{path.relative_to(tree).as_posix()} imports {name}, which the "
                            "student tree does not ship")
    return sorted(missing)


#: Tables of the kit's ``pyproject.toml`` left out of the student tree's: the instructor's
#: ``coursekit`` command (its module is not shipped) and the course's test configuration.
_INSTRUCTOR_TABLES = ("[project.scripts]", "[tool.pytest.ini_options]")


def _student_pyproject(text: str) -> str:
    """The kit's ``pyproject.toml`` without :data:`_INSTRUCTOR_TABLES`."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.strip().startswith("["):
            skipping = line.strip() in _INSTRUCTOR_TABLES
        if not skipping:
            out.append(line)
    return "".join(out)


def _copy_kit(kit: Path, into: Path) -> None:
    """Copy the allow-listed part of ``kit/coursekit`` into ``into/coursekit``."""
    src = kit / "coursekit"
    wanted = [PurePosixPath(f) for f in KIT_FILES]
    wanted += [PurePosixPath(pkg, p.name) for pkg in KIT_PACKAGES for p in sorted((src / pkg).glob("*.py"))]
    wanted += [PurePosixPath("grading", f"{m}.py") for m in STUDENT_GRADING_MODULES]
    for rel in wanted:
        source = src.joinpath(*rel.parts)
        if not source.is_file() or source.is_symlink():
            raise MissingInput(f"the student tree needs coursekit/{rel}, which is missing "
                                    f"from {src}")
        target = into / "coursekit" / Path(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


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
    first), the kit's source and ``binder/``, taking only what the allow-lists name.
    ``dest`` must be empty, absent, or a student tree written before (which is
    replaced). Raises ``RuntimeError`` (and writes nothing) if the result contains
    anything from :func:`leaks` or a shipped import of ``coursekit`` it cannot satisfy.
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
            sources = sorted(p for p in release.glob("*.ipynb") if not p.is_symlink())
            if not sources:
                raise MissingInput(f"no release notebook in {release}: run "
                                        f"`coursekit release {assignment}` first")
            out = staged / "assignments" / assignment
            for nb in sources:
                for name in [nb.name] + declared_files(nb):
                    (out / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(release / name, out / name)
                notebooks.append((out / nb.name).relative_to(staged))
        _copy_kit(kit, staged)
        shutil.copytree(kit / "binder", staged / "binder", ignore=_IGNORE)
        (staged / "pyproject.toml").write_text(
            _student_pyproject((kit / "pyproject.toml").read_text(encoding="utf-8")), encoding="utf-8")
        (staged / ".gitignore").write_text(_GITIGNORE)
        (staged / "README.md").write_text(
            _readme(staged, assignments, notebooks, binder_repo,
                    _python_version(kit / "binder")), encoding="utf-8")
        (staged / MARKER_FILE).write_text(
            "Written by `coursekit release --student-dir`; safe to replace by a new run.\n")
        found = leaks(staged, course.solutions, Markers.of_course(course)) + _missing_imports(staged, kit)
        if found:
            raise RuntimeError("the student tree would leak instructor material or miss what "
                               "it needs (nothing was written):\n  " + "\n  ".join(found))
        if dest.exists():
            dest.rmdir()
        staged.rename(dest)
    finally:
        if staged.exists():
            shutil.rmtree(staged)
    return StudentTree(dest, tuple(assignments), tuple(notebooks), binder_repo)
