"""The middle test tier: the judge's KernelConnection and the kernel's runner over a pipe, no sandbox.

- :class:`PipeKernel`: the real :class:`coursekit.instructor.execute.runner.Kernel`, serving in a forked child
  process on one end of two pipes (what the sandbox does, minus the sandbox);
- :class:`ScriptedKernel`: a *fake*, hostile kernel in a thread of the test process, answering the
  judge's requests with whatever a test scripts (forged replies, oversized frames, bad handles).

Both look like a started :class:`~coursekit.instructor.execute.sandbox.Sandbox` to
:class:`~coursekit.instructor.execute.proxy.KernelConnection`.
"""
from __future__ import annotations

import os
import signal
import struct
import threading
import time

from coursekit.instructor.execute.limits import Limits
from coursekit.instructor.execute.proxy import KernelConnection
from coursekit.instructor.execute.wire import FrameReader, write_frame

FAST = Limits(cell_timeout=10.0, interrupt_grace=2.0, output=4096)


class _Child:
    """Just enough of ``subprocess.Popen`` for a forked pid."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise TimeoutError
            time.sleep(0.01)
        return self.returncode


class PipeKernel:
    """The real kernel runner in a forked child, talking over two pipes."""

    def __init__(self):
        j2k_r, j2k_w = os.pipe()
        k2j_r, k2j_w = os.pipe()
        pid = os.fork()
        if pid == 0:                                     # the kernel
            code = 0
            try:
                os.close(j2k_w)
                os.close(k2j_r)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                from coursekit.instructor.execute.runner import Kernel

                Kernel(j2k_r, k2j_w).serve()
            except BaseException:  # noqa: BLE001
                code = 1
            os._exit(code)
        os.close(j2k_r)
        os.close(k2j_w)
        self.proc = _Child(pid)
        self.fd_to, self.fd_from = j2k_w, k2j_r

    def alive(self) -> bool:
        return self.proc.poll() is None

    def interrupt(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGINT)

    def kill(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        for fd in (self.fd_to, self.fd_from):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fd_to = self.fd_from = None

    def exit_description(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "stopped answering"
        return f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"

    def stderr_tail(self, n: int = 1500) -> str:
        return ""


class ScriptedKernel:
    """A fake kernel: greets, accepts ``setup``, then answers each request with ``script(header,
    buffers, kernel)`` -- a reply dict (sent with ``re`` filled in), or None when the script sent
    frames itself (``kernel.send`` / ``kernel.send_raw``)."""

    def __init__(self, script, *, hello: dict | None = None):
        j2k_r, j2k_w = os.pipe()
        k2j_r, k2j_w = os.pipe()
        self.fd_to, self.fd_from = j2k_w, k2j_r
        self._in, self._out = j2k_r, k2j_w
        self.script = script
        self.requests: list[dict] = []
        self.generation = None
        self.proc = _Child.__new__(_Child)
        self.proc.pid, self.proc.returncode = -1, None
        self.proc.wait = lambda timeout=None: 0
        self._alive = True
        self.send(hello if hello is not None else {"op": "hello", "pid": 0})
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def send(self, header: dict, buffers=()) -> None:
        write_frame(self._out, header, list(buffers))

    def send_raw(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._out, view):]

    def _serve(self) -> None:
        reader = FrameReader(self._in, max_bytes=1 << 34, max_json=1 << 34, max_items=1 << 62)
        try:
            while True:
                header, buffers = reader.read()
                self.requests.append(header)
                if header.get("op") == "setup":
                    self.generation = header.get("generation")
                    self.send({"re": header["id"]})
                    continue
                reply = self.script(header, buffers, self)
                if reply is not None:
                    self.send(dict(reply, re=header["id"]))
        except (EOFError, OSError, ValueError):
            pass
        finally:
            self._alive = False
            for fd in (self._in, self._out):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def alive(self) -> bool:
        return self._alive

    def interrupt(self) -> None:
        pass

    def kill(self) -> None:
        for fd in (self.fd_to, self.fd_from):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fd_to = self.fd_from = None
        self.thread.join(timeout=5)

    def exit_description(self) -> str:
        return "stopped (a scripted kernel)"

    def stderr_tail(self, n: int = 1500) -> str:
        return ""


def raw_frame(json_bytes: bytes, buffers=()) -> bytes:
    """A frame written by hand (to lie in its length prefixes, or carry unparsed JSON)."""
    out = struct.pack("<II", len(json_bytes), len(buffers)) + json_bytes
    for b in buffers:
        out += struct.pack("<Q", len(b)) + b
    return out


def connect(kernel_factory, limits: Limits = FAST, **kw) -> KernelConnection:
    conn = KernelConnection(kernel_factory, limits, **kw)
    conn.start()
    conn.deadline = time.monotonic() + limits.cell_timeout
    return conn


def run(conn: KernelConnection, code: str) -> dict:
    """Run a cell in the kernel; fail the test if it raised."""
    reply = conn.execute(code, deadline=time.monotonic() + 30)
    assert reply.get("ok"), reply.get("outputs")
    return reply


def names(conn: KernelConnection, *wanted: str) -> dict:
    conn.deadline = time.monotonic() + conn.limits.cell_timeout
    return conn.request("resolve", payload={"names": list(wanted)}, label="looking up your names")


def notebook_run(cells: list[tuple[str | None, str, str]], limits: Limits = FAST, points: float = 1.0,
                 kernel=PipeKernel):
    """A judge's :class:`~coursekit.instructor.execute.judge.NotebookRun` over a :class:`PipeKernel`.

    ``cells``: ``(grade_id or None, kind, source)``, kind one of "setup", "solution", "test", "free".
    Returns ``(run, notebook, spec)``; ``run.run()`` then ``score_notebook(nb, spec, {})`` grade it.
    """
    import nbformat

    from coursekit.instructor.intake.notebook import NotebookSpec
    from coursekit.instructor.execute.judge import NotebookRun

    nb = nbformat.v4.new_notebook()
    spec_cells, pts, sols, order = {}, {}, [], []
    for gid, kind, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        if gid is not None:
            meta = {"grade_id": gid, "locked": kind in ("setup", "test"), "solution": kind == "solution",
                    "grade": kind == "test", "schema_version": 3}
            if kind == "test":
                meta["points"] = points
                pts[gid] = points
            if kind == "solution":
                sols.append(gid)
            cell.metadata["nbgrader"] = meta
            spec_cells[gid] = {"cell_type": "code", "locked": meta["locked"], "source": source, "checksum": ""}
            order.append(gid)
        nb.cells.append(cell)
    spec = NotebookSpec(name="nb", order=order, cells=spec_cells, points=pts, solutions=sols, units=[])

    class PipeRun(NotebookRun):
        def _start_kernel(self):
            return kernel()

    run = PipeRun({"limits": limits.to_dict()}, spec, nb, time.monotonic() + limits.submission_timeout, None, [])
    return run, nb, spec
