"""The judge/kernel protocol in process: every operation against the real runner over a pipe,
and every message type forged by a hostile fake kernel (no sandbox, no ``coursekit grade``).

Forged replies must be refused with a clear error -- a ``RemoteError``/``WireError`` in the test
cell, or ``KernelDied`` -- never a crash of the grader, and never an import, an exec or an open of
anything the kernel names.
"""
from __future__ import annotations

import json
import sys
import threading
import time
import warnings

import numpy as np
import pytest

from coursekit.instructor.execute import proxy as proxy_mod
from coursekit.instructor.execute import wire as wire_mod
from coursekit.instructor.execute.limits import Limits
from coursekit.instructor.execute.proxy import KernelDied, Remote, RemoteError, is_proxy
from coursekit.instructor.execute.proxy import TestTimeout as CellTimedOut  # (not a test class)
from coursekit.instructor.execute.wire import Budget, FrameReader, WireError

from .protocol_support import FAST, PipeKernel, ScriptedKernel, connect, names, raw_frame, run


@pytest.fixture
def conn():
    c = connect(PipeKernel)
    yield c
    c.close()


def scripted(script, limits: Limits = FAST, **kw):
    holder = {}

    def start():
        holder["k"] = ScriptedKernel(script, **kw)
        return holder["k"]
    c = connect(start, limits)
    return c, holder["k"]


def handle(kernel, **desc):
    return dict({"@": "h", "id": 7, "g": kernel.generation}, **desc)


# ---------------------------------------------------------------------------
# every operation against the real runner
# ---------------------------------------------------------------------------
def test_exec_outputs_errors_and_cut(conn):
    reply = run(conn, "print('hi')\n1 + 1")
    kinds = [(o["output_type"], o.get("text") or o.get("data", {}).get("text/plain")) for o in reply["outputs"]]
    assert kinds == [("stream", "hi\n"), ("execute_result", "2")]
    bad = conn.execute("1/0", deadline=time.monotonic() + 10)
    assert not bad["ok"] and bad["outputs"][-1]["ename"] == "ZeroDivisionError"
    flood = conn.execute("print('x' * 100_000)", deadline=time.monotonic() + 10)
    assert flood["cut"] and len(flood["outputs"][0]["text"]) == FAST.output


def test_resolve_values_and_handles(conn):
    run(conn, "import numpy as np\nx = 3\narr = np.arange(3.0)\ndef f(a):\n    return a * 2\n"
              "class C:\n    def __init__(self, v):\n        self.v = v\n    def get(self):\n        return self.v\n"
              "obj = C(5)\nd = {'a': 1}")
    got = names(conn, "x", "arr", "f", "C", "obj", "d", "missing")
    assert got["x"] == 3 and np.array_equal(got["arr"], np.arange(3.0)) and "missing" not in got
    assert got["f"](21) == 42 and got["f"].__name__ == "f"
    assert isinstance(got["obj"], got["C"]) and got["obj"].v == 5 and got["obj"].get() == 5
    assert got["obj"].get() == 5                                   # cached method: one round trip (callattr)
    assert isinstance(got["d"], dict) and got["d"]["a"] == 1 and is_proxy(got["d"])


def test_remote_exceptions_keep_their_builtin_type(conn):
    run(conn, "def bad(x):\n    raise ValueError(f'no {x}')")
    with pytest.raises(ValueError, match="no 3") as info:
        names(conn, "bad")["bad"](3)
    assert isinstance(info.value, RemoteError) and "bad" in info.value.remote_traceback


