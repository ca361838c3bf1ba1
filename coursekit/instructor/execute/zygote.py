"""A warm template for sandboxed kernels: their libraries imported once per worker, not once per notebook.

Starting a kernel costs a Python start and the imports every notebook's setup cell makes
(NumPy, IPython, matplotlib, coursekit's helpers): about 1.5 s per notebook, most of a small
submission's grading time. A **zygote** is a process that has made those imports and
does nothing else; each sandbox is *forked* from it instead of started from scratch.

What each kernel still gets, exactly as without the zygote (:mod:`.sandbox`): a process
of its own, forked for this sandbox only; its own root, PID, network, IPC and UTS
namespaces; its own uid, rlimits and cgroups; a fresh ``random``/NumPy seed. The fork
happens *before* any of that (the forked child is the sandbox's launcher), so the
isolation code runs unchanged; only the final ``execve`` of the kernel is replaced by
running the runner in the already-warm interpreter.

What the zygote holds, and so every kernel forked from it: imported library modules, and
nothing else. It is started by a grading worker before the worker has read any task, with
the kernel's own environment (not the grader's), in ``/``, and it never reads a task, a
notebook, a test or a solution: a request to it is one message of file descriptor numbers
and a nonce; the sandbox's configuration travels from the judge to the forked launcher
through a pipe the zygote never reads. A kernel's memory therefore holds its own sandbox
configuration (its own files' host paths, the folders bound into its root) and no other
submission's data. As with any fork server, the kernels of one worker share the zygote's
address-space layout and ``str`` hash seed (nothing a kernel can use against another: they
share no process, file or memory).

Lifetimes: the zygote dies with its worker (``PR_SET_PDEATHSIG``); each launcher dies with
the zygote, and also when its judge dies: the judge holds the only write end of a
*lifeline* pipe whose read end the zygote watches (end of file: the launcher is killed,
and with it the whole sandbox). Exit statuses go back to the judge on a status pipe, so
the judge sees a :class:`ZygoteChild` as it would a ``subprocess.Popen``.

Only the ``namespaces`` isolation level uses it (bwrap and ``none`` start the kernel with
``execve`` as before). ``COURSEKIT_ZYGOTE=0`` switches it off.
"""
from __future__ import annotations

import array
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time

__all__ = ["Zygote", "ZygoteChild", "current", "ensure", "enabled", "kernel_env", "run_warm_kernel"]

RUNNER = "coursekit.instructor.execute.runner"
# what the kernels import anyway: the runner's own imports and the notebooks' setup cells'
PRELOAD = ("numpy", "IPython.core.interactiveshell", "IPython.core.displayhook", "IPython.core.displaypub",
           "traitlets.config", "matplotlib", "matplotlib.pyplot", "matplotlib_inline.backend_inline",
           "coursekit.data", "coursekit.gradcheck", "coursekit.grading", RUNNER)
HOME = "/home/student"
_MAX_FDS = 8


def enabled() -> bool:
    return os.environ.get("COURSEKIT_ZYGOTE", "1").strip() not in ("0", "no", "off", "false")


def kernel_env() -> dict:
    """The student kernel's whole environment (the same for every submission)."""
    return {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": HOME, "USER": "student", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": f"{HOME}/.cache/matplotlib", "IPYTHONDIR": "/tmp/.ipython",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "NBGRADER_EXECUTION": "autograde", "JPY_PARENT_PID": "1",
    }


