"""Isolation fails closed: auto picks the strongest sandbox that starts a real kernel, bwrap works,
and with no sandbox at all nothing is graded unless ``--isolation none`` is asked for.

The sandbox launcher itself: the file list goes through a pipe (no E2BIG), a kernel that exits
125 is not "the sandbox could not start", and what a sandbox wrote is shown without control
characters.
"""
from __future__ import annotations

import os
import sys

import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.execute.limits import Limits
from coursekit.instructor.store.results import read_results
from coursekit.instructor.execute.sandbox import Sandbox, SandboxError, probe_isolation
from coursekit.instructor.store.records import read_record
from coursekit.instructor.intake.submissions import build_submission

from .conftest import run_coursekit
from .points import release_points

A = "01_softmax"
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="sandboxes need Linux")
needs_bwrap = pytest.mark.skipif(probe_isolation("bwrap")[0] != "bwrap",
                                 reason="bwrap does not start a kernel here: " + probe_isolation("bwrap")[1])

# a program for the sandbox: says one byte on fd 4 (the kernel's "hello"), then does CODE
PROGRAM = "import os, sys\nos.write(4, b'h')\n{code}\n"


def _box(code: str, files=(), isolation="namespaces", hello=True) -> Sandbox:
    src = (PROGRAM if hello else "import os, sys\n{code}\n").format(code=code)
    uid = 900000 + os.getpid() if os.getuid() == 0 else None
    return Sandbox([sys.executable, "-I", "-S", "-c", src], {"PATH": "/usr/bin:/bin", "HOME": "/home/student"},
                   list(files), "/home/student/work", "/home/student", Limits(), uid=uid, isolation=isolation)


def _wait(box: Sandbox) -> None:
    box.proc.wait(timeout=30)
    box._stderr_thread.join(timeout=5)


# ---------------------------------------------------------------------------
# the launcher (fast)
# ---------------------------------------------------------------------------
@linux_only
@pytest.mark.parametrize("isolation", ["namespaces", "bwrap"])
def test_thousands_of_files_do_not_overflow_the_argument_list(tmp_path, isolation):
    if probe_isolation(isolation)[0] != isolation:
        pytest.skip(f"{isolation} not available here")
    files = []
    for i in range(1500):       # ~190 bytes of JSON per file: far over one argument's 128 KiB
        p = tmp_path / f"a_rather_long_folder_name_for_data_{i // 100}" / f"sample_file_number_{i:05d}.txt"
        p.parent.mkdir(exist_ok=True)
        p.write_text(str(i))
        files.append((str(p), f"work/{p.parent.name}/{p.name}"))
    box = _box("n = sum(len(f) for _, _, f in os.walk('/home/student/work'))\nos.write(4, str(n).encode())",
               files, isolation)
    try:
        box.start()
        _wait(box)
        got = b""
        while chunk := os.read(box.fd_from, 4096):
            got += chunk
    finally:
        box.kill()
    assert got == b"h1500", (got, box.stderr_tail())


@linux_only
def test_exit_125_from_student_code_is_not_a_sandbox_failure():
    box = _box("sys.stderr.write('\\x1b[31mred\\rback\\x07 done\\n'); sys.stderr.flush(); os._exit(125)")
    try:
        box.start()                       # the kernel said hello: it is up
        _wait(box)
        said = box.exit_description()
        tail = box.stderr_tail()
    finally:
        box.kill()
    assert said == "exited with code 125 (os._exit or sys.exit?)", said
    assert "could not start" not in said
    assert "red" in tail and not any(c in tail for c in "\x1b\r\x07")


@linux_only
def test_a_kernel_that_never_starts_raises_with_the_sandbox_error_output_cleaned():
    box = _box("sys.stderr.write('\\x1b[2Jboom: no module\\r\\n'); sys.stderr.flush(); sys.exit(1)", hello=False)
    with pytest.raises(SandboxError) as err:
        box.start()
    box.kill()
    text = str(err.value)
    assert "could not start the kernel" in text and "boom: no module" in text, text
    assert "\x1b" not in text and "\r" not in text


