"""One grading run per course at a time: the course lock.

``coursekit grade`` (and ``coursekit gradebook restore``) hold it for the whole run::

    with course_lock(course):
        ...

A second run on the same course is refused at once with :class:`CourseLocked`,
whose message names the holder ("another coursekit grade is running on this course
(pid N, since T)"). The lock is an OS file lock (``filelock``: ``flock`` on
Linux/macOS) on ``autograded/.coursekit/course.lock``: the kernel releases it when the
holding process dies, however it dies, so a crash never leaves the course locked.
Who holds it is written beside it (``course.lock.json``), for the message only.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from coursekit.instructor.course import Course

__all__ = ["course_lock", "CourseLocked", "lock_path"]


class CourseLocked(RuntimeError):
    """Another process holds the course lock (the message says which)."""


def lock_path(course: Course) -> Path:
    return course.directory("autograded") / ".coursekit" / "course.lock"


def _holder_path(lock: Path) -> Path:
    return lock.with_name(lock.name + ".json")


def _describe_holder(lock: Path) -> tuple[str, str]:
    """(the holder's command, "pid N, since T") from the note beside the lock."""
    try:
        info = json.loads(_holder_path(lock).read_text())
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["since"])))
        where = f" on {info['host']}" if info.get("host") != socket.gethostname() else ""
        return str(info.get("command") or "coursekit run"), f"pid {int(info['pid'])}{where}, since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "coursekit run", "holder not known yet"


@contextlib.contextmanager
def course_lock(course: Course, command: str = "coursekit grade",
                timeout: float = 0) -> Iterator[Path]:
    """Hold the course lock for the block; :class:`CourseLocked` if someone else has it.

    ``timeout`` seconds are waited for the lock (default: none, refuse at once).
    """
    path = lock_path(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        holder, detail = _describe_holder(path)
        raise CourseLocked(
            f"another {holder} is running on this course ({detail}); wait for it to finish "
            f"and run again. (The lock is {path}; the system releases it when that process "
            "ends, even if it crashes.)") from None
    try:
        _holder_path(path).write_text(json.dumps({
            "pid": os.getpid(), "since": time.time(), "host": socket.gethostname(),
            "command": command or " ".join(sys.argv)}))
        yield path
    finally:
        with contextlib.suppress(OSError):
            _holder_path(path).unlink()
        lock.release()
