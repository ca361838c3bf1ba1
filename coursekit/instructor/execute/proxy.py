"""The judge's side of the kernel: a connection, and proxies for the student's objects.

Test cells run in the judge, a trusted process the student's code never
touches. A name a test cell takes from the student's kernel -- ``softmax``,
``TwoLayerNet``, ``trained_model`` -- is bound to a proxy:

- a **function** becomes a real Python function whose call sends the
  arguments to the kernel, runs the student's function there and brings the
  result back as plain data (``inspect.getsource`` on it returns the source
  of the cell that defined it, read from the submitted notebook);
- a **class** becomes a class whose instances are handles; ``isinstance``
  asks the kernel;
- an **object** is a handle: attribute get/set, item get/set, ``len``,
  iteration and method calls go to the kernel. Reading a dict or list
  attribute gives a live handle (``model.params['W1'] = ...`` changes the
  model), reading an array gives an array whose writes are sent back
  (``model.params['W1'][i, j] += h`` in a numerical gradient check works);
- values the student's code changed in place (``bn_param``'s running
  averages, an optimizer's ``config``) are changed in place on the judge's
  side too, so ``run_unit``'s "changed its input" check and the contract's
  in-place updates behave as in one process; NumPy's global generator,
  ``random``'s state and NumPy's error handling travel with every call, and
  warnings raised in the kernel are re-raised in the judge under its own
  filters.

Trust boundary (audited per message; ``tests/test_protocol.py`` forges each one):

- ``hello`` / ``setup`` replies: only checked for their shape; any other greeting is a dead kernel;
- replies (``re``): ``value`` and every nested value through :class:`~coursekit.instructor.execute.wire.Decoder`
  (plain data; types only from a fixed table; handles become proxies); ``resolve`` only the names
  asked; ``changed``/``rng_new``/``rng_state``/``state`` applied only to the judge's own objects
  sent with the request, by number, shape- and type-checked; ``error`` becomes a stand-in
  exception (built-in types looked up by name, never imported); ``warnings`` re-raised with a
  made-up file name; ``out``/``err`` printed (cut by the cell's output limit); the ``count`` op's
  line count checked to be a plausible int; the ``differences`` op's numerical gradients to be
  a float64 array of one value per index asked;
- ``callback`` requests: only judge objects this connection handed over and not revoked, public
  attributes only, never a module or a class back;
- anything else (an unsolicited request, a malformed or oversized frame): the kernel is killed.

Nothing the kernel sends names code, modules or files the judge
imports, executes or opens. Handles are only ever proxies (a module the student's
code hands over is the judge's own copy only for a few trusted libraries already
loaded, looked up in ``sys.modules``, never imported); exception and warning types
are built-in ones looked up by name or stand-ins made here; a warning's file name
is never read (it is replaced by ``<student code: ...>``); every cache keyed by
kernel-chosen text is bounded. Every message is size- and element-checked before
it is parsed, against per-message and per-submission budgets (:class:`Budget`).

Every request has a deadline (the running cell's): past it the kernel is
interrupted, then killed; the function that hung (or killed the kernel) is
remembered, and later calls to it fail at once instead of costing another
timeout.
"""
from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import keyword
import sys
import time
import types
import warnings
import weakref
from typing import Any, Callable

import numpy as np

from coursekit.instructor.execute.wire import (Budget, Decoder, Encoder, FrameReader, OverBudget, WireError, builtin_type,
                                               describe_error, global_state, rng_snapshot, same_array,
                                               set_global_state, set_rng_state, state_token, states_equal,
                                               write_frame)

__all__ = ["GradingInterrupted", "TestTimeout", "KernelDied", "KernelLost", "RemoteError",
           "KernelConnection", "Remote", "SyncedArray", "is_proxy", "TRUSTED_MODULES"]

# modules a handle may stand for on the judge's side: the judge's own copy, if already loaded
TRUSTED_MODULES = frozenset({
    "numpy", "numpy.linalg", "numpy.random", "numpy.testing", "numpy.fft", "math", "cmath", "random",
    "itertools", "functools", "collections", "operator", "statistics", "time", "copy",
    "matplotlib", "matplotlib.pyplot",
})
MAX_CACHED_TYPES = 256      # stand-in classes made for kernel-chosen type names, per cache
_MAX_WARNINGS = 50           # warnings re-raised per request
_MAX_NAME = 100              # characters of a kernel-chosen name kept
_MAX_REPR = 2000             # characters of a kernel-made repr/str kept
MAX_LINES = 10**9            # more lines than a kernel can run in a cell's time: a forged count


class GradingInterrupted(BaseException):
    """A test was stopped by the grader (a limit, or the kernel died). Not catchable as Exception."""


class TestTimeout(GradingInterrupted):
    """Student code did not finish in time."""


class KernelDied(GradingInterrupted):
    """The student's kernel died (``os._exit``, a crash, a limit)."""


class KernelLost(GradingInterrupted):
    """An object from before a kernel restart was used."""


class RemoteError(Exception):
    """An exception raised by the student's code in the kernel (subclassed per exception type)."""

    remote_traceback = ""

    def __str__(self) -> str:
        return getattr(self, "_ck_message", super().__str__())


_EXC_CACHE: dict[tuple, type] = {}


def _safe_name(name: Any, default: str) -> str:
    """A kernel-chosen name usable as a class/function name here (else ``default``)."""
    name = str(name)[:_MAX_NAME]
    return name if name.isidentifier() and not keyword.iskeyword(name) else default


def remote_exception(err: dict) -> BaseException:
    """A judge-side exception standing for one raised in the kernel."""
    ename = str(err.get("ename", "Exception"))[:_MAX_NAME]
    evalue = str(err.get("evalue", ""))[:20000]
    base = builtin_type(ename, Exception) or Exception
    name = _safe_name(ename, "StudentError")
    if len(_EXC_CACHE) >= MAX_CACHED_TYPES and (ename, base) not in _EXC_CACHE:
        ename = name = "StudentError"        # a flood of made-up names: one generic stand-in
    key = (ename, base)
    cls = _EXC_CACHE.get(key)
    if cls is None:
        try:
            cls = type(name, (base, RemoteError) if base is not Exception else (RemoteError,),
                       {"__module__": "student"})
        except TypeError:
            cls = type(name, (RemoteError,), {"__module__": "student"})
        _EXC_CACHE[key] = cls
    try:
        exc = cls(evalue)
    except Exception:  # noqa: BLE001 - odd constructors (UnicodeError subclasses...)
        exc = type(name, (RemoteError,), {})(evalue)
    exc._ck_message = evalue
    exc.remote_traceback = str(err.get("tb", ""))[-20000:]
    return exc


