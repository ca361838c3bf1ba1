"""The protocol's guarantees through a real ``coursekit grade`` run (sandboxed kernels): slow.

One course (01_softmax, with one extra test cell that uses the judge-side hooks), one grading run:

- ``attacker``: a blank submission, two lines, and a ``.py`` file handed in beside the notebook that a
  kernel handle names (``submitted.attacker.01_softmax.hack``). Old judges imported it -- running the
  student's file as a trusted process -- and scored the blank submission full marks;
- ``flood``: the solution plus 300 cells printing 100 kB each: capped per submission, still graded;
- ``bad_dep``: the solution with a wrong ``softmax_loss``: the hooks' test (``with_reference``) charges
  that bug once, not again in ``softmax_loss_vectorized``;
- ``solved`` and ``blank``: graded exactly as before.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.store.results import read_results
from coursekit.instructor.execute.sandbox import probe_isolation
from coursekit.instructor.intake.submissions import build_submission
from coursekit.instructor.execute.workers import FrameBuffer, trusted_sys_path, worker_command

from .conftest import run_coursekit
from .points import release_points

A = "01_softmax"
NB = "softmax.ipynb"
HOOKS_POINTS = 2.0          # the extra test cell's points, on top of the release's

HOOKS_TEST = '''from coursekit.grading import with_reference, count_student_lines, kernel_seconds, reference
_rng = np.random.default_rng(0)
_W, _X, _y = _rng.normal(size=(5, 3)), _rng.normal(size=(40, 5)), _rng.integers(0, 3, 40)
with with_reference("softmax_loss"):
    _loss, _ = softmax_loss_vectorized(_W, _X, _y, 0.1)
_ref, _ = reference("softmax_loss_vectorized")(_W, _X, _y, 0.1)
check(abs(_loss - _ref) < 1e-8, f"softmax_loss_vectorized is wrong even with the reference softmax_loss ({_loss} != {_ref})")
_, _few = count_student_lines(softmax_loss_naive, _W, _X[:4], _y[:4], 0.1)
_, _many = count_student_lines(softmax_loss_naive, _W, _X, _y, 0.1)
_, _a = count_student_lines(softmax_loss_vectorized, _W, _X[:4], _y[:4], 0.1)
_, _b = count_student_lines(softmax_loss_vectorized, _W, _X, _y, 0.1)
check(_many > _few and _a == _b, f"lines run: naive {_few} -> {_many}, vectorized {_a} -> {_b}")
_s = kernel_seconds("softmax_loss_vectorized")
check(_s is not None and 0 <= _s < 60, f"kernel_seconds: {_s}")
print("hooks: all reached the student's kernel")
'''

ATTACK_CELL = '''import types
softmax = types.ModuleType("submitted.attacker.01_softmax.hack")
'''

HACK_PY = '''# runs wherever it is imported: in a trusted judge, it swallows every failing test
import os
open(os.path.join(os.environ.get("COURSEKIT_COURSE_ROOT", "/tmp"), "PWNED"), "w").write("student code ran in the judge")
from IPython import get_ipython
get_ipython()._showtraceback = lambda *a, **k: None
'''

BAD_SOFTMAX_LOSS = '''def softmax_loss(x, y):
    x = np.asarray(x, dtype=float)
    return 0.0, np.zeros_like(x)
'''


def _add_hooks_test(root) -> None:
    path = root / "solutions" / A / NB
    nb = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_code_cell(HOOKS_TEST)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test_hooks", "locked": True, "points": HOOKS_POINTS,
                                 "schema_version": 3, "solution": False, "task": False}
    nb.cells.append(cell)
    nbformat.write(nb, path)
    run_coursekit(root, "release", A)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if probe_isolation()[0] != "namespaces":
        pytest.skip("the sandbox needs Linux namespaces: " + probe_isolation()[1])
    from .conftest import make_course

    root = make_course(tmp_path_factory.mktemp("protocol") / "course", [A])
    _add_hooks_test(root)
    course = Course(root)
    build_submission(course, A, "solved", solve="all")
    build_submission(course, A, "blank", solve=None)
    build_submission(course, A, "bad_dep", solve="all", replace={"softmax_loss": BAD_SOFTMAX_LOSS})
    folder = build_submission(course, A, "attacker", solve=None)
    nb = nbformat.read(folder / NB, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax")
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(ATTACK_CELL))
    nbformat.write(nb, folder / NB)
    (folder / "hack.py").write_text(HACK_PY)
    folder = build_submission(course, A, "flood", solve="all")
    nb = nbformat.read(folder / NB, as_version=4)
    nb.cells += [nbformat.v4.new_code_cell("print('x' * 100_000)") for _ in range(300)]
    nbformat.write(nb, folder / NB)
    proc = run_coursekit(root, "grade", A, "--jobs", "2", check=False)
    results = {r.student: r for r in read_results(course, A)}
    return root, proc, results


pytestmark = pytest.mark.slow


def test_a_file_beside_the_notebook_is_never_run_by_the_judge(graded):
    root, proc, results = graded
    assert not (root / "PWNED").exists(), "the judge imported the student's file"
    assert results["attacker"].score == 0, results["attacker"].tests
    assert results["blank"].score == 0


def test_honest_work_scores_as_before_and_hooks_reach_the_kernel(graded):
    root, proc, results = graded
    assert proc.returncode == 0, proc.stdout + proc.stderr
    solved, pts = results["solved"], release_points(A, "softmax")
    # every autograded point; the written answers (in max_score) wait for a person
    assert (solved.score, solved.max_score) == (pts.autograded + HOOKS_POINTS, pts.possible + HOOKS_POINTS), \
        solved.tests
    assert all(solved.tests[t] == (p, p) for t, p in pts.tests.items()), solved.tests
    assert solved.tests["test_hooks"] == (HOOKS_POINTS, HOOKS_POINTS)
    bad = results["bad_dep"]
    assert bad.tests["test_hooks"] == (HOOKS_POINTS, HOOKS_POINTS), bad.tests       # one bug, one charge
    assert bad.units["softmax_loss"][0] < bad.units["softmax_loss"][1]


def test_a_noisy_submission_is_capped_and_the_class_is_graded(graded):
    root, proc, results = graded
    flood = results["flood"]
    assert flood.score == results["solved"].score, flood.tests    # graded in full, its work is right
    graded_nb = root / "autograded" / "flood" / A / NB
    assert graded_nb.stat().st_size < 24 << 20                     # 30 MB printed, 16 MiB kept at most
    text = graded_nb.read_text()
    assert "output is used up" in text or "of output is used up" in text


# ---------------------------------------------------------------------------
# trusted processes never have the course on sys.path (fast)
# ---------------------------------------------------------------------------
def test_worker_command_keeps_the_current_folder_off_sys_path(tmp_path):
    (tmp_path / "numpy.py").write_text(f"open({str(tmp_path / 'shadowed')!r}, 'w').write('x')\n")
    (tmp_path / "submitted" / "s" / "a").mkdir(parents=True)
    (tmp_path / "submitted" / "s" / "a" / "hack.py").write_text("X = 1\n")
    cmd = worker_command(0)
    probe = cmd[:-1] + [cmd[-1].replace("from coursekit.instructor.execute.workers import worker_main\n"
                                        "worker_main(0)\n",
                                        "import json, numpy, importlib.util\n"
                                        "print(json.dumps([sys.path, importlib.util.find_spec('submitted')"
                                        " is None]))\n")]
    assert probe[-1] != cmd[-1]
    out = subprocess.run(probe, cwd=tmp_path, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    path, no_submitted = json.loads(out.stdout)
    assert no_submitted and not (tmp_path / "shadowed").exists()
    assert str(tmp_path) not in path and "" not in path
    # the old command (``python -m ...`` at the course root) put the folder first on sys.path
    subprocess.run([sys.executable, "-m", "coursekit.instructor.execute.workers", "0"], cwd=tmp_path,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert (tmp_path / "shadowed").exists()


JUDGE_SIDE_WORK = """
import nbformat
from coursekit.instructor.execute import judge
from coursekit.instructor.intake.notebook import NotebookSpec
from coursekit.instructor.score.scoring import score_notebook
from coursekit.grading import seeds
nb = nbformat.v4.new_notebook()
cell = nbformat.v4.new_code_cell("assert False, 'softmax is wrong'")
cell.metadata["nbgrader"] = {"grade_id": "t", "grade": True, "solution": False, "locked": True, "points": 1,
                             "schema_version": 3}
cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="softmax is wrong", traceback=[])]
nb.cells.append(cell)
spec = NotebookSpec(name="nb", order=["t"], cells={}, points={"t": 1.0}, solutions=[], units=[])
assert score_notebook(nb, spec, {"ignore_pattern": "Warning"})["grades"]["t"]["score"] == 0
judge.loaded_names("%time x = softmax(z)")
seeds.fresh_rng("softmax", announce=False)
"""


def test_a_worker_preloads_what_each_judge_needs():
    """Each judge is forked from its worker, so whatever a judge imports is paid once per submission
    (nbgrader.preprocessors alone: 0.7 s of CPU). After the worker's ``preload()``, the judge side of
    grading -- scoring by nbgrader's preprocessors, reading cells, seeds -- imports nothing."""
    cmd = worker_command(0)
    probe = cmd[:-1] + [cmd[-1].replace(
        "from coursekit.instructor.execute.workers import worker_main\nworker_main(0)\n",
        "from coursekit.instructor.execute.workers import preload\npreload()\n"
        "before = set(sys.modules)\n" + JUDGE_SIDE_WORK
        + "import json\nprint(json.dumps(sorted(set(sys.modules) - before - {'json'})))\n")]
    assert probe[-1] != cmd[-1]
    out = subprocess.run(probe, cwd="/", capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    imported = [m for m in json.loads(out.stdout.splitlines()[-1]) if not m.startswith("encodings.")]
    assert not imported, f"each judge would import these again: {imported}"


def test_judge_drops_course_paths(tmp_path):
    course = tmp_path / "course"
    (course / "sub").mkdir(parents=True)
    kept = trusted_sys_path(["", ".", str(course), str(course / "sub"), "/usr/lib/python3", str(tmp_path)],
                            str(course))
    assert kept == ["/usr/lib/python3", str(tmp_path)]
    venv = os.path.join(sys.prefix, "lib", "site-packages")          # an environment inside the course stays
    checkout = os.path.dirname(sys.prefix)
    assert trusted_sys_path([venv, checkout, os.path.join(checkout, "submitted")], checkout) == [venv]


def test_frame_buffer_is_linear_and_checks_sizes_first():
    import struct

    buf = FrameBuffer(max_frame=1000)
    data = b"".join(struct.pack(">Q", len(p)) + p for p in [b"a" * 10, b"b" * 999, b""])
    got = []
    for i in range(0, len(data), 7):
        got += buf.feed(data[i:i + 7])
    assert got == [b"a" * 10, b"b" * 999, b""]
    with pytest.raises(ValueError, match="over the"):
        buf.feed(struct.pack(">Q", 1001))                       # refused from its length alone
