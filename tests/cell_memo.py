"""Replay an expensive solution cell (04's training) instead of running it again, when that is exact.

``tests.harness.run_tests`` runs one notebook's cells in a fresh namespace per call. A mutant of
``normalize`` does not change what ``train_model`` trains, yet every run retrains for seconds.
``CellMemo.run`` executes a cell of ``harness.MEMO_CELLS`` once and records:

- every global name the cell reads while it runs (its own code and every notebook function it
  calls read through the namespace, a ``TrackingNamespace``; names read by a class body, which
  bypass the mapping, are added from the code), with a fingerprint of the value each had BEFORE
  the cell: the array bytes, the compiled code of notebook functions and classes, the contents
  of containers and of notebook objects (anything else cannot be fingerprinted: no memo);
- the global random states (NumPy, ``random``), the working directory, and the environment
  variables the cell reads through ``os.environ`` (so the hidden-input seed counts only if read);
- what the cell bound (a deep copy) and the random states after it.

A later run replays the cell when all of that is equal: the cell is deterministic code, so with
equal inputs it would compute equal outputs. Not replayed (run normally) when the cell changed
its inputs in place, or looked at the namespace as a whole (``globals().get``, ``in``, ...).
The replayed objects' own functions still read the globals of the run that created them: the
run records those reads and ``Replay.verify`` checks each against the new run's value (equal
fingerprints), and ``run_tests`` runs again without the memo if one differs.
Limits (not proved): library modules are taken as constant, and a cell must not rely on state
outside its namespace other than the recorded one (nor read the environment other than through
``os.environ``). ``tests/test_assignment_04.py`` compares
memoised with plain verdicts for mutants of every unit.
"""
from __future__ import annotations

import copy
import dis
import hashlib
import os
import random
import types

import numpy as np



class _Absent:
    """The value of a name the namespace does not hold (fingerprinted as such, unlike any value)."""


_ABSENT = _Absent()


class Unknown(Exception):
    """A value the memo cannot fingerprint: the cell runs normally."""


class Namespace(dict):
    """A notebook's globals; ``track()`` makes it a TrackingNamespace until ``untrack()``.
    (Only while tracking do reads pay for a Python-level ``__getitem__``.)"""

    reads: set | None = None
    opaque = False

    def track(self) -> None:
        self.__class__, self.reads, self.opaque = TrackingNamespace, set(), False

    def untrack(self) -> tuple:
        found = self.reads, self.opaque
        self.__class__, self.reads, self.opaque = Namespace, None, False
        return found


class TrackingNamespace(Namespace):
    """Records which names are read (``reads``), and whether the namespace was looked at as a
    whole (``opaque``)."""

    def __getitem__(self, key):
        if self.reads is not None:
            self.reads.add(key)
        return dict.__getitem__(self, key)

    def _whole(self):
        if self.reads is not None:
            self.opaque = True


def _opaque(name):
    method = getattr(dict, name)

    def wrapper(self, *args, **kwargs):
        self._whole()
        return method(self, *args, **kwargs)
    wrapper.__name__ = name
    return wrapper


for _name in ("get", "__contains__", "keys", "items", "values", "__iter__", "copy", "pop", "setdefault",
              "popitem", "update", "__len__", "__eq__", "__repr__"):
    setattr(TrackingNamespace, _name, _opaque(_name))


# --------------------------------------------------------------------------- fingerprints
def _code(code: types.CodeType) -> tuple:
    consts = tuple(_code(c) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c))
                   for c in code.co_consts)
    return ("code", code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars,
            code.co_cellvars, code.co_qualname, code.co_filename, code.co_firstlineno, code.co_argcount,
            code.co_kwonlyargcount, code.co_posonlyargcount, code.co_flags)


def _notebook(obj) -> bool:
    return getattr(obj, "__module__", None) == "__main__"


