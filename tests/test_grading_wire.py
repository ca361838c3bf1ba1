"""The judge only ever accepts plain data from the student's kernel (fast, no kernel involved)."""
import io
import json
import os
import pickle

import numpy as np
import pytest

from coursekit.instructor.intake.notebook import NotebookSpec, read_submission, visible_part
from coursekit.instructor.execute.limits import Limits, parse_size
from coursekit.instructor.report.class_report import normalize_message
from coursekit.instructor.execute.wire import (Decoder, Encoder, FrameReader, WireError, npy_array, npy_bytes,
                                               safe_dtype, write_frame)


def roundtrip(value):
    enc = Encoder()
    node = enc.encode(value)
    node = json.loads(json.dumps(node))
    return Decoder(enc.buffers).decode(node)


@pytest.mark.parametrize("value", [
    None, True, 3, -2**70, 1.5, float("inf"), "text", b"raw", 2 + 3j, (1, (2.5, "x")), [1, [2]],
    {"a": 1, (1, 2): [3]}, {1, 2}, frozenset({3}), slice(1, None, 2), Ellipsis, range(2, 9, 3),
])
def test_plain_values_round_trip(value):
    got = roundtrip(value)
    assert got == value and type(got) is type(value)


def test_arrays_and_numpy_scalars_keep_dtype_and_shape():
    for arr in [np.arange(6.0).reshape(2, 3), np.array(3.0), np.zeros((0, 4), np.float32),
                np.arange(5, dtype=np.int8), np.array([True, False]), np.asfortranarray(np.eye(3))]:
        got = roundtrip(arr)
        assert got.dtype == arr.dtype and got.shape == arr.shape and np.array_equal(got, arr)
    for scalar in [np.float64(1.25), np.int32(-4), np.float32(2.5), np.bool_(True), np.str_("ab"), np.str_(""),
                   np.bytes_(b"")]:
        got = roundtrip(scalar)
        assert type(got) is type(scalar) and got == scalar


def test_arrays_decode_exactly_as_np_load_would():
    """``npy_array`` (the judge's fast reading of an array) gives what ``np.load`` gives: dtype, shape,
    values, memory order; a writable array of its own."""
    for arr in [np.arange(6.0).reshape(2, 3), np.array(3.0), np.zeros((0, 4), np.float32), np.zeros((2, 0, 3)),
                np.arange(5, dtype=np.int8), np.array([True, False]), np.asfortranarray(np.arange(12.0).reshape(3, 4)),
                np.array(["ab", "c"]), np.array([b"x"]), np.arange(3, dtype=">i4"), np.array([1 + 2j]),
                np.arange(3).astype("M8[s]"), np.zeros((1,) * 32), np.arange(24.0).reshape(2, 3, 4)[:, ::2].copy("F")]:
        data = npy_bytes(arr)
        ref, got = np.load(io.BytesIO(data), allow_pickle=False), npy_array(data)
        assert (got.dtype, got.shape) == (ref.dtype, ref.shape) and np.array_equal(got, ref)
        assert (got.flags.c_contiguous, got.flags.f_contiguous) == (ref.flags.c_contiguous, ref.flags.f_contiguous)
        assert got.flags.writeable and got.flags.owndata


def test_forged_npy_bytes_are_refused():
    """A kernel's array bytes are hostile: a header that lies about the shape or the data's size, a
    dtype outside the allowed kinds, a malformed header -- each a WireError, nothing allocated for
    the shape it claims."""
    good = npy_bytes(np.arange(4.0))
    forged = [good[:-1],                                          # data shorter than the shape
              good + b"\0" * 8,                                   # longer
              good.replace(b"(4,)", b"(5,)"),                     # the shape lies
              good.replace(b"(4,)", b"(2,)"),
              good.replace(b"'<f8'", b"'<V8'"),                   # void: not an allowed kind
              good.replace(b"'<f8'", b"'|O8'"),                   # objects
              good.replace(b"'<f8'", b"'xyz'"),                   # not a dtype
              good.replace(b"False", b"Maybe"),                   # not a header np.save writes, nor np.load reads
              good[:8] + b"\xff\xff" + good[10:],                 # header length past the end
              b"\x93NUMPY\x01\x00",                               # a header cut short
              pickle.dumps(np.arange(4.0))]
    for data in forged:
        with pytest.raises(WireError):
            npy_array(data)
        with pytest.raises(WireError):
            Decoder([data]).decode({"@": "a", "b": 0})

    def npy(shape: str, body: bytes = b"") -> bytes:       # a well-formed header claiming ``shape``
        header = b"{'descr': '<f8', 'fortran_order': False, 'shape': %s, }" % shape.encode()
        header += b" " * (118 - len(header)) + b"\n"
        return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + body

    # a shape of 10**18 elements with 32 bytes of data: refused by arithmetic, not by allocating
    with pytest.raises(WireError, match="does not fill"):
        npy_array(npy("(1000000000, 1000000000)", b"\0" * 32))
    # an empty array claiming dimensions no array may have
    for shape in ["(0, 9999999999999999999)", "(0, 4611686018427387904, 4)", "(0, 3037000500, 3037000500)"]:
        with pytest.raises(WireError):
            npy_array(npy(shape))
    assert npy_array(npy("(0, 4)")).shape == (0, 4)


