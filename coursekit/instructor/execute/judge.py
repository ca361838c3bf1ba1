"""Grading one submission: the student's cells in the sandboxed kernel, the tests in the judge.

For each notebook of the assignment, in cell order:

- the student's cells (answers, free code) and the setup cells run in the
  student's kernel (:mod:`coursekit.instructor.execute.runner`, inside
  :mod:`coursekit.instructor.execute.sandbox`);
- setup cells (trusted, from the gradebook) also run here, so the judge has
  ``np``, the grading helpers and anything else the instructor set up -- its
  own, untouched copies;
- test cells run **only here**, in the judge's IPython shell: the names they
  take from the student (found by reading the cell) are bound to proxies
  (:mod:`coursekit.instructor.execute.proxy`) that call into the kernel. Comparisons,
  reference solutions and hidden inputs never enter the student's process,
  and nothing the student's code does there (patching numpy, the grading
  helpers or IPython's error display) reaches them.

A test cell's outputs (stdout, stderr, the error with its ``CheckFailed``
message) are written into the notebook as a kernel would, and scored by
nbgrader's own ``determine_grade``: honest work scores exactly as under
``nbgrader autograde``.

A kernel that dies or hangs is restarted and the cells before replayed; what
hung or killed it is not called again. Time per cell and per submission is
bounded, and so is work: what the kernel may send and the output kept, for all
cells of all notebooks of a submission together (:class:`SubmissionBudget`).

The grading helpers that must reach into the student's kernel get their hooks
here, for the duration of a notebook: ``with_reference`` (the kernel's globals
rebound to the judge's reference objects), ``count_student_lines`` (lines counted
by the kernel's runner), the numerical gradients of :mod:`coursekit.gradcheck`
(the loop of calls run in the kernel, one round trip instead of two per entry)
and ``kernel_seconds`` (the time *this* process measured
for a student's cell).
"""
from __future__ import annotations

import ast
import builtins
import linecache
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from coursekit.instructor.execute.capture import MIMES, Collector, capture_streams, make_shell
from coursekit.gradcheck import set_kernel_differences
from coursekit.grading.dependencies import set_kernel_binder
from coursekit.instructor.intake.notebook import NotebookSpec, read_submission
from coursekit.instructor.execute.limits import Limits
from coursekit.grading.measured import set_kernel_timer
from coursekit.instructor.execute.proxy import GradingInterrupted, KernelConnection, KernelDied, TestTimeout
from coursekit.instructor.execute.sandbox import Sandbox
from coursekit.grading.tracing import set_kernel_counter
from coursekit.instructor.execute.wire import Budget
from coursekit.instructor.execute.zygote import HOME, current as current_zygote, kernel_env
from coursekit.instructor.score.scoring import score_notebook

__all__ = ["grade_submission", "loaded_names", "HOME"]

_IGNORED_FILES = (".ipynb_checkpoints", "__pycache__")


def loaded_names(source: str) -> set[str]:
    """Every name a cell reads (at any depth); empty if it does not parse."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        code = TransformerManager().transform_cell(source)
        tree = ast.parse(code)
    except (SyntaxError, ValueError, TypeError):
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Load, ast.Del))}


def _transformed(source: str) -> str:
    """The cell as Python (IPython's magics turned into calls; leading blank lines dropped)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except (SyntaxError, ValueError, TypeError):
        return source


def _top_level_bindings(code: str) -> list[tuple[str, int | None]]:
    """``[(name, def line or None)]`` for the top-level bindings of (transformed) code, in order."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, TypeError):
        return []
    out: list[tuple[str, int | None]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            out.append((node.name, first))
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    out.append((sub.id, None))
                elif isinstance(sub, ast.alias):
                    out.append(((sub.asname or sub.name).split(".")[0], None))
    return out


class _Alarm:
    """Stops judge-side code that runs past the cell's deadline (a loop over student data)."""

    def __init__(self, conn: KernelConnection):
        self.conn = conn
        self.deadline: float | None = None

    def _handler(self, signum, frame):
        if self.conn.timed_out:      # the request's own timeout already stopped this cell
            return
        if self.conn.busy:           # a kernel request has its own deadline
            self._arm(0.5)
            return
        raise TestTimeout("this test did not finish within its time limit")

    def _arm(self, seconds: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, max(0.01, seconds))

    def __enter__(self):
        self.old = signal.signal(signal.SIGALRM, self._handler)
        if self.deadline is not None:
            self._arm(self.deadline - time.monotonic() + 1.0)
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old)
        return False


_TRIM = 500     # characters kept of a score-relevant output once the submission's output is used up