def fingerprint(value, _stack: tuple = ()) -> tuple:
    """A hashable summary equal for two values iff (as far as a cell can tell) they are equal."""
    if any(value is s for s in _stack):
        return ("cycle", next(i for i, s in enumerate(_stack) if s is value))
    stack = _stack + (value,)
    if value is _ABSENT:
        return ("absent",)
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return (type(value).__name__, repr(value))
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise Unknown("object array")
        digest = hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()
        return ("ndarray", value.dtype.str, value.shape, digest)
    if isinstance(value, np.generic):
        return ("npscalar", value.dtype.str, value.tobytes())
    if type(value) in (list, tuple):
        return (type(value).__name__,) + tuple(fingerprint(v, stack) for v in value)
    if type(value) is dict or isinstance(value, Namespace):
        return ("dict",) + tuple((fingerprint(k, stack), fingerprint(v, stack)) for k, v in dict.items(value))
    if isinstance(value, types.ModuleType):
        return ("module", value.__name__)
    if isinstance(value, types.FunctionType):
        if not _notebook(value):
            return ("ext", value.__module__, value.__qualname__)
        closure = tuple(fingerprint(c.cell_contents, stack) for c in value.__closure__ or ())
        return ("fn", _code(value.__code__), fingerprint(value.__defaults__, stack),
                fingerprint(value.__kwdefaults__, stack), closure, fingerprint(dict(value.__dict__), stack))
    if isinstance(value, (staticmethod, classmethod)):
        return (type(value).__name__, fingerprint(value.__func__, stack))
    if isinstance(value, property):
        return ("property",) + tuple(fingerprint(f, stack) for f in (value.fget, value.fset, value.fdel))
    if isinstance(value, type):
        if not _notebook(value):
            return ("ext", value.__module__, value.__qualname__)
        attrs = {k: v for k, v in vars(value).items() if k not in ("__dict__", "__weakref__")}
        return ("class", value.__qualname__, tuple(fingerprint(b, stack) for b in value.__bases__),
                fingerprint(attrs, stack))
    if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        return ("builtin", getattr(value, "__module__", None), value.__qualname__, id(getattr(value, "__self__", None))
                if not isinstance(getattr(value, "__self__", None), types.ModuleType) else None)
    if _notebook(type(value)) and hasattr(value, "__dict__") and not hasattr(type(value), "__slots__"):
        return ("obj", fingerprint(type(value), stack), fingerprint(dict(vars(value)), stack))
    raise Unknown(type(value).__qualname__)


def _walk(value, out: list, _seen=None) -> list:
    """The objects inside ``value`` in a fixed order (equal fingerprints: same order, same shape)."""
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return out
    seen.add(id(value))
    out.append(value)
    if type(value) in (list, tuple):
        for v in value:
            _walk(v, out, seen)
    elif type(value) is dict:
        for v in value.values():
            _walk(v, out, seen)
    elif _notebook(type(value)) and not isinstance(value, type) and hasattr(value, "__dict__"):
        for v in vars(value).values():
            _walk(v, out, seen)
    return out


def _class_body_names(code: types.CodeType) -> set:
    """Names a class body in ``code`` reads with LOAD_NAME (they bypass TrackingNamespace)."""
    names = set()
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if not const.co_flags & 0x1:  # not CO_OPTIMIZED: a class body
                names |= {i.argval for i in dis.get_instructions(const) if i.opname == "LOAD_NAME"}
            names |= _class_body_names(const)
    return names


def _outside_state() -> tuple:
    np_state = np.random.get_state()
    return (os.getcwd(), fingerprint(tuple(np_state)), repr(random.getstate()))


class _EnvReads:
    """Records the environment variables read through ``os.environ`` (``get``, ``in``, ``[]``,
    ``os.getenv``, copies: all go through ``os._Environ.__getitem__``) while active."""

    def __init__(self):
        self.keys: set = set()

    def __enter__(self):
        original = self.original = os._Environ.__getitem__
        keys = self.keys

        def getitem(env, key):
            keys.add(key)
            return original(env, key)
        os._Environ.__getitem__ = getitem
        return self

    def __exit__(self, *exc):
        os._Environ.__getitem__ = self.original


def _env(keys) -> dict:
    return {k: os.environ.get(k) for k in keys}


