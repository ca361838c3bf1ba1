"""``coursekit release --student-dir DIR``: the student-only tree, proven clean by searching it.

The tree is what an instructor publishes (the repository behind the Binder link): the
release notebooks, coursekit, binder/, a student README. It must hold every release
notebook and nothing of the instructor's side: no solved notebook, no hidden test, no
gradebook, no test suite or mutant catalogue.
"""
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from coursekit.grading.course import Course
from coursekit.grading.student_tree import (FORBIDDEN_TEXT, MARKER_FILE, leaks,
                                            write_student_tree)

from .conftest import make_course, run_coursekit

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = Course(ROOT).assignments()
BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN = FORBIDDEN_TEXT


def _blocks(source: str, begin: str, end: str) -> list[str]:
    """The non-empty bodies between ``### begin`` and ``### end`` lines of a cell."""
    pattern = re.compile(rf"^[ \t]*### {begin}[ \t]*\n(.*?)^[ \t]*### {end}", re.M | re.S)
    return [m.group(1).strip() for m in pattern.finditer(source) if m.group(1).strip()]


def _solved_blocks(assignment: str):
    """(solution bodies, hidden-test bodies) of the solved notebooks of ``assignment``."""
    solutions, hidden = [], []
    for nb_path in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            solutions += _blocks(cell.source, BEGIN_SOLUTION, END_SOLUTION)
            hidden += _blocks(cell.source, BEGIN_HIDDEN, END_HIDDEN)
    return solutions, hidden


