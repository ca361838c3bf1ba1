"""Support for the tests that drive JupyterLab: a lab server, headless Chromium, page helpers.

- :class:`LabServer` starts ``jupyter lab`` from any Python environment on a free
  loopback port with a random token (``--allow-root``: CI runs as root), in its own
  settings/runtime folders so nothing of the user's setup leaks in, and talks to its
  REST API.
- :func:`require_browser` skips a test when Playwright or Chromium is missing, *unless*
  ``CI`` is set: then it fails, so CI never goes green by skipping.
- :func:`launch_chromium` starts Debian's Chromium (``/usr/bin/chromium``) through
  Playwright with the flags these machines need; Playwright's own browser download
  is not used.
- :class:`LabPage` opens a notebook, runs all cells through the Run menu, reads the
  cells' state and outputs, moves a slider by typing into its readout, takes screenshots.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("COURSEKIT_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = os.environ.get("COURSEKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--disable-dev-shm-usage"]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
STDERR_MIME = "application/vnd.jupyter.stderr"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_or_fail(reason: str):
    """Skip with ``reason`` on a developer's machine; fail under CI (``CI=true``)."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def require_browser() -> None:
    """Playwright (Python) and Debian's Chromium must be there (skip, or fail under CI)."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install playwright)")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    if missing:
        missing_or_fail("browser tests need " + " and ".join(missing))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the server ---------------------------------------------------------------------------

# User settings for the test's JupyterLab: every cell stays in the DOM (the default
# windowing detaches or hides off-screen cells), and no news or update toasts.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


class LabServer:
    """``python -m jupyter lab`` on 127.0.0.1:<free port> serving ``root``, token-protected.

    ``python`` is the interpreter of the environment to serve from (default: this
    one); the kernel runs in the same environment, as on Binder.
    """

    def __init__(self, root: Path, *, python: str | os.PathLike = sys.executable,
                 state_dir: Path | None = None, startup_timeout: float = 90.0,
                 expose_app: bool = False):
        self.root = Path(root)
        # window.jupyterapp in the page: one tab can open notebook after notebook through
        # JupyterLab's own commands, without loading the whole application again
        self.expose_app = expose_app
        self.python = str(python)
        self.state = Path(state_dir or (self.root.parent / f".lab-state-{self.root.name}"))
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self._deleting: list[threading.Thread] = []
        self.log_path = self.state / "jupyter-lab.log"

    # process ---------------------------------------------------------------------------
    def env(self) -> dict:
        env = dict(os.environ)
        for name in ("MPLBACKEND", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "PYTHONPATH",
                     "COURSEKIT_COURSE_ROOT", "VIRTUAL_ENV"):
            env.pop(name, None)
        bindir = str(Path(self.python).parent)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        env.update({
            "JUPYTER_CONFIG_DIR": str(self.state / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.state / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(self.state / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.state / "lab-workspaces"),
            "IPYTHONDIR": str(self.state / "ipython"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        })
        return env

    def start(self) -> "LabServer":
        self.state.mkdir(parents=True, exist_ok=True)
        for rel, settings in LAB_SETTINGS.items():
            path = self.state / "lab-settings" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings))
        cmd = [self.python, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
               "--ip=127.0.0.1", f"--port={self.port}", "--port-retries=0",
               f"--ServerApp.root_dir={self.root}", f"--IdentityProvider.token={self.token}",
               "--ServerApp.password=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if self.expose_app:
            cmd.append("--LabApp.expose_app_in_browser=True")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=self.env(), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.proc.returncode}):\n{self.log()}")
            try:
                self.api("GET", "api/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer in {self.startup_timeout:.0f} s:\n"
                           f"{self.log()}")

    def stop(self) -> None:
        for thread in self._deleting:   # kernels still being shut down: let them finish
            thread.join(timeout=30)
        if self.proc is None or self.proc.poll() is not None:
            return
        try:  # the server shuts its kernels down on SIGTERM
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        finally:
            try:  # anything left in the session we started (kernels), by our own group id
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait(timeout=5)

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return "(no log)"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # REST API ------------------------------------------------------------------------------
    def api(self, method: str, path: str, body=None, params: dict | None = None, timeout=30):
        url = f"{self.url}/{path.lstrip('/')}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode()
        return json.loads(text) if text.strip() else None

    def api_text(self, path: str, timeout=30) -> str:
        """GET ``path`` (a page, not JSON) with the token; raises HTTPError on 4xx/5xx."""
        req = urllib.request.Request(f"{self.url}/{path.lstrip('/')}",
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read().decode()

    def notebook(self, rel_path: str) -> dict:
        """The notebook as saved on disk (contents API)."""
        return self.api("GET", f"api/contents/{urllib.parse.quote(rel_path)}",
                        params={"content": 1, "type": "notebook"})["content"]

    def shutdown_kernels(self, background: bool = False) -> None:
        """Delete every session now open, which shuts its kernel down.

        ``background``: the sessions are listed now, their deletion (which waits for each
        kernel to exit) goes on in a thread; :meth:`stop` waits for it.
        """
        ids = [session["id"] for session in self.api("GET", "api/sessions") or []]

        def delete():
            for session_id in ids:
                try:
                    self.api("DELETE", f"api/sessions/{session_id}")
                except (urllib.error.URLError, ConnectionError, OSError):
                    pass

        if background:
            thread = threading.Thread(target=delete, name="lab-shutdown-kernels", daemon=True)
            thread.start()
            self._deleting.append(thread)
        else:
            delete()

    def lab_url(self, rel_path: str) -> str:
        return f"{self.url}/lab/tree/{urllib.parse.quote(rel_path)}?reset&token={self.token}"


# -- the browser ------------------------------------------------------------------------------

def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)


# State of every code cell of the open notebook: prompt, outputs, widgets.
_CELLS_JS = """
() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (!nb) return null;
  return [...nb.querySelectorAll(':scope .jp-Cell.jp-CodeCell')].map((cell, i) => {
    const prompt = cell.querySelector('.jp-InputArea-prompt');
    const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')]
      .filter(o => !o.parentElement.closest('.widget-output'));
    // mime renderers tag their output with data-mime-type; the widget renderer does not
    const widgets = outputs.filter(o => !o.dataset.mimeType &&
                                        (o.querySelector('.jupyter-widgets') ||
                                         /Error displaying widget/.test(o.textContent)));
    return {
      index: i,
      prompt: prompt ? prompt.textContent.trim() : '',
      source: (cell.querySelector('.jp-InputArea-editor') || {}).textContent || '',
      stderr: [...cell.querySelectorAll('[data-mime-type="%(stderr)s"]')]
                .map(o => o.textContent.slice(0, 3000)),
      widgets: widgets.map(w => {
        const view = w.querySelector('.jupyter-widgets');
        const r = (view || w).getBoundingClientRect();
        return {rendered: !!view, width: r.width, height: r.height,
                text: w.textContent.slice(0, 300),
                canvases: [...w.querySelectorAll('canvas')]
                            .map(c => [c.width, c.height]),
                sliders: w.querySelectorAll('.widget-slider').length};
      }),
    };
  });
}
""" % {"stderr": STDERR_MIME}

# What a widget shows, minus its sliders (so that moving a slider alone does not count).
_SNAPSHOT_JS = """
(cell) => {
  const parts = [];
  for (const c of cell.querySelectorAll('.jp-OutputArea-output canvas')) {
    try { parts.push(c.toDataURL()); } catch (e) { parts.push('canvas?'); }
  }
  for (const img of cell.querySelectorAll('.jp-OutputArea-output img')) parts.push(img.src);
  const copy = cell.querySelector('.jp-Cell-outputWrapper').cloneNode(true);
  copy.querySelectorAll('.widget-slider, .widget-readout').forEach(e => e.remove());
  parts.push(copy.textContent);
  return parts.join('\\n');
}
"""


class LabPage:
    """One browser tab on a JupyterLab server."""

    def __init__(self, browser, server: LabServer, *, width=1400, height=1000):
        self.server = server
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def close(self):
        self.context.close()

    # notebooks ------------------------------------------------------------------------------
    def open(self, rel_path: str, timeout=90_000):
        """Open a notebook in JupyterLab and wait for its kernel to be idle.

        The first time, through the notebook's URL (the application loads). Later, when the
        server exposes the application (``LabServer(expose_app=True)``), the documents
        open in this tab are closed and the notebook is opened in the same application
        with ``docmanager:open``, what double-clicking it in the file browser does.
        """
        if self.in_app():
            self.close_documents()
            self.page.evaluate(
                "p => window.jupyterapp.commands.execute('docmanager:open', "
                "{path: p, factory: 'Notebook'}).then(() => null)", rel_path)
        else:
            self.page.goto(self.server.lab_url(rel_path), wait_until="domcontentloaded")
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout)
        self.wait_kernel_idle(timeout)
        self.page.locator(".jp-NotebookPanel .jp-Cell").first.click()

    def in_app(self) -> bool:
        """Is an exposed JupyterLab application loaded in this tab?"""
        return bool(self.page.evaluate("() => !!(window.jupyterapp && window.jupyterapp.shell)"))

    def close_documents(self) -> None:
        """Close every document in the main area, unsaved changes discarded (no dialog);
        a dialog left open by a failed test is dismissed first."""
        for _ in range(3):
            if not self.page.locator(".jp-Dialog").count():
                break
            self.page.keyboard.press("Escape")
            time.sleep(0.3)
        self.page.evaluate(
            "() => { for (const w of [...window.jupyterapp.shell.widgets('main')]) {"
            " if (w.context) { w.context.model.dirty = false; } w.dispose(); } }")
        self.page.wait_for_selector(".jp-NotebookPanel", state="detached")

    def kernel_status(self) -> str | None:
        return self.page.evaluate(
            "() => { const e = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) "
            ".jp-Notebook-ExecutionIndicator'); return e ? e.dataset.status : null; }")

    def wait_kernel_idle(self, timeout=90_000):
        self.page.wait_for_selector(
            '.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]',
            timeout=timeout)

    def run_all(self, attempts: int = 3, started_within: float = 15.0):
        """Run → Run All Cells, clicked as a person would (awaiting the command can hang).

        Under load the first click can land before the notebook is ready and do
        nothing: if no cell has started within ``started_within`` seconds, click again.
        """
        for _ in range(attempts):
            self.page.locator(".jp-NotebookPanel .jp-Cell").first.click()
            self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            self.page.locator('.lm-Menu-item[data-command="runmenu:run-all"], '
                              '.lm-Menu-item[data-command="notebook:run-all-cells"]').first.click()
            deadline = time.monotonic() + started_within
            while time.monotonic() < deadline:
                prompts = [c["prompt"] for c in self.cells()]
                if (any(p.startswith("[*") or p[1:2].isdigit() for p in prompts)
                        or self.kernel_status() == "busy"):
                    return
                time.sleep(0.3)
        raise AssertionError(f"Run → Run All Cells started nothing ({attempts} clicks)")

    def cells(self) -> list[dict]:
        return self.page.evaluate(_CELLS_JS) or []

    def wait_run_finished(self, timeout: float = 150.0, poll: float = 0.5) -> list[dict]:
        """Wait until no cell is queued or running and the kernel is idle; the cells' state."""
        deadline = time.monotonic() + timeout
        started = False
        while time.monotonic() < deadline:
            cells = self.cells()
            running = any(c["prompt"].startswith("[*") for c in cells)
            started = started or running or any(c["prompt"][1:2].isdigit() for c in cells)
            if started and not running and self.kernel_status() == "idle":
                time.sleep(poll)   # idle can flicker between two cells: confirm
                cells = self.cells()
                if (not any(c["prompt"].startswith("[*") for c in cells)
                        and self.kernel_status() == "idle"):
                    return cells
            time.sleep(poll)
        raise TimeoutError(f"the notebook was still running after {timeout:.0f} s: "
                           + ", ".join(c["prompt"] for c in self.cells()))

    def wait_widgets_drawn(self, timeout: float = 30.0, poll: float = 0.5) -> list[dict]:
        """Wait until every widget is rendered and every canvas in it has a size.

        ipympl draws a figure after the front end asks for it, and the kernel answers
        only once the cells queued by Run All are done: the last figures come late.
        Returns the cells' state (checked by the caller) when drawn or at the timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            cells = self.cells()
            widgets = [w for c in cells for w in c["widgets"]]
            drawn = all(w["rendered"] and all(wd > 0 and ht > 0 for wd, ht in w["canvases"])
                        for w in widgets)
            if drawn or time.monotonic() > deadline:
                return cells
            time.sleep(poll)

    def save(self):
        self.page.keyboard.press("Control+s")
        self.page.wait_for_function(
            "() => !document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) "
            ".jp-mod-dirty') && !document.title.startsWith('*')", timeout=20_000)
        time.sleep(0.5)

    def body_text(self) -> str:
        return self.page.inner_text("body")

    # widgets --------------------------------------------------------------------------------
    def code_cell(self, index: int):
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell.jp-CodeCell").nth(index)

    def sliders(self, cell_index: int):
        """The slider widgets (with an editable readout) in a cell's outputs."""
        return self.code_cell(cell_index).locator(".widget-slider:has(.widget-readout)")

    def snapshot(self, cell_index: int) -> str:
        return self.code_cell(cell_index).evaluate(_SNAPSHOT_JS)

    def set_slider(self, slider, value: str) -> str:
        """Type ``value`` into a slider's readout and press Enter; the readout afterwards."""
        readout = slider.locator(".widget-readout")
        readout.click()
        self.page.keyboard.press("Control+a")
        self.page.keyboard.type(value)
        self.page.keyboard.press("Enter")
        time.sleep(0.2)
        return readout.inner_text().strip()

    def move_a_slider(self, cell_index: int, slider_label: str | None = None,
                      timeout: float = 30.0) -> dict:
        """Move one slider of the widget in ``cell_index`` and wait for its output to change.

        ``slider_label``: the slider's description (default: the first slider). A slider
        with an editable readout gets its maximum (or minimum, if it is there already)
        typed in, read from the handle's ARIA attributes (for a log slider these are
        exponents: still a valid, different value). A slider whose readout is not
        editable or ignores typing (a ``SelectionSlider``) is moved one step with the
        arrow keys. The handle's ``aria-valuenow`` tells whether it moved. Returns what
        was done; raises AssertionError if the slider did not move or the widget's output
        did not change within ``timeout`` seconds.
        """
        sliders = self.sliders(cell_index)
        if slider_label:
            sliders = sliders.filter(has=self.page.locator(
                ".widget-label", has_text=slider_label))
        assert sliders.count(), f"no slider {slider_label or ''} in cell {cell_index}"
        slider = sliders.first
        slider.scroll_into_view_if_needed()
        label = slider.locator(".widget-label").first.inner_text().strip()
        readout = slider.locator(".widget-readout")
        handle = slider.locator(".noUi-handle").first
        before_value = readout.inner_text().strip()
        before_now = handle.get_attribute("aria-valuenow")
        before = self.snapshot(cell_index)
        editable = readout.get_attribute("contenteditable") in ("true", "")
        moved = lambda: handle.get_attribute("aria-valuenow") != before_now  # noqa: E731
        how = None
        if editable:   # a SelectionSlider's readout is editable too, but ignores typing
            candidates = [handle.get_attribute("aria-valuemax"),
                          handle.get_attribute("aria-valuemin")]
            for target in [c for c in candidates if c is not None]:
                self.set_slider(slider, _short(target))
                if moved():
                    how = f"typed {_short(target)} into the readout"
                    break
        if how is None:
            for key in ("ArrowRight", "ArrowLeft"):
                handle.focus()
                self.page.keyboard.press(key)
                time.sleep(0.3)
                if moved():
                    how = f"{key} on the handle"
                    break
        after_value = readout.inner_text().strip()
        if how is None:
            raise AssertionError(f"slider {label!r} did not move from {before_value!r} by "
                                 "typing into its readout nor with the arrow keys")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            after = self.snapshot(cell_index)
            if after != before:
                time.sleep(0.5)   # let the image finish drawing before a screenshot
                return {"slider": label, "from": before_value, "to": after_value, "how": how}
            time.sleep(0.25)
        raise AssertionError(f"moving slider {label!r} from {before_value} to {after_value} "
                             f"did not change the widget's output within {timeout:.0f} s")

    # pictures -------------------------------------------------------------------------------
    def screenshot(self, name: str, cell_index: int | None = None) -> Path:
        """Viewport screenshot (scrolled to ``cell_index``) under test-artifacts/."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if cell_index is not None:
            cell = self.code_cell(cell_index)
            cell.scroll_into_view_if_needed()
            cell.evaluate("c => c.scrollIntoView({block: 'start'})")
            time.sleep(0.3)
        path = ARTIFACTS / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        return path

    def screenshot_cell(self, name: str, cell_index: int) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.code_cell(cell_index).screenshot(path=str(path))
        return path


def _short(number: str) -> str:
    """``'10.000'`` -> ``'10'``: what a person would type."""
    try:
        value = float(number)
    except ValueError:
        return number
    return str(int(value)) if value == int(value) else f"{value:g}"


def copy_course(dest: Path, assignments=None) -> Path:
    """The course layout a solved notebook needs (hidden tests read ``solutions/``)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    for folder in ("solutions", "assignments"):
        for a in assignments or sorted(p.name for p in (ROOT / folder).iterdir() if p.is_dir()):
            if (ROOT / folder / a).is_dir():
                shutil.copytree(ROOT / folder / a, dest / folder / a,
                                ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return dest