_WARNING_CACHE: dict[str, type] = {}
_FILE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def _warning_filename(name: Any) -> str:
    """A display name for a kernel-reported file that no reader of files will resolve."""
    base = str(name or "")[-200:].replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c if c in _FILE_CHARS else "_" for c in base)[:60]
    return f"<student code: {base}>" if base else "<student code>"


def _warning_category(name: str) -> type:
    name = name[:_MAX_NAME]
    cat = builtin_type(name, Warning)
    if cat is not None:
        return cat
    if name not in _WARNING_CACHE:
        if len(_WARNING_CACHE) >= MAX_CACHED_TYPES:
            name = "StudentWarning"
        if name not in _WARNING_CACHE:
            _WARNING_CACHE[name] = type(_safe_name(name, "StudentWarning"), (UserWarning,),
                                        {"__module__": "student"})
    return _WARNING_CACHE[name]


def is_proxy(obj: Any) -> bool:
    return isinstance(obj, Remote) or hasattr(obj, "__ck_desc__") or isinstance(obj, RemoteClassMeta)


def _desc_of(obj: Any) -> dict | None:
    if isinstance(obj, Remote):
        return object.__getattribute__(obj, "_ck_desc")
    if isinstance(obj, RemoteClassMeta):
        return type.__getattribute__(obj, "_ck_desc")
    d = getattr(obj, "__ck_desc__", None) if isinstance(obj, types.FunctionType) else None
    return d


# ---------------------------------------------------------------------------
# the connection
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class KernelProcess:
    """The kernel a connection talks to: its sandbox, the reader of its replies, which start
    of the kernel this is (handles of an earlier one are refused) and whether it is running."""

    sandbox: Any = None
    reader: FrameReader | None = None
    generation: int = 0
    dead: bool = True
    death_note: str = ""


@dataclasses.dataclass
class HandedObjects:
    """Judge objects handed to the kernel (it calls back into them by number); those handed
    over inside ``with_reference`` blocks are revoked when the last block closes."""

    refs: dict[int, Any] = dataclasses.field(default_factory=dict)
    next_ref: int = 1
    next_bind: int = 1
    open_blocks: int = 0
    bound: set[int] = dataclasses.field(default_factory=set)

    def hand_over(self, obj: Any) -> int:
        ref = self.next_ref
        self.next_ref += 1
        self.refs[ref] = obj
        return ref

    def revoke_bound(self) -> None:
        for ref in self.bound:
            self.refs.pop(ref, None)
        self.bound.clear()


def _references(link: list) -> int:
    """How many references CPython counts to a linked generator (the link's own among them)."""
    return sys.getrefcount(link[0])


#: the count when the link is the generator's only holder -- measured here, not assumed
_ONLY_THE_LINK = _references([np.random.default_rng(0), 0, None])


@dataclasses.dataclass
class SharedState:
    """What the judge keeps in step with the kernel between requests: arrays read from student
    objects (``synced``: id -> (weakref, snapshot)), writes to them not sent yet, generators
    linked to the kernel's (id(generator) -> [generator, kernel id, state]) and the global random
    state the kernel was last known to hold."""

    synced: dict[int, tuple] = dataclasses.field(default_factory=dict)
    writes: list[tuple] = dataclasses.field(default_factory=list)
    rng_links: dict[int, list] = dataclasses.field(default_factory=dict)
    kernel_token: Any = None

    def reset(self) -> None:
        """A new kernel: nothing is shared yet."""
        self.kernel_token = None
        self.rng_links.clear()
        self.writes.clear()


@dataclasses.dataclass
class StandIns:
    """Bounded caches of what the judge made for kernel-chosen names: proxy classes
    (``(type name, flags)``), methods known to be plain (``(generation, class handle, name)``)
    and warning registries (by made-up file name)."""

    classes: dict[tuple, type] = dataclasses.field(default_factory=dict)
    methods: set[tuple] = dataclasses.field(default_factory=set)
    registries: dict[str, dict] = dataclasses.field(default_factory=dict)


