import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")
# One BLAS thread, as in the grading kernel: two test workers on two cores do not oversubscribe,
# and CPU-time budgets (04's train_model) count one thread's work, not another thread's spinning.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


# The files that take minutes, longest first (measured with --durations on this 2-core machine).
# Under ``--dist loadfile`` a file runs whole on one worker, and pytest-xdist hands files out in
# collection order (see pytest_configure): these go first, so that none of them starts last while
# the other worker sits idle (longest-processing-time-first scheduling). Other files keep their order.
LONGEST_FIRST = [
    "tests/test_grading_e2e.py",
    "tests/test_grading_threats.py",
    "tests/test_browser.py",
    "tests/test_grading_preflight.py",
    "tests/test_binder.py",
    "tests/test_semester.py",
    "tests/test_release.py",
    "tests/test_assignment_04.py",
    "tests/test_jupyterhub.py",
    "tests/test_grading_resume.py",
]


def pytest_configure(config):
    """One preflight per assignment for the whole run: every scratch course is a copy of this
    course, so a passing preflight (same fingerprint) need not be paid again in each test.
    Set before pytest-xdist starts its workers, so they share it. The preflight's own tests
    switch this off."""
    if "COURSEKIT_PREFLIGHT_CACHE" not in os.environ:
        import tempfile

        os.environ["COURSEKIT_PREFLIGHT_CACHE"] = tempfile.mkdtemp(prefix="coursekit-test-preflight-")
    # pytest-xdist would otherwise reorder the files by their number of tests (a one-test file of
    # several minutes would start last); keep the collection order of LONGEST_FIRST instead.
    if getattr(config.option, "dist", "no") == "loadfile" and hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """The files of LONGEST_FIRST first, in that order; every other test keeps its place."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def make_course(tmp: Path, assignments=None) -> Path:
    """A scratch course: the repo's config, solutions and release, no graded work."""
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", tmp / "nbgrader_config.py")
    for folder in ("solutions", "assignments"):
        for a in assignments or sorted(p.name for p in (ROOT / folder).iterdir() if p.is_dir()):
            shutil.copytree(ROOT / folder / a, tmp / folder / a)
    return tmp


def run_coursekit(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the ``coursekit`` command as an instructor would, at the course root."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run([sys.executable, "-m", "coursekit.cli", *args], cwd=course, env=env,
                          text=True, capture_output=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"coursekit {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def course_factory(tmp_path):
    def factory(name="course", assignments=None):
        return make_course(tmp_path / name, assignments)
    return factory

