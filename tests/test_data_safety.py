"""Instructor data is never destroyed: ``demo --dir``, the course lock, gradebook backups,
restoring one, and one clear message for a damaged gradebook.

Each test here failed on the main branch before these safeguards (issue 10, finding 7):
``demo --dir`` deleted any folder, two ``grade`` runs could run at once, nothing was
backed up, and a damaged ``gradebook.db`` gave SQLAlchemy tracebacks.
"""
import os
import subprocess
import sys
import warnings
from datetime import datetime
from pathlib import Path

import pytest

from coursekit import cli
from coursekit.instructor.store.backup import (KEEP, NotSqlite, backup_dir, backup_gradebook, list_backups,
                                      restore_gradebook)
from coursekit.instructor.course import Course
from coursekit.instructor.demo import MARKER_FILE, DemoDirRefused, prepare_demo_dir
from coursekit.instructor.store.gradebook import (GradebookUnreadable, check_gradebook, open_gradebook,
                                         sqlite_path)
from coursekit.instructor.store.lock import CourseLocked, course_lock

from .conftest import ROOT, make_course, run_coursekit

ASSIGNMENT = "01_softmax"
DUE = datetime(2026, 3, 14, 23, 59)


@pytest.fixture(autouse=True)
def _sqlite_gradebook(monkeypatch):
    monkeypatch.delenv("COURSEKIT_DB_URL", raising=False)


@pytest.fixture
def course(tmp_path):
    return make_course(tmp_path / "course", [ASSIGNMENT])


_EMPTY = {}       # the module's empty gradebook, made once by nbgrader (see _empty_gradebook)


@pytest.fixture(scope="module", autouse=True)
def _empty_gradebook(tmp_path_factory):
    """An empty gradebook as nbgrader creates it, made once: nbgrader runs ``alembic heads`` in a
    new process for every gradebook it creates (about 2 s of CPU); the tests copy this one."""
    from nbgrader.api import Gradebook

    path = tmp_path_factory.mktemp("empty-gradebook") / "gradebook.db"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Gradebook(f"sqlite:///{path}", Course(ROOT).course_id):
            pass
    _EMPTY["path"] = path
    yield
    _EMPTY.clear()


def test_a_new_gradebook_is_stamped_in_process_with_nbgraders_own_revision(tmp_path, monkeypatch):
    """nbgrader stamps a new gradebook with ``alembic heads``, run in a subprocess; coursekit reads
    the same revision from nbgrader's migrations in process, and starts no process for it."""
    import nbgrader.api

    from coursekit.instructor.store.gradebook import alembic_head

    nbgraders_way = getattr(nbgrader.api.get_alembic_version, "coursekit_original",
                            nbgrader.api.get_alembic_version)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    head = nbgraders_way()                                # `alembic heads`, as nbgrader asks it
    assert head and alembic_head() == head

    started = []
    monkeypatch.setattr(nbgrader.api.sp, "check_output", lambda *a, **k: started.append(a) or b"")
    course = Course(make_course(tmp_path / "course", [ASSIGNMENT]))
    assert not sqlite_path(course).exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open_gradebook(course) as gb:
            gb.add_student("ada")
    assert started == []
    import sqlite3

    db = sqlite3.connect(sqlite_path(course))
    try:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
    finally:
        db.close()


def _gradebook(course_root: Path):
    import shutil

    from nbgrader.api import Gradebook

    c = Course(course_root)
    db = sqlite_path(c)
    if not db.exists():
        shutil.copyfile(_EMPTY["path"], db)
    return Gradebook(c.db_url, c.course_id)


def _fill_gradebook(course_root: Path, due=DUE, manual=1.5, comment="see me") -> None:
    """An assignment with a due date, a student with a manual score and a comment."""
    warnings.simplefilter("ignore")
    with _gradebook(course_root) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=due)
        if not gb.find_assignment(ASSIGNMENT).notebooks:
            gb.add_notebook("softmax", ASSIGNMENT)
            gb.add_grade_cell("q1", "softmax", ASSIGNMENT, max_score=2.0, cell_type="code")
            gb.add_solution_cell("q1", "softmax", ASSIGNMENT)
            gb.add_student("ada")
            gb.add_submission(ASSIGNMENT, "ada")
        grade = gb.find_grade("q1", "softmax", ASSIGNMENT, "ada")
        grade.manual_score = manual
        gb.db.commit()
        comment_row = gb.find_comment("q1", "softmax", ASSIGNMENT, "ada")
        comment_row.manual_comment = comment
        gb.db.commit()


