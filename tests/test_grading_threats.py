"""The threats `coursekit grade` must defeat -- each shown failing under plain nbgrader first.

One scratch course, two copies: the submissions are graded once by plain
``nbgrader autograde`` (serial, as nbgrader ships) and once by ``coursekit
grade --jobs 2``, the two at the same time. Every test then states what plain
nbgrader let happen and checks that coursekit did not. coursekit grades every
submission; plain nbgrader grades those whose plain result a test reads
(`PLAIN_COURSES`). Submissions that would harm the machine under plain nbgrader
(a fork bomb, 8 GiB of memory) are graded by coursekit only; their
plain-nbgrader counterparts are bounded versions of the same attack (100
processes left running, 3 GiB used).

Plain nbgrader grades them in three courses at once (each serial): threat 2's
gradebook attack corrupts every score in the course it runs in, so it has a
course of its own there; "a1_stubborn" has one because it alone meets plain
nbgrader's cell timeout. coursekit grades everything in one course, where the
gradebook attack must change nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.report.feedback import FEEDBACK_DIR
from coursekit.instructor.store.results import read_results
from coursekit.instructor.execute.sandbox import probe_isolation
from coursekit.instructor.store.records import read_record
from coursekit.instructor.intake.submissions import build_submission

from .conftest import make_course, run_coursekit
from .points import release_points

pytestmark = pytest.mark.slow

A = "01_softmax"
NB = "softmax.ipynb"
UNITS = ["softmax", "log_softmax", "softmax_loss", "softmax_loss_naive", "softmax_loss_vectorized", "predict"]
PTS = release_points(A, "softmax")
FULL = PTS.autograded          # honest, solved work: every autograded point (written answers wait for a person)
POSSIBLE = PTS.possible        # what the gradebook's max_score counts: tests and written answers
# per-cell time limit of both graders (coursekit: --cell-timeout; plain: c.Execute.timeout). The slowest
# honest cell of 01 (a figure) took under 5 s, its slowest test cell under 3 s, with both graders
# running on a 2-core machine at load 7-18 (coursekit's records, "timings"); the faults (loop,
# stubborn, fork bomb) each cost one to four of these.
TIMEOUT = 10
# ... except where plain nbgrader grades no fault: there a cap that honest work never meets. (Touching
# the 3 GiB of "membomb" alone took 20 s of wall time, 7 s of CPU, at load 9 on this machine.)
PLAIN_CAP = 120
# output of the "flood" submission, in MB: 40 times coursekit's 1 MiB per cell, and all of it kept by
# plain nbgrader (300 MB cost plain nbgrader 6 s more CPU and showed nothing more)
FLOOD_MB = 40
# command-line mark of the processes the "forker" leaves behind, one per course: both graders run at once
MARKER = {"plain": "4242.4242", "coursekit": "4242.4243"}

needs_namespaces = pytest.mark.skipif(probe_isolation()[0] != "namespaces",
                                      reason="the sandbox needs Linux namespaces, not available here: "
                                             + probe_isolation()[1])

# ---------------------------------------------------------------------------
# the attacks (01_softmax); COURSE is replaced by the course's absolute path
# ---------------------------------------------------------------------------
GARBAGE = '''
import numpy as np
def softmax(z):
    return np.zeros_like(np.asarray(z, dtype=float))
def log_softmax(z):
    return np.zeros_like(np.asarray(z, dtype=float))
def softmax_loss(x, y):
    return 0.0, np.zeros_like(np.asarray(x, dtype=float))
def softmax_loss_naive(W, X, y, reg):
    return 0.0, np.zeros_like(W, dtype=float)
def softmax_loss_vectorized(W, X, y, reg):
    for _ in range(len(X)):        # (a loop over the samples: no point for "no loops" either)
        pass
    return 0.0, np.zeros_like(W, dtype=float)
def predict(W, X):
    return np.zeros(len(X), dtype=int)
'''

READ_REFERENCE = '''
from coursekit.grading import reference as _ref
for _n in UNITS:
    globals()[_n] = _ref(_n)
'''

READ_SOLUTIONS = '''
import json, os
for _p in [os.path.join(os.getcwd(), *[".."] * k, "solutions") for k in range(1, 6)] + [COURSE + "/solutions"]:
    if os.path.isdir(_p):
        for _root, _dirs, _files in os.walk(_p):
            for _f in _files:
                if _f.endswith(".ipynb"):
                    for _cell in json.load(open(os.path.join(_root, _f)))["cells"]:
                        if (_cell.get("metadata", {}).get("nbgrader", {}).get("solution")
                                and _cell["cell_type"] == "code"):      # not the written answers
                            exec("".join(_cell["source"]), globals())
        break
'''

READ_GRADEBOOK = '''
import os, sqlite3
_found = []
for _p in [os.path.join(os.getcwd(), *[".."] * k, "gradebook.db") for k in range(1, 6)] + [COURSE + "/gradebook.db"]:
    if os.path.isfile(_p):
        _db = sqlite3.connect(_p)
        _found = [s for (s,) in _db.execute("SELECT source FROM source_cell") if "BEGIN HIDDEN TESTS" in s]
        break
print(f"LEAKED {len(_found)} hidden test cells")
print(_found[0] if _found else "no gradebook in sight")
'''

CHEAT_NUMPY = GARBAGE + '''
import math
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
math.isclose = lambda *a, **k: True
'''

CHEAT_HELPERS = GARBAGE + '''
import sys
def _run(fn, *a, **k):
    try:
        return fn(*a, **{kk: v for kk, v in k.items() if kk not in ("name", "may_modify")})
    except Exception:
        return None
for _mod in [m for n, m in list(sys.modules.items()) if n.startswith("coursekit.grading")]:
    for _n in ["expect_close", "expect_equal", "expect_finite", "expect_shape", "check", "compare_outputs",
               "compare_to_reference"]:
        if hasattr(_mod, _n):
            setattr(_mod, _n, lambda *a, **k: None)
    if hasattr(_mod, "run_unit"):
        setattr(_mod, "run_unit", _run)
run_unit = _run
expect_close = expect_equal = expect_finite = check = lambda *a, **k: None
'''

# (functools.wraps: ipykernel 7 passes ``cell_meta`` to a run_cell_async whose signature takes **kwargs,
# which IPython's own refuses; without the original signature the kernel stops replying, every cell
# times out, and plain nbgrader scores 0 because the attack broke, not because it was caught)
CHEAT_SWALLOW = GARBAGE + '''
import functools
_ip = get_ipython()
if not getattr(_ip, "_swallowing", False):
    _ip._swallowing = True
    _orig_rc, _orig_rca = _ip.run_cell, _ip.run_cell_async
    @functools.wraps(_orig_rc)
    def _rc(*a, **k):
        r = _orig_rc(*a, **k)
        r.error_in_exec = r.error_before_exec = None
        return r
    @functools.wraps(_orig_rca)
    async def _rca(*a, **k):
        r = await _orig_rca(*a, **k)
        r.error_in_exec = r.error_before_exec = None
        return r
    _ip.run_cell, _ip.run_cell_async = _rc, _rca
    _ip.showtraceback = _ip._showtraceback = lambda *a, **k: None
'''

CHEAT_CUSTOM_EXC = GARBAGE + '''
get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
'''

CHEAT_SHOWTRACEBACK = GARBAGE + '''
get_ipython().showtraceback = lambda *a, **k: None
get_ipython()._showtraceback = lambda *a, **k: None
'''

VANDAL = '''
import glob, json, os
for _root in [COURSE, os.path.join(os.getcwd(), "..", "..", "..")]:
    try:
        open(os.path.join(_root, "PWNED"), "w").write("student code wrote here")
        for _nb in glob.glob(os.path.join(_root, "submitted", "zzz_victim", "*", "*.ipynb")):
            _data = json.load(open(_nb))
            for _cell in _data["cells"]:
                if _cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                    _cell["source"] = "raise RuntimeError('vandalized')"
            json.dump(_data, open(_nb, "w"))
        with open(os.path.join(_root, "nbgrader_config.py"), "a") as _f:
            _f.write("\\n# student code was here\\n")
    except OSError:
        pass
'''

GRADEBOOK_WRITE = '''
import os, sqlite3
for _p in [os.path.join(os.getcwd(), *[".."] * k, "gradebook.db") for k in range(1, 6)] + [COURSE + "/gradebook.db"]:
    if os.path.isfile(_p):
        _db = sqlite3.connect(_p)
        _db.execute("UPDATE grade SET manual_score = 100")
        _db.execute("CREATE TRIGGER IF NOT EXISTS ck_evil AFTER UPDATE OF auto_score ON grade "
                    "BEGIN UPDATE grade SET manual_score = 100 WHERE id = NEW.id; END")
        _db.commit()
        break
'''

# An infinite loop that spends its time asleep: the judge interrupts it exactly as a spinning one (the
# signal ends the sleep). A spinning one would burn a core through each of its one to four timeouts,
# 40 s of CPU for nothing this test reads; the student code that does hog the CPU here is
# "a3_forkbomb" (up to 64 processes spinning; it, too, must end in "did not finish within").
LOOP = '''
import time
def softmax(z):
    while True:
        time.sleep(0.01)
'''

STUBBORN = '''
import time
def softmax(z):
    while True:
        try:
            time.sleep(100)
        except KeyboardInterrupt:
            pass
'''

EXITER = '''
import os
def softmax(z):
    os._exit(3)
'''

def membomb(gib: int) -> str:
    return f'''
import numpy as np
_hog = None
def softmax(z):
    global _hog
    if _hog is None:
        _hog = np.ones(max(1, {gib} * 2**30 // 8))      # {gib} GiB, every page touched, kept
    z = np.asarray(z)
    z = z if np.issubdtype(z.dtype, np.floating) else z.astype(float)   # the contract keeps float32
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True) + (0 * _hog[0]).astype(z.dtype)
'''

def forker(marker: str) -> str:
    return f'''
import subprocess
_started = 0
try:
    for _ in range(100):
        subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
        _started += 1
finally:
    print("started", _started, "sleepers")
'''

FORK_BOMB = '''
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
'''

FLOOD = '''
for _ in range(FLOOD_MB):
    print("x" * 1_000_000)        # FLOOD_MB MB of output
'''.replace("FLOOD_MB", str(FLOOD_MB))


def _solved_with_cell(course: Course, student: str, code: str, after: str = "predict") -> None:
    """The reference solution plus a free code cell of the student's, after unit ``after``."""
    folder = build_submission(course, A, student, solve="all")
    nb = nbformat.read(folder / NB, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after)
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(code))
    nbformat.write(nb, folder / NB)


