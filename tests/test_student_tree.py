"""``coursekit release --student-dir DIR``: the student-only tree, proven clean by searching it.

The tree is what an instructor publishes (the repository behind the Binder link): the
release notebooks, coursekit, binder/, a student README. It must hold every release
notebook and nothing of the instructor's side: no solved notebook, no hidden test, no
gradebook, no test suite or mutant catalogue.

The command runs once, end to end, on a scratch course of one assignment (its nbgrader
release, then the tree). What the tree holds of every assignment is checked on the tree
the same function writes from this repository's committed release (which
``tests/test_release.py`` proves equal to a fresh generation): regenerating the four
other releases inside the command would only repeat that.
"""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.publish.student_tree import (FORBIDDEN_TEXT, MARKER_FILE, STUDENT_GRADING_MODULES,
                                            leaks, write_student_tree)

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


@pytest.fixture(scope="module", autouse=True)
def release_command(request, tmp_path_factory):
    """``coursekit release --student-dir`` on a scratch course of one assignment (the CLI, once), started with
    the module when a test of the command is selected, so that its nbgrader runs go on while
    the tests of the function run here: (course, tree, process), or None."""
    def uses_the_command(item):
        params = getattr(item, "callspec", None)
        return ("released" in item.fixturenames
                or ("any_tree" in item.fixturenames and params and params.params["any_tree"] == "command"))

    if not any(getattr(item, "module", None) is request.module and uses_the_command(item)
               for item in request.session.items):
        yield None
        return
    base = tmp_path_factory.mktemp("student-tree")
    course = make_course(base / "course", ASSIGNMENTS[:1])
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    with open(base / "release.out", "w") as out, open(base / "release.err", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "coursekit.cli", "release", "--student-dir", str(base / "student"),
             "--binder-repo", "example/coursekit-students@main"],
            cwd=course, env=env, text=True, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    yield course, base / "student", proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def released(release_command):
    """The scratch course and its student tree, once the command has finished."""
    course, tree, proc = release_command
    proc.wait(timeout=900)
    out = (tree.parent / "release.out").read_text()
    err = (tree.parent / "release.err").read_text()
    assert proc.returncode == 0, f"coursekit release failed:\n{out}\n{err}"
    assert "student tree ->" in out, out
    return course, tree


@pytest.fixture(scope="module")
def repo_tree(tmp_path_factory):
    """The student tree of every assignment, written by the function from this repository."""
    tree = write_student_tree(Course(ROOT), tmp_path_factory.mktemp("repo-tree") / "student",
                              binder_repo="example/coursekit-students@main").root
    return ROOT, tree


@pytest.fixture(params=["command", "function"])
def any_tree(request):
    """(course, tree): the command's tree (one assignment) and the function's (all of them)."""
    return request.getfixturevalue("released" if request.param == "command" else "repo_tree")


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


# -- the allow-list: only what students need gets in; grades, databases, solutions are caught --

def _solution_body(assignment: str) -> str:
    """A solution body of ``assignment`` that the check searches for (a long one)."""
    solutions, _ = _solved_blocks(assignment)
    return max(solutions, key=len)


def test_grades_and_databases_beside_the_notebooks_stay_behind(tmp_path):
    """A grades CSV saved in solutions/<id>/ (nbgrader releases every file there) or in
    assignments/<id>/, and a database there, never reach the student tree."""
    import sqlite3

    a = ASSIGNMENTS[0]
    course = make_course(tmp_path / "course", [a])
    for folder in ("solutions", "assignments"):
        (course / folder / a / "midterm_scores.csv").write_text("student,score,max_score\nada,9,10\n")
    con = sqlite3.connect(course / "assignments" / a / "cache.bin")
    con.execute("create table t (x)")
    con.commit()
    con.close()
    tree = write_student_tree(Course(course), tmp_path / "out").root
    names = {p.name for p in tree.rglob("*")}
    assert "midterm_scores.csv" not in names and "cache.bin" not in names
    assert sorted(p.name for p in (tree / "assignments" / a).iterdir()) == \
        sorted(p.name for p in (course / "assignments" / a).glob("*.ipynb"))