# ---------------------------------------------------------------------------
# the judge's side: a Popen look-alike for a launcher forked by the zygote
# ---------------------------------------------------------------------------
class ZygoteChild:
    """A sandbox launcher the zygote forked: ``pid``, ``stdin`` (the configuration), ``stderr``,
    ``poll()``/``wait()`` with ``subprocess.Popen``'s return codes (negative: a signal)."""

    def __init__(self, pid: int, stdin_fd: int, stderr_fd: int, status_fd: int, lifeline_fd: int):
        self.pid = pid
        self.stdin = os.fdopen(stdin_fd, "wb")
        self.stderr = os.fdopen(stderr_fd, "rb")
        self._status = status_fd
        self._lifeline = lifeline_fd
        self._buf = b""
        self.returncode: int | None = None

    def _read_status(self, timeout: float) -> None:
        if self.returncode is not None:
            return
        if self._status is None:
            return
        ready, _, _ = select.select([self._status], [], [], max(0.0, timeout))
        if not ready:
            return
        chunk = os.read(self._status, 64)
        if chunk:
            self._buf += chunk
            if not self._buf.endswith(b"\n"):
                return
            status = int(self._buf)
            self.returncode = os.waitstatus_to_exitcode(status)
        else:   # the zygote is gone without a word: it killed its launchers on the way out
            self.returncode = -signal.SIGKILL
        os.close(self._status)
        self._status = None
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None

    def poll(self) -> int | None:
        self._read_status(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(f"sandbox {self.pid}", timeout)
            self._read_status(min(left, 1.0))
        return self.returncode


class Zygote:
    """The worker's handle on its zygote process (a control socket); forked judges inherit it."""

    def __init__(self, proc: subprocess.Popen, sock: socket.socket, key: str):
        self.proc, self.sock, self.key = proc, sock, key
        self.broken = False

    @classmethod
    def start(cls, mpl_cache: str | None, key: str, timeout: float = 120.0) -> "Zygote":
        """Start a zygote and wait until its imports are done. ``mpl_cache``: a matplotlib folder
        with a built font cache (matplotlib reads it at import; the kernel's own HOME does not exist
        out here)."""
        import coursekit

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = kernel_env()
        if mpl_cache:
            env["MPLCONFIGDIR"] = mpl_cache
        kit = os.path.dirname(os.path.dirname(os.path.abspath(coursekit.__file__)))
        boot = (f"import sys; sys.path.append({kit!r})\n"
                "from coursekit.instructor.execute.zygote import zygote_main\n"
                f"zygote_main({theirs.fileno()})\n")
        proc = subprocess.Popen([sys.executable, "-I", "-c", boot], env=env, cwd="/", stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), close_fds=True)
        theirs.close()
        ours.settimeout(timeout)
        try:
            hello = ours.recv(64)
        except OSError:
            hello = b""
        ours.settimeout(None)
        if hello != b"ready":
            proc.kill()
            proc.wait()
            ours.close()
            raise RuntimeError("the kernel zygote did not start")
        return cls(proc, ours, key)

    def alive(self) -> bool:
        """Still running (asked by the worker, its parent: a forked judge cannot wait for it)."""
        return not self.broken and self.proc.poll() is None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def spawn(self, k_in: int, k_out: int) -> ZygoteChild:
        """Fork a sandbox launcher that finds ``k_in``/``k_out`` at these same numbers (as
        ``Popen(pass_fds=...)`` would); its configuration is written to ``child.stdin``."""
        cfg_r, cfg_w = os.pipe()
        err_r, err_w = os.pipe()
        status_r, status_w = os.pipe()
        life_r, life_w = os.pipe()
        nonce = secrets.token_hex(8)
        try:
            self.sock.settimeout(30.0)
            self.sock.sendmsg([json.dumps({"nonce": nonce, "fds": [k_in, k_out]}).encode()],
                              [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                array.array("i", [cfg_r, err_w, k_in, k_out, status_w, life_r]))])
            while True:        # a reply meant for a judge killed mid-request carries another nonce
                reply = json.loads(self.sock.recv(256))
                if reply.get("nonce") == nonce:
                    break
        except (OSError, ValueError) as err:
            self.broken = True
            for fd in (cfg_w, err_r, status_r, life_w):
                os.close(fd)
            raise RuntimeError(f"the kernel zygote did not answer: {err}") from None
        finally:
            for fd in (cfg_r, err_w, status_w, life_r):
                os.close(fd)
            try:
                self.sock.settimeout(None)
            except OSError:
                pass
        if not reply.get("pid"):
            for fd in (cfg_w, err_r, status_r, life_w):
                os.close(fd)
            raise RuntimeError(f"the kernel zygote could not fork: {reply.get('error', '')}")
        return ZygoteChild(int(reply["pid"]), cfg_w, err_r, status_r, life_w)


