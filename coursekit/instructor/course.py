"""The course on disk: where things are, and running nbgrader commands in it.

A course root holds ``nbgrader_config.py``, ``solutions/<id>/`` (solved source
notebooks), ``assignments/<id>/`` (the generated release), and the graded work
(``submitted/``, ``autograded/``, ``feedback/``, the gradebook).
"""
from __future__ import annotations

import copy
import functools
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Course", "NbgraderError", "UserError", "MissingInput"]


class UserError(Exception):
    """Something the person running coursekit can fix (not a bug of coursekit): the
    ``coursekit`` command reports it in one line and exits with status 2."""


class MissingInput(UserError, FileNotFoundError):
    """A course, assignment, submission, backup or file the command needs is not there."""


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message carries its log's error lines."""


#: ``python -m nbgrader``, minus start-up costs: importing ``coursekit.instructor`` first declines
#: jsonschema's optional ``iri`` format checker (``rfc3987_syntax`` compiles its grammars on import,
#: over a second of CPU) and defers nbgrader's package ``__init__`` (its server extensions) -- the
#: reasons: coursekit/instructor/__init__.py; and a new gradebook is stamped without the ``alembic
#: heads`` subprocess (2-4 s of CPU; coursekit/instructor/store/gradebook.py). nbgrader reads
#: ``sys.argv[1:]``.
_NBGRADER_MAIN = ("from coursekit.instructor.store.gradebook import stamp_new_gradebooks_in_process\n"
                  "stamp_new_gradebooks_in_process()\n"
                  "from nbgrader.apps.nbgraderapp import main\n"
                  "main()\n")


@functools.lru_cache(maxsize=8)
def _load_config(path: str, mtime_ns: int, size: int):
    """``nbgrader_config.py`` parsed (cached per path and version of the file)."""
    from traitlets.config.loader import PyFileConfigLoader

    folder, name = os.path.split(path)
    return PyFileConfigLoader(name, path=folder).load_config()


@dataclass(frozen=True)
class Course:
    """A course root and what its ``nbgrader_config.py`` says about it."""

    root: Path

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> "Course":
        """The course whose root is ``start`` or the nearest folder above it with ``nbgrader_config.py``."""
        here = Path(start or os.getcwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / "nbgrader_config.py").is_file():
                return cls(folder)
        raise MissingInput(
            f"no nbgrader_config.py in {here} or above: run coursekit from the course root"
        )

    # -- configuration ---------------------------------------------------------
    def config(self):
        """The traitlets config loaded from ``nbgrader_config.py`` (a copy: change it freely).

        Parsed once per version of the file (its path, size and modification time), not on
        every read.
        """
        path = self.root / "nbgrader_config.py"
        st = path.stat()
        return copy.deepcopy(_load_config(str(path), st.st_mtime_ns, st.st_size))

    @property
    def db_url(self) -> str:
        url = self.config().CourseDirectory.get("db_url")
        return str(url) if url else "sqlite:///" + str(self.root / "gradebook.db")

    @property
    def course_id(self) -> str:
        return str(self.config().CourseDirectory.get("course_id", "default_course"))

    def directory(self, step: str) -> Path:
        """``source``, ``release``, ``submitted``, ``autograded`` or ``feedback`` folder."""
        defaults = {"source": "source", "release": "release", "submitted": "submitted",
                    "autograded": "autograded", "feedback": "feedback"}
        name = self.config().CourseDirectory.get(f"{step}_directory", defaults[step])
        return self.root / str(name)

    @property
    def solutions(self) -> Path:
        return self.directory("source")

    @property
    def release(self) -> Path:
        return self.directory("release")

    def assignments(self) -> list[str]:
        """Assignment ids, from the folders of ``solutions/``."""
        return sorted(p.name for p in self.solutions.iterdir()
                      if p.is_dir() and any(p.glob("*.ipynb")))

    def students(self, assignment: str) -> list[str]:
        """Students with a submission of ``assignment`` under ``submitted/``."""
        base = self.directory("submitted")
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())

    # -- running nbgrader --------------------------------------------------------
    def nbgrader(self, *args: str, log: Path | None = None) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` at the course root with this interpreter.

        nbgrader starts ``alembic`` from ``PATH``; the interpreter's own ``bin``
        folder goes first so a virtual environment works without activation.
        """
        env = dict(os.environ)
        bindir = str(Path(sys.executable).parent)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        cmd = [sys.executable, "-c", _NBGRADER_MAIN, *args]
        proc = subprocess.run(cmd, cwd=self.root, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(proc.stdout)
        if proc.returncode != 0:
            errors = [line for line in proc.stdout.splitlines()
                      if "ERROR" in line or "Error" in line or "Exception" in line]
            detail = "\n".join(errors[-15:]) or proc.stdout[-2000:]
            raise NbgraderError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n{detail}")
        return proc
