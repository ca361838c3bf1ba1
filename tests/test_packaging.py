"""One package per audience: what students import needs only the base install.

``coursekit`` and its test-cell helpers (``coursekit.grading``) must import with the base
dependencies alone (numpy, matplotlib, ipywidgets, ipympl, tqdm); nbgrader, nbformat and
the rest of the ``grade`` extra belong to ``coursekit.instructor``, which nothing students
import reaches.
"""
from __future__ import annotations

import subprocess
import sys

#: Distributions of the ``grade`` extra (not in the base install).
GRADE_EXTRA = ("nbgrader", "nbformat", "nbclient", "nbconvert", "jupyterlab", "notebook", "psutil",
               "filelock", "copydetect", "sqlalchemy", "alembic")
STUDENT_MODULES = ("coursekit", "coursekit.grading", "coursekit.gradcheck", "coursekit.layers",
                   "coursekit.solver", "coursekit.data", "coursekit.augment", "coursekit.plots",
                   "coursekit.surfaces", "coursekit.selfcheck", "coursekit.widgets.simplex",
                   "coursekit.widgets.optimizer_race", "coursekit.widgets.autodiff_graph")

_BLOCKER = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {GRADE_EXTRA!r}:
            raise ImportError(f'{{name}} is not in the base install')
sys.meta_path.insert(0, Block())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _BLOCKER + code], text=True, capture_output=True,
                          env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"}, timeout=300)


def test_student_modules_import_with_the_base_install_only():
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in STUDENT_MODULES)
    code += "print('ok', sorted(m for m in sys.modules if m.split('.')[0] == 'nbformat'))"
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok []"


def test_the_blocker_does_block_the_instructor_package():
    # the check above can fail: the instructor's pipeline needs the grade extra
    proc = _run("import coursekit.instructor.execute.judge")
    assert proc.returncode != 0 and "is not in the base install" in proc.stderr


def test_student_helpers_never_import_the_instructor_package():
    proc = _run("import coursekit.grading, coursekit.selfcheck, sys\n"
                "print(sorted(m for m in sys.modules if m.startswith('coursekit.instructor')))")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
