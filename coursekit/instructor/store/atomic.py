"""Replacing a folder so that a reader sees the old one or the new one, never half of each."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["replace_folder"]


def replace_folder(new: Path, dest: Path) -> None:
    """Put the finished folder ``new`` at ``dest`` (same file system), dropping what was there.

    The old folder is renamed aside first and removed only after ``new`` is in place, so a
    crash leaves either the old or the new folder at ``dest`` (plus a ``.<name>.old-<pid>``
    leftover at worst)."""
    old = None
    if dest.exists():
        old = dest.parent / f".{dest.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        dest.rename(old)
    new.rename(dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
