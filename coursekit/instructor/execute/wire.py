"""The grader's wire format: framed messages of plain data, never pickle.

The judge (trusted) and the student's kernel (untrusted, sandboxed) talk over
two pipes. Everything the kernel sends is decoded here into plain Python and
NumPy values only -- ``None``, ``bool``, ``int``, ``float``, ``complex``,
``str``, ``bytes``, tuples, lists, dicts, sets, slices, ``Ellipsis``, NumPy
arrays and scalars of non-object dtypes, random generators' states -- plus
*references*: to objects that stay on the other side (``{"@": "h"}``, a
handle), or to objects the receiver itself sent (``{"@": "r"}``, so that
identity and in-place changes survive the round trip).

A frame is ``<u32 json length><u32 buffer count>`` + JSON + for each buffer
``<u64 length>`` + bytes. Arrays travel as ``.npy`` buffers read back with
``allow_pickle=False``. Decoding is bounded: frame size, nesting depth and
element count are limited, and anything unexpected raises :class:`WireError`.
Sizes and element counts are checked *before* parsing: the length prefixes
against the frame limit, the JSON part against ``MAX_JSON`` and (counting its
``[``, ``{``, ``,`` and ``:`` bytes, an upper bound on the values it holds) against
``MAX_ITEMS``; a :class:`Budget` shared by all the frames of one submission
bounds their total bytes and elements (:class:`OverBudget`).

This module is imported on both sides and needs only the standard library
and NumPy.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import select
import struct
import time
from typing import Any, Callable

import numpy as np

__all__ = ["WireError", "OverBudget", "Budget", "FrameReader", "write_frame", "Encoder", "Decoder",
           "MAX_DEPTH", "MAX_ITEMS", "MAX_JSON", "safe_dtype", "RNG_KINDS", "npy_bytes",
           "global_state", "set_global_state", "state_token", "rng_snapshot", "states_equal",
           "is_rng", "same_array", "describe_error", "builtin_type"]

MAX_DEPTH = 64
MAX_ITEMS = 2_000_000
MAX_JSON = 64 << 20          # bytes of the JSON part of one frame (arrays travel as buffers)
_HEAD = struct.Struct("<II")
_BUF = struct.Struct("<Q")
_ALLOWED_KINDS = set("biufcmMUS")
RNG_KINDS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
# types that may travel as values (``dtype=np.float64``, ``int``): by name, looked up on arrival
_TYPES = {t.__name__: t for t in (int, float, complex, bool, str, bytes, list, tuple, dict, set, frozenset,
                                  slice, range, type(None))}
_TYPES.update({f"numpy.{t.__name__}": t for t in set(np.sctypeDict.values())
               if isinstance(t, type) and issubclass(t, np.generic) and t is not np.object_
               and np.dtype(t).kind in "biufcmMUS"})


class WireError(ValueError):
    """A malformed, oversized or disallowed message."""


class OverBudget(WireError):
    """The other side sent more, all frames together, than its budget allows."""


class Budget:
    """Bytes and (an upper bound on) elements one peer may send in total: taken per frame,
    before the frame is parsed."""

    def __init__(self, max_bytes: int, max_items: int):
        self.max_bytes, self.max_items = int(max_bytes), int(max_items)
        self.bytes = self.items = 0

    @classmethod
    def from_limits(cls, limits) -> "Budget":
        return cls(getattr(limits, "submission_transfer", 1 << 30),
                   getattr(limits, "submission_items", 50_000_000))

    @property
    def exhausted(self) -> bool:
        return self.bytes > self.max_bytes or self.items > self.max_items

    def take(self, nbytes: int, nitems: int = 0) -> None:
        self.bytes += nbytes
        self.items += nitems
        if self.exhausted:
            raise OverBudget(
                f"the student's kernel sent more than this submission may send in total "
                f"({self.max_bytes >> 20} MiB, {self.max_items:,} values; it sent {self.bytes >> 20} MiB, "
                f"{self.items:,} values): the rest of the submission was not run")


def count_items(raw: bytes) -> int:
    """An upper bound on the values (keys included) a JSON text holds, in linear time, without
    parsing it: every value but the first follows a ``[``, ``{``, ``,`` or ``:``."""
    return raw.count(b",") + raw.count(b":") + raw.count(b"[") + raw.count(b"{") + 1


# ---------------------------------------------------------------------------
# framing
# ---------------------------------------------------------------------------
def write_frame(fd: int, header: dict, buffers: list[bytes] = (), *,
                deadline: float | None = None) -> None:
    """Write one frame to ``fd`` (blocking, or until ``deadline``: then TimeoutError)."""
    body = json.dumps(header, separators=(",", ":"), allow_nan=True).encode()
    parts = [_HEAD.pack(len(body), len(buffers)), body]
    for b in buffers:
        parts += [_BUF.pack(len(b)), b]
    data = memoryview(b"".join(parts))
    while data:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the other side stopped reading")
            _, ready, _ = select.select([], [fd], [], left)
            if not ready:
                continue
        n = os.write(fd, data[: 1 << 20])
        data = data[n:]


class FrameReader:
    """Reads frames from a file descriptor with a size limit and optional deadlines."""

    def __init__(self, fd: int, max_bytes: int = 1 << 30, budget: Budget | None = None,
                 max_json: int = MAX_JSON, max_items: int = MAX_ITEMS):
        self.fd = fd
        self.max_bytes = max_bytes
        self.budget = budget
        self.max_json = min(max_json, max_bytes)
        self.max_items = max_items
        self._buf = bytearray()
        self.eof = False

    def _fill(self, need: int, deadline: float | None, on_wait: Callable | None) -> None:
        while len(self._buf) < need:
            if self.eof:
                raise EOFError("the other side closed the connection")
            timeout = None
            if deadline is not None:
                timeout = max(0.0, deadline - time.monotonic())
            if on_wait is not None:
                timeout = 0.25 if timeout is None else min(timeout, 0.25)
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError("no reply before the deadline")
                if on_wait is not None:
                    on_wait()
                continue
            chunk = os.read(self.fd, max(1 << 16, min(need - len(self._buf), 1 << 24)))
            if not chunk:
                self.eof = True
                raise EOFError("the other side closed the connection")
            self._buf += chunk

    def _take(self, n: int, deadline, on_wait) -> bytes:
        self._fill(n, deadline, on_wait)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def read(self, deadline: float | None = None, on_wait: Callable | None = None) -> tuple[dict, list[bytes]]:
        """The next ``(header, buffers)``; EOFError, TimeoutError or WireError."""
        json_len, nbuf = _HEAD.unpack(self._take(_HEAD.size, deadline, on_wait))
        total = json_len
        if json_len > self.max_json or nbuf > 100_000:
            raise WireError(f"message too large ({json_len} bytes of header, {nbuf} buffers)")
        if self.budget is not None:
            self.budget.take(json_len + _HEAD.size)
        raw = self._take(json_len, deadline, on_wait)
        items = count_items(raw)
        if items > self.max_items:
            raise WireError(f"message has too many values (up to {items:,}; at most {self.max_items:,})")
        if self.budget is not None:
            self.budget.take(0, items)
        try:
            header = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise WireError(f"malformed message: {err}") from None
        if not isinstance(header, dict):
            raise WireError("malformed message: not an object")
        buffers = []
        for _ in range(nbuf):
            (n,) = _BUF.unpack(self._take(_BUF.size, deadline, on_wait))
            total += n
            if total > self.max_bytes:
                raise WireError(f"message larger than the {self.max_bytes >> 20} MiB limit")
            if self.budget is not None:
                self.budget.take(n + _BUF.size)
            buffers.append(self._take(n, deadline, on_wait))
        return header, buffers


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------
def safe_dtype(spec: Any) -> np.dtype:
    """A NumPy dtype from its string, refusing object/void (pickle-backed) dtypes."""
    if not isinstance(spec, str) or len(spec) > 32:
        raise WireError("bad dtype")
    try:
        dt = np.dtype(spec)
    except Exception:  # noqa: BLE001 - TypeError, ValueError, and SyntaxError for a string with a comma
        raise WireError(f"bad dtype {spec!r}") from None
    if dt.kind not in _ALLOWED_KINDS or dt.hasobject:
        raise WireError(f"dtype {dt} is not allowed")
    return dt


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


_NPY_MAGIC = b"\x93NUMPY"
# The header ``np.save`` writes for an array of a plain dtype, e.g.
# ``{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }`` then spaces and a newline.
_NPY_HEADER = re.compile(rb"\{'descr': '([^'\\]{1,32})', 'fortran_order': (True|False), "
                         rb"'shape': \(((?:\d{1,19}, ){0,31}\d{0,19},?)\), \} *\n?")


def npy_array(data: bytes) -> np.ndarray:
    """The array ``np.save`` wrote into ``data`` (:func:`npy_bytes`), as a new writable array.

    Only what ``np.save`` writes for an allowed dtype is read: its header matched by one strict
    pattern (a plain dtype, at most 32 dimensions), then data that fills the shape exactly, copied
    out. Anything else is refused with WireError; ``np.load`` never sees a kernel's bytes (it reads
    a header with ``ast.literal_eval`` and ``tokenize``, which was most of the judge's time spent
    decoding replies, and lets errors other than ValueError escape on forged headers).
    """
    if data[:6] != _NPY_MAGIC or len(data) < 12 or data[6] not in (1, 2, 3):
        raise WireError("bad array: not an array as np.save writes one")
    start = 10 if data[6] == 1 else 12
    size = int.from_bytes(data[8:start], "little")
    m = _NPY_HEADER.fullmatch(data, start, start + size) if size <= 4096 else None
    if m is None:
        raise WireError("bad array: not a header np.save writes for an array of a plain dtype")
    dtype = safe_dtype(m.group(1).decode("latin-1"))
    shape = tuple(int(d) for d in m.group(3).replace(b",", b" ").split())
    count = math.prod(shape)
    body = memoryview(data)[start + size:]
    if len(body) != count * dtype.itemsize:
        raise WireError("bad array: its data does not fill its shape")
    try:              # (an empty array can still claim dimensions no array may have)
        flat = np.frombuffer(body, dtype=dtype, count=count) if count else np.empty(0, dtype)
        arr = flat.reshape(shape[::-1]).transpose() if m.group(2) == b"True" else flat.reshape(shape)
    except (ValueError, OverflowError) as err:
        raise WireError(f"bad array: {err}") from None
    return arr.copy(order="K")


def is_rng(obj: Any) -> bool:
    """A NumPy random generator (``Generator`` or legacy ``RandomState``)."""
    return isinstance(obj, (np.random.Generator, np.random.RandomState))


def same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Same shape, dtype and values (NaN equals NaN in float and complex arrays)."""
    return (a.shape == b.shape and a.dtype == b.dtype
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")))


class Encoder:
    """Turns a value into JSON + buffers.

    Mutable objects (arrays, lists, dicts, generators) are numbered as they are
    met (``self.tracked[k]`` is object k): a second occurrence is sent as a
    back-reference, and the receiver can send back their new state by number.
    ``refs``: ``{id(obj): k}`` of objects the *receiver* sent, encoded as
    ``{"@": "r", "id": k}`` instead of by value.
    ``fallback(obj)``: how to encode anything that is not data (a handle), or
    None to raise WireError.
    ``rng_ref(generator)``: the receiver's id of a generator it already holds a
    linked copy of (sent as ``{"@": "lr"}``), or None to send its state.
    """

    def __init__(self, *, refs: dict[int, int] | None = None,
                 fallback: Callable[[Any], dict] | None = None, max_items: int = MAX_ITEMS,
                 rng_ref: Callable[[Any], int | None] | None = None):
        self.buffers: list[bytes] = []
        self.rng_ref = rng_ref
        self.tracked: list[Any] = []
        self._memo: dict[int, int] = {}
        self.refs = refs or {}
        self.fallback = fallback
        self._items = 0
        self._max_items = max_items

    def _buffer(self, data: bytes) -> int:
        self.buffers.append(data)
        return len(self.buffers) - 1

    def _tracked(self, obj: Any) -> int:
        k = len(self.tracked)
        self.tracked.append(obj)
        self._memo[id(obj)] = k
        return k

    def encode(self, obj: Any, depth: int = 0) -> Any:
        self._items += 1
        if self._items > self._max_items:
            raise WireError("value has too many elements")
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        t = type(obj)
        if obj is None or t is bool or t is str or t is int or t is float:
            return obj
        oid = id(obj)
        if oid in self.refs:
            return {"@": "r", "id": self.refs[oid]}
        if oid in self._memo:
            return {"@": "m", "id": self._memo[oid]}
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                k = self._tracked(obj)
                return {"@": "ao", "shape": list(obj.shape), "k": k,
                        "v": [self.encode(x, depth + 1) for x in obj.ravel().tolist()]}
            try:
                safe_dtype(obj.dtype.str)
            except WireError:
                if self.fallback is not None:
                    return self.fallback(obj)
                raise
            k = self._tracked(obj)
            return {"@": "a", "b": self._buffer(npy_bytes(np.asarray(obj))), "k": k}
        if isinstance(obj, np.generic):
            if obj.dtype.hasobject or obj.dtype.kind not in _ALLOWED_KINDS:
                raise WireError(f"numpy scalar of dtype {obj.dtype} is not allowed")
            return {"@": "s", "dt": obj.dtype.str, "b": self._buffer(np.asarray(obj).tobytes())}
        if t is complex:
            return {"@": "c", "v": [obj.real, obj.imag]}
        if t is bytes or t is bytearray:
            return {"@": "y", "b": self._buffer(bytes(obj)), "mut": t is bytearray}
        if t is tuple:
            return {"@": "t", "v": [self.encode(x, depth + 1) for x in obj]}
        if t is list:
            k = self._tracked(obj)
            return {"@": "l", "k": k, "v": [self.encode(x, depth + 1) for x in obj]}
        if t is dict:
            k = self._tracked(obj)
            keys = list(obj.keys())
            return {"@": "d", "k": k, "keys": [self.encode(x, depth + 1) for x in keys],
                    "v": [self.encode(obj[x], depth + 1) for x in keys]}
        if t is set or t is frozenset:
            return {"@": "set", "frozen": t is frozenset, "v": [self.encode(x, depth + 1) for x in obj]}
        if t is slice:
            return {"@": "sl", "v": [self.encode(obj.start, depth + 1), self.encode(obj.stop, depth + 1),
                                     self.encode(obj.step, depth + 1)]}
        if obj is Ellipsis:
            return {"@": "el"}
        if t is range:
            return {"@": "rg", "v": [obj.start, obj.stop, obj.step]}
        if isinstance(obj, np.dtype) and obj.kind in _ALLOWED_KINDS and not obj.hasobject and obj.fields is None:
            return {"@": "dt", "v": obj.str}
        if isinstance(obj, type):
            name = obj.__name__ if obj.__module__ == "builtins" else f"numpy.{obj.__name__}"
            if _TYPES.get(name) is obj:
                return {"@": "ty", "v": name}
        if is_rng(obj):
            linked = self.rng_ref(obj) if self.rng_ref is not None else None
            if linked is not None:
                return {"@": "lr", "id": linked}
            k = self._tracked(obj)
            return {"@": "rng", "k": k, **rng_state(obj, self, depth)}
        if isinstance(obj, (int, float, str)) and not isinstance(obj, bool):
            # subclasses of the basic types travel as the basic type
            base = int if isinstance(obj, int) else float if isinstance(obj, float) else str
            return base(obj)
        if self.fallback is not None:
            return self.fallback(obj)
        raise WireError(f"cannot send a {t.__name__}")


def rng_state(rng: Any, enc: Encoder, depth: int) -> dict:
    if isinstance(rng, np.random.Generator):
        state = rng.bit_generator.state
        return {"kind": "Generator", "state": enc.encode(_plain(state), depth + 1)}
    state = rng.get_state(legacy=False)
    return {"kind": "RandomState", "state": enc.encode(_plain(state), depth + 1)}


def _plain(value: Any) -> Any:
    """Copy a bit generator's state as plain dicts/ints/arrays."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def make_rng(kind: str, state: Any) -> Any:
    """A generator restored from a decoded state (bit generator name checked)."""
    if not isinstance(state, dict):
        raise WireError("bad generator state")
    name = state.get("bit_generator")
    if name not in RNG_KINDS:
        raise WireError(f"unknown bit generator {name!r}")
    try:
        if kind == "Generator":
            rng = np.random.Generator(getattr(np.random, name)())
            rng.bit_generator.state = state
        elif kind == "RandomState":
            rng = np.random.RandomState()
            rng.set_state(state)
        else:
            raise WireError("bad generator kind")
    except (TypeError, ValueError, KeyError) as err:
        raise WireError(f"bad generator state: {err}") from None
    return rng


def set_rng_state(rng: Any, state: Any) -> None:
    try:
        if isinstance(rng, np.random.Generator):
            if state.get("bit_generator") != rng.bit_generator.state.get("bit_generator"):
                raise WireError("generator type changed")
            rng.bit_generator.state = state
        else:
            rng.set_state(state)
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise WireError(f"bad generator state: {err}") from None


class Decoder:
    """Turns JSON + buffers back into values.

    ``resolve_ref(k)``: the receiver's own object k (``{"@": "r"}``).
    ``resolve_handle(desc)``: what a handle becomes on this side.
    Decoded mutable objects are kept by the sender's numbers (``self.tracked[k]``)
    so their state can be sent back.
    """

    def __init__(self, buffers: list[bytes], *, resolve_ref: Callable[[int], Any] | None = None,
                 resolve_handle: Callable[[dict], Any] | None = None,
                 resolve_rng: Callable[[int], Any] | None = None):
        self.buffers = buffers
        self.resolve_ref = resolve_ref
        self.resolve_handle = resolve_handle
        self.resolve_rng = resolve_rng
        self.tracked: dict[int, Any] = {}
        self._items = 0

    def _buf(self, i: Any) -> bytes:
        if not isinstance(i, int) or not 0 <= i < len(self.buffers):
            raise WireError("bad buffer reference")
        return self.buffers[i]

    def _remember(self, node: dict, obj: Any) -> Any:
        k = node.get("k")
        if k is not None:
            if not isinstance(k, int):
                raise WireError("bad object number")
            self.tracked[k] = obj
        return obj

    def decode(self, node: Any, depth: int = 0) -> Any:
        """One value: plain JSON scalars as they are, tagged objects by their ``"@"`` tag."""
        self._items += 1
        if self._items > MAX_ITEMS:
            raise WireError("value has too many elements")
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not dict:
            raise WireError("malformed value")
        step = self._BY_TAG.get(node.get("@")) if isinstance(node.get("@"), str) else None
        if step is None:
            raise WireError(f"unknown value tag {str(node.get('@'))[:40]!r}")
        return step(self, node, depth)

    # -- one step per tag ----------------------------------------------------------
    def _array(self, node: dict, depth: int) -> np.ndarray:
        return self._remember(node, npy_array(self._buf(node.get("b"))))   # (no object dtype: safe_dtype)

    def _object_array(self, node: dict, depth: int) -> np.ndarray:
        shape = node.get("shape")
        if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise WireError("bad shape")
        items = self._list(node.get("v"), depth)
        arr = np.empty(len(items), dtype=object)
        arr[:] = items if items else []
        try:
            arr = arr.reshape(shape)
        except ValueError:
            raise WireError("bad shape") from None
        return self._remember(node, arr)

    def _scalar(self, node: dict, depth: int) -> np.generic:
        dt = safe_dtype(node.get("dt"))
        raw = self._buf(node.get("b"))
        if dt.itemsize == 0 and len(raw) <= 4:      # an empty np.str_ / np.bytes_ (sent as 4 or 1 zero bytes)
            return np.zeros((), dt)[()]
        if len(raw) != dt.itemsize:
            raise WireError("bad scalar")
        return np.frombuffer(raw, dtype=dt)[0]

    def _complex(self, node: dict, depth: int) -> complex:
        v = node.get("v")
        if not (isinstance(v, list) and len(v) == 2 and all(type(x) in (int, float) for x in v)):
            raise WireError("bad complex")
        return complex(v[0], v[1])

    def _bytes(self, node: dict, depth: int) -> bytes | bytearray:
        raw = self._buf(node.get("b"))
        return bytearray(raw) if node.get("mut") else raw

    def _tuple(self, node: dict, depth: int) -> tuple:
        return tuple(self._list(node.get("v"), depth))

    def _plain_list(self, node: dict, depth: int) -> list:
        out: list = []
        self._remember(node, out)
        out.extend(self._list(node.get("v"), depth))
        return out

    def _dict(self, node: dict, depth: int) -> dict:
        keys = self._list(node.get("keys"), depth)
        vals = self._list(node.get("v"), depth)
        if len(keys) != len(vals):
            raise WireError("bad dict")
        out: dict = {}
        self._remember(node, out)
        try:
            for key, val in zip(keys, vals):
                out[key] = val
        except TypeError:
            raise WireError("unhashable dict key") from None
        return out

    def _set(self, node: dict, depth: int) -> set | frozenset:
        try:
            items = self._list(node.get("v"), depth)
            return frozenset(items) if node.get("frozen") else set(items)
        except TypeError:
            raise WireError("unhashable set element") from None

    def _slice(self, node: dict, depth: int) -> slice:
        parts = self._list(node.get("v"), depth)
        if len(parts) != 3:
            raise WireError("bad slice")
        return slice(*parts)

    def _ellipsis(self, node: dict, depth: int) -> Any:
        return Ellipsis

    def _range(self, node: dict, depth: int) -> range:
        v = node.get("v")
        if not (isinstance(v, list) and len(v) == 3 and all(type(x) is int for x in v)) or v[2] == 0:
            raise WireError("bad range")
        return range(*v)

    def _generator(self, node: dict, depth: int) -> Any:
        state = self.decode(node.get("state"), depth + 1)
        return self._remember(node, make_rng(node.get("kind"), state))

    def _dtype(self, node: dict, depth: int) -> np.dtype:
        return safe_dtype(node.get("v"))

    def _type(self, node: dict, depth: int) -> type:
        v = node.get("v")
        if not isinstance(v, str) or v not in _TYPES:
            raise WireError(f"type {str(v)[:40]!r} cannot be sent")
        return _TYPES[v]

    def _linked_generator(self, node: dict, depth: int) -> Any:
        if self.resolve_rng is None or not isinstance(node.get("id"), int):
            raise WireError("unexpected generator reference")
        return self.resolve_rng(node["id"])

    def _back_reference(self, node: dict, depth: int) -> Any:
        k = node.get("id")
        if not isinstance(k, int) or k not in self.tracked:
            raise WireError("bad back-reference")
        return self.tracked[k]

    def _reference(self, node: dict, depth: int) -> Any:
        if self.resolve_ref is None or not isinstance(node.get("id"), int):
            raise WireError("unexpected reference")
        return self.resolve_ref(node["id"])

    def _handle(self, node: dict, depth: int) -> Any:
        if self.resolve_handle is None:
            raise WireError("unexpected handle")
        return self.resolve_handle(node)

    _BY_TAG: dict[str, Callable[["Decoder", dict, int], Any]] = {
        "a": _array, "ao": _object_array, "s": _scalar, "c": _complex, "y": _bytes, "t": _tuple,
        "l": _plain_list, "d": _dict, "set": _set, "sl": _slice, "el": _ellipsis, "rg": _range,
        "rng": _generator, "dt": _dtype, "ty": _type, "lr": _linked_generator, "m": _back_reference,
        "r": _reference, "h": _handle, "cb": _handle,
    }

    def decode_list(self, v: Any) -> list:
        """A list of values (WireError if ``v`` is not a list)."""
        return self._list(v, 0)

    def _list(self, v: Any, depth: int) -> list:
        if not isinstance(v, list):
            raise WireError("malformed value")
        return [self.decode(x, depth + 1) for x in v]


# ---------------------------------------------------------------------------
# errors, shared by both sides
# ---------------------------------------------------------------------------
def describe_error(err: BaseException, *, with_traceback: bool = True, limit: int = 20000) -> dict:
    """An exception as plain data: ``{"ename", "evalue", "module"[, "tb"]}``, each cut to ``limit``
    characters. The judge sends none of its tracebacks to the kernel (``with_traceback=False``)."""
    try:
        evalue = str(err)
    except Exception:  # noqa: BLE001 - a student's __str__ may raise
        evalue = "<unprintable>"
    out = {"ename": type(err).__name__, "evalue": evalue[:limit], "module": getattr(type(err), "__module__", "")}
    if with_traceback:
        import traceback

        tb = "".join(traceback.format_exception(type(err), err, err.__traceback__, limit=-8))
        out["tb"] = tb[-limit:]
    return out


def builtin_type(name: Any, base: type) -> type | None:
    """The built-in (or NumPy) subclass of ``base`` named ``name``, looked up, never imported."""
    import builtins

    name = str(name)[:100]
    found = getattr(builtins, name, None)
    if not (isinstance(found, type) and issubclass(found, base)):
        found = _numpy_types().get(name)
    return found if isinstance(found, type) and issubclass(found, base) else None


def _numpy_types() -> dict:
    """NumPy's own exception and warning classes, by name."""
    found = {"LinAlgError": np.linalg.LinAlgError}
    ex = getattr(np, "exceptions", None)
    for name in ("AxisError", "ComplexWarning", "VisibleDeprecationWarning", "RankWarning"):
        if ex is not None and hasattr(ex, name):
            found[name] = getattr(ex, name)
    return found


# ---------------------------------------------------------------------------
# global numeric state, shared by both sides
# ---------------------------------------------------------------------------
def global_state() -> dict:
    """NumPy's legacy global generator, Python's ``random`` and NumPy's error handling, as JSON."""
    import random

    name, key, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    return {"np": [name, key.tolist(), int(pos), int(has_gauss), float(gauss)],
            "py": [version, list(internal), py_gauss], "err": np.geterr()}


def set_global_state(state: dict) -> None:
    """Restore :func:`global_state` (the error handling excepted); WireError if malformed."""
    import random

    try:
        name, key, pos, has_gauss, gauss = state["np"]
        if not (isinstance(key, list) and len(key) == 624 and name == "MT19937"):
            raise WireError("bad random state")
        np.random.set_state(("MT19937", np.asarray(key, dtype=np.uint32), int(pos), int(has_gauss), float(gauss)))
        version, internal, py_gauss = state["py"]
        if not (isinstance(internal, list) and len(internal) == 625):
            raise WireError("bad random state")
        random.setstate((int(version), tuple(int(x) for x in internal),
                         None if py_gauss is None else float(py_gauss)))
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, WireError):
            raise
        raise WireError(f"bad random state: {err}") from None


def state_token() -> tuple:
    """A cheap fingerprint of the global generators (to send their state only when it moved)."""
    import random

    _, key, pos, has_gauss, gauss = np.random.get_state()
    return (hash(key.tobytes()), int(pos), int(has_gauss), float(gauss), hash(random.getstate()))


#: bit generators whose ``state`` property builds a new dict (and new arrays) on every read
_FRESH_STATE = (np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox, np.random.SFC64)


def rng_snapshot(rng: Any) -> Any:
    """A copy of a generator's state (``Generator`` or ``RandomState``)."""
    import copy

    if isinstance(rng, np.random.Generator):
        state = rng.bit_generator.state
        return state if type(rng.bit_generator) in _FRESH_STATE else copy.deepcopy(state)
    return copy.deepcopy(rng.get_state(legacy=False))


def states_equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(states_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return a == b
