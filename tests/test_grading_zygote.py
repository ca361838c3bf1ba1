"""Kernels forked from a warm template (:mod:`coursekit.instructor.execute.zygote`) are sandboxes
like any other: a process, PID namespace and uid of their own, the kernel's environment and not the
grader's, the course out of sight, nothing shared between two kernels, and they die with their judge.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from coursekit.instructor.execute import zygote
from coursekit.instructor.execute.limits import Limits
from coursekit.instructor.execute.proxy import KernelConnection
from coursekit.instructor.execute.sandbox import Sandbox, probe_isolation

pytestmark = pytest.mark.skipif(sys.platform != "linux" or probe_isolation("namespaces")[0] != "namespaces",
                                reason="the zygote serves the namespaces sandbox only")

SECRET = "COURSEKIT_TEST_GRADER_SECRET"
RUNNER = [sys.executable, "-I", "-m", "coursekit.instructor.execute.runner"]


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A zygote started while the grader's environment holds a secret; the course folder to hide."""
    base = tmp_path_factory.mktemp("zygote")
    mpl = base / "mpl"
    mpl.mkdir()
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], check=True, capture_output=True,
                   env=dict(os.environ, MPLCONFIGDIR=str(mpl), MPLBACKEND="Agg"))
    course = base / "course"
    course.mkdir()
    (course / "answer.txt").write_text("42")
    os.environ[SECRET] = "s3cr3t-value"
    try:
        z = zygote.Zygote.start(str(mpl), key="test")
    finally:
        del os.environ[SECRET]
    yield z, course
    z.close()


def _uid(n: int):
    return 900000 + os.getpid() % 50000 + n if os.getuid() == 0 else None


def _connect(z, course, uid=None) -> tuple[KernelConnection, list]:
    boxes = []

    def start():
        box = Sandbox(RUNNER, zygote.kernel_env(), [], "/home/student/a", "/home/student", Limits(),
                      uid=uid, hidden=[str(course)], isolation="namespaces", zygote=z)
        boxes.append(box)
        box.start()
        return box

    conn = KernelConnection(start, Limits())
    conn.start()
    return conn, boxes


def _run(conn: KernelConnection, code: str) -> dict:
    reply = conn.execute(code + "\nprint(__import__('json').dumps(out))", deadline=time.monotonic() + 60)
    text = "".join(o.get("text", "") for o in reply["outputs"] if o.get("output_type") == "stream"
                   and o.get("name") == "stdout")
    assert reply["ok"], reply["outputs"]
    return json.loads(text.strip().splitlines()[-1])


PROBE = f"""
import os, sys, numpy as np
out = {{"pid": os.getpid(), "uid": os.getuid(), "ppid": os.getppid(),
       "environ": open("/proc/self/environ", "rb").read().decode("latin-1"),
       "secret": os.environ.get({SECRET!r}), "warm": "matplotlib.pyplot" in sys.modules,
       "course": os.path.exists(COURSE), "marker": hasattr(np, "_ck_marker"),
       "draw": float(np.random.rand()), "home": os.environ.get("HOME")}}
np._ck_marker = 1
"""


def test_a_warm_kernel_is_a_sandbox_of_its_own(warm):
    z, course = warm
    seen = []
    for n in range(2):
        conn, boxes = _connect(z, course, uid=_uid(n))
        try:
            assert boxes[0].warm, "the launcher was not forked from the zygote"
            seen.append(_run(conn, f"COURSE = {str(course)!r}\n" + PROBE))
            seen[-1]["launcher"] = boxes[0].proc.pid
        finally:
            conn.close()
    for got in seen:
        assert got["warm"]                     # its libraries were imported before it started
        assert got["pid"] <= 3 and got["ppid"] == 1     # its own PID namespace, under its own init
        assert SECRET not in got["environ"] and got["secret"] is None   # the kernel's environment only
        assert "HOME=/home/student" in got["environ"] and got["home"] == "/home/student"
        assert not got["course"]               # the course is not in its root
        assert not got["marker"]               # nothing left by the kernel before it
    if os.getuid() == 0:
        assert [g["uid"] for g in seen] == [_uid(0), _uid(1)]
    assert seen[0]["draw"] != seen[1]["draw"]          # reseeded: not the zygote's random state
    assert seen[0]["launcher"] != seen[1]["launcher"]
    with open(f"/proc/{z.proc.pid}/environ", "rb") as f:   # the zygote itself never had the secret
        assert SECRET.encode() not in f.read()


def test_honest_cells_and_errors_behave_as_in_an_execd_kernel(warm):
    z, course = warm
    conn, _ = _connect(z, course, uid=_uid(2))
    try:
        reply = conn.execute("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()\n"
                             "1 + 1", deadline=time.monotonic() + 60)
        kinds = [o["output_type"] for o in reply["outputs"]]
        assert reply["ok"] and "display_data" in kinds and "execute_result" in kinds
        reply = conn.execute("raise ValueError('nope')", deadline=time.monotonic() + 60)
        assert not reply["ok"] and reply["outputs"][-1]["ename"] == "ValueError"
    finally:
        conn.close()


def test_the_sandbox_dies_with_its_judge(warm):
    """A judge killed without cleaning up (by its worker's time limit) takes its sandbox with it:
    the zygote watches the judge's lifeline."""
    z, course = warm
    r, w = os.pipe()
    judge = os.fork()
    if judge == 0:
        try:
            os.close(r)
            box = Sandbox(RUNNER, zygote.kernel_env(), [], "/home/student/a", "/home/student", Limits(),
                          uid=_uid(3), hidden=[str(course)], isolation="namespaces", zygote=z)
            box.start()
            os.write(w, f"{box.proc.pid} {int(box.warm)}\n".encode())
        finally:
            os._exit(0)                        # no kill(), no cleanup: as if killed
    os.close(w)
    with os.fdopen(r) as f:
        pid, was_warm = (int(x) for x in f.read().split())
    os.waitpid(judge, 0)
    assert was_warm
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}"), "the sandbox outlived its judge"


def test_without_a_zygote_the_kernel_is_execd(warm):
    _, course = warm
    conn, boxes = _connect(None, course, uid=_uid(4))
    try:
        got = _run(conn, f"COURSE = {str(course)!r}\n" + PROBE)
        assert not boxes[0].warm and not got["warm"] and not got["course"]
    finally:
        conn.close()