class KernelConnection:
    """Requests to the student's kernel, with deadlines, restarts and proxies.

    ``start_kernel()`` returns a started :class:`~coursekit.instructor.execute.sandbox.Sandbox` (or
    anything with its ``fd_from``/``fd_to``/``alive``/``kill``/``interrupt``/``exit_description``/
    ``stderr_tail``/``proc``: the protocol tests serve a kernel over a pipe without a sandbox).
    ``budget``: what the kernel may send, all requests together (shared by every notebook of a
    submission). ``events``: where kernel deaths and timeouts are noted (the submission's list).
    """

    def __init__(self, start_kernel: Callable, limits, *, source_of: Callable[[str], Any] | None = None,
                 budget: Budget | None = None, events: list | None = None):
        self.start_kernel = start_kernel
        self.limits = limits
        self.source_of = source_of or (lambda name: None)
        self.budget = budget if budget is not None else Budget.from_limits(limits)
        self.events: list[str] = events if events is not None else []
        self.process = KernelProcess()
        self.handed = HandedObjects()
        self.shared = SharedState()
        self.stand_ins = StandIns()
        # the request in flight (the judge's alarm reads busy/timed_out; it sets deadline per cell)
        self.deadline: float | None = None
        self.busy = False
        self.timed_out = False
        self.next_id = 1
        self.kernel_seconds = 0.0
        self.poisoned: dict[str, str] = {}        # label -> why later calls to it fail at once
        self.last_method = False                  # the last getattr read a plain method

    @property
    def dead(self) -> bool:
        return self.process.dead

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        self.close()
        self.process.generation += 1
        self.process.sandbox = self.start_kernel()
        self.process.reader = FrameReader(self.process.sandbox.fd_from, max_bytes=int(self.limits.transfer), budget=self.budget)
        try:
            hello, _ = self.process.reader.read(deadline=time.monotonic() + max(60.0, self.limits.cell_timeout))
            if hello.get("op") != "hello":
                raise WireError("unexpected greeting")
        except (EOFError, TimeoutError, WireError) as err:
            if isinstance(err, OverBudget):
                self.close()
                raise KernelDied(str(err)) from None
            note = self.process.sandbox.exit_description() if not self.process.sandbox.alive() else str(err)
            tail = self.process.sandbox.stderr_tail(600).strip()
            if tail and tail not in note:
                note += f" ({tail})"
            self.close()
            raise KernelDied(f"the student's kernel could not start: {note}") from None
        self.process.dead = False
        self.shared.reset()
        self.stand_ins.methods.clear()
        reply, _ = self._request_raw("setup", {"generation": self.process.generation,
                                               "output_limit": int(self.limits.output)},
                                     deadline=time.monotonic() + 60)
        if "error" in reply:
            err = reply["error"] if isinstance(reply["error"], dict) else {}
            self.close()
            raise KernelDied(f"the student's kernel could not start: {err.get('ename')}: {err.get('evalue')}\n"
                             f"{err.get('tb', '')}")

    def close(self) -> None:
        if self.process.sandbox is not None:
            self.process.sandbox.kill()
            self.process.sandbox = None
        self.process.dead = True
        self.shared.synced.clear()

    def kill(self, note: str) -> None:
        desc = self.process.sandbox.exit_description() if self.process.sandbox is not None and not self.process.sandbox.alive() else ""
        self.process.death_note = desc or note
        self.close()

    def execute(self, code: str, *, deadline: float | None, label: str = "this cell") -> dict:
        """Run a notebook cell in the kernel; the kernel's reply (``outputs``, ``ok``, ``cut``).
        A timeout or death is raised, not noted in ``events`` (the caller notes it, with the cell)."""
        reply, _ = self._request_raw("exec", {"code": code}, deadline=deadline, label=label, note=False)
        return reply

    # -- framing -----------------------------------------------------------------
    def _send(self, header: dict, buffers: list[bytes]) -> None:
        try:
            write_frame(self.process.sandbox.fd_to, header, buffers,
                        deadline=time.monotonic() + max(5.0, self.limits.cell_timeout))
        except (BrokenPipeError, OSError, TimeoutError):
            raise EOFError("the kernel is gone") from None

    def _request_raw(self, op: str, payload: dict, buffers=(), *, deadline: float | None,
                     label: str = "the kernel", note: bool = True) -> tuple[dict, list[bytes]]:
        if self.process.dead or self.process.sandbox is None:
            raise KernelDied(f"the kernel is not running ({self.process.death_note})")
        mid = self.next_id
        self.next_id += 1
        header = dict(payload, op=op, id=mid)
        self.busy = True
        start = time.monotonic()
        try:
            try:
                self._send(header, list(buffers))
            except EOFError:
                self._died(label, note)
            while True:
                try:
                    reply, bufs = self.process.reader.read(deadline=deadline)
                except TimeoutError:
                    return self._timed_out(mid, label, note)
                except (EOFError, WireError, OSError) as err:
                    if isinstance(err, OverBudget):
                        self.kill(str(err))
                        self.events.append(str(err))
                        raise KernelDied(str(err)) from None
                    if isinstance(err, WireError):
                        self.kill(f"sent a malformed message ({err})")
                    self._died(label, note)
                if reply.get("re") == mid:
                    return reply, bufs
                if reply.get("op") == "callback":
                    self._callback(reply, bufs)
                    continue
                self.kill("sent an unexpected message")
                self._died(label, note)
        finally:
            self.busy = False
            self.kernel_seconds += time.monotonic() - start

    def _died(self, label: str, note_event: bool = True):
        if self.process.sandbox is not None:
            try:
                self.process.sandbox.proc.wait(timeout=2)
            except Exception:  # noqa: BLE001
                pass
        note = self.process.sandbox.exit_description() if self.process.sandbox is not None else self.process.death_note
        self.close()
        self.process.death_note = note
        if note_event:
            self.events.append(f"kernel died while running {label}: it {note}")
        self.poisoned.setdefault(label, f"{label} made the kernel die earlier (it {note}); "
                                        "it was not run again")
        raise KernelDied(f"the kernel died while running {label}: it {note}. "
                         "Possible causes: os._exit/sys.exit, a crash, or going over the memory "
                         f"limit ({self.limits.memory >> 20} MiB).")

    def _timed_out(self, mid: int, label: str, note_event: bool = True):
        events = self.events if note_event else []
        self.timed_out = True
        limit = self.limits.cell_timeout
        self.process.sandbox.interrupt()
        grace = time.monotonic() + self.limits.interrupt_grace
        while True:
            try:
                reply, bufs = self.process.reader.read(deadline=grace)
            except (TimeoutError, EOFError, WireError, OSError):
                self.kill("did not respond to an interrupt")
                events.append(f"{label} did not finish within {limit:g} s and did not stop "
                                   "when interrupted: the kernel was killed")
                break
            if reply.get("re") == mid:
                events.append(f"{label} did not finish within {limit:g} s and was interrupted; "
                                   "the kernel was restarted (anything it started is stopped)")
                self.kill("restarted after a timeout")
                break
            if reply.get("op") == "callback":
                self._send({"re": reply.get("id"), "error": {"ename": "TimeoutError", "evalue": "time is up"}}, [])
        message = (f"{label} did not finish within the {limit:g} s time limit of a test cell "
                   "(an infinite loop, or far too slow?). It was stopped; later tests that call it "
                   "fail without running it again.")
        self.poisoned.setdefault(label, f"{label} timed out earlier (over {limit:g} s); it was not run again")
        raise TestTimeout(message)

    # -- hooks of the grading helpers (with_reference, count_student_lines) -----------
    @contextlib.contextmanager
    def bound_in_kernel(self, bindings: dict[str, Any]):
        """``with_reference`` in the judge: the kernel's notebook globals ``bindings`` (names ->
        judge objects, reached from the kernel as callbacks) for the duration of the block; then
        the student's own bindings (or their absence) are back, and the judge objects handed over
        are revoked (student code that kept one cannot call the reference later)."""
        if not all(isinstance(k, str) and k.isidentifier() for k in bindings):
            raise ValueError("with_reference needs plain names")
        token = self.handed.next_bind
        self.handed.next_bind += 1
        before = set(self.handed.refs)
        self.handed.open_blocks += 1
        try:
            try:
                self.request("bind", extra=dict(bindings), payload={"token": token},
                             label="with_reference")
            finally:
                self.handed.bound |= set(self.handed.refs) - before
            yield
        finally:
            self.handed.open_blocks -= 1
            try:
                if not self.process.dead:
                    self.request("unbind", payload={"token": token}, label="with_reference")
            finally:
                if not self.handed.open_blocks:
                    self.handed.revoke_bound()

    def count_lines(self, fn: Callable, args: tuple, kwargs: dict) -> tuple[Any, int]:
        """``count_student_lines`` in the judge: the kernel calls the student's ``fn`` under
        ``sys.settrace`` and reports ``(value, lines run in student code)``. The count is checked
        to be a plausible line count (a non-negative int below ``MAX_LINES``), else refused."""
        found = _student_callable(fn)
        if found is None:
            raise TypeError("count_student_lines needs a function or method from the student's notebook")
        target, extra, label = found
        value = self.request("count", target=target, args=tuple(args), kwargs=dict(kwargs or {}), extra=extra,
                             label=label)
        if not (isinstance(value, dict) and set(value) == {"counted", "lines"}):
            raise RemoteError("the kernel sent back a malformed line count")
        lines = value["lines"]
        if type(lines) is not int or not 0 <= lines <= MAX_LINES:
            raise RemoteError(f"the kernel sent back an impossible line count ({str(lines)[:40]!r})")
        return value["counted"], lines

    def centred_differences(self, fn: Callable, args: tuple, kwargs: dict, x: np.ndarray, indices,
                            h: float, take: int | None, df: np.ndarray | None, what: str) -> Any:
        """:func:`coursekit.gradcheck.centred_differences` with its loop run in the kernel: one
        ``differences`` request instead of two calls per entry. ``NotImplemented`` (the judge
        runs the loop itself) unless ``fn`` is the student's function or method and ``x`` is
        one of the arguments or an array read from the student's objects. The reply must be
        a float64 array of one value per index, else it is refused."""
        found = _student_callable(fn)
        at = _locate(x, args, kwargs, self) if found is not None else None
        if at is None:
            return NotImplemented
        target, name, label = found
        indices = [[int(i) for i in ix] for ix in indices]
        spec = {"at": at, "indices": indices, "h": float(h), "take": take, "df": df,
                "what": str(what)[:_MAX_NAME], "method": name}
        value = self.request("differences", target=target, args=tuple(args), kwargs=dict(kwargs or {}),
                             extra=spec, label=label)
        if not (type(value) is np.ndarray and value.dtype == np.float64 and value.shape == (len(indices),)):
            raise RemoteError("the kernel sent back malformed numerical gradients")
        return value

    # -- callbacks from the kernel into judge objects ------------------------------
    def _callback(self, header: dict, buffers: list[bytes]) -> None:
        mid = header.get("id")
        before = set(self.handed.refs) if self.handed.open_blocks else None
        try:
            dec = self._decoder(buffers, None)
            obj = self.handed.refs.get(header.get("ref"))
            if obj is None:
                raise LookupError("unknown object")
            args = dec.decode(header.get("args"))
            kwargs = dec.decode(header.get("kwargs"))
            if not isinstance(args, tuple) or not isinstance(kwargs, dict) or \
                    not all(isinstance(k, str) for k in kwargs):
                raise WireError("bad arguments")
            attr = header.get("attr")
            after = None
            if attr is None:
                if not callable(obj):
                    raise TypeError(f"{type(obj).__name__} object is not callable")
                snaps = {**{str(i): _mutable_snapshot(a) for i, a in enumerate(args)},
                         **{f"k:{k}": _mutable_snapshot(a) for k, a in kwargs.items()}}
                value = obj(*args, **kwargs)
                after = _changed_in_place(snaps, {**{str(i): a for i, a in enumerate(args)},
                                                   **{f"k:{k}": a for k, a in kwargs.items()}})
            else:
                if not isinstance(attr, str) or attr.startswith("_"):
                    raise AttributeError(attr)
                value = getattr(obj, attr)
                if isinstance(value, (types.ModuleType, type)):
                    raise AttributeError(f"{attr} is not available to student code")
            enc = Encoder(fallback=self._fallback)
            reply = {"re": mid, "value": enc.encode(value)}
            if after:
                # a judge-side function (a reference reached through with_reference) changed
                # arguments in place, as batchnorm_forward updates bn_param: the kernel applies
                # the same changes to its own objects, so student code sees what it would at home
                reply["after"] = enc.encode(after)
            self._send(reply, enc.buffers)
        except GradingInterrupted:
            raise
        except BaseException as err:  # noqa: BLE001 - reported to the kernel
            self._send({"re": mid, "error": describe_error(err, with_traceback=False, limit=2000)}, [])
        finally:
            if before is not None:
                self.handed.bound |= set(self.handed.refs) - before

    # -- encoding ------------------------------------------------------------------
    def _fallback(self, obj: Any) -> dict:
        desc = _desc_of(obj)
        if desc is not None:
            if desc.get("g") != self.process.generation:
                raise KernelLost("an object from the student's kernel was used after the kernel "
                                 "restarted (it no longer exists)")
            return desc
        if isinstance(obj, (types.ModuleType,)):
            raise WireError("a module cannot be passed to student code")
        ref = self.handed.hand_over(obj)
        return {"@": "cb", "id": ref, "type": type(obj).__name__, "callable": callable(obj)}

    def _decoder(self, buffers, enc: Encoder | None) -> Decoder:
        def resolve_ref(k):
            if enc is None or not 0 <= k < len(enc.tracked):
                raise WireError("bad reference")
            return enc.tracked[k]

        def resolve_handle(desc):
            if desc.get("@") == "cb":
                ref = desc.get("id")
                if ref not in self.handed.refs:
                    raise WireError("unknown judge object")
                return self.handed.refs[ref]
            return self.proxy(desc)

        return Decoder(buffers, resolve_ref=resolve_ref, resolve_handle=resolve_handle)

    # -- the requests ----------------------------------------------------------------
    def request(self, op: str, *, target: Any = None, args: tuple = (), kwargs: dict | None = None,
                extra: Any = None, label: str = "student code", live: Any = None,
                payload: dict | None = None) -> Any:
        """Run ``op`` in the kernel; return the decoded value (raises what the student's code raised).

        ``live``: ``(owner, kind, key)`` when ``op`` reads an attribute, item or global, so that an
        array read comes back as a :class:`SyncedArray` whose writes reach the student's object."""
        if label in self.poisoned:
            raise TestTimeout(self.poisoned[label])
        if self.process.dead:
            raise KernelDied(f"the kernel is not running ({self.process.death_note})")
        self.flush()
        enc = Encoder(fallback=self._fallback, rng_ref=self._rng_ref)
        body = self._request_body(enc, payload, target, args, kwargs, extra)
        reply, bufs = self._request_raw(op, body, enc.buffers, deadline=self.deadline, label=label)
        dec = self._decoder(bufs, enc)
        self._apply_reply_state(reply, dec, enc)
        self._relay_output(reply)
        if "error" in reply:
            raise self._student_error(reply["error"], label)
        if op == "resolve":
            return self._resolved(reply, dec, set((payload or {}).get("names") or ()))
        if isinstance(reply.get("drained"), dict):
            return self._prefetched(reply["drained"], dec, label)
        value = dec.decode(reply.get("value"))
        if reply.get("sync") and isinstance(value, np.ndarray) and live is not None:
            value = self.synced_array(value, *live)
        return value

    def _request_body(self, enc: Encoder, payload: dict | None, target: Any, args: tuple,
                      kwargs: dict | None, extra: Any) -> dict:
        """The request: its operands, the writes queued since the last one, and the judge's
        numeric state (linked generators that moved, the global generators if they moved)."""
        body = dict(payload or {})
        if self.shared.writes:
            writes, self.shared.writes = self.shared.writes, []
            body["writes"] = [[t, enc.encode(kind), enc.encode(key), enc.encode(index), enc.encode(value)]
                              for t, kind, key, index, value in writes]
        if target is not None:
            body["target"] = enc.encode(target) if not isinstance(target, dict) else target
        body["args"] = enc.encode(tuple(args))
        body["kwargs"] = enc.encode(dict(kwargs or {}))
        if extra is not None:
            body["extra"] = enc.encode(extra)
        rng_set, dropped = self._generator_updates(enc)
        if rng_set:
            body["rng_set"] = rng_set
        if dropped:
            body["rng_drop"] = dropped
        kernel_token, self.shared.kernel_token = self.shared.kernel_token, None
        body["state"] = {"err": np.geterr()} if state_token() == kernel_token else global_state()
        return body

    def _generator_updates(self, enc: Encoder) -> tuple[dict[str, Any], list[int]]:
        """Linked generators the judge drew from since the last request (``{kernel id: state}``),
        and the kernel ids of links dropped because no judge code can reach their generator any
        more (nothing can draw from it here, so there is nothing to keep in step: without this,
        every generator a notebook ever passed would be compared on both sides at every call)."""
        rng_set, dropped = {}, []
        for key, link in list(self.shared.rng_links.items()):
            if _references(link) <= _ONLY_THE_LINK:
                del self.shared.rng_links[key]
                dropped.append(link[1])
                continue
            now = rng_snapshot(link[0])
            if not states_equal(now, link[2]):
                rng_set[str(link[1])] = enc.encode(now)
                link[2] = now
        return rng_set, dropped

    def _apply_reply_state(self, reply: dict, dec: Decoder, enc: Encoder) -> None:
        """The kernel's global generators, in-place changes and generator links, applied here."""
        try:
            if isinstance(reply.get("state"), dict) and "np" in reply["state"]:
                set_global_state(reply["state"])
            self.shared.kernel_token = state_token()
            self.last_method = reply.get("method") is True
            self._apply_changes(reply.get("changed") or {}, dec, enc)
            self._apply_rngs(reply, dec, enc)
        except (WireError, TypeError, ValueError, KeyError) as err:
            raise RemoteError(f"the kernel sent back a malformed state: {err}") from None

    def _relay_output(self, reply: dict) -> None:
        """What the student's code printed, printed here; its warnings re-raised here."""
        out, err = reply.get("out"), reply.get("err")
        if isinstance(out, str) and out:
            sys.stdout.write(out)
        if isinstance(err, str) and err:
            sys.stderr.write(err)
        warned = reply.get("warnings")
        for w in (warned if isinstance(warned, list) else [])[:_MAX_WARNINGS]:
            if isinstance(w, dict):
                self._rewarn(w)

    def _student_error(self, error: Any, label: str) -> BaseException:
        """The exception to raise here for an error the kernel reported."""
        error = error if isinstance(error, dict) else {}
        if error.get("ename") == "KeyboardInterrupt":
            return TestTimeout(f"{label} was interrupted")
        if error.get("ename") == "LookupError" and "no longer exists" in str(error.get("evalue")):
            return KernelLost("an object from before a kernel restart was used")
        if error.get("ename") == "MemoryError":
            error = dict(error, evalue=f"{error.get('evalue', '')} (student code may use at most "
                                      f"{self.limits.memory / 2**30:g} GiB while grading)")
        return remote_exception(error)

    def _resolved(self, reply: dict, dec: Decoder, asked: set) -> dict[str, Any]:
        """A ``resolve`` reply: only names that were asked for; arrays write back to the globals."""
        found = reply.get("value")
        if not isinstance(found, dict) or not set(found) <= asked:
            raise RemoteError("the kernel sent back a malformed answer (names that were not asked for)")
        arrays = set(a for a in (reply.get("arrays") or []) if isinstance(a, str)) \
            if isinstance(reply.get("arrays"), list) else set()
        value = {}
        for name, node in found.items():
            value[name] = dec.decode(node)
            if name in arrays and isinstance(value[name], np.ndarray):
                value[name] = self.synced_array(value[name], None, "global", name)
        return value

    def _prefetched(self, drained: dict, dec: Decoder, label: str) -> "Prefetched":
        """A generator's items run ahead in the kernel, then the handle of the rest."""
        items = dec.decode_list(drained.get("items") or [])
        rest = dec.decode(drained["rest"]) if drained.get("rest") is not None else None
        if rest is not None and not isinstance(rest, RemoteIterator):
            raise WireError("bad generator")
        error = drained.get("error") if isinstance(drained.get("error"), dict) else None
        return Prefetched(items, error, rest, label)

    def _rng_ref(self, rng) -> int | None:
        link = self.shared.rng_links.get(id(rng))
        if link is not None and link[0] is rng:
            return link[1]
        return None

    def _apply_rngs(self, reply: dict, dec: Decoder, enc: Encoder) -> None:
        """Generators passed to the kernel stay linked: a draw on either side moves both."""
        for k, rid in (reply.get("rng_new") or {}).items():
            k, rid = int(k), int(rid)
            if not 0 <= k < len(enc.tracked):
                raise WireError("bad generator link")
            rng = enc.tracked[k]
            # generators cannot be weakly referenced: the link holds it until no judge code can
            # reach it (:meth:`_generator_updates`)
            self.shared.rng_links[id(rng)] = [rng, rid, rng_snapshot(rng)]
        by_rid = {link[1]: link for link in self.shared.rng_links.values()}
        for rid, node in (reply.get("rng_state") or {}).items():
            link = by_rid.get(int(rid))
            if link is None:            # never linked, or dropped: nothing here to keep in step
                continue
            set_rng_state(link[0], dec.decode(node))
            link[2] = rng_snapshot(link[0])

    def _apply_changes(self, changed: dict, dec: Decoder, enc: Encoder) -> None:
        for key, content in changed.items():
            k = int(key)
            if not 0 <= k < len(enc.tracked) or not isinstance(content, dict):
                raise WireError("bad change")
            orig = enc.tracked[k]
            kind = content.get("kind")
            if kind == "a" and isinstance(orig, np.ndarray):
                new = dec.decode({"@": "a", "b": content.get("b")})
                if new.shape == orig.shape and orig.flags.writeable:
                    np.copyto(orig, new, casting="unsafe")
            elif kind == "ao" and isinstance(orig, np.ndarray):
                items = dec.decode_list(content.get("v"))
                if len(items) == orig.size:
                    flat = orig.reshape(-1)
                    for i, x in enumerate(items):
                        flat[i] = x
            elif kind == "l" and isinstance(orig, list):
                orig[:] = dec.decode_list(content.get("v"))
            elif kind == "d" and isinstance(orig, dict):
                keys = dec.decode_list(content.get("keys"))
                vals = dec.decode_list(content.get("v"))
                if len(keys) != len(vals):
                    raise WireError("bad change")
                orig.clear()
                orig.update(zip(keys, vals))
            else:
                raise WireError(f"bad change {kind!r}")

    def _rewarn(self, w: dict) -> None:
        """Re-raise a warning from the kernel. Its file name is kernel-chosen text: it becomes
        ``<student code: NAME>``, never opened (linecache would read a real path, or a hidden
        test cell the judge ran, into the warning's text)."""
        try:
            category = _warning_category(str(w.get("category", "UserWarning")))
            filename = _warning_filename(w.get("filename"))
            lineno = w.get("lineno")
            lineno = lineno if type(lineno) is int and 0 <= lineno < 10**7 else 0
            if filename not in self.stand_ins.registries and len(self.stand_ins.registries) >= MAX_CACHED_TYPES:
                filename = "<student code>"
            registry = self.stand_ins.registries.setdefault(filename, {})
            warnings.warn_explicit(str(w.get("message", ""))[:4000], category, filename, lineno,
                                   module="__main__", registry=registry)
        except (TypeError, ValueError):
            pass

    # -- arrays whose writes go back to the kernel -----------------------------------
    def synced_array(self, value: np.ndarray, owner: Any, kind: str, key: Any) -> "SyncedArray":
        arr = value.view(SyncedArray)
        arr.attach(weakref.ref(self), owner, kind, key)
        snap = value.copy()
        ident = id(arr)
        self.shared.synced[ident] = (weakref.ref(arr, lambda _r, i=ident: self.shared.synced.pop(i, None)), snap)
        return arr

    def push(self, arr: "SyncedArray", index: Any) -> None:
        """Queue a write to send with the next request (so it costs no round trip of its own)."""
        _, owner, kind, key = arr.attachment
        part = np.asarray(arr[index]).view(np.ndarray) if index is not Ellipsis else arr.view(np.ndarray)
        target = _desc_of(owner) if owner is not None else None
        if target is not None and target.get("g") != self.process.generation:
            return
        self.shared.writes.append((target, kind, key, index, np.array(part)))
        entry = self.shared.synced.get(id(arr))
        if entry is not None:
            try:
                entry[1][index] = part
            except (IndexError, ValueError, TypeError):
                self.shared.synced[id(arr)] = (entry[0], arr.view(np.ndarray).copy())

    def flush(self) -> None:
        """Send arrays changed on the judge's side other than by item assignment (e.g. ``+=``)."""
        for ident, (ref, snap) in list(self.shared.synced.items()):
            arr = ref()
            if arr is None:
                continue
            plain = arr.view(np.ndarray)
            if same_array(plain, snap):
                continue
            self.shared.synced[ident] = (ref, plain.copy())
            self.push(arr, Ellipsis)

    # -- proxies ---------------------------------------------------------------------
    def proxy(self, desc: dict) -> Any:
        if desc.get("g") != self.process.generation:
            raise WireError("handle from another kernel")
        kind = desc.get("kind")
        if kind == "module":
            # never import a kernel-chosen name: a trusted library the judge already has loaded is
            # the judge's own copy (the student's may be patched); anything else stays a handle
            name = desc.get("name")
            if isinstance(name, str) and name in TRUSTED_MODULES and name in sys.modules:
                return sys.modules[name]
            return _new(self._object_class("module", ()), self, desc, f"module {str(name)[:_MAX_NAME]}")
        if kind == "function":
            return self.function_proxy(desc, str(desc.get("name") or "function")[:_MAX_NAME])
        if kind == "class":
            return self.class_proxy(desc)
        if kind == "mapping":
            return _new(RemoteMapping, self, desc, f"a {str(desc.get('type', 'dict'))[:_MAX_NAME]}")
        if kind == "iterator":
            return _new(RemoteIterator, self, desc, f"a {str(desc.get('type', 'iterator'))[:_MAX_NAME]}")
        type_name = str(desc.get("type", "object"))[:_MAX_NAME]
        flags = desc.get("flags")
        flags = tuple(sorted(f for f in flags if f in _OPTIONAL)) if isinstance(flags, list) else ()
        return _new(self._object_class(type_name, flags), self, desc, type_name)

    def _object_class(self, type_name: str, flags: tuple) -> type:
        """The proxy class for objects of a kernel-named type with these protocols (bounded cache)."""
        key = (type_name, flags)
        cls = self.stand_ins.classes.get(key)
        if cls is None:
            if len(self.stand_ins.classes) >= MAX_CACHED_TYPES:
                key = ("StudentObject", flags)
                cls = self.stand_ins.classes.get(key)
            if cls is None:
                ns: dict[str, Any] = {"__module__": "student"}
                for flag in flags:
                    ns.update(_OPTIONAL[flag])
                cls = type(_safe_name(key[0], "StudentObject"), (RemoteObject,), ns)
                self.stand_ins.classes[key] = cls
        return cls

    def function_proxy(self, desc: dict, name: str, label: str | None = None,
                       method_of: dict | None = None) -> Callable:
        """A function standing for a student's function (or, with ``method_of``, for
        the method ``name`` of that object)."""
        label = label or name
        conn = self

        if method_of is None:
            def call(args, kwargs):
                return conn.request("call", target=desc, args=args, kwargs=kwargs, label=label)
        else:
            def call(args, kwargs):
                return conn.request("callattr", target=method_of, args=args, kwargs=kwargs, extra=name,
                                    label=label)

        fn = types.FunctionType(_PROXY_CODE, {"__ck_call__": call}, "proxy")
        src = self.source_of(name) if label == name else None
        code = fn.__code__
        if src is not None:
            filename, firstlineno = src
            code = code.replace(co_filename=filename, co_firstlineno=firstlineno)
        if name.isidentifier() and not keyword.iskeyword(name):
            code = code.replace(co_name=name, co_qualname=name) if sys.version_info >= (3, 11) \
                else code.replace(co_name=name)
        fn.__code__ = code
        fn.__name__ = name
        fn.__qualname__ = name
        fn.__module__ = "__main__"
        fn.__doc__ = None
        fn.__ck_desc__ = desc
        fn.__ck_method__ = (method_of, name) if method_of is not None else None
        fn.__ck_label__ = label
        return fn

    def class_proxy(self, desc: dict) -> type:
        name = str(desc.get("name") or "StudentClass")[:_MAX_NAME]
        safe = _safe_name(name, "StudentClass")
        return RemoteClassMeta(safe, (), {"_ck_conn": self, "_ck_desc": desc, "_ck_label": name,
                                          "__module__": "__main__"})


