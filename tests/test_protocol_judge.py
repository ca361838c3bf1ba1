"""The judge's notebook run in process (real runner over a pipe, no sandbox): the grading helpers'
judge-side hooks, partial credit, and the per-submission output budget."""
from __future__ import annotations

import pytest

from coursekit.grading import dependencies, measured, tracing
from coursekit.instructor.score.scoring import score_notebook
from coursekit.instructor.execute.limits import Limits

from .protocol_support import FAST, notebook_run

SETUP = ("import numpy as np\n"
         "from coursekit.grading import with_reference, count_student_lines, kernel_seconds\n")
STUDENT = ("import time\n"
           "def dep(x):\n    return -1            # the student's bug is in dep only\n"
           "def unit(x):\n    return dep(x) * 2\n"
           "def loop(x):\n    t = 0\n    for v in x:\n        t += v\n    return t\n"
           "def vec(x):\n    return np.sum(x)\n"
           "time.sleep(0.3)\n")


def grades(cells, limits=FAST, **kw):
    run, nb, spec = notebook_run(cells, limits, **kw)
    stats = run.run()
    scored = score_notebook(nb, spec, {})["grades"]
    return {gid: g["score"] for gid, g in scored.items()}, scored, run, nb, stats


@pytest.fixture
def reference_dep(monkeypatch):
    """``reference("dep")`` in the judge: a judge-side function (what solutions/ would give)."""
    monkeypatch.setattr(dependencies, "reference", lambda name, assignment=None: {"dep": lambda x: x}[name])


def test_hooks_reach_the_kernel_and_are_removed_after(reference_dep):
    score, scored, run, nb, stats = grades([
        ("setup", "setup", SETUP),
        ("answer", "solution", STUDENT),
        ("test_dep", "test", "assert dep(1) == 1, 'dep is wrong'"),
        ("test_unit_alone", "test", "with with_reference('dep'):\n    assert unit(3) == 6\n"
                                    "assert unit(3) == -2      # the student's dep is back"),
        ("test_no_dep_elsewhere", "test", "with with_reference('dep'):\n    pass\nassert 'dep' in globals()"),
        ("test_loop_counted", "test", "_, a = count_student_lines(loop, np.arange(4))\n"
                                      "_, b = count_student_lines(loop, np.arange(64))\nassert b - a == 120, (a, b)"),
        ("test_vec_counted", "test", "_, a = count_student_lines(vec, np.arange(4))\n"
                                     "_, b = count_student_lines(vec, np.arange(64))\nassert a == b == 1, (a, b)"),
        ("test_seconds", "test", "s = kernel_seconds('answer')\nassert s is not None and s >= 0.3, s\n"
                                 "assert kernel_seconds('nothing') is None"),
    ])
    assert score == {"test_dep": 0, "test_unit_alone": 1, "test_no_dep_elsewhere": 1,
                     "test_loop_counted": 1, "test_vec_counted": 1, "test_seconds": 1}, scored
    assert "dep is wrong" in scored["test_dep"]["message"]
    # the hooks live only while the judge runs a notebook: afterwards the helpers work locally
    assert measured.kernel_seconds("answer") is None
    assert tracing.count_student_lines(lambda x: x + 1, 4)[0] == 5        # no kernel asked
    with dependencies.with_reference("dep") as bound:                       # bound here, not in a kernel
        assert globals()["dep"] is bound["dep"] and bound["dep"](2) == 2
    assert "dep" not in globals()


def test_the_test_cells_own_names_see_the_reference_too(reference_dep):
    """One bug, one charge, as in plain nbgrader: a test comparing ``unit`` with ``dep`` inside
    ``with_reference('dep')`` compares with the reference's ``dep``, not the student's wrong one."""
    score, scored, *_ = grades([
        ("setup", "setup", SETUP),
        ("answer", "solution", STUDENT),
        ("test_unit_vs_dep", "test", "with with_reference('dep'):\n    assert unit(3) == 2 * dep(3), dep(3)\n"
                                     "assert dep(3) == -1   # the student's dep is back in the test too"),
    ])
    assert score == {"test_unit_vs_dep": 1}, scored


def test_with_reference_restores_an_absent_name(reference_dep):
    score, scored, *_ = grades([
        ("setup", "setup", SETUP),
        ("answer", "solution", "def unit(x):\n    return dep(x) * 2"),
        ("test_unit", "test", "with with_reference('dep'):\n    assert unit(3) == 6\n"
                              "try:\n    unit(3)\nexcept NameError:\n    pass\nelse:\n    raise AssertionError('dep stayed')"),
    ])
    assert score == {"test_unit": 1}, scored


def test_a_reference_that_updates_its_arguments_in_place_updates_the_kernels(monkeypatch):
    """Like batchnorm_forward's ``bn_param``: a reference reached from the kernel through
    ``with_reference`` changes a dict and an array it was given; the student's code, which
    reads them afterwards, must see the change as it would in its own kernel."""
    import numpy as np

    def ref_dep(param, acc):
        param["running"] = 0.5 * param.get("running", np.zeros(2)) + 1.0   # a new value for a key
        param["count"] = param.get("count", 0) + 1
        acc += 10.0                                                     # an array changed in place
        return acc.sum()

    monkeypatch.setattr(dependencies, "reference", lambda name, assignment=None: {"dep": ref_dep}[name])
    score, scored, *_ = grades([
        ("setup", "setup", SETUP),
        ("answer", "solution", "def dep(param, acc):\n    return -1\n"
                               "def unit():\n    param, acc = {}, np.zeros(2)\n"
                               "    dep(param, acc)\n    dep(param, acc)\n"
                               "    return param['count'], param['running'].tolist(), acc.tolist()"),
        ("test_unit", "test", "with with_reference('dep'):\n    got = unit()\n"
                              "assert got == (2, [1.5, 1.5], [20.0, 20.0]), got"),
    ])
    assert score == {"test_unit": 1}, scored


def test_partial_credit_is_an_execute_result():
    score, scored, *_ = grades([("t_half", "test", "0.5"), ("t_full", "test", "print('ok')")], points=2.0)
    assert score == {"t_half": 0.5, "t_full": 2.0}, scored     # nbgrader: the value is the points


def test_hundreds_of_noisy_cells_are_capped_per_submission():
    limits = Limits(cell_timeout=10, output=200_000, submission_output=2 << 20)
    cells = [("setup", "setup", "import numpy as np"), ("answer", "solution", "def f(x):\n    return x + 1")]
    cells += [(None, "free", "print('x' * 200_000)") for _ in range(300)]          # 60 MB printed
    cells += [("test_ok", "test", "assert f(1) == 2"), ("test_bad", "test", "assert f(1) == 3, 'f is off'"),
              ("test_warns", "test", "import sys\nprint('to stderr', file=sys.stderr)")]
    score, scored, run, nb, stats = grades(cells, limits)
    assert score == {"test_ok": 1, "test_bad": 0, "test_warns": 0}, scored      # scoring unchanged
    assert "f is off" in scored["test_bad"]["message"]
    kept = sum(len(o.get("text", "")) for c in nb.cells for o in c.get("outputs", []))
    assert kept <= (2 << 20) + 300 * 200, kept                                    # capped, not 60 MB
    assert run.budget.output_cut
    assert any("used up" in o.get("text", "") for o in nb.cells[-4].outputs)