_CURRENT: Zygote | None = None


def current() -> Zygote | None:
    """The zygote this process's worker started (None: none, or it is gone)."""
    return _CURRENT if _CURRENT is not None and not _CURRENT.broken else None


def ensure(task: dict) -> Zygote | None:
    """In a worker, before forking a judge: a zygote for ``task``'s kind of sandbox, started on
    first use (None when it does not apply or does not start: kernels are then exec'd as before)."""
    global _CURRENT
    if not enabled() or sys.platform != "linux" or task.get("isolation") != "namespaces" \
            or not task.get("mpl_cache"):      # (matplotlib's import would create the kernel's HOME out here)
        return None
    key = json.dumps([task.get("mpl_cache"), task.get("isolation")])
    if _CURRENT is not None and (_CURRENT.key != key or not _CURRENT.alive()):
        _CURRENT.close()
        _CURRENT = None
    if _CURRENT is None:
        try:
            _CURRENT = Zygote.start(task.get("mpl_cache"), key)
        except (OSError, RuntimeError) as err:
            print(f"coursekit: kernels start without a warm template ({err})", file=sys.stderr)
            _CURRENT = None
    return _CURRENT


# ---------------------------------------------------------------------------
# the zygote process
# ---------------------------------------------------------------------------
def zygote_main(fd: int) -> None:
    """Import what kernels import, say ready, then fork a launcher per request."""
    import ctypes
    import importlib

    ctypes.CDLL(None, use_errno=True).prctl(1, ctypes.c_ulong(signal.SIGKILL), 0, 0, 0)   # die with the worker
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a kernel imports it itself (and says why if it cannot)
            pass
    from coursekit.instructor.execute import sandbox  # noqa: F401 - the launcher's code

    _warm_shell()
    sock = socket.socket(fileno=fd)
    sock.sendall(b"ready")
    children: dict[int, tuple[int, int]] = {}          # launcher pid -> (status fd, lifeline fd)
    while True:
        watched = [sock.fileno()] + [life for _, life in children.values()]
        ready, _, _ = select.select(watched, [], [], 0.2)
        for pid, (status, life) in list(children.items()):
            if life in ready and not _readable_data(life):
                _kill(pid)                              # its judge is gone: so is its sandbox
        _reap(children)
        if sock.fileno() in ready:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(sock, 4096, _MAX_FDS)
            except OSError:
                msg, fds = b"", []
            if not msg:                                  # the worker is gone
                for pid in children:
                    _kill(pid)
                os._exit(0)
            reply = _fork_launcher(sock, msg, fds, children)
            try:
                sock.send(json.dumps(reply).encode())
            except OSError:
                pass


def _warm_shell() -> None:
    """Make and drop one IPython shell: the modules IPython imports only then are loaded once here.
    (Its profile folder goes to a scratch folder, removed; each kernel makes its own shell.)"""
    import shutil
    import tempfile

    scratch = tempfile.mkdtemp(prefix="coursekit-zygote-")
    old = os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = scratch
    try:
        from IPython.core.interactiveshell import InteractiveShell

        from coursekit.instructor.execute.capture import Collector, make_shell

        make_shell(lambda: Collector(1))
        type(InteractiveShell.instance()).clear_instance()
        InteractiveShell.clear_instance()
    except Exception:  # noqa: BLE001 - only a warm-up
        pass
    finally:
        if old is None:
            os.environ.pop("IPYTHONDIR", None)
        else:
            os.environ["IPYTHONDIR"] = old
        shutil.rmtree(scratch, ignore_errors=True)


def _readable_data(fd: int) -> bool:
    try:
        return bool(os.read(fd, 1))
    except BlockingIOError:
        return True
    except OSError:
        return False


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _reap(children: dict) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fds = children.pop(pid, None)
        if fds is None:
            continue
        try:
            os.write(fds[0], f"{status}\n".encode())
        except OSError:
            pass
        for f in fds:
            os.close(f)