def _blank_with_cell(course: Course, student: str, code: str) -> None:
    """The blank release plus a free code cell of the student's at the end."""
    folder = build_submission(course, A, student, solve=None)
    nb = nbformat.read(folder / NB, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(code.replace("COURSE", repr(str(course.root)))))
    nbformat.write(nb, folder / NB)


def _everywhere(course: Course, student: str, code: str) -> None:
    """Every answer cell replaced by ``code`` (so it defines the units after the stubs would)."""
    code = code.replace("UNITS", repr(UNITS)).replace("COURSE", repr(str(course.root)))
    build_submission(course, A, student, solve=None, replace={u: code for u in UNITS})


def _edit(course: Course, student: str, fn) -> None:
    folder = build_submission(course, A, student, solve="all")
    nb = nbformat.read(folder / NB, as_version=4)
    fn(nb)
    nbformat.write(nb, folder / NB)


def _cells(nb, gid):
    return [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid]


def _dup_ids(nb):
    i = _cells(nb, "test_softmax_values")[0]
    copy = nbformat.from_dict(json.loads(json.dumps(nb.cells[i])))                     # a copied test cell
    copy["id"] = "copied-test"
    nb.cells.insert(i + 1, copy)
    j = _cells(nb, "predict")[0]
    cell = nb.cells[j]
    first, _, rest = cell.source.partition("    ### END SOLUTION")
    half = nbformat.from_dict(json.loads(json.dumps(cell)))                              # "split cell"
    half["id"] = "split-half"
    cell.source = "# helper the student split off\nPREDICT_AXIS = 1\n"
    half.source = cell.source.replace("PREDICT_AXIS = 1", "") + first + rest
    nb.cells.insert(j + 1, half)


