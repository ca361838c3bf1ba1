"""The middle tier, operation by operation: every request the judge sends, served by the real runner
over a pipe (no sandbox); each of the runner's limits; a forged reply field for every one the
judge reads that tests/test_protocol.py does not forge already."""
from __future__ import annotations

import copy
import os
import re
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import coursekit.instructor.execute as execute_pkg
from coursekit.instructor.execute import runner as runner_mod
from coursekit.instructor.execute.limits import Limits
from coursekit.instructor.execute.proxy import KernelLost, Prefetched, RemoteError, SyncedArray
from coursekit.instructor.execute.proxy import TestTimeout as CellTimedOut  # (not a test class)
from coursekit.instructor.execute.wire import npy_bytes

from .protocol_support import FAST, PipeKernel, ScriptedKernel, connect, names, run

EXECUTE = Path(execute_pkg.__file__).parent
#: every operation the judge's side sends (execute() sends exec, start() sends setup)
SERVED = {"exec", "setup", "resolve", "call", "callattr", "getattr", "setattr", "getitem", "setitem",
          "delitem", "len", "iter", "next", "contains", "repr", "str", "deepcopy", "isinstance", "bind",
          "unbind", "count", "differences"}


@pytest.fixture
def conn():
    c = connect(PipeKernel)
    yield c
    c.close()


def _sent_ops() -> set[str]:
    """The operations named in the judge's code: ``request("op"``, ``_ck("op"``, ``_request_raw("op"``."""
    ops = set()
    for name in ("proxy.py", "judge.py"):
        text = (EXECUTE / name).read_text()
        ops |= set(re.findall(r'(?:request|_ck|_request_raw)\(\s*"(\w+)"', text))
    return ops


def test_the_judge_sends_exactly_the_operations_tested_here():
    assert _sent_ops() == SERVED


@pytest.mark.parametrize("op", ["source", "issubclass", "assign", "exit", "import"])
def test_operations_nobody_sends_are_refused_by_the_runner(conn, op):
    run(conn, "x = 1")
    with pytest.raises(RemoteError, match=f"unknown operation '{op}'"):
        conn.request(op, extra="x")
    run(conn, "assert x == 1")                          # and the kernel serves on


# ---------------------------------------------------------------------------
# each operation, sent directly, against the real runner
# ---------------------------------------------------------------------------
BOX = ("import numpy as np\n"
       "class Box:\n    kind = 'box'\n    def __init__(self):\n        self.items = [1, 2, 3]\n        self.w = np.zeros(3)\n"
       "    def __len__(self):\n        return len(self.items)\n"
       "    def __getitem__(self, i):\n        return self.items[i]\n"
       "    def __setitem__(self, i, v):\n        self.items[i] = v\n"
       "    def __delitem__(self, i):\n        del self.items[i]\n"
       "    def __contains__(self, v):\n        return v in self.items\n"
       "    def __iter__(self):\n        return iter(self.items)\n"
       "    def total(self, extra=0):\n        return sum(self.items) + extra\n"
       "    def __repr__(self):\n        return 'Box' + 'x' * 5000\n"
       "box = Box()\narr = np.arange(4.0)\n"
       "def gen(n):\n    yield from range(n)\n")


def _desc(proxy):
    """The handle a proxy stands for (what a request's ``target`` is)."""
    if isinstance(proxy, types.FunctionType):
        return proxy.__ck_desc__
    if isinstance(proxy, type):
        return type.__getattribute__(proxy, "_ck_desc")
    return object.__getattribute__(proxy, "_ck_desc")


def test_each_operation_sent_directly(conn):
    run(conn, BOX)
    got = names(conn, "box", "Box", "gen", "arr")
    box = _desc(got["box"])
    assert conn.request("len", target=box) == 3
    assert conn.request("getitem", target=box, extra=1) == 2
    conn.request("setitem", target=box, extra=0, args=(9,))
    conn.request("delitem", target=box, extra=2)
    assert conn.request("contains", target=box, extra=9) is True
    assert conn.request("contains", target=box, extra=3) is False
    assert conn.request("getattr", target=box, extra="items") == [9, 2]
    assert conn.last_method is False
    conn.request("getattr", target=box, extra="total")
    assert conn.last_method is True                              # a plain method of the class
    conn.request("setattr", target=box, extra="tag", args=("set",))
    assert conn.request("getattr", target=box, extra="tag") == "set"
    assert conn.request("callattr", target=box, extra="total", kwargs={"extra": 1}) == 12
    assert conn.request("call", target=_desc(got["Box"])).total() == 6
    assert conn.request("isinstance", target=box, extra=got["Box"]) is True
    assert conn.request("isinstance", target=box, extra=int) is False
    it = conn.request("iter", target=box)
    assert [conn.request("next", target=_desc(it)) for _ in range(2)] == [9, 2]
    with pytest.raises(StopIteration):
        conn.request("next", target=_desc(it))
    assert conn.request("repr", target=box) == "Box" + "x" * 1997          # cut at 2000 characters
    assert conn.request("str", target=box) == "Box" + "x" * 1997
    twin = conn.request("deepcopy", target=box)
    conn.request("setitem", target=box, extra=0, args=(1,))
    assert list(twin) == [9, 2] and list(got["box"]) == [1, 2]           # a copy, in the kernel
    assert conn.request("getattr", target=_desc(got["Box"]), extra="kind") == "box"
    drained = conn.request("call", target=_desc(got["gen"]), args=(5,))
    assert isinstance(drained, Prefetched) and list(drained) == [0, 1, 2, 3, 4]


