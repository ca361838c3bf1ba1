"""Grading submissions in parallel: a few worker processes, a fresh judge per submission.

The grader's main process starts ``--jobs`` workers (``python -I -m
coursekit.instructor.execute.workers SLOT``, in a neutral folder: ``-I`` keeps the current
folder, ``PYTHONPATH`` and the user's site-packages off ``sys.path``, so nothing
in the course folder or ``submitted/`` is importable by a trusted process; each
judge also drops any ``sys.path`` entry inside the course before grading). A worker imports the heavy libraries once,
then for each task forks a judge process -- clean state for every
submission, no start-up cost -- which grades the submission and hands back
its result as JSON. The worker enforces a hard time limit on the judge (a
backstop behind the judge's own limits) and reports a failure in words if the
judge dies.

Results travel as length-prefixed frames (``<u64 length>`` + JSON), checked
against ``MAX_RESULT`` before they are read or parsed, and reassembled in
linear time (:class:`FrameBuffer`).

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
import struct
import subprocess
import sys
import time
import traceback

__all__ = ["WorkerPool", "FrameBuffer", "MAX_RESULT", "worker_command", "trusted_sys_path", "preload"]

MAX_RESULT = 256 << 20          # bytes of one judge's result (its notebooks with outputs within budget)
_LEN = struct.Struct(">Q")


class FrameBuffer:
    """Length-prefixed frames from a byte stream, in linear time: chunks are appended to one
    ``bytearray`` and consumed from an offset (compacted only when the consumed part dominates);
    a frame's length is checked against ``max_frame`` before its bytes are kept."""

    def __init__(self, max_frame: int = MAX_RESULT):
        self.max_frame = max_frame
        self._buf = bytearray()
        self._pos = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add ``chunk``; return the frames now complete. ValueError: a frame over the limit."""
        self._buf += chunk
        frames = []
        while True:
            left = len(self._buf) - self._pos
            if left < _LEN.size:
                break
            (n,) = _LEN.unpack_from(self._buf, self._pos)
            if n > self.max_frame:
                raise ValueError(f"a result of {n >> 20} MiB, over the {self.max_frame >> 20} MiB limit")
            if left < _LEN.size + n:
                break
            start = self._pos + _LEN.size
            frames.append(bytes(self._buf[start:start + n]))
            self._pos = start + n
        if self._pos and self._pos * 2 >= len(self._buf):
            del self._buf[:self._pos]
            self._pos = 0
        return frames


def frame(data: bytes) -> bytes:
    return _LEN.pack(len(data)) + data


def worker_command(slot: int) -> list[str]:
    """How a worker is started: isolated mode (``-I``), so neither the current folder nor
    PYTHONPATH is on its ``sys.path``. If coursekit is not installed where isolated Python finds
    it (a plain checkout), the folder holding it is *appended* (it never shadows a library; the
    judge drops it again if it lies inside the course)."""
    import coursekit

    kit = os.path.dirname(os.path.dirname(os.path.abspath(coursekit.__file__)))
    boot = ("import sys\n"
            "try:\n    import coursekit\n"
            f"except ImportError:\n    sys.path.append({kit!r})\n"
            "from coursekit.instructor.execute.workers import worker_main\n"
            f"worker_main({int(slot)})\n")
    return [sys.executable, "-I", "-c", boot]


def trusted_sys_path(paths: list[str], course_root: str) -> list[str]:
    """``paths`` without the current folder and without anything inside ``course_root``
    (``submitted/`` and files handed in beside notebooks must never be importable) -- except
    the Python environment's own folders (a ``.venv`` inside the course checkout)."""
    def inside(path: str, folder: str) -> bool:
        return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)

    root = os.path.realpath(course_root) if course_root else None
    environment = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    kept = []
    for p in paths:
        if p in ("", "."):
            continue
        real = os.path.realpath(p)
        if root and inside(real, root) and not any(inside(real, env) for env in environment):
            continue
        kept.append(p)
    return kept


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, ctypes.c_ulong(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _judge_child(task: dict, fd: int) -> None:
    import resource

    _die_with_parent()
    sys.path[:] = trusted_sys_path(sys.path, str(task.get("course_root", "")))
    try:
        mem = int(task["limits"]["memory"]) + (4 << 30)
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    except (ValueError, OSError):
        pass
    from coursekit.instructor.execute.judge import grade_submission

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
    from coursekit.instructor.execute import zygote

    zygote.ensure(task)        # kernels forked from a warm template (a new process: none of this one's memory)
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
    size = 0
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
            size += len(chunk)
            if size > MAX_RESULT:
                failed = f"the judge's result was larger than {MAX_RESULT >> 20} MiB and was dropped"
                os.kill(pid, signal.SIGKILL)
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


def preload() -> None:
    """Import, once per worker, everything a judge uses: every judge is forked with it loaded, so
    nothing here is paid per submission (tests/test_protocol_e2e.py checks a judge imports nothing)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import numpy  # noqa: F401
    import nbformat  # noqa: F401
    import nbgrader.utils  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401  (scoring's LimitOutput, IgnorePattern: 0.7 s of nbconvert)
    import IPython.core.interactiveshell  # noqa: F401
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    from coursekit.instructor.execute import judge  # noqa: F401
    from coursekit.instructor.execute import proxy  # noqa: F401
    from coursekit.instructor.execute import capture  # noqa: F401
    from coursekit.instructor.intake import notebook as intake  # noqa: F401
    from coursekit.instructor.score import scoring  # noqa: F401
    import coursekit.gradcheck  # noqa: F401
    import coursekit.grading  # noqa: F401
    import IPython.core.inputtransformer2  # noqa: F401
    # IPython imports most of itself lazily, when a first shell is made: make one here (each judge
    # makes its own per notebook, in a fresh namespace), so no judge pays that second again
    capture.make_shell(lambda: capture.Collector(1), matplotlib_magic=False)


def worker_main(slot: int) -> None:
    """Read tasks (JSON lines) on stdin, write results (JSON lines) on stdout."""
    _die_with_parent()
    preload()

    out = sys.stdout.buffer
    sys.stdout = sys.stderr
    out.write(frame(b'{"ready": true}'))
    out.flush()
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        task = json.loads(line)
        result = run_task(task)
        data = json.dumps(result).encode()
        if len(data) > MAX_RESULT:
            data = json.dumps({"student": task["student"], "assignment": task["assignment"], "status": "error",
                               "error": f"the result was larger than {MAX_RESULT >> 20} MiB"}).encode()
        out.write(frame(data))
        out.flush()


class WorkerPool:
    """``jobs`` worker processes; ``submit`` tasks, ``results()`` yields them as they finish."""

    def __init__(self, jobs: int, cwd: str, env: dict | None = None):
        """``cwd``: the course root, kept for reference only: workers start in a neutral folder."""
        self.jobs = max(1, int(jobs))
        self.course_root = cwd
        env = dict(env or os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        self.workers = []
        for slot in range(self.jobs):
            proc = subprocess.Popen(worker_command(slot), cwd="/", env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=None)
            self.workers.append({"proc": proc, "slot": slot, "task": None, "ready": False,
                                 "frames": FrameBuffer(MAX_RESULT + (1 << 20))})

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
                try:
                    frames = w["frames"].feed(chunk) if chunk else []
                except ValueError:      # a worker that breaks the framing is a dead worker
                    w["proc"].kill()
                    chunk = b""
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
                for data in frames:
                    msg = json.loads(data)
                    if msg.get("ready"):
                        w["ready"] = True
                        continue
                    t = w["task"]
                    w["task"] = None
                    running -= 1
                    yield t, msg


if __name__ == "__main__":
    worker_main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
