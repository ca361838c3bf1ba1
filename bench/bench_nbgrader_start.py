"""CPU seconds of one nbgrader command as ``Course.nbgrader`` starts it, against ``python -m nbgrader``
(prints; asserts nothing).

    python bench/bench_nbgrader_start.py [--runs 3]

Both run ``nbgrader db student list`` in a scratch course with the repository's config and an
existing gradebook (so no ``alembic`` process either way). The difference is what
``Course.nbgrader`` leaves out at start-up: jsonschema's optional ``iri`` format checker
(``rfc3987_syntax`` compiles its grammars on import) and nbgrader's server extensions (its package
``__init__``, run only if a name of it is asked for). CPU is the children's user+sys time, the steadier figure on a shared
machine; the ratio is measured in the same run.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from coursekit.instructor.course import _NBGRADER_MAIN, Course

ROOT = Path(__file__).resolve().parents[1]


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_of(cmd, cwd) -> float:
    before = children_cpu()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True,
                   env=dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]))
    return children_cpu() - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(ROOT / "nbgrader_config.py", tmp)
        Course(Path(tmp)).nbgrader("db", "student", "add", "ada")          # the gradebook exists from here on
        plain, ours = [], []
        for _ in range(args.runs):
            plain.append(cpu_of([sys.executable, "-m", "nbgrader", "db", "student", "list"], tmp))
            ours.append(cpu_of([sys.executable, "-c", _NBGRADER_MAIN, "db", "student", "list"], tmp))
    p, o = statistics.median(plain), statistics.median(ours)
    print(f"python -m nbgrader db student list : {p:.2f} s CPU (median of {args.runs})")
    print(f"Course.nbgrader (lean start-up)   : {o:.2f} s CPU")
    print(f"ratio {p / o:.2f}x, {p - o:.2f} s CPU saved per nbgrader process")


if __name__ == "__main__":
    main()