def test_bind_and_unbind_sent_directly(conn):
    run(conn, "def use():\n    return dep()")
    use = names(conn, "use")["use"]
    conn.request("bind", extra={"dep": lambda: "judge"}, payload={"token": 41})
    assert use() == "judge"
    with pytest.raises(RemoteError, match="bad bind request"):              # a token in use
        conn.request("bind", extra={"dep": 1}, payload={"token": 41})
    with pytest.raises(RemoteError, match="bad bind request"):              # not a name
        conn.request("bind", extra={"a b": 1}, payload={"token": 42})
    with pytest.raises(RemoteError, match="bad bind request"):              # not a token
        conn.request("bind", extra={"dep": 1}, payload={"token": "x"})
    conn.request("unbind", payload={"token": 41})
    with pytest.raises(NameError):
        use()
    with pytest.raises(RemoteError, match="unknown bind token"):
        conn.request("unbind", payload={"token": 41})


def test_count_sent_directly(conn):
    run(conn, "def loop(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t")
    loop = _desc(names(conn, "loop")["loop"])
    a = conn.request("count", target=loop, args=(3,))
    b = conn.request("count", target=loop, args=(13,))
    assert a["counted"] == 3 and b["counted"] == 78 and b["lines"] - a["lines"] == 20


def test_writes_to_arrays_read_from_attributes_items_and_globals_reach_the_kernel(conn):
    run(conn, BOX + "d = {'W': np.zeros(2)}")
    got = names(conn, "box", "arr", "d")
    w = got["box"].w
    assert isinstance(w, SyncedArray)
    w[1] = 5.0                                  # an attribute's array
    got["d"]["W"][0] = 2.0                      # an item's array
    got["arr"][3] = -1.0                        # a global array
    names(conn, "box")                          # writes travel with the next request
    run(conn, "assert box.w[1] == 5 and d['W'][0] == 2 and arr[3] == -1")


def test_reseeding_the_judges_global_generator_reaches_the_kernel_every_time(conn):
    run(conn, "import numpy as np\ndef draw():\n    return np.random.normal()")
    draw = names(conn, "draw")["draw"]
    got = []
    for _ in range(4):
        np.random.seed(7)
        got.append(draw())
    assert got == [got[0]] * 4 and got[0] == np.random.RandomState(7).normal()


KEEPER = """
import numpy as np
kept = []
def keep(rng):
    kept.append(rng)
    return rng.normal()
def draw_kept():
    return [r.normal() for r in kept]
"""


def _spy(conn):
    """Record every request body the judge sends and every reply header it gets."""
    sent, replies, send = [], [], conn._request_raw

    def spy(op, body, *a, **k):
        sent.append(dict(body, op=op))
        reply = send(op, body, *a, **k)
        replies.append(reply[0])
        return reply
    conn._request_raw = spy
    return sent, replies


def test_generators_the_judge_let_go_are_unlinked_on_both_sides(conn):
    run(conn, KEEPER)
    keep, draw_kept = names(conn, "keep", "draw_kept").values()
    sent, replies = _spy(conn)
    for i in range(300):                         # each passed once, then unreachable from judge code
        keep(np.random.default_rng(100 + i))
    held, twin = np.random.default_rng(1), np.random.default_rng(1)
    assert keep(held) == twin.normal()
    draws = draw_kept()                          # the kernel draws from all 301 of its copies
    assert len(draws) == 301
    assert len(conn.shared.rng_links) == 1       # only `held` is still compared at every call
    dropped = [rid for body in sent for rid in body.get("rng_drop", ())]
    assert len(dropped) == len(set(dropped)) == 300
    (held_id,) = [link[1] for link in conn.shared.rng_links.values()]
    assert held_id not in dropped
    assert list(replies[-1].get("rng_state", {})) == [str(held_id)]   # the kernel reports only held's move
    assert held.normal() == (twin.normal(), twin.normal())[1]          # still in step with the kernel
    assert keep(held) == twin.normal()                                 # and the kernel with the judge


