"""The threats `coursekit grade` must defeat -- each shown failing under plain nbgrader first.

One scratch course, two copies: the same submissions are graded once by plain
``nbgrader autograde`` (serial, as nbgrader ships) and once by ``coursekit
grade --jobs 2``. Every test then states what plain nbgrader let happen and
checks that coursekit did not. Submissions that would harm the machine under
plain nbgrader (a fork bomb, 8 GiB of memory) are graded by coursekit only;
their plain-nbgrader counterparts are bounded versions of the same attack
(100 processes left running, 3 GiB used).

Threat 2's gradebook attack corrupts every score in the course it runs in,
so it has a course of its own (`gradebook_arena`).
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
TIMEOUT = 20          # per-cell time limit in both graders (plain: c.Execute.timeout)
MARKER = "4242.4242"  # command-line mark of the processes the "forker" leaves behind

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

LOOP = '''
def softmax(z):
    while True:
        pass
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

FORKER = f'''
import subprocess
_started = 0
try:
    for _ in range(100):
        subprocess.Popen(["sleep", "{MARKER}"], start_new_session=True)
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
for _ in range(300):
    print("x" * 1_000_000)        # 300 MB of output
'''


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


def _build(course: Course, coursekit_only: bool) -> None:
    build_submission(course, A, "honest", solve="all")
    build_submission(course, A, "zzz_victim", solve="all")
    # threat 1: reading what it must not
    _everywhere(course, "read_reference", READ_REFERENCE)
    _everywhere(course, "read_solutions", READ_SOLUTIONS)
    _blank_with_cell(course, "read_gradebook", READ_GRADEBOOK)
    # threat 2: writing what it must not (the gradebook attack has its own course)
    _everywhere(course, "aaa_vandal", VANDAL)
    # threat 3: cheating inside the kernel
    _everywhere(course, "cheat_numpy", CHEAT_NUMPY)
    _everywhere(course, "cheat_helpers", CHEAT_HELPERS)
    _everywhere(course, "cheat_swallow", CHEAT_SWALLOW)
    _everywhere(course, "cheat_custom_exc", CHEAT_CUSTOM_EXC)
    _everywhere(course, "cheat_showtraceback", CHEAT_SHOWTRACEBACK)
    # threat 4: faults
    build_submission(course, A, "loop", solve="all", replace={"softmax": LOOP})
    build_submission(course, A, "stubborn", solve="all", replace={"softmax": STUBBORN})
    build_submission(course, A, "exiter", solve="all", replace={"softmax": EXITER})
    build_submission(course, A, "membomb", solve="all", replace={"softmax": membomb(3)})
    _solved_with_cell(course, "forker", FORKER)
    _solved_with_cell(course, "flood", FLOOD)
    if coursekit_only:
        build_submission(course, A, "membomb8", solve="all", replace={"softmax": membomb(8)})
        _solved_with_cell(course, "forkbomb", FORK_BOMB)
    # threat 5: broken files
    folder = build_submission(course, A, "broken_json", solve="all")
    text = (folder / NB).read_text()
    (folder / NB).write_text(text[: len(text) // 2])
    folder = build_submission(course, A, "missing_nb", solve="all")
    (folder / NB).rename(folder / "softmax-copy.ipynb.bak")
    _edit(course, "dup_ids", _dup_ids)
    _edit(course, "renamed_test", _renamed)
    _edit(course, "emptied_tests", _emptied)
    _edit(course, "deleted_tests", _deleted)
    _edit(course, "changed_types", _types)
    _edit(course, "forged_cell", _forged)


def _leftover_markers() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if MARKER.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
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
        self.start = time.monotonic()
        self.log_path = root / "plain-autograde.log"
        # a file, not a pipe: processes the students' code leaves behind would hold a pipe open
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "nbgrader", "autograde", A, "--force"], cwd=root,
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def wait(self, timeout: float) -> tuple[float, str]:
        """Wait at most ``timeout`` seconds from the start; returns (seconds, log)."""
        try:
            self.proc.wait(timeout=max(1.0, self.start + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.log.write("\n[killed: over the wall-clock cap]\n")
        self.log.close()
        return time.monotonic() - self.start, self.log_path.read_text(errors="replace")


def _plain_autograde(root: Path, timeout: float) -> tuple[float, str]:
    """``nbgrader autograde`` as shipped, with a wall-clock cap; returns (seconds, log)."""
    return _PlainAutograde(root).wait(timeout)


class Arena:
    def __init__(self, base: Path):
        self.plain_root = make_course(base / "plain", [A])
        self.ck_root = make_course(base / "coursekit", [A])
        cfg = self.plain_root / "nbgrader_config.py"
        cfg.write_text(cfg.read_text() + f"\nc.Execute.timeout = {TIMEOUT}\n")
        self.plain, self.ck = Course(self.plain_root), Course(self.ck_root)
        _build(self.plain, coursekit_only=False)
        _build(self.ck, coursekit_only=True)
        self.ck_before = _tree_hash(self.ck_root)
        self.plain_seconds, self.plain_log = _plain_autograde(self.plain_root, timeout=1500)
        self.plain_leftovers = _leftover_markers()
        for pid in self.plain_leftovers:           # clean up what plain nbgrader left running
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        start = time.monotonic()
        proc = run_coursekit(self.ck_root, "grade", A, "--jobs", "2", "--cell-timeout", str(TIMEOUT), check=False)
        self.ck_seconds = time.monotonic() - start
        self.ck_out = proc.stdout + proc.stderr
        self.ck_code = proc.returncode
        self.ck_leftovers = _leftover_markers() + _processes_of(self.ck_root)
        self.ck_after = _tree_hash(self.ck_root)
        self.p = {r.student: r for r in read_results(self.plain, A)}
        self.c = {r.student: r for r in read_results(self.ck, A)}

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


@pytest.fixture(scope="module")
def gradebook_arena(tmp_path_factory):
    if probe_isolation()[0] != "namespaces":
        pytest.skip("the sandbox needs Linux namespaces: " + probe_isolation()[1])
    base = tmp_path_factory.mktemp("gradebook")
    out, courses = {}, {}
    for how in ("plain", "coursekit"):
        root = make_course(base / how, [A])
        course = courses[how] = Course(root)
        code = GRADEBOOK_WRITE.replace("COURSE", repr(str(root)))
        build_submission(course, A, "attacker", solve=None, replace={"softmax": code})
        build_submission(course, A, "victim", solve=None)
    # two courses, two gradebooks: plain nbgrader grades its copy while coursekit grades the other
    plain = _PlainAutograde(courses["plain"].root)
    try:
        run_coursekit(courses["coursekit"].root, "grade", A, "--jobs", "2")
    finally:
        plain.wait(timeout=600)
    import sqlite3

    for how, course in courses.items():
        db = sqlite3.connect(course.root / "gradebook.db")
        triggers = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
        manual = db.execute("SELECT COUNT(*) FROM grade WHERE manual_score IS NOT NULL").fetchone()[0]
        db.close()
        out[how] = ({r.student: r for r in read_results(course, A)}, triggers, manual)
    return out


def test_gradebook_cannot_be_written_by_student_code(gradebook_arena):
    plain, plain_triggers, plain_manual = gradebook_arena["plain"]
    assert plain["attacker"].score > POSSIBLE and plain["victim"].score > POSSIBLE, \
        "plain nbgrader: the gradebook attack did not work?"
    assert plain_triggers and plain_manual > 0
    ck, ck_triggers, ck_manual = gradebook_arena["coursekit"]
    assert ck["attacker"].score == 0 and ck["victim"].score == 0
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
    _only_softmax_lost(arena.c, "loop")
    assert "did not finish within" in arena.messages("loop")
    rec = arena.record("loop")
    # bounded: one timeout for the tests (the function is not called again), plus one for each of the
    # notebook's own cells that call it (a widget, an example) -- not one per test cell. Counted in
    # the grader's record, not measured on the clock (a loaded machine must not fail this test).
    timeouts = [e for e in rec.get("events", []) if "did not finish within" in e]
    assert 1 <= len(timeouts) <= 4, timeouts


def test_loop_that_ignores_interrupts(arena):
    # plain nbgrader gives up on the whole notebook: every point lost, "needs manual grade"
    assert arena.p["stubborn"].score == 0 and arena.p["stubborn"].needs_manual_grade
    _only_softmax_lost(arena.c, "stubborn")
    assert "did not finish within" in arena.messages("stubborn")


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
    assert arena.c["forker"].score == FULL and arena.c["forkbomb"].score == FULL
    assert arena.ck_leftovers == []
    out = "".join(o.get("text", "") for c in nbformat.read(arena.ck_root / "autograded" / "forker" / A / NB, 4).cells
                  for o in c.get("outputs", []))
    started = int(re.search(r"started (\d+) sleepers", out).group(1))
    assert started < 100, "the process limit did not apply"
    assert "did not finish within" in arena.messages("forkbomb")


def test_output_flood(arena):
    # plain nbgrader keeps all 300 MB (about 1.5 GB of memory in the grader), or fails on it
    plain_nb = arena.plain_root / "autograded" / "flood" / A / NB
    assert not plain_nb.exists() or plain_nb.stat().st_size > 100 * 2**20, \
        "plain nbgrader: the 300 MB flood was cut?"
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
def test_symlinks_to_the_solutions_are_refused_not_followed(course_factory):
    if probe_isolation()[0] == "none":
        pytest.skip("no sandbox works here: " + probe_isolation()[1])
    root = course_factory(assignments=[A])
    course = Course(root)
    build_submission(course, A, "honest", solve="all")
    # a notebook that is a link to the solved source notebook
    folder = root / "submitted" / "link_notebook" / A
    folder.mkdir(parents=True)
    (folder / NB).symlink_to(root / "solutions" / A / NB)
    # a whole assignment folder that is a link to solutions/<id>
    (root / "submitted" / "link_folder").mkdir()
    (root / "submitted" / "link_folder" / A).symlink_to(root / "solutions" / A)
    before = _tree_hash(root / "solutions")
    proc = run_coursekit(root, "grade", A, "--jobs", "2", check=False)
    results = {r.student: r for r in read_results(course, A)}
    assert results["honest"].score == FULL, proc.stdout
    for student in ("link_notebook", "link_folder"):
        assert results[student].score == 0, (student, results[student].tests)
        rec = read_record(course, A, student)
        text = " ".join(rec["problems"])
        assert "symbolic link" in text and "not graded" in text, text
        assert not (root / "autograded" / student / A / NB).exists() or \
            "BEGIN SOLUTION" not in (root / "autograded" / student / A / NB).read_text()
    assert _tree_hash(root / "solutions") == before
    # the student sees why in the feedback
    run_coursekit(root, "feedback", A)
    page = next((root / FEEDBACK_DIR / "link_folder" / A).glob("*.html")).read_text()
    assert "symbolic link" in page
    # and nothing changed: the next run does not grade them again
    out = run_coursekit(root, "grade", A).stdout
    assert "graded 0 submission(s)" in out, out