class SubmissionBudget:
    """What one submission may cost, all its notebooks together: bytes and values the kernel
    sends (checked before parsing, see :class:`~coursekit.instructor.execute.wire.Budget`) and output kept."""

    def __init__(self, limits: Limits):
        self.wire = Budget(limits.submission_transfer, limits.submission_items)
        self.output_left = int(limits.submission_output)
        self.output_limit = int(limits.submission_output)
        self.output_cut = False

    def keep(self, outputs: list[dict], graded: bool) -> list[dict]:
        """The outputs to store. Past the budget: stdout and displays are dropped (a marker says
        so); errors, stderr and results stay, shortened, in test cells (they decide the score) and
        in kernel cells until twice the budget is spent."""
        kept, cut = [], False
        for o in outputs:
            size = _output_size(o)
            if size <= self.output_left:
                self.output_left -= size
                kept.append(o)
                continue
            cut = True
            short = _shortened(o)
            if short is not None and (graded or self.output_left > -self.output_limit):
                self.output_left -= _output_size(short)
                kept.append(short)
        if cut:
            self.output_cut = True
            kept.append({"output_type": "stream", "name": "stdout",
                         "text": f"\n[output cut: this submission's {self.output_limit >> 20} MiB of output "
                                 "is used up]\n"})
        return kept


def _output_size(o: dict) -> int:
    t = o.get("output_type")
    if t == "stream":
        return len(o.get("text", ""))
    if t == "error":
        return len(o.get("ename", "")) + len(o.get("evalue", "")) + sum(len(x) for x in o.get("traceback", []))
    return sum(len(v) for v in o.get("data", {}).values()) + 16


def _shortened(o: dict) -> dict | None:
    """A score-relevant output cut to a few hundred characters (None: not score-relevant)."""
    t = o.get("output_type")
    if t == "stream" and o.get("name") == "stderr":
        return dict(o, text=o["text"][:_TRIM])
    if t == "error":
        return dict(o, evalue=o.get("evalue", "")[:_TRIM], traceback=[x[:_TRIM] for x in o.get("traceback", [])[-3:]])
    if t == "execute_result":
        return dict(o, data={"text/plain": str(o.get("data", {}).get("text/plain", ""))[:_TRIM]})
    return None