def test_attribute_item_and_container_ops(conn):
    run(conn, "class Box:\n    def __init__(self):\n        self.items = [1, 2, 3]\n"
              "    def __len__(self):\n        return len(self.items)\n"
              "    def __getitem__(self, i):\n        return self.items[i]\n"
              "    def __setitem__(self, i, v):\n        self.items[i] = v\n"
              "    def __delitem__(self, i):\n        del self.items[i]\n"
              "    def __contains__(self, v):\n        return v in self.items\n"
              "    def __iter__(self):\n        return iter(self.items)\n"
              "    def __repr__(self):\n        return 'Box!'\n"
              "box = Box()\nparams = {'W': __import__('numpy').zeros(2)}")
    got = names(conn, "box", "params")
    box, params = got["box"], got["params"]
    assert len(box) == 3 and box[1] == 2 and 3 in box and list(box) == [1, 2, 3]
    box[0] = 9
    del box[2]
    assert list(box) == [9, 2] and repr(box) == "Box!" and str(box) == "Box!"
    box.extra = 4                                                      # setattr
    assert box.extra == 4
    copied = __import__("copy").deepcopy(box)                          # deepcopy: a new kernel object
    assert is_proxy(copied) and list(copied) == [9, 2]
    params["W"][1] += 5                                                # a synced array: written back
    params["b"] = np.ones(1)                                           # setitem on a mapping
    run(conn, "assert params['W'][1] == 5 and params['b'][0] == 1")


def test_generators_are_drained_ahead_and_errors_arrive_in_order(conn):
    run(conn, "def gen(n):\n    for i in range(n):\n        yield i\n    raise KeyError('end')")
    it = names(conn, "gen")["gen"](5)
    got = []
    with pytest.raises(KeyError):
        for v in it:
            got.append(v)
    assert got == [0, 1, 2, 3, 4]


def test_in_place_changes_travel_back(conn):
    run(conn, "def upd(a, cfg):\n    a += 1\n    cfg['n'] = cfg.get('n', 0) + 1")
    a, cfg = np.zeros(3), {}
    names(conn, "upd")["upd"](a, cfg)
    assert np.array_equal(a, np.ones(3)) and cfg == {"n": 1}


def test_linked_generators_and_global_state(conn):
    run(conn, "import numpy as np\ndef draw(rng):\n    return rng.normal()")
    draw = names(conn, "draw")["draw"]
    rng, twin = np.random.default_rng(5), np.random.default_rng(5)
    assert draw(rng) == twin.normal() and rng.normal() == twin.normal()   # the judge's generator moved too