_PROXY_CODE = next(c for c in compile("def proxy(*args, **kwargs):\n    return __ck_call__(args, kwargs)\n",
                                      "<coursekit proxy>", "exec").co_consts if isinstance(c, types.CodeType))


def _new(cls, conn, desc, label):
    obj = dict.__new__(cls) if issubclass(cls, dict) else object.__new__(cls)
    object.__setattr__(obj, "_ck_conn", conn)
    object.__setattr__(obj, "_ck_desc", desc)
    object.__setattr__(obj, "_ck_label", label)
    return obj


# ---------------------------------------------------------------------------
# proxy types
# ---------------------------------------------------------------------------
class Remote:
    """Base of every handle to an object in the student's kernel."""

    def _ck(self, op, *, args=(), kwargs=None, extra=None, live=None, label=None):
        conn = object.__getattribute__(self, "_ck_conn")
        return conn.request(op, target=object.__getattribute__(self, "_ck_desc"), args=args,
                            kwargs=kwargs, extra=extra, live=live,
                            label=label or object.__getattribute__(self, "_ck_label"))

    def __repr__(self):
        try:
            return str(self._ck("repr"))[:_MAX_REPR]
        except Exception:  # noqa: BLE001
            return f"<{object.__getattribute__(self, '_ck_label')} in the student's kernel>"

    def __str__(self):
        try:
            return str(self._ck("str"))[:_MAX_REPR]
        except Exception:  # noqa: BLE001
            return repr(self)

    def __deepcopy__(self, memo):
        return self._ck("deepcopy")

    def __copy__(self):
        return self._ck("deepcopy")

    def __reduce_ex__(self, protocol):
        raise TypeError("objects from the student's kernel cannot be pickled")


