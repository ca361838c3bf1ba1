"""``coursekit similarity``: solution cells only, release stubs as boilerplate, escaped HTML report."""
from datetime import datetime

import nbformat
import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.report.similarity import compare_students, write_similarity_report
from coursekit.instructor.intake.submissions import build_submission

from .conftest import make_course, run_coursekit
from .test_deadlines import A, fill_gradebook

OWN_SOFTMAX = '''def softmax(x):
    """Row-wise softmax written with explicit loops."""
    import math
    rows = []
    for row in x:
        biggest = max(row)
        exps = [math.exp(v - biggest) for v in row]
        total = sum(exps)
        rows.append([e / total for e in exps])
    import numpy as np
    return np.array(rows)
'''

OWN_LOG_SOFTMAX = '''def log_softmax(x):
    """Shifted log-sum-exp, one sample at a time."""
    import numpy as np
    out = np.empty_like(x, dtype=float)
    for n in range(x.shape[0]):
        shifted = x[n] - x[n].max()
        out[n] = shifted - np.log(np.exp(shifted).sum())
    return out
'''

SHARED_FREE_CELL = "\n".join(f"experiment_{i} = [k * {i} for k in range(10)]  # exploring" for i in range(40))


def add_free_cell(course, student):
    path = course.directory("submitted") / student / A / "softmax.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(SHARED_FREE_CELL))
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = Course(make_course(tmp_path_factory.mktemp("similarity") / "course", [A]))
    build_submission(course, A, "ada", solve="all")
    build_submission(course, A, "ben", solve="all")              # a copy of the same code
    build_submission(course, A, "cy", solve=None, replace={"softmax": OWN_SOFTMAX})
    build_submission(course, A, "dee", solve=None, replace={"log_softmax": OWN_LOG_SOFTMAX})
    build_submission(course, A, "eve", solve="all", replace={
        "predict": "def predict(W, X):\n    # </pre><script>alert('x')</script>\n    return (X @ W).argmax(axis=1)\n"})
    add_free_cell(course, "cy")
    add_free_cell(course, "dee")
    fill_gradebook(course, {s: (0.5, datetime(2026, 3, 1)) for s in ("ada", "ben", "cy", "dee", "eve")})
    return course


def test_ranking_and_exclusions(course):
    _, pairs = compare_students(course, A, ["ada", "ben", "cy", "dee", "eve"])
    sims = {(a, b): sim for sim, a, b, *_ in pairs}
    assert sims[("ada", "ben")] > 0.9 and sims[("ada", "eve")] > 0.8
    assert pairs[0][1:3] in (("ada", "ben"), ("ada", "eve"), ("ben", "eve"))
    # the release stubs are boilerplate and free cells are not compared: cy and dee share a big free cell
    # and the stubs, each wrote one function of their own, and nothing matches between them
    assert ("cy", "dee") not in sims
    assert sims.get(("ada", "cy"), 0.0) < 0.3


def test_report(course):
    out = run_coursekit(course.root, "similarity", A, "--threshold", "0.5").stdout
    assert "evidence for a person to judge" in out
    page = (course.root / "reports" / A / "similarity" / "index.html").read_text()
    assert "evidence for a person to judge, not a verdict" in page
    assert "<mark>" in page and "ada and ben" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    report = write_similarity_report(course, A, threshold=0.99)
    assert all(p[0] >= 0.99 for p in report.pairs)