def test_kit_is_the_student_facing_part_only(tmp_path):
    tree = write_student_tree(Course(ROOT), tmp_path / "tree", ASSIGNMENTS[:1]).root
    shipped = {p.relative_to(tree / "coursekit").as_posix() for p in (tree / "coursekit").rglob("*")
               if p.is_file()}
    grading = {p.split("/")[1] for p in shipped if p.startswith("grading/")}
    assert grading == {f"{m}.py" for m in STUDENT_GRADING_MODULES}
    assert not any(p.startswith("instructor/") for p in shipped), "the instructor's package was shipped"
    for instructor in ("cli.py", "instructor/execute/sandbox.py", "instructor/execute/judge.py",
                       "instructor/pipeline.py", "instructor/store/gradebook.py", "instructor/course.py"):
        assert instructor not in shipped, instructor
    assert "data/digits.npz" in shipped and "widgets/simplex.py" in shipped
    # every data file the package's loaders read (04's diagnosis curves too) goes with it
    package_data = {p.relative_to(ROOT / "coursekit").as_posix() for p in (ROOT / "coursekit" / "data").iterdir()
                    if p.is_file()}
    assert package_data <= shipped, package_data - shipped
    # the instructor's command is not declared in the tree's pyproject (its module is not there)
    text = (tree / "pyproject.toml").read_text()
    assert "[project.scripts]" not in text and "coursekit.cli" not in text


def test_leaks_finds_grades_databases_and_solution_text(tmp_path):
    import sqlite3

    a = ASSIGNMENTS[0]
    tree = write_student_tree(Course(ROOT), tmp_path / "tree", [a]).root
    assert leaks(tree, ROOT / "solutions") == []
    body = _solution_body(a)
    # a solution pasted (re-indented) into a shipped module, and into a notebook's markdown
    with open(tree / "coursekit" / "layers.py", "a") as f:
        f.write("\n\ndef _helper():\n" + textwrap.indent(body, "        ") + "\n")
    nb_path = next((tree / "assignments" / a).glob("*.ipynb"))
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("Hint:\n\n    " + body.replace("\n", "\n    ")))
    nbformat.write(nb, nb_path)
    (tree / "binder" / "class-list.csv").write_text("Student ID;Total Points\nada;9\n")
    con = sqlite3.connect(tree / "binder" / "cache")
    con.execute("create table t (x)")
    con.commit()
    con.close()
    (tree / "coursekit" / "grading" / "sandbox.py").write_text("x = 1\n")
    (tree / "coursekit" / "instructor" / "execute").mkdir(parents=True)
    (tree / "coursekit" / "instructor" / "execute" / "sandbox.py").write_text("x = 1\n")
    found = "\n".join(leaks(tree, ROOT / "solutions"))
    assert "coursekit/layers.py: contains the solution" in found
    assert f"{nb_path.relative_to(tree).as_posix()}: contains the solution" in found
    assert "binder/class-list.csv: a table of grades" in found
    assert "binder/cache: a database" in found
    assert "coursekit/instructor/execute/sandbox.py: not on the student allow-list" in found
    old_place = "coursekit/grading/" + "sandbox.py"  # where the pipeline lived before coursekit.instructor
    assert f"{old_place}: not on the student allow-list" in found