class RemoteObject(Remote):
    def __getattr__(self, name):
        if name.startswith("__") or name.startswith("_repr_") or name.startswith("_ipython") \
                or name.startswith("_ck"):
            raise AttributeError(name)
        label = object.__getattribute__(self, "_ck_label")
        conn = object.__getattribute__(self, "_ck_conn")
        desc = object.__getattribute__(self, "_ck_desc")
        key = (desc.get("g"), desc.get("cls"), name)
        if key in conn.stand_ins.methods:
            # a method of the object's class, seen before: call it directly (one round trip)
            return conn.function_proxy(None, name, label=f"{label}.{name}", method_of=desc)
        value = self._ck("getattr", extra=name, live=(self, "attr", name), label=f"{label}.{name}")
        if isinstance(value, types.FunctionType) and hasattr(value, "__ck_desc__"):
            # a bound method: label calls by class and method name (timeouts are remembered per method)
            if conn.last_method and desc.get("cls") is not None:
                conn.stand_ins.methods.add(key)
            return conn.function_proxy(value.__ck_desc__, name, label=f"{label}.{name}")
        return value

    def __setattr__(self, name, value):
        if name.startswith("_ck"):
            raise AttributeError(name)
        self._ck("setattr", args=(value,), extra=name)

    def __delattr__(self, name):
        raise AttributeError("deleting attributes of student objects is not supported")