def test_warnings_are_reissued_in_the_judge(conn):
    run(conn, "import warnings\ndef warn():\n    warnings.warn('careful', RuntimeWarning)\n    return 1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert names(conn, "warn")["warn"]() == 1
    assert [(w.category, str(w.message)) for w in caught] == [(RuntimeWarning, "careful")]
    assert caught[0].filename.startswith("<student code")


def test_callbacks_reach_judge_objects_and_no_modules(conn):
    run(conn, "def apply(f, x):\n    return f(x)\ndef peek(obj):\n    return obj.modules")

    class Judge:
        modules = sys
    got = names(conn, "apply", "peek")
    assert got["apply"](lambda v: v + 1, 1) == 2
    with pytest.raises(AttributeError, match="not available"):   # a module is never handed over
        got["peek"](Judge())


def test_timeout_interrupts_and_poisons(conn):
    conn.limits = Limits(cell_timeout=1.0, interrupt_grace=2.0, output=4096)
    run(conn, "import time\ndef slow():\n    time.sleep(60)")
    slow = names(conn, "slow")["slow"]
    conn.deadline = time.monotonic() + 1.0
    with pytest.raises(CellTimedOut):
        slow()
    with pytest.raises(CellTimedOut, match="not run again"):
        slow()                                               # remembered: not run again


def test_kernel_death_is_reported(conn):
    run(conn, "import os\ndef die():\n    os._exit(3)")
    with pytest.raises(KernelDied, match="exited with code 3"):
        names(conn, "die")["die"]()
    assert conn.dead and any("died" in e for e in conn.events)


def test_transfer_limit_per_value():
    c = connect(PipeKernel, Limits(cell_timeout=10, transfer=1 << 20, output=4096))
    try:
        run(c, "import numpy as np\ndef big():\n    return np.zeros(1_000_000)")
        with pytest.raises(KernelDied):
            names(c, "big")["big"]()
    finally:
        c.close()


def test_bind_rebinds_kernel_globals_and_restores(conn):
    run(conn, "def dep(x):\n    return 'student'\ndef unit(x):\n    return dep(x) + '+' + helper()\n"
              "def grab():\n    global kept\n    kept = helper")
    unit = names(conn, "unit")["unit"]
    with conn.bound_in_kernel({"dep": lambda x: "reference", "helper": lambda: "ref-helper"}):
        assert unit(1) == "reference+ref-helper"
        names(conn, "grab")["grab"]()                       # student code keeps a reference object
    with pytest.raises(NameError):                          # helper was absent before: absent again
        unit(1)
    run(conn, "assert dep(0) == 'student'")                 # the student's own binding is back
    bad = conn.execute("kept()", deadline=time.monotonic() + 10)
    assert not bad["ok"] and "unknown object" in bad["outputs"][-1]["evalue"]   # revoked


def test_count_lines_counts_student_code_only(conn):
    run(conn, "import numpy as np\ndef loop(x):\n    t = 0\n    for v in x:\n        t += v\n    return t\n"
              "def vec(x):\n    return np.sum(x)\n"
              "class M:\n    def total(self, x):\n        return loop(x)\nm = M()")
    got = names(conn, "loop", "vec", "m")
    v4, small = conn.count_lines(got["loop"], (np.arange(4),), {})
    v64, large = conn.count_lines(got["loop"], (np.arange(64),), {})
    assert (v4, v64) == (6, 2016) and large - small == 2 * 60
    _, a = conn.count_lines(got["vec"], (np.arange(4),), {})
    _, b = conn.count_lines(got["vec"], (np.arange(64),), {})
    assert a == b == 1                                        # NumPy's own lines are not counted
    m = got["m"]
    m.total(np.arange(2))                                     # the method proxy is cached after this
    _, via_method = conn.count_lines(m.total, (np.arange(4),), {})
    assert via_method == small + 1
    with pytest.raises(TypeError):
        conn.count_lines(lambda x: x, (1,), {})


# ---------------------------------------------------------------------------
# forged messages from a hostile kernel
# ---------------------------------------------------------------------------
def test_forged_greeting_and_setup_are_refused():
    with pytest.raises(KernelDied, match="could not start"):
        scripted(lambda h, b, k: {}, hello={"op": "not-hello"})

    class BadSetup(ScriptedKernel):
        def _serve(self):
            reader = FrameReader(self._in)
            header, _ = reader.read()
            self.send({"re": header["id"], "error": {"ename": "X", "evalue": "no"}})
    with pytest.raises(KernelDied, match="could not start"):
        connect(lambda: BadSetup(None))


def test_module_handle_is_never_imported(tmp_path, monkeypatch):
    """Finding 1: the kernel names a module; old judges imported it (running its code as root)."""
    marker = tmp_path / "ran"
    (tmp_path / "evil_beside_notebook.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(proxy_mod, "TRUSTED_MODULES", proxy_mod.TRUSTED_MODULES | {"evil_beside_notebook"})

    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"softmax": handle(k, kind="module", name="evil_beside_notebook", type="module"),
                              "np": handle(k, id=8, kind="module", name="numpy", type="module")}}
        return {"error": {"ename": "AttributeError", "evalue": "nope"}}
    c, _ = scripted(script)
    got = names(c, "softmax", "np")
    assert not marker.exists() and "evil_beside_notebook" not in sys.modules   # not imported: a handle
    assert isinstance(got["softmax"], Remote) and got["np"] is np              # trusted and loaded: the judge's
    with pytest.raises(AttributeError):
        got["softmax"].anything
    c.close()


def test_forged_names_types_and_flags_are_made_safe():
    def script(h, b, k):
        return {"value": {
            "f": handle(k, id=1, kind="function", name="import os; os.system('x')" * 20),
            "C": handle(k, id=2, kind="class", name="class"),
            "o": handle(k, id=3, kind="object", type="x" * 10_000, flags=["call", "__reduce__", 7]),
            "m": handle(k, id=4, kind="mapping", type="y" * 10_000),
        }}
    c, _ = scripted(script)
    got = names(c, "f", "C", "o", "m")
    assert got["f"].__name__.isidentifier() is False and got["f"].__code__.co_name == "proxy"
    assert got["C"].__name__ == "StudentClass"
    assert len(type(got["o"]).__name__) == 100 and callable(got["o"])
    assert len(object.__getattribute__(got["o"], "_ck_label")) <= 100
    c.close()


