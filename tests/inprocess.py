"""``coursekit`` commands run in the test process: the same ``cli.main`` an instructor's command
runs, without starting an interpreter (and importing nbgrader) again for each one."""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path


def coursekit_here(course: Path, *args: str) -> str:
    """``coursekit ARGS`` at the course root, in this process; its stdout. Fails on a non-zero exit."""
    from coursekit import cli

    out, err, cwd = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(course)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    finally:
        os.chdir(cwd)
    if code != 0:
        raise AssertionError(f"coursekit {' '.join(args)} exited {code}:\n{out.getvalue()}\n{err.getvalue()}")
    return out.getvalue()
