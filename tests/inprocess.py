"""``coursekit`` commands run in the test process: the same ``cli.main`` an instructor's command
runs, without starting an interpreter (and importing nbgrader) again for each one. For checks of
what a command writes; the command as a process (its exit status, its start-up) is run by
``conftest.run_coursekit`` elsewhere."""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path


def coursekit_in_process(course: Path, *args: str) -> tuple[int, str, str]:
    """``coursekit ARGS`` at the course root, in this process: (exit status, stdout, stderr).
    The working folder and ``PATH`` (commands may prepend to it) are restored after."""
    from coursekit import cli

    out, err, cwd, path = io.StringIO(), io.StringIO(), os.getcwd(), os.environ.get("PATH")
    os.chdir(course)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    finally:
        os.chdir(cwd)
        if path is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = path
    return code, out.getvalue(), err.getvalue()


def coursekit_here(course: Path, *args: str) -> str:
    """``coursekit ARGS`` at the course root, in this process; its stdout. Fails on a non-zero exit."""
    code, out, err = coursekit_in_process(course, *args)
    if code != 0:
        raise AssertionError(f"coursekit {' '.join(args)} exited {code}:\n{out}\n{err}")
    return out