def test_resolve_reply_naming_other_names_is_refused():
    c, _ = scripted(lambda h, b, k: {"value": {"asked": 1, "__builtins__": 2}})
    with pytest.raises(RemoteError, match="not asked for"):
        names(c, "asked")
    c.close()


def test_handle_from_another_generation_is_refused():
    c, _ = scripted(lambda h, b, k: {"value": {"x": {"@": "h", "id": 1, "g": 99, "kind": "object"}}})
    with pytest.raises(WireError):
        names(c, "x")
    c.close()


def test_forged_exception_types():
    replies = iter([{"error": {"ename": "SystemExit", "evalue": "bye"}},
                    {"error": {"ename": "KeyboardInterrupt", "evalue": ""}},
                    {"error": {"ename": "ValueError", "evalue": "v" * 100_000, "tb": ["not", "text"]}},
                    {"error": "not even a dict"}])
    c, k = scripted(lambda h, b, kk: next(replies) if h["op"] != "resolve" else
                    {"value": {"f": handle(kk, kind="function", name="f")}})
    f = names(c, "f")["f"]
    with pytest.raises(RemoteError) as info:
        f()
    assert not isinstance(info.value, SystemExit)               # a stand-in, never the real BaseException
    with pytest.raises(CellTimedOut):
        f()
    with pytest.raises(ValueError) as info:
        f()
    assert len(str(info.value)) == 20000
    with pytest.raises(RemoteError):
        f()
    c.close()


def test_flood_of_made_up_type_names_is_bounded():
    n = iter(range(10**6))

    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"f": handle(k, kind="function", name="f")}}
        i = next(n)
        return {"value": handle(k, id=100 + i, kind="object", type=f"T{i}"),
                "warnings": [{"category": f"W{i}", "message": "m", "filename": f"f{i}.py", "lineno": 1}],
                "error": {"ename": f"E{i}", "evalue": ""}} if i % 2 else \
            {"value": handle(k, id=100 + i, kind="object", type=f"T{i}")}
    c, _ = scripted(script)
    f = names(c, "f")["f"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(700):
            try:
                f()
            except RemoteError:
                pass
    assert len(c.stand_ins.classes) <= proxy_mod.MAX_CACHED_TYPES + 1
    assert len(proxy_mod._EXC_CACHE) <= proxy_mod.MAX_CACHED_TYPES + 1
    assert len(proxy_mod._WARNING_CACHE) <= proxy_mod.MAX_CACHED_TYPES + 1
    assert len(c.stand_ins.registries) <= proxy_mod.MAX_CACHED_TYPES + 1
    c.close()


def test_forged_warning_cannot_make_the_judge_read_a_file(tmp_path):
    secret = tmp_path / "solutions.py"
    secret.write_text("SECRET = 'the reference answer'\n")

    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"f": handle(k, kind="function", name="f")}}
        return {"value": 1, "warnings": [{"category": "UserWarning", "message": "look", "filename": str(secret),
                                          "lineno": 1}, "junk", {"lineno": "x"}] + [{"message": "m"}] * 500}
    c, _ = scripted(script)
    f = names(c, "f")["f"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f()
    shown = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught)
    assert "the reference answer" not in shown and str(tmp_path) not in shown
    assert caught[0].filename == "<student code: solutions.py>" and len(caught) <= proxy_mod._MAX_WARNINGS
    c.close()


@pytest.mark.parametrize("field,value", [
    ("state", {"np": ["MT19937", [1, 2], 0, 0, 0.0], "py": [3, [], None]}),
    ("changed", {"5": {"kind": "a", "b": 0}}),
    ("changed", {"0": {"kind": "exec"}}),
    ("rng_new", {"99": 1}),
    ("rng_new", {"1" * 5000: 1}),
])
def test_forged_state_and_changes_are_refused(field, value):
    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"f": handle(k, kind="function", name="f")}}
        return {"value": None, field: value}
    c, _ = scripted(script)
    with pytest.raises(RemoteError, match="malformed state"):
        names(c, "f")["f"](np.zeros(2))
    c.close()


