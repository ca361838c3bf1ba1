"""Running notebook cells in an IPython shell and keeping their outputs as nbformat dicts.

Used twice, by two processes that never share anything: the student's kernel
(inside the sandbox) for the student's cells, and the judge for setup and
test cells. Outputs are recorded the way ipykernel reports them -- ``stream``
(stdout/stderr), ``display_data``, ``execute_result``, ``error`` -- so that
nbgrader's own scoring reads them exactly as it reads a kernel's.
"""
from __future__ import annotations

import io
import sys

__all__ = ["Collector", "CaptureStream", "make_shell", "capture_streams", "MIMES"]

MIMES = ("text/plain", "text/html", "text/markdown", "image/png", "image/svg+xml")


class Collector:
    """Outputs of one cell (or one request), in order, cut at ``limit`` characters."""

    def __init__(self, limit: int):
        self.limit = int(limit)
        self.size = 0
        self.cut = False
        self.outputs: list[dict] = []

    def _room(self, n: int) -> int:
        left = self.limit - self.size
        if n > left:
            self.cut = True
        return max(0, left)

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        room = self._room(len(text))
        if room <= 0:
            # an output past the limit still counts for scoring: keep a marker on stderr
            if name == "stderr" and not any(o.get("name") == "stderr" for o in self.outputs):
                self.outputs.append({"output_type": "stream", "name": "stderr", "text": "[stderr output cut]\n"})
            return
        text = text[:room]
        self.size += len(text)
        last = self.outputs[-1] if self.outputs else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})

    def data(self, output_type: str, data: dict, count=None) -> None:
        keep = {}
        for mime in MIMES:
            value = data.get(mime)
            if isinstance(value, bytes):
                value = value.decode("ascii", "replace")
            if isinstance(value, str) and self._room(len(value)) >= len(value):
                keep[mime] = value
                self.size += len(value)
        if output_type == "execute_result" and "text/plain" not in keep:
            # the result must stay visible to scoring even when it is too large to keep
            keep["text/plain"] = str(data.get("text/plain", ""))[:200]
        if not keep:
            return
        out = {"output_type": output_type, "data": keep, "metadata": {}}
        if output_type == "execute_result":
            out["execution_count"] = count
        self.outputs.append(out)

    def error(self, ename: str, evalue: str, tb: list[str]) -> None:
        tb = [str(line)[:4000] for line in tb][-200:]
        self.outputs.append({"output_type": "error", "ename": str(ename)[:200], "evalue": str(evalue)[:20000],
                             "traceback": tb})

    def text(self, name: str) -> str:
        return "".join(o["text"] for o in self.outputs if o["output_type"] == "stream" and o["name"] == name)


class CaptureStream(io.TextIOBase):
    """A ``sys.stdout``/``sys.stderr`` that writes into the current collector."""

    def __init__(self, get_collector, name: str):
        self._get, self.name = get_collector, name

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        self._get().stream(self.name, s)
        return len(s)

    def flush(self):
        pass


class capture_streams:
    """``with capture_streams(get_collector):`` -- print() and warnings go to the collector."""

    def __init__(self, get_collector):
        self.get = get_collector

    def __enter__(self):
        self.old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = CaptureStream(self.get, "stdout"), CaptureStream(self.get, "stderr")
        return self

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self.old
        return False


def make_shell(get_collector, *, matplotlib_magic: bool = True):
    """An IPython shell whose displays, results and tracebacks go to ``get_collector()``."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            get_collector().data("execute_result", format_dict, self.prompt_count)

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
            get_collector().data("display_data", data)

        def clear_output(self, wait=False):
            pass

    class Shell(InteractiveShell):
        # class attributes, not config: IPython's ``displayhook_class``/``display_pub_class`` are not
        # configurable traits (set through Config they were ignored: results were printed as
        # "Out[n]: ..." on stdout, and nbgrader saw no ``execute_result`` for partial credit)
        displayhook_class = Hook
        display_pub_class = Publisher

        def _showtraceback(self, etype, evalue, stb):
            get_collector().error(getattr(etype, "__name__", str(etype)), str(evalue), list(stb))

        def enable_gui(self, gui=None):
            pass

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "nocolor"
    cfg.InteractiveShell.xmode = "Context"
    if InteractiveShell.initialized():      # one shell per notebook: a fresh namespace each time
        type(InteractiveShell.instance()).clear_instance()
        InteractiveShell.clear_instance()
    shell = Shell.instance(config=cfg)
    if not matplotlib_magic:
        shell.register_magic_function(lambda line="": None, "line", "matplotlib")
    return shell