# ---------------------------------------------------------------------------
# probing: auto = namespaces, then bwrap, then refuse
# ---------------------------------------------------------------------------
@linux_only
@needs_bwrap
def test_auto_picks_bwrap_when_namespaces_do_not_work(monkeypatch):
    monkeypatch.setenv("COURSEKIT_SANDBOX_DISABLE", "namespaces")
    mode, why = probe_isolation()
    assert mode == "bwrap", why
    assert "bubblewrap" in why


@linux_only
def test_auto_finds_nothing_when_neither_works(monkeypatch):
    monkeypatch.setenv("COURSEKIT_SANDBOX_DISABLE", "namespaces,bwrap")
    mode, why = probe_isolation()
    assert mode == "none"
    assert "namespaces:" in why and "bwrap:" in why


@pytest.mark.slow
@linux_only
def test_without_a_sandbox_nothing_is_graded_unless_none_is_asked_for(course_factory, monkeypatch):
    root = course_factory(assignments=[A])
    course = Course(root)
    build_submission(course, A, "solved", solve="all")
    monkeypatch.setenv("COURSEKIT_SANDBOX_DISABLE", "namespaces,bwrap")
    proc = run_coursekit(root, "grade", A, check=False)
    assert proc.returncode != 0, proc.stdout
    assert "no sandbox works here" in proc.stderr and "--isolation none" in proc.stderr, proc.stderr
    assert read_results(course, A) == [] and read_record(course, A, "solved") is None
    # asked for explicitly: the warning says what student code can do
    proc = run_coursekit(root, "grade", A, "--isolation", "none", check=False)
    assert "CAN READ AND WRITE solutions/" in proc.stdout and "gradebook" in proc.stdout, proc.stdout
    if proc.returncode == 0:
        assert read_record(course, A, "solved")["isolation"] == "none"


# ---------------------------------------------------------------------------
# a real bwrap grading
# ---------------------------------------------------------------------------
PEEK = '''
import os
for _p in [COURSE + "/solutions", COURSE + "/gradebook.db", COURSE + "/submitted"]:
    print("SEES", _p, os.path.exists(_p))
try:
    open(COURSE + "/solutions/01_softmax/softmax.ipynb").read()
    print("READ solutions")
except OSError as _err:
    print("CANNOT READ solutions:", type(_err).__name__)
'''

READ_SOLUTIONS = '''
import json, os
for _cell in json.load(open(COURSE + "/solutions/01_softmax/softmax.ipynb"))["cells"]:
    if _cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
        exec("".join(_cell["source"]), globals())
'''


@pytest.mark.slow
@linux_only
@needs_bwrap
def test_bwrap_grades_honest_work_in_full_and_hides_the_course(course_factory, monkeypatch):
    root = course_factory(assignments=[A])
    course = Course(root)
    build_submission(course, A, "solved", solve="all")
    # one student who looks around, then tries to run the reference as their own answers
    build_submission(course, A, "reader", solve=None,
                     replace={"softmax": (PEEK + READ_SOLUTIONS).replace("COURSE", repr(str(root)))})
    monkeypatch.setenv("COURSEKIT_SANDBOX_DISABLE", "namespaces")     # auto must fall back to bwrap
    out = run_coursekit(root, "grade", A, "--jobs", "2").stdout
    assert "sandbox: bwrap" in out, out
    results = {r.student: r for r in read_results(course, A)}
    pts, solved = release_points(A, "softmax"), results["solved"]
    # every autograded point; the written answers (in max_score) wait for a person
    assert (solved.score, solved.max_score) == (pts.autograded, pts.possible), solved.tests
    assert all(solved.tests[t] == (p, p) for t, p in pts.tests.items()), solved.tests
    assert results["reader"].score == 0, results["reader"].tests
    assert read_record(course, A, "solved")["isolation"] == "bwrap"
    import nbformat

    nb = nbformat.read(root / "autograded" / "reader" / A / "softmax.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert f"SEES {root}/solutions False" in text and f"SEES {root}/gradebook.db False" in text, text
    assert "CANNOT READ solutions" in text and "READ solutions\n" not in text.replace("CANNOT READ solutions", "")