def test_refuses_a_release_that_carries_solution_text(tmp_path):
    a = ASSIGNMENTS[0]
    course = make_course(tmp_path / "course", [a])
    nb_path = next((course / "assignments" / a).glob("*.ipynb"))
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("# worked example\n" + _solution_body(a)))
    nbformat.write(nb, nb_path)
    with pytest.raises(RuntimeError, match="contains the solution"):
        write_student_tree(Course(course), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_declared_files_are_shipped_and_nothing_else(tmp_path):
    a = ASSIGNMENTS[0]
    course = make_course(tmp_path / "course", [a])
    folder = course / "assignments" / a
    nb_path = next(folder.glob("*.ipynb"))
    (folder / "data").mkdir()
    (folder / "data" / "points.npy").write_bytes(b"\x93NUMPY data")
    (folder / "notes.txt").write_text("instructor notes")
    nb = nbformat.read(nb_path, as_version=4)
    nb.metadata["coursekit"] = {"files": ["data/points.npy"]}
    nbformat.write(nb, nb_path)
    tree = write_student_tree(Course(course), tmp_path / "out").root
    assert (tree / "assignments" / a / "data" / "points.npy").read_bytes() == b"\x93NUMPY data"
    assert not (tree / "assignments" / a / "notes.txt").exists()
    for bad in ("../../solutions/x.ipynb", "/etc/passwd", "missing.npy"):
        nb.metadata["coursekit"] = {"files": [bad]}
        nbformat.write(nb, nb_path)
        with pytest.raises(ValueError, match="declared file"):
            write_student_tree(Course(course), tmp_path / "out2")


def test_refuses_a_tree_missing_a_module_it_imports(tmp_path, monkeypatch):
    import coursekit.instructor.publish.student_tree as st

    monkeypatch.setattr(st, "STUDENT_GRADING_MODULES",
                        tuple(m for m in STUDENT_GRADING_MODULES if m != "checks"))
    with pytest.raises(RuntimeError, match="imports coursekit.grading.checks"):
        write_student_tree(Course(ROOT), tmp_path / "out", ASSIGNMENTS[:1])


def _tree_python(tree: Path) -> list[str]:
    """This interpreter, with the tree first on sys.path and no editable install of the kit
    (``-S``: no .pth files; the site-packages folders are added back by hand)."""
    site = [p for p in sys.path if p.endswith("site-packages")]
    return [sys.executable, "-S", "-c",
            f"import sys; sys.path[:0] = [{str(tree)!r}]; sys.path += {site!r}; "
            "exec(sys.argv[1])"]


def test_tree_imports_what_every_release_notebook_imports(tmp_path):
    tree = write_student_tree(Course(ROOT), tmp_path / "tree").root
    imports = []
    for nb_path in sorted(tree.glob("assignments/*/*.ipynb")):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            source = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
            for node in ast.parse(source).body:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    imports.append(ast.unparse(node))
    assert any("coursekit.grading" in line for line in imports)
    check = "\n".join(imports + [
        "import coursekit, importlib.util",
        f"assert coursekit.__file__.startswith({str(tree)!r}), coursekit.__file__",
        "assert importlib.util.find_spec('coursekit.instructor') is None",
        "assert importlib.util.find_spec('coursekit.cli') is None",
        "print('imports ok')"])
    proc = subprocess.run(_tree_python(tree) + [check], cwd=tmp_path, text=True, capture_output=True,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0 and "imports ok" in proc.stdout, proc.stderr[-3000:]


@pytest.mark.slow
def test_tree_runs_a_release_notebooks_visible_tests(tmp_path, monkeypatch):
    """The release notebook, solved, runs top to bottom on a kernel that has only the tree's
    coursekit: every visible test passes."""
    from nbclient import NotebookClient

    from coursekit.instructor.intake.submissions import build_submission

    a = ASSIGNMENTS[0]
    tree = write_student_tree(Course(ROOT), tmp_path / "tree", [a]).root
    solved = build_submission(Course(ROOT), a, "ada", solve="all", submitted_root=tmp_path / "sub")
    spec = tmp_path / "jupyter" / "kernels" / "student-tree"
    spec.mkdir(parents=True)
    boot = _tree_python(tree)[:-1] + [_tree_python(tree)[-1].replace(
        "exec(sys.argv[1])", "from ipykernel import kernelapp; kernelapp.launch_new_instance()")]
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": boot + ["-f", "{connection_file}"], "display_name": "tree", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    nb = nbformat.read(next(solved.glob("*.ipynb")), as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        "import coursekit, importlib.util\n"
        f"assert coursekit.__file__.startswith({str(tree)!r}), coursekit.__file__\n"
        "assert importlib.util.find_spec('coursekit.instructor') is None"))
    work = tmp_path / "work"
    work.mkdir()
    NotebookClient(nb, kernel_name="student-tree", timeout=300, shutdown_kernel="immediate",
                   resources={"metadata": {"path": str(work)}}).execute()
    tests = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
    assert tests
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", out
            assert not (out.output_type == "stream" and out.name == "stderr"), out.text[:500]


# -- what the tree holds, on the function's tree of every assignment ---------------------

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_tree_holds_every_release_notebook(repo_tree, assignment):
    _check_holds_the_release(*repo_tree, assignment)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_or_hidden_test_body_reaches_the_tree(repo_tree, assignment):
    """Search the tree for the actual code of every solution and every hidden test."""
    _, tree = repo_tree
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


def _check_holds_the_release(course: Path, tree: Path, assignment: str) -> None:
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


# -- the command, end to end (last: the command runs in the background until here);
#    the layout, leak and README checks run on the function's tree too ------------------

@pytest.mark.slow
def test_command_tree_holds_the_release_it_generated(released):
    course, tree = released
    assert sorted(p.name for p in (tree / "assignments").iterdir()) == ASSIGNMENTS[:1]
    _check_holds_the_release(course, tree, ASSIGNMENTS[0])
    # the command regenerated the release (nbgrader's log of it), then copied it
    assert (course / "autograded" / ".logs" / f"release-{ASSIGNMENTS[0]}.log").is_file()


@pytest.mark.slow
def test_tree_has_the_student_layout(any_tree):
    _, tree = any_tree
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
def test_tree_has_no_instructor_material(any_tree):
    _, tree = any_tree
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
def test_student_readme_links_every_notebook_on_binder(any_tree):
    _, tree = any_tree
    readme = (tree / "README.md").read_text()
    assert not re.search(r"\$\{?[a-z_]+", readme), "unfilled placeholder in the README"
    notebooks = sorted(tree.glob("assignments/*/*.ipynb"))
    assert notebooks
    for nb in notebooks:
        rel = nb.relative_to(tree).as_posix()
        assert f"({rel})" in readme
        assert (f"https://mybinder.org/v2/gh/example/coursekit-students/main"
                f"?urlpath=lab/tree/{rel}") in readme
    assert "pip install -r binder/requirements.txt" in readme
    assert "NotImplementedError" in readme and "Validate" in readme