# --------------------------------------------------------------------------- the memo
class Replay:
    """A replayed cell: the run reads globals of the original run through the replayed objects."""

    def __init__(self, origin: Namespace):
        self.origin = origin
        origin.track()

    def verify(self, ns: dict) -> bool:
        """True if every global the replayed objects read has the same value in ``ns``."""
        reads, opaque = self.origin.untrack()
        if opaque:
            return False
        for name in reads:
            old = dict.get(self.origin, name, _ABSENT)
            new = dict.get(ns, name, _ABSENT)
            try:
                if old is not new and fingerprint(old) != fingerprint(new):
                    return False
            except Unknown:
                return False
        return True


class CellMemo:
    """Recorded runs of memoised cells, by (assignment, grade id, source)."""

    entries: dict[tuple, list] = {}
    stats = {"replayed": 0, "ran": 0}

    @classmethod
    def run(cls, assignment: str, gid: str, source: str, code, ns: Namespace, replays: list) -> None:
        key = (assignment, gid, source)
        outside = _outside_state()
        for entry in cls.entries.get(key, []):
            same = entry["outside"] == outside and _env(entry["env"]) == entry["env"]
            now = cls._same_inputs(entry, ns) if same else None
            if now is not None:
                cls._replay(entry, now, ns, replays)
                cls.stats["replayed"] += 1
                return
        cls.stats["ran"] += 1
        extra = _class_body_names(code)
        before = dict(dict.items(ns))
        prints = {}  # every value's fingerprint before the cell (None: cannot be fingerprinted)
        for n, v in before.items():
            try:
                prints[n] = fingerprint(v)
            except Unknown:
                prints[n] = None
        env = _env(os.environ.keys())
        ns.track()
        try:
            with _EnvReads() as env_reads:
                exec(code, ns)
        finally:
            reads, opaque = ns.untrack()
        if _env(os.environ.keys()) != env:
            return  # the cell changed the environment: not replayable
        reads |= extra
        if opaque:
            return
        inputs = {n: prints[n] if n in before else fingerprint(_ABSENT) for n in reads}
        if any(fp is None for fp in inputs.values()):
            return
        try:
            if any(fingerprint(dict.get(ns, n)) != inputs[n] for n in reads
                   if n in before and dict.get(ns, n, _ABSENT) is before[n]):
                return  # the cell changed one of its inputs in place: not replayable
        except Unknown:
            return
        anchors = [o for n in sorted(reads, key=str) if n in before for o in _walk(before[n], [])]
        bound = {n: v for n, v in dict.items(ns) if n not in before or before[n] is not v}
        removed = [n for n in before if n not in ns]
        keep = {id(o): o for o in anchors}
        keep.update({id(v): v for v in bound.values() if isinstance(v, types.ModuleType)})
        try:
            snapshot = copy.deepcopy(bound, dict(keep))
        except Exception:  # noqa: BLE001 - a value that cannot be copied: not replayable
            return
        cls.entries.setdefault(key, []).append({
            "outside": outside, "env": {k: env.get(k) for k in env_reads.keys}, "inputs": inputs, "anchors": anchors, "bound": snapshot, "removed": removed,
            "after": (np.random.get_state(), random.getstate()), "origin": ns})

    @staticmethod
    def _same_inputs(entry, ns) -> list | None:
        """This run's objects matching the entry's anchors if every input is equal, else None."""
        try:
            if any(fingerprint(dict.get(ns, n, _ABSENT)) != fp for n, fp in entry["inputs"].items()):
                return None
        except Unknown:
            return None
        names = sorted(entry["inputs"], key=str)
        now = [o for n in names if dict.get(ns, n, _ABSENT) is not _ABSENT for o in _walk(dict.get(ns, n), [])]
        if len(now) != len(entry["anchors"]) or any(type(a) is not type(b) for a, b in zip(now, entry["anchors"])):
            return None  # equal values, shared differently
        return now

    @staticmethod
    def _replay(entry, now, ns, replays) -> None:
        memo = {id(old): new for old, new in zip(entry["anchors"], now)}
        memo.update({id(v): v for v in entry["bound"].values() if isinstance(v, types.ModuleType)})
        dict.update(ns, copy.deepcopy(entry["bound"], memo))
        for n in entry["removed"]:
            dict.pop(ns, n, None)
        np.random.set_state(entry["after"][0])
        random.setstate(entry["after"][1])
        replays.append(Replay(entry["origin"]))