def test_forged_values_are_refused():
    values = iter([{"@": "ty", "v": "os.system"}, {"@": "a", "b": 3}, {"@": "r", "id": 10**6},
                   {"@": "cb", "id": 12345}, {"@": "zz"}])
    c, _ = scripted(lambda h, b, k: {"value": next(values)} if h["op"] != "resolve" else
                    {"value": {"f": handle(k, kind="function", name="f")}})
    f = names(c, "f")["f"]
    for _ in range(5):
        with pytest.raises(WireError):
            f()
    c.close()


def test_unsolicited_message_kills_the_kernel():
    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"f": handle(k, kind="function", name="f")}}
        k.send({"op": "exec", "code": "import os"})              # a kernel does not give orders
        return None
    c, _ = scripted(script)
    with pytest.raises(KernelDied):
        names(c, "f")["f"]()
    c.close()


def test_forged_callbacks_get_errors_and_the_judge_goes_on():
    answers, call = [], {}

    def script(h, b, k):
        if h.get("op") == "resolve":
            return {"value": {"f": handle(k, kind="function", name="f")}}
        if "re" in h:                                            # the judge's answer to a callback
            answers.append(h)
            if len(answers) == 4:
                k.send({"re": call["id"], "value": "done"})
            return None
        call["id"] = h["id"]
        cb = h["args"]["v"][0]
        for i, (ref, attr) in enumerate([(cb["id"], "__globals__"), (999, None), (cb["id"], "modules"),
                                         ("x", None)]):
            k.send({"op": "callback", "id": -i - 1, "ref": ref, "attr": attr,
                    "args": {"@": "t", "v": []}, "kwargs": {"@": "d", "keys": [], "v": []}})
        return None

    class Judge:
        modules = sys
    c, k = scripted(script)
    assert names(c, "f")["f"](Judge()) == "done"
    assert [a.get("error", {}).get("ename") for a in answers] == ["AttributeError", "LookupError",
                                                                  "AttributeError", "LookupError"]
    c.close()


def test_forged_line_counts_are_refused():
    counts = iter([-1, 10**12, 2.5, True, "7", None, 12])
    c, _ = scripted(lambda h, b, k: {"value": {"f": handle(k, kind="function", name="f")}} if h["op"] == "resolve"
                    else {"value": {"@": "d", "keys": ["counted", "lines"], "v": [0, next(counts)]}})
    f = names(c, "f")["f"]
    for _ in range(6):
        with pytest.raises(RemoteError, match="line count"):
            c.count_lines(f, (), {})
    assert c.count_lines(f, (), {}) == (0, 12)
    c.close()


def test_forged_bind_reply_fails_the_block_not_the_grader():
    c, k = scripted(lambda h, b, kk: {"error": {"ename": "RuntimeError", "evalue": "no"}})
    with pytest.raises(RuntimeError, match="no"):
        with c.bound_in_kernel({"dep": lambda: 1}):
            pass
    assert not c.handed.refs                                      # what it handed over is revoked
    with pytest.raises(ValueError):
        with c.bound_in_kernel({"not a name": 1}):
            pass
    assert [r["op"] for r in k.requests] == ["setup", "bind", "unbind"]
    c.close()


# ---------------------------------------------------------------------------
# sizes: checked before parsing, per message and per submission
# ---------------------------------------------------------------------------
def _spy_json(monkeypatch):
    """Sizes of what the judge (this thread; the fake kernel is another) hands to json.loads."""
    calls = []
    real = wire_mod.json.loads

    def spy(raw, *a, **k):
        if threading.current_thread() is threading.main_thread():
            calls.append(len(raw))
        return real(raw, *a, **k)
    monkeypatch.setattr(wire_mod.json, "loads", spy)
    return calls