def _read_gradebook(course_root: Path):
    warnings.simplefilter("ignore")
    with _gradebook(course_root) as gb:
        due = gb.find_assignment(ASSIGNMENT).duedate
        manual = gb.find_grade("q1", "softmax", ASSIGNMENT, "ada").manual_score
        comment = gb.find_comment("q1", "softmax", ASSIGNMENT, "ada").manual_comment
    return due, manual, comment


# -- demo --dir ----------------------------------------------------------------------------

def test_demo_refuses_a_folder_it_did_not_create(course, tmp_path):
    """A real checkout (with .git and submitted/) given as --dir is left exactly as it was."""
    precious = tmp_path / "checkout"
    (precious / ".git").mkdir(parents=True)
    (precious / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (precious / "submitted" / "ada" / ASSIGNMENT).mkdir(parents=True)
    (precious / "submitted" / "ada" / ASSIGNMENT / "softmax.ipynb").write_text("{}")
    before = sorted(p.relative_to(precious) for p in precious.rglob("*"))
    proc = run_coursekit(course, "demo", "--dir", str(precious), check=False)
    assert proc.returncode != 0
    assert "was not created by `coursekit demo`" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.relative_to(precious) for p in precious.rglob("*")) == before
    assert (precious / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"


def test_demo_replaces_only_its_own_folder(course, tmp_path):
    made = prepare_demo_dir(tmp_path / "demo", course)
    assert (made / MARKER_FILE).is_file()
    (made / "old-run.txt").write_text("from the last demo")
    again = prepare_demo_dir(tmp_path / "demo", course)
    assert again == made and not (made / "old-run.txt").exists() and (made / MARKER_FILE).is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert (prepare_demo_dir(empty, course) / MARKER_FILE).is_file()

    for refused in (course, tmp_path):                     # the course, and a folder above it
        with pytest.raises(DemoDirRefused):
            prepare_demo_dir(refused, course)
    (tmp_path / "link").symlink_to(made)
    with pytest.raises(DemoDirRefused, match="symbolic link"):
        prepare_demo_dir(tmp_path / "link", course)
    assert (made / MARKER_FILE).is_file()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    with pytest.raises(DemoDirRefused):
        prepare_demo_dir(a_file, course)
    assert a_file.read_text() == "mine"


# -- the course lock -------------------------------------------------------------------------

_HOLDER = """
import sys, time
from coursekit.instructor.course import Course
from coursekit.instructor.store.lock import course_lock
with course_lock(Course.find(sys.argv[1]), "coursekit grade"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_second_grade_run_is_refused_naming_the_holder_and_a_killed_holder_frees_it(course):
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(course)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CourseLocked, match=rf"another coursekit grade is running on this "
                                               rf"course \(pid {holder.pid}, since "):
            with course_lock(Course(course)):
                pass
        proc = run_coursekit(course, "grade", ASSIGNMENT, check=False)
        assert proc.returncode != 0
        assert f"another coursekit grade is running on this course (pid {holder.pid}, since" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert not list(backup_dir(Course(course)).glob("*.db")), "a refused run must not touch anything"
        proc = run_coursekit(course, "gradebook", "restore", check=False)   # nor a restore
        assert proc.returncode != 0 and "another coursekit grade is running" in proc.stderr
    finally:
        holder.kill()          # SIGKILL: no cleanup code of the holder runs
        holder.wait()
    with course_lock(Course(course)) as path:   # the OS released the dead holder's lock
        assert path.exists()


def test_grade_runs_under_the_lock_after_a_backup(course, monkeypatch, capsys):
    """``coursekit grade`` backs the gradebook up, then grades while holding the lock."""
    _fill_gradebook(course)
    seen = {}

    def fake_grade(args):
        seen["backups"] = list_backups(Course(course))
        with pytest.raises(CourseLocked):
            with course_lock(Course(course)):
                pass
        return 0

    monkeypatch.chdir(course)
    monkeypatch.setattr(cli, "cmd_grade", fake_grade)
    assert cli.main(["grade", ASSIGNMENT]) == 0
    assert len(seen["backups"]) == 1
    assert "gradebook backed up to" in capsys.readouterr().out
    with course_lock(Course(course)):   # released after the run
        pass


# -- backups and restoring -------------------------------------------------------------------

def test_restore_brings_back_manual_grades_and_due_dates(course):
    _fill_gradebook(course)
    assert _read_gradebook(course) == (DUE, 1.5, "see me")
    proc = run_coursekit(course, "gradebook", "backup")
    assert "backed up to" in proc.stdout
    _fill_gradebook(course, due=datetime(2030, 1, 1), manual=0.0, comment="oops")
    assert _read_gradebook(course) == (datetime(2030, 1, 1), 0.0, "oops")
    proc = run_coursekit(course, "gradebook", "restore")
    assert "restored the gradebook from" in proc.stdout
    assert _read_gradebook(course) == (DUE, 1.5, "see me")

    # and from a damaged file: the damaged one is kept beside, not deleted
    db = sqlite_path(Course(course))
    db.write_bytes(os.urandom(db.stat().st_size))
    damaged = db.read_bytes()
    proc = run_coursekit(course, "gradebook", "restore")
    assert _read_gradebook(course) == (DUE, 1.5, "see me")
    kept = sorted(db.parent.glob("gradebook.db.replaced-*"))
    assert any(k.read_bytes() == damaged for k in kept)
    listing = run_coursekit(course, "gradebook", "backups").stdout
    assert list_backups(Course(course))[-1].name in listing


def test_backups_are_pruned_to_the_newest_and_a_damaged_gradebook_is_never_backed_up(course):
    c = Course(course)
    assert backup_gradebook(c) is None          # no gradebook yet: nothing to save
    _fill_gradebook(course)
    made = [backup_gradebook(c, keep=3) for _ in range(5)]
    assert list_backups(c) == made[-3:]
    assert KEEP >= 3
    sqlite_path(c).write_bytes(b"\x00garbage" * 100)
    with pytest.raises(GradebookUnreadable):
        backup_gradebook(c, keep=3)
    assert list_backups(c) == made[-3:], "a damaged file must not push a good backup out"
    with pytest.raises(FileNotFoundError):
        restore_gradebook(c, "gradebook-nonexistent.db")
    made[-1].write_bytes(made[-1].read_bytes()[:300])           # a damaged backup is refused
    with pytest.raises(GradebookUnreadable, match="cannot restore"):
        restore_gradebook(c, made[-1])


def test_postgresql_gradebook_is_left_to_its_administrator(course, monkeypatch):
    monkeypatch.setenv("COURSEKIT_DB_URL", "postgresql://grader:s3cret@db.example/course")
    with pytest.raises(NotSqlite, match="pg_dump"):
        backup_gradebook(Course(course))
    proc = run_coursekit(course, "gradebook", "restore", check=False)
    assert proc.returncode != 0 and "pg_dump" in proc.stderr and "s3cret" not in proc.stderr


# -- a damaged gradebook: one clear message ----------------------------------------------------

def _damage(db: Path, how: str) -> None:
    data = db.read_bytes()
    if how == "random":
        db.write_bytes(os.urandom(len(data)))
    elif how == "truncated":
        db.write_bytes(data[: len(data) // 2])
    else:  # a page in the middle overwritten: sqlite still opens it
        db.write_bytes(data[:4096] + os.urandom(4096) + data[8192:])


@pytest.mark.parametrize("how", ["random", "truncated", "page"])
def test_damaged_gradebook_is_caught(course, how):
    _fill_gradebook(course)
    for _ in range(3):          # a few pages, so that a middle page exists
        with _gradebook(course) as gb:
            for i in range(40):
                gb.update_or_create_student(f"s{i}-{_}", first_name="x" * 300)
    c = Course(course)
    _damage(sqlite_path(c), how)
    with pytest.raises(GradebookUnreadable, match="coursekit gradebook restore") as err:
        check_gradebook(c)
    assert str(sqlite_path(c)) in str(err.value)
    if how != "page":        # what the per-write open catches (the page case: the command's check)
        with pytest.raises(GradebookUnreadable, match="coursekit gradebook restore"):
            with open_gradebook(c):
                pass


def test_every_command_gives_one_message_for_a_damaged_gradebook(course):
    _fill_gradebook(course)
    db = sqlite_path(Course(course))
    _damage(db, "truncated")
    for args in (["release", ASSIGNMENT], ["grade", ASSIGNMENT], ["feedback", ASSIGNMENT],
                 ["export", ASSIGNMENT, "-o", "-"], ["report", ASSIGNMENT]):
        proc = run_coursekit(course, *args, check=False)
        assert proc.returncode != 0, args
        assert str(db) in proc.stderr and "coursekit gradebook restore" in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr + proc.stdout, args
        assert "sqlalchemy" not in proc.stderr.lower(), args
    assert not list(backup_dir(Course(course)).glob("*.db")), "the damaged file was backed up"


def test_pipeline_functions_raise_the_clear_error(course):
    """Code that opens the gradebook itself (not via the command) gets the same error."""
    from coursekit.instructor.store.results import read_results
    from coursekit.instructor.store.records import graded_in_gradebook

    _fill_gradebook(course)
    _damage(sqlite_path(Course(course)), "random")
    for call in (lambda: read_results(Course(course), ASSIGNMENT),
                 lambda: graded_in_gradebook(Course(course), ASSIGNMENT)):
        with pytest.raises(GradebookUnreadable, match="coursekit gradebook restore"):
            call()
