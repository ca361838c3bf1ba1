"""Opening the nbgrader gradebook, with one clear message when it is damaged.

Every coursekit command that reads or writes grades opens the gradebook through
:func:`open_gradebook` (or checks it first with :func:`check_gradebook`)::

    with open_gradebook(course) as gb:      # an nbgrader.api.Gradebook
        gb.find_assignment("01_softmax")

A damaged sqlite file (random bytes, a truncated copy, a half-written page) raises
:class:`GradebookUnreadable`, whose message names the file and the fix
(``coursekit gradebook restore``), instead of SQLAlchemy's traceback.
"""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Iterator

from coursekit.instructor.course import Course

__all__ = ["open_gradebook", "check_gradebook", "check_sqlite_file", "GradebookUnreadable",
           "sqlite_path", "SQLITE_MAGIC", "alembic_head", "stamp_new_gradebooks_in_process"]

#: sqlite's error texts for a file that is not (or no longer) a readable database.
_DAMAGED = ("not a database", "malformed", "file is encrypted", "disk image", "corrupt",
            "unsupported file format", "database or disk is full")


class GradebookUnreadable(RuntimeError):
    """The gradebook exists but cannot be read (the message names the file and the fix)."""


def sqlite_path(course: Course) -> Path | None:
    """The gradebook's file when it is sqlite (None for a server database such as PostgreSQL)."""
    url = course.db_url
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            return Path(url[len(prefix):].split("?", 1)[0])
    return None


def _message(path: Path, why: str) -> str:
    return (f"the gradebook {path} is damaged ({why}). Restore the last good copy with "
            "`coursekit gradebook restore` (`coursekit gradebook backups` lists them; the "
            "damaged file is then kept beside it as gradebook.db.replaced-<time>).")


def check_sqlite_file(path: Path) -> None:
    """Raise :class:`GradebookUnreadable` unless ``path`` is a readable, consistent sqlite file."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise GradebookUnreadable(_message(path, str(err))) from None
    try:
        rows = con.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as err:
        raise GradebookUnreadable(_message(path, str(err))) from None
    finally:
        con.close()
    if rows != [("ok",)]:
        lines = [ln for r in rows for ln in str(r[0]).splitlines() if not ln.startswith("***")]
        raise GradebookUnreadable(_message(path, "; ".join(lines[:2]) or "failed its check"))


def check_gradebook(course: Course) -> None:
    """Raise :class:`GradebookUnreadable` if the course's sqlite gradebook is damaged.

    A missing file is fine (nbgrader creates it); a server database is not checked here.
    """
    path = sqlite_path(course)
    if path is not None and path.exists():
        check_sqlite_file(path)


SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_header(path: Path | None) -> None:
    """The cheap check made on every open: an existing, non-empty file starts as sqlite's do."""
    if path is None or not path.exists():
        return
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head and head != SQLITE_MAGIC:
        raise GradebookUnreadable(_message(path, "file is not a database"))


def alembic_head() -> str:
    """The alembic revision nbgrader stamps on a new gradebook, read from nbgrader's migrations here.

    nbgrader's own ``nbgrader.api.get_alembic_version`` asks for the same revision by starting
    ``alembic heads`` in a subprocess: 2 to 4 s of CPU for every gradebook a course creates.
    """
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    return ScriptDirectory(ALEMBIC_DIR).get_current_head()


def stamp_new_gradebooks_in_process() -> None:
    """Make nbgrader (in this process) stamp a new gradebook with :func:`alembic_head`.

    Only the lookup changes; the revision is the one ``alembic heads`` prints. Should nbgrader's
    migrations ever have more than one head, nbgrader's own lookup is kept.
    """
    import nbgrader.api

    if hasattr(nbgrader.api.get_alembic_version, "coursekit_original"):
        return                                                      # done before in this process
    original = nbgrader.api.get_alembic_version

    def get_alembic_version() -> str:
        try:
            head = alembic_head()
        except Exception:  # noqa: BLE001 - several heads, or an alembic that changed: nbgrader's way
            head = None
        return head or original()

    get_alembic_version.coursekit_original = original
    nbgrader.api.get_alembic_version = get_alembic_version


@contextlib.contextmanager
def open_gradebook(course: Course) -> Iterator["object"]:
    """``nbgrader.api.Gradebook`` of ``course``, as a context manager; damage -> one clear error.

    Cheap enough to call per write (a header check, and SQLAlchemy's damage errors
    translated); :func:`check_gradebook` is the full check, made once per command.
    """
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import DatabaseError

    stamp_new_gradebooks_in_process()
    _check_header(sqlite_path(course))
    try:
        with Gradebook(course.db_url, course.course_id) as gb:
            yield gb
    except DatabaseError as err:
        text = str(getattr(err, "orig", err))
        path = sqlite_path(course)
        if path is not None and any(d in text.lower() for d in _DAMAGED):
            raise GradebookUnreadable(_message(path, text)) from None
        raise