def test_a_generator_the_judge_keeps_anywhere_stays_linked(conn):
    run(conn, KEEPER)
    keep, draw_kept = names(conn, "keep", "draw_kept").values()
    box = {"rng": np.random.default_rng(3)}
    keep(box["rng"])
    chain = [np.random.default_rng(4)]
    keep(chain[0])
    draw_kept()
    assert len(conn.shared.rng_links) == 2
    twin3, twin4 = np.random.default_rng(3), np.random.default_rng(4)
    twin3.normal(), twin3.normal(), twin4.normal(), twin4.normal()
    assert box["rng"].normal() == twin3.normal() and chain[0].normal() == twin4.normal()


GRADIENTS = """
import numpy as np
class Model:
    def __init__(self):
        self.params = {'W': np.linspace(-1, 1, 12).reshape(3, 4), 'b': np.linspace(0, 1, 4)}
    def loss(self, X, y=None):
        out = X @ self.params['W'] + self.params['b']
        dout = 2 * np.tanh(out) * (1 - np.tanh(out) ** 2)
        return float((np.tanh(out) ** 2).sum()), {'W': X.T @ dout, 'b': dout.sum(0)}
model = Model()
def affine_forward(x, w):
    return x @ w, (x, w)
def affine_backward(dout, cache):
    return dout @ cache[1].T, cache[0].T @ dout
def cube_loss(x):
    return float((x ** 3).sum()), 3 * x ** 2
def tanh(x):
    return np.tanh(x)
class Fragile:
    def __init__(self):
        self.params = {'W': np.zeros((2, 2))}
    def loss(self, X, y=None):
        if self.params['W'][1, 1] != 0:
            raise ValueError("W[1, 1] moved")
        return float(self.params['W'].sum()), {'W': np.ones((2, 2))}
fragile = Fragile()
"""


def _gradients(ns):
    """Every numerical gradient gradcheck offers, on the student's functions."""
    from coursekit import gradcheck as gc

    X, x = np.linspace(-1, 2, 6).reshape(2, 3), np.linspace(-2, 1, 5)
    return {
        "model": [r.error for r in gc.check_model(ns["model"], X, None)],
        "layer": [r.error for r in gc.check_layer(ns["affine_forward"], ns["affine_backward"],
                                                  {"x": X, "w": np.linspace(0, 1, 12).reshape(3, 4)})],
        "loss": [r.error for r in gc.check_loss(ns["cube_loss"], x)],
        "array": gc.eval_numerical_gradient_array(ns["tanh"], x.copy(), np.ones(5)).tolist(),
        "sparse": gc.grad_check_sparse(lambda v: ns["cube_loss"](v)[0], x.copy(), 3 * x ** 2).tolist(),
    }


def test_numerical_gradients_run_in_the_kernel_one_request_each_with_the_same_numbers(conn):
    from coursekit import gradcheck as gc

    run(conn, GRADIENTS)
    ns = names(conn, "model", "affine_forward", "affine_backward", "cube_loss", "tanh")
    sent, _ = _spy(conn)
    local = _gradients(ns)                               # the loop here, every call a round trip
    calls_here = len(sent)
    del sent[:]
    gc.set_kernel_differences(conn.centred_differences)
    try:
        remote = _gradients(ns)
    finally:
        gc.set_kernel_differences(None)
    assert remote == local                              # the same numbers, to the last bit
    ops = [body["op"] for body in sent]
    # model: one per parameter; layer: one per input; loss and array: one each. grad_check_sparse's
    # f is the judge's own lambda: its calls stay round trips (5 entries, 2 calls each)
    assert ops.count("differences") == 2 + 2 + 1 + 1
    # the other calls: the analytic ones (model.loss, forward, backward, cube_loss) and grad_check_sparse's
    assert ops.count("call") + ops.count("callattr") == 4 + 10, ops
    assert calls_here >= 2 * (12 + 4 + 6 + 12 + 5 + 5)   # before: two calls per entry, every entry