def _call(self, *args, **kwargs):
    return self._ck("call", args=args, kwargs=kwargs)


def _len(self):
    return int(self._ck("len"))


def _iter(self):
    it = self._ck("iter")
    return it if isinstance(it, RemoteIterator) else iter(it)


def _getitem(self, key):
    return self._ck("getitem", extra=key, live=(self, "item", key))


def _setitem(self, key, value):
    self._ck("setitem", args=(value,), extra=key)


def _delitem(self, key):
    self._ck("delitem", extra=key)


def _contains(self, key):
    return bool(self._ck("contains", extra=key))


_OPTIONAL = {
    "call": {"__call__": _call},
    "len": {"__len__": _len},
    "iter": {"__iter__": _iter},
    "getitem": {"__getitem__": _getitem},
    "setitem": {"__setitem__": _setitem, "__delitem__": _delitem},
    "contains": {"__contains__": _contains},
}

_MISSING = object()


class RemoteMapping(RemoteObject, dict):
    """A dict in the student's kernel (e.g. ``model.params``): ``isinstance(x, dict)`` holds, and
    reads and writes go to the kernel (the dict's own storage stays empty)."""

    __getitem__ = _getitem
    __setitem__ = _setitem
    __delitem__ = _delitem
    __len__ = _len
    __iter__ = _iter
    __contains__ = _contains
    __hash__ = None

    def keys(self):
        return collections.abc.KeysView(self)

    def values(self):
        return collections.abc.ValuesView(self)

    def items(self):
        return collections.abc.ItemsView(self)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def pop(self, key, default=_MISSING):
        if key in self:
            value = self[key]
            del self[key]
            return value
        if default is _MISSING:
            raise KeyError(key)
        return default

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, other=(), **kw):
        items = other.items() if hasattr(other, "items") else other
        for k, v in list(items) + list(kw.items()):
            self[k] = v

    def clear(self):
        for k in list(self):
            del self[k]

    def popitem(self):
        k = next(reversed(list(self)))
        return k, self.pop(k)

    def copy(self) -> dict:
        return {k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in self.items()}

    def __reversed__(self):
        return reversed(list(self))

    def __bool__(self):
        return len(self) > 0

    def __eq__(self, other):
        if not isinstance(other, collections.abc.Mapping):
            return NotImplemented
        mine = dict(self.items())
        if mine.keys() != set(other.keys()):
            return False
        return all(_same(mine[k], other[k]) for k in mine)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __or__(self, other):
        return {**dict(self.items()), **other}


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b)


