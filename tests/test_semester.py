"""Acceptance: the LMS road for a class of 30, from a Canvas download to a Canvas gradebook import.

A generated Canvas zip (solved, blank, partial, late, renamed by the browser,
resubmitted, one student with an extension) -> ``coursekit collect`` with a
roster -> ``coursekit grade --jobs 2`` (the real sandboxed grader) -> a manual
grade through formgrader's REST API -> ``coursekit export --format canvas``;
every score in the CSV is checked.
"""
import csv
import io
import json
import zipfile

import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.intake.submissions import solved_sources

from .conftest import ROOT, make_course, run_coursekit
from .points import release_points
from .servers import Formgrader

pytestmark = pytest.mark.slow

A = "01_softmax"
ON_TIME = (2026, 3, 1, 12, 0, 0)
LATE = (2026, 3, 3, 10, 0, 0)          # due 2026-03-01 23:59 UTC: late by ~34 h
PARTIAL_UNITS = ["softmax", "log_softmax", "softmax_loss"]

# student -> kind
CLASS = {f"s{i:02d}": kind for i, kind in enumerate(
    ["solved"] * 10 + ["blank"] * 5 + ["partial"] * 5 + ["late"] * 3 + ["renamed"] * 3 + ["resubmitted"] * 3
    + ["extension"], start=1)}
MANUAL = [("s11", "test_predict", 2.0),   # a person gives the blank s11 the 2 points of test_predict
          ("s01", "q_initial_loss", 2.0)]  # and grades s01's written answer on the initial loss


def notebook(solved: dict, units) -> bytes:
    nb = json.loads((ROOT / "assignments" / A / "softmax.ipynb").read_text())
    wanted = set(solved) if units == "all" else set(units or ())
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in wanted:
            cell["source"] = solved[gid]
    return json.dumps(nb).encode()


def canvas_zip(path, solved):
    full, blank, partial = notebook(solved, "all"), notebook(solved, None), notebook(solved, PARTIAL_UNITS)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        def add(name, data, when=ON_TIME):
            zf.writestr(zipfile.ZipInfo(name, date_time=when), data)
        for i, (student, kind) in enumerate(CLASS.items()):
            lms, sub, canvas_name = 7000 + i, 90000 + 10 * i, f"student{student}"
            prefix = f"{canvas_name}_{lms}_{sub}"
            if kind == "solved":
                add(f"{prefix}_softmax.ipynb", full)
            elif kind == "blank":
                add(f"{prefix}_softmax.ipynb", blank)
            elif kind == "partial":
                add(f"{prefix}_softmax.ipynb", partial)
            elif kind in ("late", "extension"):
                add(f"{canvas_name}_late_{lms}_{sub}_softmax.ipynb", full, LATE)
            elif kind == "renamed":
                add(f"{prefix}_softmax (1).ipynb", full)
            elif kind == "resubmitted":
                add(f"{prefix}_softmax.ipynb", blank, (2026, 3, 1, 8, 0, 0))
                add(f"{canvas_name}_{lms}_{sub + 1}_softmax-1.ipynb", full, (2026, 3, 1, 20, 0, 0))
    return path


def test_semester(tmp_path):
    root = make_course(tmp_path / "course", [A])
    course = Course(root)
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,lms_id,name\n" + "".join(
        f"{s},{7000 + i},Student {s}\n" for i, s in enumerate(CLASS)))
    archive = canvas_zip(tmp_path / "submissions.zip", solved_sources(course, A, "softmax.ipynb"))

    course.nbgrader("db", "assignment", "add", A, "--duedate=2026-03-01 23:59:00 UTC")
    ext = next(s for s, k in CLASS.items() if k == "extension")
    run_coursekit(root, "extend", ext, A, "--until", "2026-03-04 00:00:00 UTC")

    out = run_coursekit(root, "collect", A, str(archive), "--roster", str(roster)).stdout
    assert "collected 01_softmax: 30 new" in out, out
    assert "could not be placed" not in out and "3 older version(s) not used" in out

    out = run_coursekit(root, "grade", A, "--jobs", "2").stdout
    assert "graded 30 submission(s)" in out, out

    fg = Formgrader(root, tmp_path)
    try:
        for student, grade, score in MANUAL:
            assert fg.set_manual_score(A, "softmax", student, grade, score)["manual_score"] == score
    finally:
        fg.stop()

    text = run_coursekit(root, "export", A, "--format", "canvas", "--roster", str(roster), "-o", "-").stdout
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    pts = release_points(A, "softmax")
    full, possible, partial = pts.autograded, pts.possible, pts.of_units(PARTIAL_UNITS)
    expected = {"solved": full, "blank": 0.0, "partial": partial, "late": 0.0, "renamed": full,
                "resubmitted": full, "extension": full}
    assert 0 < partial < full < possible            # written answers add points a person gives
    assert rows[1][0] == "Points Possible" and float(rows[1][5]) == possible
    got = {r[3]: float(r[5]) for r in rows[2:]}
    want = {s: expected[k] for s, k in CLASS.items()}
    for student, _, score in MANUAL:
        want[student] += score
    assert got == want
    ids = {r[3]: r[1] for r in rows[2:]}
    assert ids["s01"] == "7000" and ids["s30"] == "7029"