def _fork_launcher(sock: socket.socket, msg: bytes, fds: list[int], children: dict) -> dict:
    try:
        req = json.loads(msg)
        nonce = str(req.get("nonce", ""))[:64]
        k_in, k_out = (int(x) for x in req["fds"])
        cfg_r, err_w, r_in, r_out, status_w, life_r = fds
    except (ValueError, TypeError, KeyError):
        for f in fds:
            os.close(f)
        return {"error": "bad request"}
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 125
        try:
            sock.close()
            _become_launcher(cfg_r, err_w, r_in, r_out, k_in, k_out)
        except BaseException as err:  # noqa: BLE001 - report and die
            try:
                os.write(2, f"coursekit sandbox: the zygote's launcher failed: {err}\n".encode())
            except OSError:
                pass
        os._exit(code)
    for f in (cfg_r, err_w, r_in, r_out):
        os.close(f)
    os.set_blocking(life_r, False)
    children[pid] = (status_w, life_r)
    return {"nonce": nonce, "pid": pid}


def _become_launcher(cfg_r: int, err_w: int, r_in: int, r_out: int, k_in: int, k_out: int) -> None:
    """In the forked child: the file descriptors ``Popen`` would give the launcher, then its code."""
    import fcntl

    from coursekit.instructor.execute import sandbox

    os.setsid()
    high = [fcntl.fcntl(f, fcntl.F_DUPFD, 1000) for f in (cfg_r, err_w, r_in, r_out)]
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(high[0], 0, inheritable=True)
    os.dup2(null, 1, inheritable=True)
    os.dup2(high[1], 2, inheritable=True)
    os.dup2(high[2], k_in, inheritable=True)
    os.dup2(high[3], k_out, inheritable=True)
    keep = {0, 1, 2, k_in, k_out}
    for f in os.listdir("/proc/self/fd"):
        f = int(f)
        if f not in keep:
            try:
                os.close(f)
            except OSError:
                pass
    sandbox.launcher_main(["sandbox.py"], warm=True)


def check_address_space() -> None:
    """Raise ``MemoryError`` if this warm process already uses more address space than its limit.

    A fresh Python under too small a memory limit fails while importing its libraries, before
    it says hello: "could not start the kernel". A process forked from the zygote has them
    already, and would only die at its first allocation, as if the student's code had. Called
    after the sandbox's limits are set, so the same limit refuses to start a kernel either way.
    """
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    if used >= soft:
        raise MemoryError(f"the memory limit ({soft >> 20} MiB) is below what Python and numpy "
                          f"already take in a kernel ({used >> 20} MiB): raise --memory")


def run_warm_kernel(cfg: dict) -> None:
    """In the sandbox, instead of ``execve`` of a new Python: the runner, in this warm one.
    File descriptors, limits, uid and root are already the kernel's (see ``sandbox._exec_kernel``)."""
    import atexit
    import random
    import runpy
    import threading

    import ctypes

    code = 0
    try:
        # as after an execve as this uid: its own /proc/self readable (setuid without exec clears
        # "dumpable"); the memory it exposes is the zygote's, which holds no secret
        ctypes.CDLL(None, use_errno=True).prctl(4, ctypes.c_ulong(1), 0, 0, 0)     # PR_SET_DUMPABLE
        os.environ.clear()
        os.environ.update(cfg["env"])
        sys.argv = ["-c"]
        random.seed()
        try:
            import numpy as np

            np.random.seed()
        except ImportError:
            pass
        signal.signal(signal.SIGINT, signal.default_int_handler)
        runpy.run_module(RUNNER, run_name="__main__", alter_sys=True)
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    except BaseException:  # noqa: BLE001 - as an interpreter would: the traceback on stderr
        import traceback

        traceback.print_exc()
        code = 1
    try:
        threading._shutdown()
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        pass
    os._exit(code)