def test_a_student_error_inside_the_kernels_loop_is_raised_and_the_array_restored(conn):
    from coursekit import gradcheck as gc

    run(conn, GRADIENTS)
    fragile = names(conn, "fragile")["fragile"]
    gc.set_kernel_differences(conn.centred_differences)
    try:
        with pytest.raises(ValueError, match=r"W\[1, 1\] moved"):
            gc.check_model(fragile, np.ones((1, 2)), None)
    finally:
        gc.set_kernel_differences(None)
    run(conn, "assert (fragile.params['W'] == 0).all()")


@pytest.mark.parametrize("value, buffers", [
    (1.5, []),
    ({"@": "a", "b": 0}, [np.zeros(2)]),                           # an array of the wrong shape
    ({"@": "a", "b": 0}, [np.zeros(3, dtype=np.int64)]),           # the right shape, integers
    ({"@": "a", "b": 0}, [np.zeros((3, 1))]),                      # the right size, another shape
    ({"@": "l", "k": 0, "v": [0.0, 0.0, 0.0]}, []),                # a list, not an array
])
def test_forged_numerical_gradients_are_refused(value, buffers):
    from coursekit import gradcheck as gc

    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"f": {"@": "h", "id": 7, "g": k.generation, "kind": "function", "name": "f"}}}
        assert h["op"] == "differences"
        k.send({"re": h["id"], "value": value}, [npy_bytes(b) for b in buffers])
    c, _ = _scripted(script)
    f = names(c, "f")["f"]
    gc.set_kernel_differences(c.centred_differences)
    try:
        with pytest.raises(RemoteError, match="malformed numerical gradients"):
            gc.eval_numerical_gradient(f, np.zeros(3))
    finally:
        gc.set_kernel_differences(None)
    c.close()


def test_a_student_function_returning_a_drain_shaped_dict_gets_its_dict(conn):
    run(conn, "def f():\n    return {'items': [1], 'done': True, 'error': None, 'rest': None}")
    assert names(conn, "f")["f"]() == {"items": [1], "done": True, "error": None, "rest": None}


def test_a_handle_of_an_earlier_kernel_is_lost(conn):
    run(conn, "def f():\n    return 1")
    f = names(conn, "f")["f"]
    conn.start()                                # a restart: a new generation
    run(conn, "def f():\n    return 2")
    with pytest.raises(KernelLost):
        f()


# ---------------------------------------------------------------------------
# the runner's limits
# ---------------------------------------------------------------------------
def _kernel() -> runner_mod.Kernel:
    """A runner Kernel in this process (no shell needed for drain/handle/perform)."""
    r, w = os.pipe()
    k = runner_mod.Kernel(r, w)
    return k


def test_drain_stops_at_its_item_and_size_limits():
    k = _kernel()
    d = k.drain(iter(range(10_000)), 4096)
    assert len(d.items) == 4096 and d.rest is not None and d.error is None
    d = k.perform("next", (i for i in range(10_000)), (), {}, 10**6, {})[0]
    assert len(d.items) == 4096                                    # a request for more is capped
    d = k.drain((np.zeros(1 << 17) for _ in range(100)), 4096)    # 1 MiB each: stops at 8 MiB
    assert len(d.items) == 8 and d.rest is not None
    d = k.drain(iter(range(3)), 4096)
    assert d.items == [0, 1, 2] and d.rest is None


def test_drain_stops_after_about_a_second():
    def slow():
        while True:
            time.sleep(0.3)
            yield 1
    d = _kernel().drain(slow(), 4096)
    assert 1 <= len(d.items) <= 5 and d.rest is not None          # not the 4096 asked for


def test_handle_names_are_cut():
    cls = type("C" * 500, (), {})
    desc = _kernel().handle(cls)
    assert desc["kind"] == "class" and len(desc["name"]) == 200


def test_errors_warnings_and_output_of_a_call_are_bounded(conn, capsys):
    run(conn, "import warnings\n"
              "def noisy():\n    print('o' * 100_000)\n"
              "    for i in range(80):\n        warnings.warn(f'w{i}' + 'm' * 10_000)\n    return 1\n"
              "def bad():\n    raise ValueError('v' * 50_000)")
    got = names(conn, "noisy", "bad")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert got["noisy"]() == 1
    assert len(caught) == 50 and all(len(str(w.message)) == 4000 for w in caught)
    assert 0 < len(capsys.readouterr().out) <= FAST.output + 200
    with pytest.raises(ValueError) as info:
        got["bad"]()
    assert len(str(info.value)) == 20000 and len(info.value.remote_traceback) <= 20000


