"""Grading submissions in parallel: a few worker processes, a fresh judge per submission.

The grader's main process starts ``--jobs`` workers (``python -m
coursekit.grading.workers SLOT``). A worker imports the heavy libraries once,
then for each task forks a judge process -- clean state for every
submission, no start-up cost -- which grades the submission and hands back
its result as JSON. The worker enforces a hard time limit on the judge (a
backstop behind the judge's own limits) and reports a failure in words if the
judge dies.

Workers never write the gradebook: results go back to the main process, the
only writer. Every process here dies with its parent (``PR_SET_PDEATHSIG``),
and the sandbox dies with its judge, so stopping the grader stops everything.
"""
from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback

__all__ = ["WorkerPool"]


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, ctypes.c_ulong(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _judge_child(task: dict, fd: int) -> None:
    import resource

    _die_with_parent()
    try:
        mem = int(task["limits"]["memory"]) + (4 << 30)
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    except (ValueError, OSError):
        pass
    from .judge import grade_submission

    try:
        result = grade_submission(task)
    except BaseException as err:  # noqa: BLE001 - a grader bug: report, do not score
        result = {"student": task["student"], "assignment": task["assignment"], "status": "error",
                  "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-4000:]}
    data = json.dumps(result).encode()
    view = memoryview(data)
    while view:
        n = os.write(fd, view[: 1 << 20])
        view = view[n:]
    os.close(fd)


def run_task(task: dict) -> dict:
    """Fork a judge for ``task`` and wait for its result (with a hard time limit)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            _judge_child(task, w)
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    os.close(w)
    limit = float(task["limits"]["submission_timeout"]) + 120.0
    deadline = time.monotonic() + limit
    chunks = []
    failed = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            failed = f"the judge did not finish within {limit:g} s and was stopped"
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([r], [], [], min(left, 5.0))
        if ready:
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    import glob
    import shutil
    import tempfile

    for leftover in glob.glob(os.path.join(tempfile.gettempdir(), f"coursekit-judge-{pid}-*")):
        shutil.rmtree(leftover, ignore_errors=True)      # a judge that was killed cannot clean up
    if failed is None:
        try:
            return json.loads(b"".join(chunks))
        except ValueError:
            how = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                   else f"exit code {os.WEXITSTATUS(status)}")
            failed = f"the judge process died ({how}) without a result"
    return {"student": task["student"], "assignment": task["assignment"], "status": "error", "error": failed}


def worker_main(slot: int) -> None:
    """Read tasks (JSON lines) on stdin, write results (JSON lines) on stdout."""
    _die_with_parent()
    os.environ.setdefault("MPLBACKEND", "Agg")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    # import once here; every judge is forked with these already loaded
    import numpy  # noqa: F401
    import nbformat  # noqa: F401
    import nbgrader.utils  # noqa: F401
    import IPython.core.interactiveshell  # noqa: F401
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    from . import judge, proxy, capture, intake  # noqa: F401
    import coursekit.gradcheck  # noqa: F401
    import coursekit.grading  # noqa: F401

    out = sys.stdout.buffer
    sys.stdout = sys.stderr
    out.write(b'{"ready": true}\n')
    out.flush()
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        task = json.loads(line)
        result = run_task(task)
        out.write(json.dumps(result).encode() + b"\n")
        out.flush()


class WorkerPool:
    """``jobs`` worker processes; ``submit`` tasks, ``results()`` yields them as they finish."""

    def __init__(self, jobs: int, cwd: str, env: dict | None = None):
        self.jobs = max(1, int(jobs))
        self.cwd = cwd
        env = dict(env or os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        self.workers = []
        for slot in range(self.jobs):
            proc = subprocess.Popen([sys.executable, "-m", "coursekit.grading.workers", str(slot)],
                                    cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=None)
            self.workers.append({"proc": proc, "slot": slot, "task": None, "ready": False, "buf": b""})

    def close(self) -> None:
        for w in self.workers:
            proc = w["proc"]
            try:
                proc.stdin.close()
            except OSError:
                pass
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def run(self, tasks: list[dict], make_task):
        """Yield ``(task, result)`` as they finish. ``make_task(task, slot)`` completes a task
        for the worker slot that will run it."""
        pending = list(tasks)
        running = 0
        fds = {w["proc"].stdout.fileno(): w for w in self.workers}
        while pending or running:
            for w in self.workers:
                if w["ready"] and w["task"] is None and pending:
                    task = make_task(pending.pop(0), w["slot"])
                    w["task"] = task
                    running += 1
                    try:
                        w["proc"].stdin.write(json.dumps(task).encode() + b"\n")
                        w["proc"].stdin.flush()
                    except (BrokenPipeError, OSError):
                        pass
            ready, _, _ = select.select(list(fds), [], [], 1.0)
            for fd in ready:
                w = fds[fd]
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    # the worker died: report its task, do not restart (the rest go to the others)
                    del fds[fd]
                    w["ready"] = False
                    if w["task"] is not None:
                        running -= 1
                        t = w["task"]
                        w["task"] = None
                        yield t, {"student": t["student"], "assignment": t["assignment"], "status": "error",
                                  "error": "the grading worker died"}
                    if not fds:
                        for t in pending:
                            yield t, {"student": t["student"], "assignment": t["assignment"], "status": "error",
                                      "error": "no grading worker left"}
                        return
                    continue
                w["buf"] += chunk
                while b"\n" in w["buf"]:
                    line, w["buf"] = w["buf"].split(b"\n", 1)
                    msg = json.loads(line)
                    if msg.get("ready"):
                        w["ready"] = True
                        continue
                    t = w["task"]
                    w["task"] = None
                    running -= 1
                    yield t, msg


if __name__ == "__main__":
    worker_main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