def _text_files(root: Path):
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes().decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A scratch course released with ``coursekit release --student-dir`` (the CLI, once)."""
    base = tmp_path_factory.mktemp("student-tree")
    course = make_course(base / "course")
    proc = run_coursekit(course, "release", "--student-dir", str(base / "student"),
                         "--binder-repo", "example/coursekit-students@main")
    assert "student tree ->" in proc.stdout, proc.stdout
    return course, base / "student"


# -- the command, end to end -------------------------------------------------------------

@pytest.mark.slow
def test_tree_has_the_student_layout(released):
    _, tree = released
    top = sorted(p.name for p in tree.iterdir())
    assert top == sorted([".coursekit-student-tree", ".gitignore", "README.md", "assignments",
                          "binder", "coursekit", "pyproject.toml"]), top
    for name in ("requirements.txt", "postBuild", "runtime.txt"):
        assert (tree / "binder" / name).is_file(), name
    assert (tree / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must stay executable"
    assert (tree / "coursekit" / "__init__.py").is_file()
    assert (tree / "coursekit" / "widgets").is_dir()
    assert not list(tree.rglob("__pycache__")) and not list(tree.rglob(".ipynb_checkpoints"))


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_tree_holds_every_release_notebook(released, assignment):
    course, tree = released
    release = sorted(p.name for p in (course / "assignments" / assignment).glob("*.ipynb"))
    in_tree = sorted(p.name for p in (tree / "assignments" / assignment).glob("*.ipynb"))
    assert release and in_tree == release
    for name in release:
        assert ((tree / "assignments" / assignment / name).read_bytes()
                == (course / "assignments" / assignment / name).read_bytes())
    # and the release is a real release: stubs in place of every solution
    for name in release:
        text = (tree / "assignments" / assignment / name).read_text()
        assert "raise NotImplementedError" in text, name


@pytest.mark.slow
def test_tree_has_no_instructor_material(released):
    _, tree = released
    assert leaks(tree) == []
    assert not (tree / "solutions").exists()
    for pattern in ("solutions", "gradebook*", "nbgrader_config.py", "tests", "mutants",
                    "m[0-9][0-9]_*.py", "submitted", "autograded", "feedback", "*.db"):
        assert not list(tree.rglob(pattern)), pattern
    for path, text in _text_files(tree):
        rel = path.relative_to(tree)
        if path.suffix == ".ipynb":
            for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "HIDDEN TESTS"):
                assert marker not in text, f"{rel} contains {marker!r}"
        for line in text.splitlines():
            assert not re.match(r"\s*#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$", line), rel


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_or_hidden_test_body_reaches_the_tree(released, assignment):
    """Search the tree for the actual code of every solution and every hidden test."""
    _, tree = released
    solutions, hidden = _solved_blocks(assignment)
    assert solutions and hidden, f"solutions/{assignment} has no solution or hidden-test block?"
    files = dict(_text_files(tree))
    for body in hidden:
        for path, text in files.items():
            assert body not in text, f"a hidden test of {assignment} is in {path.relative_to(tree)}"
    # (a later assignment may hand out an earlier one's solution as given code: search
    # this assignment's own release notebooks)
    cells = [cell.source for nb in (tree / "assignments" / assignment).glob("*.ipynb")
             for cell in nbformat.read(nb, as_version=4).cells]
    for body in solutions:
        lines = [ln.strip() for ln in body.splitlines() if len(ln.strip()) > 3]
        if len(lines) < 2:   # a one-liner (`return np.argmax(...)`) may well be a hint
            continue
        assert not any(body in src for src in cells), f"a solution of {assignment} is in the tree"


@pytest.mark.slow
def test_student_readme_links_every_notebook_on_binder(released):
    _, tree = released
    readme = (tree / "README.md").read_text()
    assert not re.search(r"\$\{?[a-z_]+", readme), "unfilled placeholder in the README"
    for nb in sorted(tree.glob("assignments/*/*.ipynb")):
        rel = nb.relative_to(tree).as_posix()
        assert f"({rel})" in readme
        assert (f"https://mybinder.org/v2/gh/example/coursekit-students/main"
                f"?urlpath=lab/tree/{rel}") in readme
    assert "pip install -r binder/requirements.txt" in readme
    assert "NotImplementedError" in readme and "Validate" in readme


# -- the function: replacing, refusing, and catching leaks (no nbgrader run) --------------

def test_rewrite_replaces_a_previous_tree_only(tmp_path):
    course = Course(ROOT)
    tree = write_student_tree(course, tmp_path / "out", ASSIGNMENTS[:1]).root
    (tree / "stale.txt").write_text("from an older run")
    write_student_tree(course, tree, ASSIGNMENTS[:1])
    assert not (tree / "stale.txt").exists() and (tree / MARKER_FILE).is_file()

    foreign = tmp_path / "someone-elses"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        write_student_tree(course, foreign, ASSIGNMENTS[:1])
    assert (foreign / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError):
        write_student_tree(course, ROOT, ASSIGNMENTS[:1])


def test_missing_release_is_an_error(tmp_path):
    course = make_course(tmp_path / "course", ASSIGNMENTS[:1])
    shutil.rmtree(course / "assignments" / ASSIGNMENTS[0])
    with pytest.raises(FileNotFoundError, match="coursekit release"):
        write_student_tree(Course(course), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_leaks_catches_planted_material(tmp_path):
    tree = write_student_tree(Course(ROOT), tmp_path / "tree", ASSIGNMENTS[:1]).root
    assert leaks(tree) == []
    solved = next((ROOT / "solutions" / ASSIGNMENTS[0]).glob("*.ipynb"))
    shutil.copy(solved, tree / "assignments" / ASSIGNMENTS[0] / "oops.ipynb")
    (tree / "solutions").mkdir()
    (tree / "gradebook.db").write_bytes(b"")
    (tree / "coursekit" / "cheat.py").write_text("x = 1\n### BEGIN HIDDEN TESTS\nassert x\n")
    found = "\n".join(leaks(tree))
    assert "oops.ipynb" in found and "solutions" in found and "gradebook.db" in found
    assert "cheat.py" in found


def test_refuses_to_write_a_leaking_tree(tmp_path, monkeypatch):
    course = make_course(tmp_path / "course", ASSIGNMENTS[:1])
    solved = next((course / "solutions" / ASSIGNMENTS[0]).glob("*.ipynb"))
    shutil.copy(solved, course / "assignments" / ASSIGNMENTS[0] / "solved-by-mistake.ipynb")
    with pytest.raises(RuntimeError, match="solved-by-mistake"):
        write_student_tree(Course(course), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_cli_rejects_check_with_student_dir(tmp_path):
    course = make_course(tmp_path / "course", ASSIGNMENTS[:1])
    proc = run_coursekit(course, "release", "--check", "--student-dir", str(tmp_path / "s"),
                         check=False)
    assert proc.returncode == 2 and "do not go together" in proc.stderr
