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
