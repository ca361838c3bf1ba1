"""Backups of the gradebook: one before every grading run, and restoring one.

``coursekit grade`` calls :func:`backup_gradebook` before it grades anyone: a copy
made with sqlite's online backup API (consistent even while another reader has the
file open) goes to ``autograded/.backups/gradebook-<UTC timestamp>.db``; the newest
:data:`KEEP` are kept. A copy holds everything nbgrader stores -- automatic and
manual scores, comments, due dates, students -- so restoring one brings all of it back.

``coursekit gradebook backups`` lists them, ``coursekit gradebook restore [BACKUP]``
puts one back (default: the newest); the gradebook it replaces is kept beside it as
``gradebook.db.replaced-<timestamp>`` (damaged or not), never deleted.

A PostgreSQL gradebook (``COURSEKIT_DB_URL``) is not copied: backing up a database
server is its administrator's job (``pg_dump``/``pg_restore``); coursekit says so
instead of pretending.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from coursekit.instructor.course import Course, MissingInput
from coursekit.instructor.store.gradebook import GradebookUnreadable, check_gradebook, check_sqlite_file, sqlite_path

__all__ = ["backup_gradebook", "list_backups", "restore_gradebook", "backup_dir", "KEEP",
           "NotSqlite", "SERVER_DB_NOTE"]

#: How many backups are kept (the oldest beyond this are deleted after each new one).
KEEP = 10
SERVER_DB_NOTE = ("the gradebook is a database server ({url}): coursekit does not back it up; "
                  "that is the database administrator's job (pg_dump before grading, "
                  "pg_restore to go back)")


class NotSqlite(RuntimeError):
    """The gradebook is a server database; coursekit neither backs it up nor restores it."""


def backup_dir(course: Course) -> Path:
    return course.directory("autograded") / ".backups"


def _redacted(url: str) -> str:
    """``url`` without its password."""
    head, sep, tail = url.partition("://")
    if "@" in tail:
        creds, _, host = tail.rpartition("@")
        tail = creds.split(":", 1)[0] + ":***@" + host
    return head + sep + tail


def _gradebook_file(course: Course) -> Path:
    path = sqlite_path(course)
    if path is None:
        raise NotSqlite(SERVER_DB_NOTE.format(url=_redacted(course.db_url)))
    return path


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _sqlite_copy(source: Path, dest: Path) -> None:
    """Copy the database ``source`` into a new file ``dest`` with sqlite's online backup API."""
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        out = sqlite3.connect(tmp)
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()
    os.replace(tmp, dest)


def list_backups(course: Course) -> list[Path]:
    """The backups of the gradebook, oldest first."""
    folder = backup_dir(course)
    return sorted(folder.glob("gradebook-*.db")) if folder.is_dir() else []


def backup_gradebook(course: Course, keep: int = KEEP) -> Path | None:
    """Back the sqlite gradebook up; return the copy (None: no gradebook yet, nothing to save).

    Raises :class:`NotSqlite` for a server database and
    :class:`~.gradebook.GradebookUnreadable` for a damaged file (which is never copied,
    so it can never push a good backup out).
    """
    path = _gradebook_file(course)
    if not path.exists() or path.stat().st_size == 0:
        return None
    check_gradebook(course)
    folder = backup_dir(course)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"gradebook-{_stamp()}.db"
    _sqlite_copy(path, dest)
    for old in list_backups(course)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return dest


def _resolve_backup(course: Course, backup: str | os.PathLike | None) -> Path:
    backups = list_backups(course)
    if backup is None:
        if not backups:
            raise MissingInput(f"no gradebook backup in {backup_dir(course)} "
                                    "(one is made before each `coursekit grade`)")
        return backups[-1]
    candidate = Path(backup)
    for option in (candidate, backup_dir(course) / candidate.name):
        if option.is_file():
            return option
    raise MissingInput(f"no backup {backup}: `coursekit gradebook backups` lists them")


def restore_gradebook(course: Course, backup: str | os.PathLike | None = None) -> tuple[Path, Path | None]:
    """Put ``backup`` (default: the newest) back as the gradebook.

    Returns (the backup used, where the replaced gradebook was kept, or None if there
    was none). The backup is checked first; a damaged backup is refused.
    Hold the course lock around this (no grading run may be writing meanwhile).
    """
    path = _gradebook_file(course)
    source = _resolve_backup(course, backup)
    try:
        check_sqlite_file(source)
    except GradebookUnreadable as err:
        raise GradebookUnreadable(f"cannot restore from {source}: {err}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(path.name + ".restoring")
    _sqlite_copy(source, staged)
    kept = None
    stamp = _stamp()
    if path.exists():
        kept = path.with_name(f"{path.name}.replaced-{stamp}")
        shutil.copy2(path, kept)
    # a journal or WAL left by the replaced file must not be replayed onto the restored one
    for suffix in ("-journal", "-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, path.with_name(f"{path.name}.replaced-{stamp}{suffix}"))
    os.replace(staged, path)
    return source, kept