def test_corrupted_array_bytes_and_dtype_strings_are_a_wire_error_and_nothing_else():
    """Whatever a kernel sends where an array or a dtype belongs, the judge gets an array or a
    WireError: no other exception (np.load let tokenize's errors out of a forged header, and
    np.dtype a SyntaxError for a string with a comma)."""
    import random

    rnd = random.Random(0)
    good = npy_bytes(np.arange(6.0).reshape(2, 3))
    for _ in range(3000):
        data = bytearray(good)
        for _ in range(rnd.randint(1, 4)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        try:
            arr = npy_array(bytes(data))
        except WireError:
            continue
        assert arr.shape == (2, 3) and arr.dtype == np.float64       # only the data bytes changed
    for spec in [",", "<,f8", "f8,", "(", "[('a', 'f8')]", "O", "V8", "x" * 40, "f8, i4"]:
        with pytest.raises(WireError):
            safe_dtype(spec)
        with pytest.raises(WireError):
            Decoder([b"\0" * 8]).decode({"@": "s", "dt": spec, "b": 0})
    for spec in ["<U0", "|S0"]:                     # no scalar has 8 bytes of an empty string
        with pytest.raises(WireError):
            Decoder([b"\0" * 8]).decode({"@": "s", "dt": spec, "b": 0})
        assert Decoder([b""]).decode({"@": "s", "dt": spec, "b": 0}) == np.zeros((), spec)[()]   # (was ValueError)


def test_random_forged_values_are_a_wire_error_and_nothing_else():
    """A seeded fuzz of the decoder: random nodes of every tag, random fields, buffers of every kind.
    The judge gets a value or a WireError -- never another exception from a kernel's message."""
    import random

    rnd = random.Random(5)
    tags = ["a", "ao", "s", "c", "y", "t", "l", "d", "set", "sl", "el", "rg", "dt", "ty", "m", "r", "h", "lr",
            "nope", None, 3]
    leaves = [None, True, 0, -1, 2**70, 1.5, float("nan"), "x", "<f8", ",", "O", [], {}, [1, 2], 10**20,
              "M8[Y]", "S0", "U0", [2, 2], [0, 1]]
    buffers = [npy_bytes(np.arange(4.0)), b"\0" * 8, b"", b"\x01\x02\x03", npy_bytes(np.zeros((2, 2), np.int8))]

    def node(depth=0):
        if depth > 3 or rnd.random() < 0.3:
            return rnd.choice(leaves)
        out = {"@": rnd.choice(tags)}
        for key in rnd.sample(["b", "k", "v", "shape", "dt", "id", "keys", "frozen", "mut"], rnd.randint(0, 5)):
            out[key] = node(depth + 1) if rnd.random() < 0.5 else rnd.choice(leaves + [[node(depth + 1)]])
        return out

    for _ in range(20000):
        value = json.loads(json.dumps(node()))
        try:
            Decoder(list(buffers)).decode(value)
        except WireError:
            pass


def test_types_travel_by_name():
    for t in (np.float64, np.float32, np.int8, int, float, bool, str):
        assert roundtrip(t) is t
    assert roundtrip(np.dtype("float32")) == np.dtype("float32")
    with pytest.raises(WireError):
        Decoder([]).decode({"@": "ty", "v": "os.system"})


def test_aliasing_and_cycles_survive():
    a = np.ones(3)
    lst = [a, a]
    lst.append(lst)
    got = roundtrip(lst)
    assert got[0] is got[1] and got[2] is got


def test_generators_travel_as_state():
    rng = np.random.default_rng(3)
    got = roundtrip(rng)
    assert got.normal() == np.random.default_rng(3).normal()


def test_no_pickle_no_objects():
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(WireError):
        Encoder().encode(Evil())
    # an object array cannot sneak in as .npy either (np.load refuses pickles)
    buf = io.BytesIO()
    np.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(WireError):
        Decoder([buf.getvalue()]).decode({"@": "a", "b": 0})
    with pytest.raises(WireError):
        Decoder([pickle.dumps(1)]).decode({"@": "a", "b": 0})
    with pytest.raises(WireError):
        Decoder([b"\0" * 8]).decode({"@": "s", "dt": "O", "b": 0})
    with pytest.raises(WireError):
        Decoder([]).decode({"@": "h", "id": 1})          # no handles unless the receiver allows them
    with pytest.raises(WireError):
        Decoder([]).decode({"@": "nope"})


def test_bounded_nesting_and_size():
    deep = []
    node = deep
    for _ in range(200):
        node.append([])
        node = node[0]
    with pytest.raises(WireError):
        Encoder().encode(deep)
    r, w = os.pipe()
    write_frame(w, {"x": 1}, [b"\0" * 5000])
    os.close(w)
    with pytest.raises(WireError):
        FrameReader(r, max_bytes=1000).read()
    os.close(r)


def test_limits_and_sizes():
    assert parse_size("2G") == 2 << 30 and parse_size("512m") == 512 << 20 and parse_size("64k") == 65536
    d = Limits()
    assert d.cell_timeout == 60 and d.memory == 2 << 30 and Limits.from_dict(d.to_dict()) == d


def test_report_groups_the_same_mistake():
    a = normalize_message("loss is 7 times the expected value: You summed over the N=7 samples")
    b = normalize_message("loss is 12 times the expected value: You summed over the N=12 samples")
    assert a == b


# ---------------------------------------------------------------------------
# repairing a submitted notebook against the trusted source
# ---------------------------------------------------------------------------
SPEC = NotebookSpec(
    name="nb",
    order=["setup", "unit", "test_unit"],
    cells={"setup": {"cell_type": "code", "locked": True, "source": "import math", "checksum": "s"},
           "unit": {"cell_type": "code", "locked": False, "source": "def f(x):\n    return x", "checksum": "u"},
           "test_unit": {"cell_type": "code", "locked": True,
                         "source": "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\n### END HIDDEN TESTS",
                         "checksum": "t"}},
    points={"test_unit": 2.0}, solutions=["unit"], units=["f"])


def _nb(cells):
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _cell(gid, source, ctype="code", **meta):
    nbg = {"grade_id": gid, **meta} if gid else meta
    cell = {"cell_type": ctype, "source": source, "metadata": {"nbgrader": nbg} if nbg else {}}
    if ctype == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _write(tmp_path, data):
    p = tmp_path / "nb.ipynb"
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def test_intake_restores_tests_and_keeps_student_code(tmp_path):
    sub = _nb([_cell("setup", "import math", locked=True),
               _cell("unit", "def f(x):\n    return x + 0", solution=True),
               _cell(None, "print('mine')"),
               _cell("test_unit", "", grade=True, locked=True, points=2)])
    got = read_submission(_write(tmp_path, sub), SPEC)
    assert got.status == "ok"
    sources = [c.source for c in got.notebook.cells]
    assert sources[1] == "def f(x):\n    return x + 0" and sources[2] == "print('mine')"
    assert "BEGIN HIDDEN TESTS" in sources[3]                      # the hidden tests are back
    assert got.notebook.cells[3].metadata.nbgrader["points"] == 2.0
    assert any("emptied" in p for p in got.problems)


def test_intake_deleted_copied_renamed_and_retyped_cells(tmp_path):
    test = _cell("test_unit", visible_part(SPEC.cells["test_unit"]["source"]), grade=True, locked=True, points=2)
    sub = _nb([_cell("unit", "def f(x):\n    return x", solution=True),
               dict(test), dict(test),                                            # copied
               _cell("test_unit", "pass", grade=True, locked=False, points=100),  # forged, worth 100
               _cell("renamed", "pass", grade=True, locked=True, points=5)])     # unknown id
    got = read_submission(_write(tmp_path, sub), SPEC)
    gids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in got.notebook.cells]
    assert gids.count("test_unit") == 1 and gids.count("setup") == 1              # setup was deleted: back
    test_cell = got.notebook.cells[gids.index("test_unit")]
    assert test_cell.metadata.nbgrader["points"] == 2.0 and "f(2)" in test_cell.source
    assert gids.index("setup") < gids.index("unit")
    text = " ".join(got.problems)
    assert "appears 3 times" in text and "not in the assignment" in text and "setup cell 'setup' was missing" in text
    sub = _nb([_cell("unit", "def f(x):\n    return x", "markdown", solution=True),
               _cell("test_unit", "x", "markdown", grade=True, locked=True, points=2)])
    got = read_submission(_write(tmp_path, sub), SPEC)
    assert [c.cell_type for c in got.notebook.cells] == ["code", "code", "code"]


def test_intake_broken_and_missing(tmp_path):
    assert read_submission(tmp_path / "absent.ipynb", SPEC).status == "missing"
    got = read_submission(_write(tmp_path, '{"cells": [ {"cell_type": "co'), SPEC)
    assert got.status == "broken" and "not valid JSON" in got.problems[0]
    got = read_submission(_write(tmp_path, "[1, 2]"), SPEC)
    assert got.status == "broken"
