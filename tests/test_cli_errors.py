"""``coursekit`` says a user's mistake in one line (exit 2) and lets its own bugs surface."""
import sqlite3

import pytest

from coursekit import cli
from coursekit.instructor.course import MissingInput, UserError


@pytest.fixture
def course_dir(tmp_path, monkeypatch):
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.source_directory = 'solutions'\n")
    (tmp_path / "solutions" / "a1").mkdir(parents=True)
    (tmp_path / "solutions" / "a1" / "nb.ipynb").write_text("{}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_user_errors_are_one_line_and_exit_2(course_dir, capsys, monkeypatch):
    assert cli.main(["extend", "ada", "no_such_assignment", "--until", "2030-01-01 00:00 UTC"]) == 2
    assert "coursekit extend: unknown assignment 'no_such_assignment'" in capsys.readouterr().err
    assert cli.main(["collect", "a1", str(course_dir / "missing.zip")]) == 2
    assert "missing.zip" in capsys.readouterr().err
    monkeypatch.chdir(course_dir.parent)            # no nbgrader_config.py here or above
    assert cli.main(["similarity", "a1"]) == 2
    assert "no nbgrader_config.py" in capsys.readouterr().err


@pytest.mark.parametrize("bug", [KeyError("params"), FileNotFoundError("an internal cache file"),
                                 ValueError("bad shape"), AttributeError("x")])
def test_a_bug_of_coursekit_is_not_reported_as_a_user_error(course_dir, monkeypatch, bug):
    def broken(args):
        raise bug

    monkeypatch.setattr(cli, "cmd_similarity", broken)
    with pytest.raises(type(bug)):
        cli.main(["similarity", "a1"])


def test_missing_input_is_a_user_error_and_still_a_file_not_found_error(course_dir, monkeypatch, capsys):
    def refused(args):
        raise MissingInput("no submission at submitted/ada/a1/")

    monkeypatch.setattr(cli, "cmd_similarity", refused)
    assert cli.main(["similarity", "a1"]) == 2
    assert capsys.readouterr().err.strip() == "coursekit similarity: no submission at submitted/ada/a1/"
    assert issubclass(MissingInput, FileNotFoundError) and issubclass(MissingInput, UserError)


def test_nbgrader_commands_skip_the_rfc3987_grammars_and_the_alembic_process(course_dir):
    """``Course.nbgrader`` runs nbgrader without jsonschema's optional ``iri`` checker (its grammars
    cost over a second of CPU per nbgrader process) and stamps a new gradebook without starting
    ``alembic heads`` (2-4 s of CPU); the command itself still works, the stamp is nbgrader's."""
    from coursekit.instructor.course import Course
    from coursekit.instructor.store.gradebook import alembic_head

    probe = course_dir / "probe.txt"
    with open(course_dir / "nbgrader_config.py", "a") as f:      # the config runs after nbgrader's imports
        f.write(f"import sys\nopen({str(probe)!r}, 'w').write(repr(sys.modules.get('rfc3987_syntax', 'absent')) "
                "+ ' ' + str('jsonschema' in sys.modules) + ' ' + "
                "str(hasattr(sys.modules['nbgrader.api'].get_alembic_version, 'coursekit_original')))\n")
    assert not (course_dir / "gradebook.db").exists()
    proc = Course(course_dir).nbgrader("db", "student", "add", "ada")
    # jsonschema loaded, rfc3987_syntax declined; the gradebook stamped in process
    assert probe.read_text() == "None True True", proc.stdout
    db = sqlite3.connect(course_dir / "gradebook.db")
    try:
        assert db.execute("SELECT id FROM student").fetchall() == [("ada",)]
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(alembic_head(),)]
    finally:
        db.close()


def test_nbgraders_package_init_runs_only_when_a_name_of_it_is_asked_for():
    """coursekit.instructor registers nbgrader's package without running ``nbgrader/__init__.py`` (its
    Jupyter server extensions: jupyter_server, tornado; 0.6-0.8 s of CPU per process): the gradebook
    and the grading rules load without it, and any name the package defines still resolves."""
    import subprocess
    import sys
    from importlib.metadata import version

    code = ("import sys, coursekit.instructor, nbgrader.api, nbgrader.utils, nbgrader.preprocessors\n"
            "print('jupyter_server' in sys.modules, 'nbgrader.server_extensions' in sys.modules)\n"
            "import nbgrader\n"
            "print(nbgrader.__version__, callable(nbgrader._jupyter_server_extension_points))\n"
            "from nbgrader import load_formgrader\n"
            "print('jupyter_server' in sys.modules, callable(load_formgrader), '__getattr__' in vars(nbgrader))\n"
            "try:\n    nbgrader.no_such_name\nexcept AttributeError:\n    print('AttributeError')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", version("nbgrader"), "True", "True", "True", "False",
                                   "AttributeError"], proc.stdout
