"""Resource limits for grading one submission, their defaults and their flags.

Every limit bounds what one student's code can cost the grader; none of them
is reached by honest work on the course's assignments (the slowest solved
notebook runs in a few seconds and well under 1 GiB).
"""
from __future__ import annotations

import argparse
import re
from dataclasses import asdict, dataclass, fields

__all__ = ["Limits", "parse_size", "format_size", "add_limit_arguments", "limits_from_args"]

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """``"2G"`` -> 2147483648; ``"512M"``, ``"64k"``, plain bytes."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text), re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 2G, 512M, 64k)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class Limits:
    """What one submission may use."""

    cell_timeout: float = 60.0          # s: one notebook cell, or one test cell with every call it makes
    submission_timeout: float = 600.0   # s: the whole submission, restarts included
    memory: int = 2 << 30               # bytes of address space for the student's kernel
    processes: int = 64                 # processes and threads the student's code may run at once
    output: int = 1 << 20               # bytes of output kept per cell (the rest is cut)
    disk: int = 256 << 20               # bytes the student's code may write (scratch folders)
    transfer: int = 256 << 20           # bytes one value passed between kernel and judge may take
    restarts: int = 5                   # kernel restarts after a crash or a hang, per submission
    cpus: float = 1.0                   # CPUs the whole sandbox may use (where cgroups are available)
    interrupt_grace: float = 3.0        # s to wait after an interrupt before killing the kernel
    # per submission, all cells and notebooks together (a flood of cells, each under the cell limits)
    submission_output: int = 16 << 20  # characters of output kept in the graded notebooks
    submission_transfer: int = 1 << 30  # bytes the student's kernel may send the judge in total
    submission_items: int = 50_000_000  # values (an upper bound counted before parsing) it may send

    def describe(self) -> str:
        return (f"cell {self.cell_timeout:g} s, submission {self.submission_timeout:g} s, "
                f"memory {format_size(self.memory)}, {self.processes} processes, "
                f"output {format_size(self.output)}/cell, disk {format_size(self.disk)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Limits":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    d = Limits()
    g = parser.add_argument_group("limits (per submission)")
    g.add_argument("--cell-timeout", type=float, default=None, metavar="S",
                   help="seconds per cell, a test cell's calls into student code included "
                        f"(default: c.Execute.timeout of nbgrader_config.py, else {d.cell_timeout:g})")
    g.add_argument("--submission-timeout", type=float, default=d.submission_timeout, metavar="S",
                   help=f"seconds for a whole submission (default {d.submission_timeout:g})")
    g.add_argument("--memory", type=parse_size, default=d.memory, metavar="SIZE",
                   help=f"address space of the student's kernel (default {format_size(d.memory)})")
    g.add_argument("--processes", type=int, default=d.processes, metavar="N",
                   help=f"processes/threads the student's code may run (default {d.processes})")
    g.add_argument("--output-limit", type=parse_size, default=d.output, metavar="SIZE",
                   help=f"output kept per cell (default {format_size(d.output)})")
    g.add_argument("--disk", type=parse_size, default=d.disk, metavar="SIZE",
                   help=f"scratch space for the student's files (default {format_size(d.disk)})")
    g.add_argument("--restarts", type=int, default=d.restarts, metavar="N",
                   help=f"kernel restarts after a crash or hang (default {d.restarts})")
    g.add_argument("--cpus", type=float, default=d.cpus, metavar="N",
                   help=f"CPUs one sandbox may use, all its processes together; needs cgroups, "
                        f"i.e. root (default {d.cpus:g}; 0: no limit)")


def limits_from_args(args: argparse.Namespace, config_timeout: float | None = None) -> Limits:
    cell = args.cell_timeout if args.cell_timeout is not None else (config_timeout or Limits().cell_timeout)
    return Limits(cell_timeout=float(cell), submission_timeout=args.submission_timeout,
                  memory=args.memory, processes=args.processes, output=args.output_limit,
                  disk=args.disk, restarts=args.restarts, cpus=args.cpus)
