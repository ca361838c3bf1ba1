"""Benchmark: reassembling a worker's result in the main process, old framing vs new, same run.

    python bench/bench_framing.py [--mb 8 16 32] [--chunk 65536]

A judge's result arrives in chunks (64 KiB reads of a pipe). The old main process kept
``buf += chunk`` on ``bytes`` and searched the whole buffer for a newline after every read:
copying and scanning O(size) per chunk, O(size**2 / chunk) in all (a 300 MB result of a
noisy submission took minutes). The new :class:`coursekit.instructor.execute.workers.FrameBuffer`
reads a length prefix and appends to one ``bytearray``: linear. Both are fed the same
chunks of a result of each ``--mb`` size here; the script prints both times and their
ratio (old / new), which grows with the size (the old cost is quadratic). Not a test: timings depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coursekit.instructor.execute.workers import FrameBuffer  # noqa: E402

from common import time_once  # noqa: E402


def old_framing(chunks) -> list[bytes]:
    """What WorkerPool.run did: newline-delimited JSON in a growing ``bytes``."""
    buf = b""
    out = []
    for chunk in chunks:
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            out.append(line)
    return out


def new_framing(chunks) -> list[bytes]:
    frames = FrameBuffer(max_frame=1 << 40)
    out = []
    for chunk in chunks:
        out += frames.feed(chunk)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, nargs="+", default=[8.0, 16.0, 32.0],
                    help="sizes of the result in MB (default 8 16 32)")
    ap.add_argument("--chunk", type=int, default=1 << 16, help="bytes per read (default 65536)")
    args = ap.parse_args()
    for mb in args.mb:
        measure(mb, args.chunk)


def measure(mb: float, chunk: int) -> None:
    # a result shaped like a judge's: a notebook with a lot of printed output
    payload = json.dumps({"student": "flood", "notebook": "x" * int(mb * 1e6)}).encode()
    old_stream = payload + b"\n"
    new_stream = struct.pack(">Q", len(payload)) + payload

    def split(data):
        return [data[i:i + chunk] for i in range(0, len(data), chunk)]

    old_chunks, new_chunks = split(old_stream), split(new_stream)
    t_new, new_out = time_once(lambda: new_framing(new_chunks))
    t_old, old_out = time_once(lambda: old_framing(old_chunks))
    assert old_out == new_out == [payload]
    print(f"{len(payload) / 1e6:5.0f} MB in {len(new_chunks):5d} reads of {chunk} B: "
          f"old (bytes +=, search per read) {t_old:7.3f} s, new (length prefix, bytearray) {t_new:6.3f} s, "
          f"ratio old/new {t_old / max(t_new, 1e-9):6.1f}x")

if __name__ == "__main__":
    main()