class RemoteIterator(RemoteObject):
    def __iter__(self):
        return self

    def __next__(self):
        desc = object.__getattribute__(self, "_ck_desc")
        if desc.get("gen"):
            batch = self._ck("next", extra=256)      # a generator: fetch ahead
            if isinstance(batch, Prefetched):
                return next(batch)
            return batch
        return self._ck("next")


class Prefetched:
    """The items a student's generator yielded, fetched ahead in one round trip, then the rest."""

    def __init__(self, items, error, rest, label):
        self._items = list(items)
        self._error = error
        self._rest = rest
        self._label = label

    def __iter__(self):
        return self

    def __next__(self):
        while not self._items:
            if self._error is not None:
                err, self._error = self._error, None
                raise remote_exception(err)
            if self._rest is None:
                raise StopIteration
            more = object.__getattribute__(self._rest, "_ck")("next", extra=256)
            if isinstance(more, Prefetched):
                self._items, self._error, self._rest = more._items, more._error, more._rest
            else:                                   # a single item: not a generator after all
                return more
        return self._items.pop(0)

    def __repr__(self):
        return f"<generator from {self._label} (student's kernel)>"


class RemoteClassMeta(type):
    """The type of proxies for the student's classes."""

    def __call__(cls, *args, **kwargs):
        conn = type.__getattribute__(cls, "_ck_conn")
        return conn.request("call", target=type.__getattribute__(cls, "_ck_desc"), args=args, kwargs=kwargs,
                            label=type.__getattribute__(cls, "_ck_label"))

    def __instancecheck__(cls, obj):
        if not isinstance(obj, Remote):
            return False
        conn = type.__getattribute__(cls, "_ck_conn")
        return bool(conn.request("isinstance", target=object.__getattribute__(obj, "_ck_desc"),
                                 extra=cls, label=type.__getattribute__(cls, "_ck_label")))

    def __getattr__(cls, name):
        if name.startswith("__") or name.startswith("_ck") or name.startswith("_repr_") or name.startswith("_ipython"):
            raise AttributeError(name)
        conn = type.__getattribute__(cls, "_ck_conn")
        label = type.__getattribute__(cls, "_ck_label")
        return conn.request("getattr", target=type.__getattribute__(cls, "_ck_desc"), extra=name,
                            label=f"{label}.{name}")

    def __repr__(cls):
        return f"<class '{type.__getattribute__(cls, '_ck_label')}' (student's kernel)>"