def test_values_too_deep_for_the_wire_are_an_error_not_a_hang(conn):
    run(conn, "def deep():\n    v = []\n    for _ in range(200):\n        v = [v]\n    return v")
    with pytest.raises(RemoteError, match="nested too deeply"):
        names(conn, "deep")["deep"]()
    run(conn, "x = 1")                                             # the kernel serves on


def test_a_cell_past_its_deadline_is_interrupted(conn):
    with pytest.raises(CellTimedOut):
        conn.execute("import time\nwhile True:\n    time.sleep(0.05)", deadline=time.monotonic() + 1.0)
    assert conn.dead                           # restarted by the judge after a timeout


def test_code_that_ignores_the_interrupt_gets_the_kernel_killed():
    c = connect(PipeKernel, Limits(cell_timeout=1.0, interrupt_grace=1.0, output=4096))
    try:
        run(c, "import time\ndef stubborn():\n    while True:\n        try:\n            time.sleep(10)\n"
               "        except KeyboardInterrupt:\n            pass")
        f = names(c, "stubborn")["stubborn"]
        c.deadline = time.monotonic() + 1.0
        with pytest.raises(CellTimedOut):
            f()
        assert c.dead and any("did not stop when interrupted" in e for e in c.events)
    finally:
        c.close()


# ---------------------------------------------------------------------------
# forged reply fields not forged in test_protocol.py
# ---------------------------------------------------------------------------
def _scripted(script):
    holder = {}

    def start():
        holder["k"] = ScriptedKernel(script)
        return holder["k"]
    return connect(start, FAST), holder


def _function_then(reply):
    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"f": {"@": "h", "id": 7, "g": k.generation, "kind": "function", "name": "f"}}}
        return copy.deepcopy(reply)
    return script


@pytest.mark.parametrize("reply", [
    {"value": 1, "rng_state": {"abc": 1}},
    {"value": 1, "rng_new": {"0": "not a number"}},
])
def test_forged_generator_fields_are_a_malformed_state(reply):
    c, _ = _scripted(_function_then(reply))
    with pytest.raises(RemoteError, match="malformed state"):
        names(c, "f")["f"](np.random.default_rng(0))
    c.close()


def test_a_forged_state_for_a_dropped_generator_is_ignored():
    """The kernel reports a move of a generator the judge let go of: nothing here changes."""
    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"f": {"@": "h", "id": 7, "g": k.generation, "kind": "function", "name": "f"}}}
        if h.get("rng_drop"):                    # the second call: the link is gone; forge its state
            return {"value": 2, "rng_state": {str(h["rng_drop"][0]): {"@": "zz"}}}
        return {"value": 1, "rng_new": {"0": 5}}  # the first call: the generator passed is linked
    c, scripted = _scripted(script)
    f = names(c, "f")["f"]
    assert f(np.random.default_rng(0)) == 1 and len(c.shared.rng_links) == 1
    assert f() == 2 and c.shared.rng_links == {}
    assert scripted["k"].requests[-1]["rng_drop"] == [5]
    c.close()


def test_forged_harmless_fields_are_ignored(capsys):
    replies = iter([
        {"value": 1, "rng_state": {"77": {"@": "zz"}}},            # a generator never linked: ignored
        {"value": 1, "method": "yes"},                               # only True counts
        {"value": {"@": "a", "b": 0}, "sync": True},                 # not a read: stays a plain array
        {"value": 1, "out": ["not", "text"], "err": 5},              # not text: not printed
        {"value": 1, "warnings": "not a list"},
        {"value": 1, "warnings": [1, None, {"category": 7, "message": None, "lineno": "x"}]},
    ])

    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"f": {"@": "h", "id": 7, "g": k.generation, "kind": "function", "name": "f"}}}
        reply = next(replies)
        if reply.get("sync"):
            k.send(dict(reply, re=h["id"]), [npy_bytes(np.zeros(2))])
            return None
        return reply
    c, _ = _scripted(script)
    f = names(c, "f")["f"]
    assert f() == 1
    assert f() == 1 and c.last_method is False
    value = f()
    assert type(value) is np.ndarray and np.array_equal(value, np.zeros(2))
    assert f() == 1 and capsys.readouterr().out == ""
    assert f() == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert f() == 1
    assert len(caught) == 1 and caught[0].filename == "<student code>"
    c.close()


def test_forged_arrays_in_a_resolve_reply_are_not_synced():
    def script(h, b, k):
        return {"value": {"x": 1, "y": "text"}, "arrays": ["x", "y", 3, "not asked"]}
    c, _ = _scripted(script)
    got = names(c, "x", "y")
    assert got == {"x": 1, "y": "text"}
    c.close()