class NotebookRun:
    """Executes one notebook: kernel cells in the sandbox, test cells in the judge."""

    def __init__(self, task: dict, spec: NotebookSpec, nb, sub_deadline: float, slot_uid, events: list,
                 budget: SubmissionBudget | None = None):
        self.task = task
        self.spec = spec
        self.nb = nb
        self.limits = Limits.from_dict(task["limits"])
        self.sub_deadline = sub_deadline
        self.events = events
        self.collector = Collector(self.limits.output)
        self.shell = make_shell(lambda: self.collector, matplotlib_magic=False)
        self.ns = self.shell.user_ns
        self.kernel_bound: dict[str, object] = {}
        self.units = set(spec.units)
        self.static_defs: dict[str, tuple[str, int]] = {}
        self.replay: list[str] = []
        self.restarts = 0
        self.kernel_broken = ""
        self.started = False
        self.slot_uid = slot_uid
        self.budget = budget if budget is not None else SubmissionBudget(self.limits)
        self.cell_seconds: dict[str, float] = {}   # grade_id -> seconds this judge measured in the kernel
        self.conn = KernelConnection(self._start_kernel, self.limits, source_of=self.static_defs.get,
                                     budget=self.budget.wire, events=events)
        self.alarm = _Alarm(self.conn)

    # -- the sandboxed kernel -------------------------------------------------------
    def _start_kernel(self) -> Sandbox:
        t = self.task
        assignment = t["assignment"]
        files = []
        sub = Path(t["submission_dir"])
        budget = self.limits.disk
        for p in sorted(sub.rglob("*")) if sub.is_dir() else []:
            if not p.is_file() or p.is_symlink() or any(part in _IGNORED_FILES for part in p.parts):
                continue
            size = p.stat().st_size
            if size > budget:
                continue
            budget -= size
            files.append((str(p), f"{assignment}/{p.relative_to(sub).as_posix()}"))
            if len(files) > 2000:
                break
        if t.get("mpl_cache"):
            for p in Path(t["mpl_cache"]).glob("fontlist-*.json"):
                files.append((str(p), f".cache/matplotlib/{p.name}"))
        sandbox = Sandbox([sys.executable, "-I", "-m", "coursekit.instructor.execute.runner"], kernel_env(), files,
                          f"{HOME}/{assignment}", HOME, self.limits, uid=self.slot_uid,
                          hidden=t["hidden"], isolation=t.get("isolation", "auto"),
                          scratch_dir=t.get("scratch"), zygote=current_zygote())
        sandbox.start()
        return sandbox

    def _left(self) -> float:
        return self.sub_deadline - time.monotonic()

    def ensure_kernel(self) -> bool:
        if not self.conn.dead:
            return True
        if self.kernel_broken:
            return False
        if self.budget.wire.exhausted:
            self.kernel_broken = (f"this submission's kernel sent more than the {self.budget.wire.max_bytes >> 20} "
                                  "MiB it may send in total; the rest was not run")
            self.events.append(self.kernel_broken)
            return False
        if self.started:
            if self.restarts >= self.limits.restarts:
                self.kernel_broken = (f"the kernel had to be restarted {self.restarts} times; "
                                      "the restart budget is used up")
                self.events.append(self.kernel_broken)
                return False
            self.restarts += 1
            self.events.append(f"{self.spec.name}.ipynb: kernel restarted ({self.restarts}), "
                               f"replaying {len(self.replay)} cell(s)")
        self.started = True
        try:
            self.conn.start()
        except KernelDied as err:
            self.kernel_broken = str(err)
            self.events.append(self.kernel_broken)
            return False
        for source in list(self.replay):
            status, _, note = self.exec_in_kernel(source, replaying=True)
            if status in ("died", "timeout"):
                self.kernel_broken = f"replaying earlier cells after a restart failed: {note}"
                self.events.append(self.kernel_broken)
                self.conn.close()
                return False
        return True

    def exec_in_kernel(self, source: str, replaying: bool = False) -> tuple[str, list, str]:
        """Run a cell in the kernel: ``(status, outputs, note)``, status ok/error/timeout/died."""
        limit = min(self.limits.cell_timeout, max(0.0, self._left()))
        if limit <= 0:
            return "timeout", [], "the submission's time budget is used up"
        conn = self.conn
        deadline = time.monotonic() + limit
        try:
            reply = conn.execute(source, deadline=deadline)
        except TestTimeout:
            conn.poisoned.pop("this cell", None)
            note = (f"this cell did not finish within {limit:g} s and was stopped; the kernel was restarted "
                    "and the cells before it run again")
            conn.kill("restarted after a timeout")
            return "timeout", [_error("CellTimeoutError", note)], note
        except KernelDied as err:
            conn.poisoned.pop("this cell", None)
            return "died", [_error("DeadKernelError", str(err).replace("while running this cell", "during this cell"))], str(err)
        outputs = [o for o in reply["outputs"] if isinstance(o, dict)] if isinstance(reply.get("outputs"), list) else []
        outputs = _sanitize_outputs(outputs, self.limits.output)
        status = "ok" if reply.get("ok") else "error"
        if reply.get("cut"):
            outputs.append({"output_type": "stream", "name": "stdout",
                            "text": f"\n[output cut at {self.limits.output} characters]\n"})
        return status, outputs, ""

    # -- the judge's side -----------------------------------------------------------
    def bind_kernel_names(self, source: str) -> None:
        # every unit, read or not (a test may use globals().get("trained_model"))
        names = loaded_names(source) | self.units
        want = []
        for name in sorted(names):
            if name in self.units:
                want.append(name)
            elif name in self.kernel_bound and self.ns.get(name) is self.kernel_bound[name]:
                want.append(name)          # came from the kernel before: look again
            elif name not in self.ns and not hasattr(builtins, name):
                want.append(name)
        if not want:
            return
        found = self.conn.request("resolve", payload={"names": want}, label="looking up your names")
        for name in want:
            if name in found:
                self.ns[name] = found[name]
                self.kernel_bound[name] = found[name]
            elif name in self.kernel_bound and self.ns.get(name) is self.kernel_bound[name]:
                del self.ns[name]
                del self.kernel_bound[name]
            elif name in self.units and name in self.ns:
                del self.ns[name]            # a unit the student did not define: NameError, as in Jupyter

    def run_in_judge(self, source: str, deadline: float) -> list[dict]:
        self.collector = Collector(self.limits.output)
        self.conn.deadline = deadline
        self.conn.timed_out = False
        self.alarm.deadline = deadline
        with capture_streams(lambda: self.collector):
            try:
                with self.alarm:
                    self.bind_kernel_names(source)
                    self.shell.run_cell(source, store_history=True)
            except GradingInterrupted as err:
                self.collector.error(type(err).__name__, str(err), [f"{type(err).__name__}: {err}"])
            except Exception as err:  # noqa: BLE001 - e.g. looking up names failed
                self.collector.error(type(err).__name__, str(err), [f"{type(err).__name__}: {err}"])
        outputs = list(self.collector.outputs)
        if self.collector.cut:
            outputs.append({"output_type": "stream", "name": "stdout",
                            "text": f"\n[output cut at {self.limits.output} characters]\n"})
        return outputs

    def record_definitions(self, index: int, source: str) -> None:
        """Remember where the student's functions are defined (for ``inspect.getsource``)."""
        filename = f"<submitted notebook {self.spec.name}, cell {index + 1}>"
        code = _transformed(source)             # line numbers as the parser counts them
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        for name, line in _top_level_bindings(code):
            if line is None:
                self.static_defs.pop(name, None)
            else:
                self.static_defs[name] = (filename, line)

    # -- hooks for the grading helpers --------------------------------------------------
    def kernel_seconds(self, grade_id: str) -> float | None:
        """Seconds this judge measured for the student's cell ``grade_id`` (None: not run)."""
        return self.cell_seconds.get(grade_id)

    def install_hooks(self) -> None:
        set_kernel_binder(self.conn.bound_in_kernel)
        set_kernel_counter(self.conn.count_lines)
        set_kernel_differences(self.conn.centred_differences)
        set_kernel_timer(self.kernel_seconds)

    @staticmethod
    def remove_hooks() -> None:
        set_kernel_binder(None)
        set_kernel_counter(None)
        set_kernel_differences(None)
        set_kernel_timer(None)

    # -- the notebook -----------------------------------------------------------------
    def run(self) -> dict:
        spec = self.spec
        count = 0
        timings = []
        self.install_hooks()
        try:
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code":
                    continue
                if timings and timings[-1][2] is None:
                    timings[-1][2] = round(time.monotonic() - timings[-1][3], 3)
                timings.append([index, cell.metadata.get("nbgrader", {}).get("grade_id"), None, time.monotonic()])
                count += 1
                cell.execution_count = count
                meta = cell.metadata.get("nbgrader", {})
                gid = meta.get("grade_id")
                is_test = bool(gid and spec.is_test(gid))
                is_setup = bool(gid and spec.is_setup(gid))
                if self._left() <= 0:
                    if is_test:
                        cell.outputs = [nbformat.from_dict(_error(
                            "SubmissionTimeout", "not run: this submission used up its "
                            f"{self.limits.submission_timeout:g} s time budget"))]
                    continue
                if not is_test:
                    if not self.ensure_kernel():
                        cell.outputs = [nbformat.from_dict(_error("DeadKernelError", f"not run: {self.kernel_broken}"))]
                        continue
                    started = time.monotonic()
                    status, outputs, note = self.exec_in_kernel(cell.source)
                    if gid and status in ("ok", "error"):
                        self.cell_seconds[gid] = time.monotonic() - started
                    cell.outputs = [nbformat.from_dict(o) for o in self.budget.keep(outputs, graded=False)]
                    if status in ("ok", "error"):
                        self.replay.append(cell.source)
                    else:
                        self.events.append(f"{spec.name}.ipynb, cell {index + 1}: {note}")
                    if not is_setup:
                        self.record_definitions(index, cell.source)
                        continue
                    # setup cells also run in the judge, from the trusted source; their output is not kept
                    deadline = time.monotonic() + min(self.limits.cell_timeout, max(0.0, self._left()))
                    outputs = self.run_in_judge(spec.cells[gid]["source"], deadline)
                    errors = [o for o in outputs if o.get("output_type") == "error"]
                    if errors:
                        self.events.append(f"{spec.name}.ipynb: setup cell {gid!r} failed in the judge: "
                                           f"{errors[0]['ename']}: {errors[0]['evalue'][:300]}")
                    continue
                # a test cell: only in the judge
                if not self.ensure_kernel():
                    cell.outputs = [nbformat.from_dict(_error("DeadKernelError", f"not run: {self.kernel_broken}"))]
                    continue
                deadline = time.monotonic() + min(self.limits.cell_timeout, max(0.0, self._left()))
                outputs = self.run_in_judge(spec.cells[gid]["source"], deadline)
                outputs = _sanitize_outputs(outputs, self.limits.output)
                cell.outputs = [nbformat.from_dict(o) for o in self.budget.keep(outputs, graded=True)]
        finally:
            self.remove_hooks()
            if timings and timings[-1][2] is None:
                timings[-1][2] = round(time.monotonic() - timings[-1][3], 3)
            self.conn.close()
        return {"restarts": self.restarts, "kernel_seconds": round(self.conn.kernel_seconds, 3),
                "timings": [t[:3] for t in timings]}


