"""What the preflight costs, per assignment, against grading one submission in the same run.

    python bench/bench_preflight.py [ASSIGNMENT ...]

For each assignment (default: all), in a scratch copy of the course with one
solved submission:

1. ``coursekit grade`` the first time: pays the preflight (reference + blank
   release graded in the sandbox); the grader prints its duration;
2. ``coursekit grade --force`` again: the preflight is cached, so this is the
   baseline (worker start + one submission);
3. the ratio preflight / baseline.

Nothing is asserted: it is a report.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coursekit.instructor.course import Course  # noqa: E402
from coursekit.instructor.intake.submissions import build_submission  # noqa: E402

from common import time_once  # noqa: E402


def _grade(course: Path, *args: str) -> tuple[float, str]:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    seconds, proc = time_once(lambda: subprocess.run([sys.executable, "-m", "coursekit.cli", "grade", *args],
                                                     cwd=course, env=env, text=True, capture_output=True))
    if proc.returncode != 0:
        raise SystemExit(f"coursekit grade {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds, proc.stdout


def main(argv: list[str]) -> None:
    assignments = argv or sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    print(f"{'assignment':<16} {'preflight s':>12} {'first run s':>12} {'cached run s':>13} {'ratio':>7}")
    for a in assignments:
        tmp = Path(tempfile.mkdtemp(prefix="bench-preflight-"))
        try:
            shutil.copy(ROOT / "nbgrader_config.py", tmp / "nbgrader_config.py")
            for folder in ("solutions", "assignments"):
                shutil.copytree(ROOT / folder / a, tmp / folder / a)
            build_submission(Course(tmp), a, "solved", solve="all")
            first, out = _grade(tmp, a)
            m = re.search(r"preflight: .* in ([\d.]+) s: OK", out)
            pre = float(m.group(1)) if m else float("nan")
            cached, out2 = _grade(tmp, a, "--force")
            assert "not run again" in out2, out2
            print(f"{a:<16} {pre:>12.1f} {first:>12.1f} {cached:>13.1f} {pre / cached:>7.2f}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