def test_oversized_length_prefix_is_refused_unread(monkeypatch):
    calls = _spy_json(monkeypatch)

    def script(h, b, k):
        k.send_raw(raw_frame(b"{", ()).replace(b"\x01\x00\x00\x00", b"\xff\xff\xff\x7f", 1))
    c, _ = scripted(script)
    before = len(calls)
    with pytest.raises(KernelDied):
        names(c, "x")
    assert len(calls) == before
    c.close()


def test_too_many_values_are_refused_before_parsing(monkeypatch):
    calls = _spy_json(monkeypatch)
    flood = b'{"re":2,"value":[' + b"0," * 3_000_000 + b'0]}'

    def script(h, b, k):
        k.send_raw(raw_frame(flood))
    c, _ = scripted(script)
    with pytest.raises(KernelDied, match="malformed"):
        names(c, "x")
    assert len(flood) not in calls
    c.close()


def test_submission_budget_spans_requests_and_restarts():
    budget = Budget(max_bytes=200_000, max_items=10**9)

    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"f": handle(k, kind="function", name="f")}}
        return {"value": "z" * 50_000}

    holder = {}

    def start():
        holder["k"] = ScriptedKernel(script)
        return holder["k"]
    c = connect(start, FAST, budget=budget)
    f = names(c, "f")["f"]
    for _ in range(3):
        assert f() == "z" * 50_000
    with pytest.raises(KernelDied, match="may send in total"):
        f()
    with pytest.raises(KernelDied, match="may send in total"):
        c.start()                                                # a new kernel does not reset it
    c.close()


def _json_values(v) -> int:
    if isinstance(v, list):
        return 1 + sum(_json_values(x) for x in v)
    if isinstance(v, dict):
        return 1 + sum(1 + _json_values(x) for x in v.values())          # keys are values too
    return 1


def test_count_items_bounds_what_json_holds():
    for value in [[], {}, 0, [1, [2, {"a": [3, 4], "b": {}}]], {"k": "a,b,[c"}, list(range(1000)),
                  {"x": [{"y": None}] * 50}]:
        raw = json.dumps(value).encode()
        assert wire_mod.count_items(raw) >= _json_values(json.loads(raw))


def test_forged_generator_drain_is_refused():
    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"g": handle(k, kind="function", name="g")}}
        return {"drained": {"items": "not a list", "error": None, "rest": None}}
    c, _ = scripted(script)
    with pytest.raises(WireError):
        names(c, "g")["g"]()
    c.close()


def test_forged_cell_outputs_are_sanitized():
    from .protocol_support import notebook_run

    outputs = [{"output_type": "display_data", "data": {"application/javascript": "alert(1)", "text/html": "<b>x</b>",
                                                         "text/plain": ["not", "text"]}},
               {"output_type": "error", "ename": {"x": 1}, "evalue": "e" * 50_000, "traceback": "not a list"},
               "junk", {"output_type": "stream", "name": "stdin", "text": "x"},
               {"output_type": "stream", "name": "stdout", "text": "y" * 100_000},
               {"output_type": "execute_result", "data": {"text/plain": "1"}, "execution_count": "7"}]

    def script(h, b, k):
        return {"outputs": outputs, "ok": "yes", "cut": False}
    run, nb, spec = notebook_run([(None, "free", "anything")], kernel=lambda: ScriptedKernel(script))
    assert run.ensure_kernel()
    status, got, _ = run.exec_in_kernel("anything")
    assert status == "ok"
    assert got[0] == {"output_type": "display_data", "data": {"text/html": "<b>x</b>"}, "metadata": {}}
    assert got[1]["ename"] == "{'x': 1}" and len(got[1]["evalue"]) <= FAST.output and got[1]["traceback"] == []
    assert got[2] == {"output_type": "stream", "name": "stdout", "text": "y" * FAST.output}
    assert got[3]["execution_count"] is None and len(got) == 4
    run.conn.close()


def test_forged_reprs_are_cut():
    def script(h, b, k):
        if h["op"] == "resolve":
            return {"value": {"o": handle(k, kind="object", type="T", flags=[])}}
        return {"value": "r" * 1_000_000}
    c, _ = scripted(script)
    o = names(c, "o")["o"]
    assert len(repr(o)) == len(str(o)) == proxy_mod._MAX_REPR
    c.close()