class SyncedArray(np.ndarray):
    """An array read from a student's object; item assignment is sent back to the object."""

    def __array_finalize__(self, obj):
        self._ck_sync = None

    def attach(self, conn_ref: Callable, owner: Any, kind: str, key: Any) -> None:
        """Send item assignments to the connection ``conn_ref()``, as writes to ``owner``'s
        attribute (``kind`` "attr"), item ("item") or the global ``key`` ("global")."""
        self._ck_sync = (conn_ref, owner, kind, key)

    @property
    def attachment(self) -> tuple | None:
        """``(connection weakref, owner, kind, key)``, or None for a plain copy."""
        return getattr(self, "_ck_sync", None)

    def __setitem__(self, index, value):
        super().__setitem__(index, value)
        sync = self.attachment
        if sync is not None:
            conn = sync[0]()
            if conn is not None and not conn.dead:
                conn.push(self, index)

    def copy(self, order="C"):
        return np.ndarray.copy(self.view(np.ndarray), order)

    def __deepcopy__(self, memo):
        return np.ndarray.copy(self.view(np.ndarray))

    def __reduce__(self):
        return self.view(np.ndarray).__reduce__()


def _student_callable(fn: Any) -> tuple[dict, str | None, str] | None:
    """``(target handle, method name or None, label)`` to call ``fn`` in the kernel: a proxy of a
    student's function, or of a method of a student's object; None for anything else."""
    desc = _desc_of(fn)
    method = getattr(fn, "__ck_method__", None) if isinstance(fn, types.FunctionType) else None
    if desc is None and method is None:
        return None
    target, name = (desc, None) if desc is not None else method
    return target, name, str(getattr(fn, "__ck_label__", "student code"))


def _locate(x: Any, args: tuple, kwargs: dict, conn: KernelConnection) -> list | None:
    """Where the kernel finds the array ``x`` a numerical gradient perturbs: ``["arg", i]``,
    ``["kwarg", name]``, or ``["live", owner, kind, key]`` for an array read from a student's
    object through ``conn`` (a :class:`SyncedArray`); None if it cannot."""
    for i, a in enumerate(args):
        if a is x:
            return ["arg", i]
    for k, v in kwargs.items():
        if v is x:
            return ["kwarg", k]
    sync = x.attachment if isinstance(x, SyncedArray) else None
    if sync is None or sync[0]() is not conn:
        return None
    _, owner, kind, key = sync
    return ["live", owner, kind, key]


def _mutable_snapshot(value: Any) -> Any:
    """What a callback argument looked like before the call: arrays and dicts (else None)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: (v, v.copy() if isinstance(v, np.ndarray) else None) for k, v in value.items()}
    return None


def _changed_in_place(before: dict, now: dict) -> dict:
    """``{position: new value}`` for array and dict arguments the call changed in place.

    A dict travels whole, with the keys whose array was changed in place (same object)
    listed under ``"inplace"``; an array travels whole."""
    out = {}
    for pos, snap in before.items():
        cur = now[pos]
        if snap is None:
            continue
        if isinstance(cur, np.ndarray):
            if not same_array(cur, snap):
                out[pos] = {"array": cur}
            continue
        same_keys = set(cur) == set(snap)
        inplace = [k for k, v in cur.items() if k in snap and v is snap[k][0] and isinstance(v, np.ndarray)
                   and not same_array(v, snap[k][1])]
        rebound = [k for k, v in cur.items() if k not in snap or v is not snap[k][0]]
        if inplace or rebound or not same_keys:
            out[pos] = {"dict": dict(cur), "inplace": inplace}
    return out
