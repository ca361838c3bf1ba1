"""Starting real Jupyter servers (JupyterHub, a single jupyter_server with formgrader) on loopback for tests."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chp_path() -> str | None:
    """configurable-http-proxy on PATH, or where .ci/run installs it."""
    local = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    return shutil.which("configurable-http-proxy") or (str(local) if local.exists() else None)


def jupyter_env() -> dict:
    """Environment for Jupyter processes: this interpreter's bin first; nbconvert templates and the
    nbgrader server extensions found even in a venv made with --system-site-packages."""
    from jupyter_core.paths import jupyter_config_path, jupyter_path

    env = {"PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
           "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    base_share = os.path.join(sys.base_prefix, "share", "jupyter")
    if not any(os.path.isdir(os.path.join(p, "nbconvert", "templates", "classic")) for p in jupyter_path()):
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [os.environ.get("JUPYTER_PATH"), base_share]))
    base_etc = os.path.join(sys.base_prefix, "etc", "jupyter")
    if not any(os.path.exists(os.path.join(p, "jupyter_server_config.d", "nbgrader.json"))
               for p in jupyter_config_path()):
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [os.environ.get("JUPYTER_CONFIG_PATH"), base_etc]))
    return env


def wait_for(url: str, timeout: float = 120, ok=(200,), headers=None) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            r = requests.get(url, timeout=5, headers=headers)
            if r.status_code in ok:
                return
            last = r.status_code
        except requests.RequestException as err:
            last = err
        time.sleep(0.5)
    raise TimeoutError(f"{url} not up after {timeout} s (last: {last})")


class Process:
    """A server process in its own session; stopped with SIGTERM to that process, then its group."""

    def __init__(self, cmd, cwd, env, log: Path):
        self.log = log
        self.fh = open(log, "w")
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self, graceful: bool = True) -> None:
        """``graceful``: SIGTERM, and wait (up to 30 s) for the server to stop what it started.
        Otherwise (a test that has read everything it needs): SIGKILL the server and every
        process below it, found by parent id before the first kill (user servers start
        their own sessions, so the group alone would miss them)."""
        if not graceful and self.proc.poll() is None:
            import psutil

            try:
                tree = [psutil.Process(self.proc.pid)]
                tree += tree[0].children(recursive=True)
            except psutil.NoSuchProcess:
                tree = []
            for proc in tree:
                try:
                    proc.kill()
                except psutil.NoSuchProcess:
                    pass
            psutil.wait_procs(tree, timeout=10)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:   # anything it left behind in its own session (proxy, user servers, kernels)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(timeout=10)
        self.fh.close()

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class Formgrader:
    """nbgrader's formgrader: a jupyter_server with the nbgrader extensions, at a course root, with a token."""

    def __init__(self, course_root: Path, log_dir: Path):
        self.port = free_port()
        self.token = os.urandom(16).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, **jupyter_env())
        env["HOME"] = str(log_dir / "home")
        (log_dir / "home").mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "jupyter_server", "--ip=127.0.0.1", f"--port={self.port}",
               f"--IdentityProvider.token={self.token}", "--ServerApp.open_browser=False",
               f"--ServerApp.root_dir={course_root}", "--allow-root"]
        self.process = Process(cmd, course_root, env, log_dir / "formgrader.log")
        try:
            wait_for(f"{self.url}/formgrader/api/status", timeout=120, headers=self.headers)
        except Exception:
            self.process.stop()
            raise AssertionError(f"formgrader did not start:\n{self.process.tail()}")

    @property
    def headers(self) -> dict:
        return {"Authorization": f"token {self.token}"}

    def api(self, method: str, path: str, **kw):
        r = requests.request(method, f"{self.url}/formgrader/api{path}", headers=self.headers,
                             timeout=kw.pop("timeout", 120), **kw)
        assert r.status_code < 400, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r.json()

    def set_manual_score(self, assignment: str, notebook: str, student: str, grade_name: str,
                         score: float, comment: str | None = None) -> dict:
        """What a grader does in formgrader's UI: find the student's notebook, PUT the grade's manual score."""
        subs = self.api("GET", f"/submitted_notebooks/{assignment}/{notebook}")
        sub = next(s for s in subs if s["student"] == student)
        grades = self.api("GET", "/grades", params={"submission_id": sub["id"]})
        grade = next(g for g in grades if g["name"] == grade_name)
        result = self.api("PUT", f"/grade/{grade['id']}", json={"manual_score": score, "extra_credit": 0})
        if comment is not None:
            comments = self.api("GET", "/comments", params={"submission_id": sub["id"]})
            c = next(c for c in comments if c["name"] == grade_name)
            self.api("PUT", f"/comment/{c['id']}", json={"manual_comment": comment})
        return result

    def stop(self, graceful: bool = True) -> None:
        self.process.stop(graceful)
