"""The instructor's side of coursekit: grading a class and running the course.

Students never get this package (the student tree leaves it out; notebooks' test cells
import only :mod:`coursekit.grading`). ``coursekit grade`` is a pipeline of stages, one
subpackage each, run in this order by :func:`coursekit.instructor.pipeline.grade_run`::

    intake/    a submission in: collect an LMS download, apply deadlines, read and
               repair each notebook against the trusted source (notebook.py)
    execute/   run it: the student's cells in a sandboxed kernel (sandbox.py, runner.py),
               the test cells in a trusted judge (judge.py) talking to the kernel through
               proxies (proxy.py) over a framed wire (wire.py); worker processes (workers.py)
    score/     turn test results into points: nbgrader's own grading rules (scoring.py);
               the preflight that proves the tests honest before a class is graded
    store/     write it down: the nbgrader gradebook, ``autograded/``, a record per
               submission; backups, the course lock, reading results back
    report/    tell people: feedback pages, the class report, LMS exports, similarity

Beside the stages: ``course.py`` (the course on disk and its nbgrader configuration),
``publish/`` (the student release and the student-only tree) and ``demo.py``.
Every module here may need the ``grade`` extra (nbgrader, nbformat, ...).
"""

import sys as _sys

# Start-up time. jsonschema (imported by nbformat) registers an ``iri`` format checker when
# ``rfc3987_syntax`` is installed, and that module compiles ~40 lark grammars on import: about a
# second in every grading process (the command and each worker). Nothing here validates ``iri``
# formats (nbformat's schema has none, and nbformat validates without a format checker), so that
# optional import is declined before jsonschema is loaded; if jsonschema is already loaded, nothing
# changes.
if "jsonschema" not in _sys.modules:
    _sys.modules.setdefault("rfc3987_syntax", None)


def _defer_nbgrader_package_init() -> None:
    """Let nbgrader's modules load without ``nbgrader/__init__.py``, until a name it defines is asked for.

    ``nbgrader/__init__.py`` imports nbgrader's four Jupyter server extensions (and with them
    jupyter_server, tornado and the exchange): 0.6-0.8 s of CPU in every process that imports any
    nbgrader module, although the gradebook (``nbgrader.api``), the grading rules
    (``nbgrader.utils``) and the preprocessors need none of it. Here ``nbgrader`` is registered
    as its package, not yet executed: ``import nbgrader.api`` loads ``nbgrader/api.py`` as
    always, and the first time anything asks the package for a name it does not have yet
    (``nbgrader.__version__``, a server extension's entry point), ``nbgrader/__init__.py`` runs
    in full, in that same module object. Nothing behaves differently; only that second is saved
    where nobody asks. Does nothing when nbgrader is already imported or not installed.
    """
    import importlib.util
    import os

    if "nbgrader" in _sys.modules:
        return
    try:
        spec = importlib.util.find_spec("nbgrader")
    except (ImportError, ValueError):
        return
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return
    package = importlib.util.module_from_spec(spec)

    folders = list(spec.submodule_search_locations)

    def complete(name: str):
        if any(os.path.exists(os.path.join(f, name + ".py")) or os.path.isdir(os.path.join(f, name))
               for f in folders):
            raise AttributeError(name)   # a submodule (``from . import utils``): the import system loads it
        # the package's own code, once, then the name from it (AttributeError if it has none)
        if package.__dict__.pop("__getattr__", None) is not None:
            spec.loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = complete
    _sys.modules["nbgrader"] = package


_defer_nbgrader_package_init()