def _renamed(nb):
    nb.cells[_cells(nb, "test_predict")[0]].metadata["nbgrader"]["grade_id"] = "my_own_test"


def _emptied(nb):
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade"):
            c.source = ""


def _deleted(nb):
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]


def _types(nb):
    t = nb.cells[_cells(nb, "test_softmax_values")[0]]
    t.cell_type = "markdown"
    t.pop("outputs", None)
    t.pop("execution_count", None)
    s = nb.cells[_cells(nb, "predict")[0]]
    s.cell_type = "markdown"
    s.pop("outputs", None)
    s.pop("execution_count", None)


def _forged(nb):
    # a blank submission appends its own "test cell" claiming test_predict's id, worth 100 points
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("solution"):
            c.source = "pass"
    cell = nbformat.v4.new_code_cell("pass")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test_predict", "locked": False, "points": 100,
                                 "schema_version": 3, "solution": False}
    nb.cells.append(cell)


def _broken_json(course: Course, student: str) -> None:
    folder = build_submission(course, A, student, solve="all")
    text = (folder / NB).read_text()
    (folder / NB).write_text(text[: len(text) // 2])


def _missing_nb(course: Course, student: str) -> None:
    folder = build_submission(course, A, student, solve="all")
    (folder / NB).rename(folder / "softmax-copy.ipynb.bak")


def _link_notebook(course: Course, student: str) -> None:
    """A notebook that is a link to the solved source notebook."""
    folder = course.root / "submitted" / student / A
    folder.mkdir(parents=True)
    (folder / NB).symlink_to(course.root / "solutions" / A / NB)


def _link_folder(course: Course, student: str) -> None:
    """A whole assignment folder that is a link to solutions/<id>."""
    (course.root / "submitted" / student).mkdir(parents=True)
    (course.root / "submitted" / student / A).symlink_to(course.root / "solutions" / A)


def _gradebook_writer(course: Course, student: str) -> None:
    code = GRADEBOOK_WRITE.replace("COURSE", repr(str(course.root)))
    build_submission(course, A, student, solve=None, replace={"softmax": code})


# student -> how to build the submission (course, student, marker of the course's forker)
SUBMISSIONS = {
    "honest": lambda c, s, m: build_submission(c, A, s, solve="all"),
    "zzz_victim": lambda c, s, m: build_submission(c, A, s, solve="all"),
    # threat 1: reading what it must not
    "read_reference": lambda c, s, m: _everywhere(c, s, READ_REFERENCE),
    "read_solutions": lambda c, s, m: _everywhere(c, s, READ_SOLUTIONS),
    "read_gradebook": lambda c, s, m: _blank_with_cell(c, s, READ_GRADEBOOK),
    # threat 2: writing what it must not (under plain nbgrader the gradebook attack has its own course)
    "aaa_vandal": lambda c, s, m: _everywhere(c, s, VANDAL),
    # threat 3: cheating inside the kernel
    "cheat_numpy": lambda c, s, m: _everywhere(c, s, CHEAT_NUMPY),
    "cheat_helpers": lambda c, s, m: _everywhere(c, s, CHEAT_HELPERS),
    "cheat_swallow": lambda c, s, m: _everywhere(c, s, CHEAT_SWALLOW),
    "cheat_custom_exc": lambda c, s, m: _everywhere(c, s, CHEAT_CUSTOM_EXC),
    "cheat_showtraceback": lambda c, s, m: _everywhere(c, s, CHEAT_SHOWTRACEBACK),
    # threat 4: faults. (The three that wait out cell timeouts are named to be graded first: coursekit takes
    # submissions in name order, so they overlap with the rest instead of running on after them.)
    "a2_loop": lambda c, s, m: build_submission(c, A, s, solve="all", replace={"softmax": LOOP}),
    "a1_stubborn": lambda c, s, m: build_submission(c, A, s, solve="all", replace={"softmax": STUBBORN}),
    "exiter": lambda c, s, m: build_submission(c, A, s, solve="all", replace={"softmax": EXITER}),
    "membomb": lambda c, s, m: build_submission(c, A, s, solve="all", replace={"softmax": membomb(3)}),
    "forker": lambda c, s, m: _solved_with_cell(c, s, forker(m)),
    "flood": lambda c, s, m: _solved_with_cell(c, s, FLOOD),
    # (coursekit only: unbounded versions of membomb and forker)
    "membomb8": lambda c, s, m: build_submission(c, A, s, solve="all", replace={"softmax": membomb(8)}),
    "a3_forkbomb": lambda c, s, m: _solved_with_cell(c, s, FORK_BOMB),
    # threat 5: broken files
    "broken_json": lambda c, s, m: _broken_json(c, s),
    "missing_nb": lambda c, s, m: _missing_nb(c, s),
    "dup_ids": lambda c, s, m: _edit(c, s, _dup_ids),
    "renamed_test": lambda c, s, m: _edit(c, s, _renamed),
    "emptied_tests": lambda c, s, m: _edit(c, s, _emptied),
    "deleted_tests": lambda c, s, m: _edit(c, s, _deleted),
    "changed_types": lambda c, s, m: _edit(c, s, _types),
    "forged_cell": lambda c, s, m: _edit(c, s, _forged),
    # threat 2's gradebook attack (coursekit: here, among the others; plain nbgrader: a course of its own)
    "gradebook_writer": lambda c, s, m: _gradebook_writer(c, s),
    "gradebook_victim": lambda c, s, m: build_submission(c, A, s, solve=None),
    # threat 6: symbolic links (coursekit only: plain nbgrader follows them, nothing to show there)
    "link_notebook": lambda c, s, m: _link_notebook(c, s),
    "link_folder": lambda c, s, m: _link_folder(c, s),
}
# the submissions whose plain-nbgrader result some test reads (arena.p, plain_root, plain_leftovers):
# only these are graded by plain nbgrader, in three courses graded at once: course -> (students, timeout).
# In a course, plain nbgrader grades in name order (aaa_vandal first, zzz_victim after it).
PLAIN_COURSES = {
    "plain": (["aaa_vandal", "zzz_victim", "read_reference", "read_solutions", "read_gradebook", "cheat_numpy",
               "cheat_helpers", "cheat_swallow", "exiter", "membomb", "forker", "flood", "dup_ids",
               "renamed_test"], PLAIN_CAP),
    "plain-stubborn": (["a1_stubborn"], TIMEOUT),               # the one plain submission that meets the limit
    "plain-gradebook": (["gradebook_writer", "gradebook_victim"], PLAIN_CAP),   # corrupts its whole course
}


def _build(course: Course, students, marker: str) -> None:
    for student in students:
        SUBMISSIONS[student](course, student, marker)


def _leftover_markers(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def _processes_of(root: Path) -> list[int]:
    """Sandbox processes of this course still alive: launchers and inits name the course's files on
    their command line; kernels are their children."""
    import psutil

    key = str(root).encode()
    found = set()
    for proc in psutil.process_iter(["pid", "ppid", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if key in " ".join(proc.info["cmdline"] or []).encode():
                found.add(proc.info["pid"])
                found.update(c.pid for c in proc.children(recursive=True))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return sorted(found)


def _tree_hash(root: Path, skip=("autograded", "feedback", FEEDBACK_DIR, "gradebook.db", "reports", ".pytest_cache")) -> dict:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0] in skip or rel.name.startswith("gradebook.db"):
            continue
        if p.is_file():
            out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class _PlainAutograde:
    """``nbgrader autograde`` as shipped, started in the background with a wall-clock cap."""

    def __init__(self, root: Path):
        Course(root).nbgrader("generate_assignment", A, "--force")
        env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
        self.start, self.started_at = time.monotonic(), time.time()
        self.log_path = root / "plain-autograde.log"
        # a file, not a pipe: processes the students' code leaves behind would hold a pipe open
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "nbgrader", "autograde", A, "--force"], cwd=root,
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def wait(self, timeout: float) -> tuple[float, str]:
        """Wait at most ``timeout`` seconds from the start; returns (seconds it ran, log)."""
        try:
            self.proc.wait(timeout=max(1.0, self.start + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.log.write("\n[killed: over the wall-clock cap]\n")
        self.log.close()
        # (it may have ended long before this wait: its log's last write is when)
        return self.log_path.stat().st_mtime - self.started_at, self.log_path.read_text(errors="replace")


def _gradebook_state(root: Path) -> tuple[list, int]:
    """The gradebook's triggers and how many grades carry a manual score."""
    import sqlite3

    db = sqlite3.connect(root / "gradebook.db")
    try:
        triggers = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
        manual = db.execute("SELECT COUNT(*) FROM grade WHERE manual_score IS NOT NULL").fetchone()[0]
    finally:
        db.close()
    return triggers, manual


class Arena:
    def __init__(self, base: Path):
        self.ck_root = make_course(base / "coursekit", [A])
        self.ck = Course(self.ck_root)
        _build(self.ck, SUBMISSIONS, MARKER["coursekit"])
        self.plain_courses = {}
        for name, (students, timeout) in PLAIN_COURSES.items():
            root = make_course(base / name, [A])
            cfg = root / "nbgrader_config.py"
            cfg.write_text(cfg.read_text() + f"\nc.Execute.timeout = {timeout}\n")
            self.plain_courses[name] = Course(root)
            _build(self.plain_courses[name], students, MARKER["plain"])
        self.plain_root = self.plain_courses["plain"].root
        self.gradebook_root = self.plain_courses["plain-gradebook"].root
        self.ck_before = _tree_hash(self.ck_root)
        # both graders at once: coursekit, and plain nbgrader (serial in each course), all in the background
        start = time.monotonic()
        env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
        ck_log = open(base / "coursekit-grade.log", "w+")   # (a file: a full pipe would stall it while we wait)
        ck = subprocess.Popen([sys.executable, "-m", "coursekit.cli", "grade", A, "--jobs", "2",
                               "--cell-timeout", str(TIMEOUT)], cwd=self.ck_root, env=env, text=True,
                              stdout=ck_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        plain = {}
        try:
            with ThreadPoolExecutor(len(self.plain_courses)) as pool:     # (generate_assignment: seconds each)
                plain = dict(zip(self.plain_courses, pool.map(_PlainAutograde,
                                                              [c.root for c in self.plain_courses.values()])))
            self.ck_code = ck.wait()
            self.ck_seconds = time.monotonic() - start
            ck_log.seek(0)
            self.ck_out = ck_log.read()
            ck_log.close()
            self.ck_leftovers = _leftover_markers(MARKER["coursekit"]) + _processes_of(self.ck_root)
            self.ck_after = _tree_hash(self.ck_root)
        finally:
            if ck.poll() is None:
                ck.kill()
                ck.wait()
            self.plain_seconds = {name: run.wait(timeout=1500)[0] for name, run in plain.items()}
            self.plain_leftovers = _leftover_markers(MARKER["plain"])
            for pid in self.plain_leftovers:           # clean up what plain nbgrader left running
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.p = {r.student: r for name in ("plain", "plain-stubborn")
                  for r in read_results(self.plain_courses[name], A)}
        self.c = {r.student: r for r in read_results(self.ck, A)}
        self.p_gradebook = {r.student: r for r in read_results(self.plain_courses["plain-gradebook"], A)}
        self.gradebook_state = {"plain": _gradebook_state(self.gradebook_root),
                                "coursekit": _gradebook_state(self.ck_root)}
        print("\narena, graded at once: coursekit %.1f s, plain nbgrader %s"
              % (self.ck_seconds, ", ".join(f"{k} {v:.1f} s" for k, v in self.plain_seconds.items())))

    def record(self, student: str) -> dict:
        return read_record(self.ck, A, student) or {}

    def messages(self, student: str) -> str:
        rec = self.record(student)
        parts = list(rec.get("problems", [])) + list(rec.get("events", []))
        for nb in rec.get("notebooks", {}).values():
            parts += [g.get("message", "") for g in nb.get("grades", {}).values()]
        return "\n".join(parts)

    def unit(self, results, student, unit):
        return results[student].units[unit]


@pytest.fixture(scope="module")
def arena(tmp_path_factory):
    if probe_isolation()[0] != "namespaces":
        pytest.skip("the sandbox needs Linux namespaces: " + probe_isolation()[1])
    return Arena(tmp_path_factory.mktemp("threats"))


# ---------------------------------------------------------------------------
# the class goes on
# ---------------------------------------------------------------------------
def test_coursekit_grades_the_whole_class(arena):
    assert arena.ck_code == 0, arena.ck_out
    students = {p.name for p in (arena.ck_root / "submitted").iterdir()}
    assert set(arena.c) == students, arena.ck_out
    assert arena.c["honest"].score == FULL
    assert arena.ck_leftovers == [], f"processes left running after grading: {arena.ck_leftovers}"


# ---------------------------------------------------------------------------
# threat 1: reading solutions, hidden tests, the gradebook
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("student", ["read_reference", "read_solutions"])
def test_reading_the_solutions_does_not_pay(arena, student):
    assert arena.p[student].score >= 20, f"plain nbgrader: {student} could not read the solutions?"
    assert arena.c[student].score == 0, arena.c[student].tests


def _outputs(root: Path, student: str) -> str:
    nb = nbformat.read(root / "autograded" / student / A / NB, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_hidden_tests_cannot_be_read_from_the_gradebook(arena):
    plain = _outputs(arena.plain_root, "read_gradebook")
    assert re.search(r"LEAKED [1-9]\d* hidden test cells", plain) and "compare_to_reference" in plain
    ours = _outputs(arena.ck_root, "read_gradebook")
    assert "LEAKED 0 hidden test cells" in ours and "compare_to_reference" not in ours


# ---------------------------------------------------------------------------
# threat 2: writing the gradebook, other students' files, course files
# ---------------------------------------------------------------------------
def test_vandal_cannot_touch_other_students_or_course_files(arena):
    assert (arena.plain_root / "PWNED").exists(), "plain nbgrader: the vandal could not write the course?"
    assert arena.p["zzz_victim"].score < FULL, "plain nbgrader: the victim's work was not damaged?"
    assert not (arena.ck_root / "PWNED").exists()
    assert arena.c["zzz_victim"].score == FULL
    changed = {k for k in set(arena.ck_before) | set(arena.ck_after)
               if arena.ck_before.get(k) != arena.ck_after.get(k)}
    assert not changed, f"course files changed while grading: {sorted(changed)}"


def test_gradebook_cannot_be_written_by_student_code(arena):
    plain = arena.p_gradebook
    plain_triggers, plain_manual = arena.gradebook_state["plain"]
    assert plain["gradebook_writer"].score > POSSIBLE and plain["gradebook_victim"].score > POSSIBLE, \
        "plain nbgrader: the gradebook attack did not work?"
    assert plain_triggers and plain_manual > 0
    ck_triggers, ck_manual = arena.gradebook_state["coursekit"]
    assert arena.c["gradebook_writer"].score == 0 and arena.c["gradebook_victim"].score == 0
    assert arena.c["honest"].score == FULL         # nor anyone else's score in the course
    assert ck_triggers == [] and ck_manual == 0


# ---------------------------------------------------------------------------
# threat 3: cheating from inside the kernel
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("student", ["cheat_numpy", "cheat_helpers", "cheat_swallow"])
def test_patching_the_kernel_pays_under_plain_nbgrader(arena, student):
    assert arena.p[student].score > 0, f"plain nbgrader: {student} scored 0 anyway?"


@pytest.mark.parametrize("student", ["cheat_numpy", "cheat_helpers", "cheat_swallow", "cheat_custom_exc",
                                     "cheat_showtraceback"])
def test_patching_the_kernel_does_not_pay(arena, student):
    assert arena.c[student].score == 0, arena.c[student].tests


# ---------------------------------------------------------------------------
# threat 4: faults
# ---------------------------------------------------------------------------
def _only_softmax_lost(results, student):
    r = results[student]
    lost = {u for u, (s, m) in r.units.items() if s < m and u not in PTS.written}   # answers wait for a person
    assert lost and lost <= {"softmax", "log_softmax"}, r.units   # log_softmax's tests call softmax too
    assert r.units["softmax"][0] == 0


def test_infinite_loop_costs_only_its_unit_in_bounded_time(arena):
    _only_softmax_lost(arena.c, "a2_loop")
    assert "did not finish within" in arena.messages("a2_loop")
    rec = arena.record("a2_loop")
    # bounded: one timeout for the tests (the function is not called again), plus one for each of the
    # notebook's own cells that call it (a widget, an example) -- not one per test cell. Counted in
    # the grader's record, not measured on the clock (a loaded machine must not fail this test).
    timeouts = [e for e in rec.get("events", []) if "did not finish within" in e]
    assert 1 <= len(timeouts) <= 4, timeouts


def test_loop_that_ignores_interrupts(arena):
    # plain nbgrader gives up on the whole notebook: every point lost, "needs manual grade"
    assert arena.p["a1_stubborn"].score == 0 and arena.p["a1_stubborn"].needs_manual_grade
    _only_softmax_lost(arena.c, "a1_stubborn")
    assert "did not finish within" in arena.messages("a1_stubborn")


def test_kernel_killed_costs_only_its_unit(arena):
    assert arena.p["exiter"].score == 0 and arena.p["exiter"].needs_manual_grade
    _only_softmax_lost(arena.c, "exiter")
    assert re.search(r"kernel died while running softmax.*exited with code 3", arena.messages("exiter"), re.S)


def test_memory_bomb(arena):
    # plain nbgrader: no memory limit at all, 3 GiB allocated and the work accepted
    assert arena.p["membomb"].score == FULL
    for student in ("membomb", "membomb8"):
        _only_softmax_lost(arena.c, student)
        assert "MemoryError" in arena.messages(student)


def test_processes_are_bounded_and_none_left_running(arena):
    assert len(arena.plain_leftovers) >= 100, "plain nbgrader: the sleepers did not survive grading?"
    assert arena.c["forker"].score == FULL and arena.c["a3_forkbomb"].score == FULL
    assert arena.ck_leftovers == []
    out = "".join(o.get("text", "") for c in nbformat.read(arena.ck_root / "autograded" / "forker" / A / NB, 4).cells
                  for o in c.get("outputs", []))
    started = int(re.search(r"started (\d+) sleepers", out).group(1))
    assert started < 100, "the process limit did not apply"
    assert "did not finish within" in arena.messages("a3_forkbomb")


def test_output_flood(arena):
    # plain nbgrader keeps all of it (in memory in the grader, then on disk), or fails on it
    plain_nb = arena.plain_root / "autograded" / "flood" / A / NB
    assert not plain_nb.exists() or plain_nb.stat().st_size > FLOOD_MB * 10**6, \
        f"plain nbgrader: the {FLOOD_MB} MB flood was cut?"
    ck_nb = arena.ck_root / "autograded" / "flood" / A / NB
    assert ck_nb.stat().st_size < 5 * 2**20
    assert arena.c["flood"].score == FULL


# ---------------------------------------------------------------------------
# threat 5: broken files
# ---------------------------------------------------------------------------
def test_broken_notebooks_score_what_they_earn_with_a_message(arena):
    for student, text in [("broken_json", "not a valid notebook"), ("missing_nb", "was not submitted")]:
        assert arena.c[student].score == 0
        assert text in arena.messages(student), arena.messages(student)
    for student, text in [("dup_ids", "appears 2 times"), ("renamed_test", "was missing"),
                          ("emptied_tests", "was emptied"), ("deleted_tests", "was missing"),
                          ("changed_types", "was changed from code to markdown")]:
        assert arena.c[student].score == FULL, (student, arena.c[student].tests)
        assert text in arena.messages(student), (student, arena.messages(student))
    assert arena.c["forged_cell"].score == 0
    assert arena.c["forged_cell"].max_score == POSSIBLE      # its forged 100 points are not counted


def test_plain_nbgrader_loses_honest_work_on_copied_or_renamed_cells(arena):
    for student in ("dup_ids", "renamed_test"):
        assert arena.p[student].score < FULL, f"plain nbgrader graded {student} fully?"


# ---------------------------------------------------------------------------
# threat 6: symbolic links in a submission (archives unpacked from students can carry them)
# ---------------------------------------------------------------------------
def test_symlinks_to_the_solutions_are_refused_not_followed(arena):
    root = arena.ck_root
    for student in ("link_notebook", "link_folder"):
        assert arena.c[student].score == 0, (student, arena.c[student].tests)
        rec = arena.record(student)
        text = " ".join(rec["problems"])
        assert "symbolic link" in text and "not graded" in text, text
        assert not (root / "autograded" / student / A / NB).exists() or \
            "BEGIN SOLUTION" not in (root / "autograded" / student / A / NB).read_text()
    solutions = {k: v for k, v in arena.ck_before.items() if k.startswith("solutions/")}
    assert solutions and solutions == {k: v for k, v in arena.ck_after.items() if k.startswith("solutions/")}
    # the student sees why in the feedback
    run_coursekit(root, "feedback", A, "--student", "link_folder")
    page = next((root / FEEDBACK_DIR / "link_folder" / A).glob("*.html")).read_text()
    assert "symbolic link" in page
    # and nothing changed: the next run grades none of the class again, the links included
    out = run_coursekit(root, "grade", A, "--cell-timeout", str(TIMEOUT)).stdout
    assert "graded 0 submission(s)" in out, out