def _error(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}


def _sanitize_outputs(outputs: list, limit: int) -> list[dict]:
    """Keep only well-formed nbformat outputs (the kernel's are untrusted)."""
    clean = []
    for o in outputs:
        t = o.get("output_type")
        if t == "stream" and o.get("name") in ("stdout", "stderr") and isinstance(o.get("text"), str):
            clean.append({"output_type": "stream", "name": o["name"], "text": o["text"][:limit]})
        elif t in ("display_data", "execute_result") and isinstance(o.get("data"), dict):
            data = {k: v[:limit] for k, v in o["data"].items() if k in MIMES and isinstance(v, str)}
            out = {"output_type": t, "data": data, "metadata": {}}
            if t == "execute_result":
                c = o.get("execution_count")
                out["execution_count"] = c if isinstance(c, int) else None
            clean.append(out)
        elif t == "error":
            tb = o.get("traceback") if isinstance(o.get("traceback"), list) else []
            clean.append({"output_type": "error", "ename": str(o.get("ename", "Error"))[:200],
                          "evalue": str(o.get("evalue", ""))[:min(20000, limit)],
                          "traceback": [str(x)[:4000] for x in tb][-100:]})
    return clean


# ---------------------------------------------------------------------------
# one submission
# ---------------------------------------------------------------------------
def grade_submission(task: dict) -> dict:
    """Grade every notebook of one submission (runs in a fresh judge process)."""
    start = time.monotonic()
    limits = Limits.from_dict(task["limits"])
    sub_deadline = start + limits.submission_timeout
    os.environ["COURSEKIT_SEED"] = str(task["seed"])
    os.environ["COURSEKIT_COURSE_ROOT"] = task["course_root"]
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    os.environ.setdefault("MPLBACKEND", "Agg")
    from coursekit.grading import seeds

    seeds._RUN_SEED = None
    events: list[str] = []
    result = {"student": task["student"], "assignment": task["assignment"], "seed": task["seed"],
              "status": "graded", "notebooks": {}, "problems": [], "events": events}
    # everything this judge puts on disk lives here (its worker removes it, even if the judge is killed)
    workdir = tempfile.mkdtemp(prefix=f"coursekit-judge-{os.getpid()}-")
    task = dict(task, scratch=workdir)
    budget = SubmissionBudget(limits)
    try:
        # the judge works in a folder named after the assignment (reference() finds it by that name),
        # holding the source's other files as nbgrader's autograded folder would
        judge_cwd = Path(workdir) / task["assignment"]
        judge_cwd.mkdir()
        src_dir = Path(task["course_root"]) / task["source_dir"] / task["assignment"]
        for p in src_dir.rglob("*") if src_dir.is_dir() else []:
            if p.is_file() and p.suffix != ".ipynb" and not any(x in _IGNORED_FILES for x in p.parts):
                dst = judge_cwd / p.relative_to(src_dir)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(p, dst)
        os.chdir(judge_cwd)
        for spec_dict in task["specs"]:
            spec = NotebookSpec.from_dict(spec_dict)
            path = Path(task["submission_dir"]) / f"{spec.name}.ipynb"
            intake = read_submission(path, spec)
            entry = {"status": intake.status, "problems": intake.problems, "notebook": None}
            result["problems"] += [f"{spec.name}.ipynb: {p}" for p in intake.problems]
            if intake.status != "ok":
                entry["grades"] = {gid: {"score": 0.0, "max": float(p), "passed": False,
                                         "message": intake.problems[0] if intake.problems else "not graded",
                                         "stdout": ""}
                                   for gid, p in spec.points.items() if gid not in spec.solutions}
                entry["unchanged"] = {}
                result["notebooks"][spec.name] = entry
                continue
            uid = task["uid_base"] + os.getpid() if task.get("uid_base") is not None else None
            result["uid"] = uid
            run = NotebookRun(task, spec, intake.notebook, sub_deadline, uid, events, budget)
            stats = run.run()
            scored = score_notebook(intake.notebook, spec, task.get("nbgrader", {}))
            entry.update(scored)
            entry.update(stats)
            entry["notebook"] = nbformat.writes(intake.notebook)
            result["notebooks"][spec.name] = entry
    finally:
        os.chdir("/")
        shutil.rmtree(workdir, ignore_errors=True)
    if budget.output_cut:
        events.append(f"output cut: this submission printed more than the {budget.output_limit >> 20} "
                                  "MiB of output kept per submission")
    result["seconds"] = round(time.monotonic() - start, 3)
    return result
