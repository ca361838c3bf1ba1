"""``coursekit feedback``: one HTML page per student and notebook, saying what each test found.

``coursekit-feedback/<student>/<assignment>/<notebook>.html`` -- its own folder,
so nbgrader's ``generate_feedback`` (which writes ``feedback/``) and this
command never overwrite each other. It lists every graded cell with its points
and, for a failed test, the diagnostic message the test wrote ("dx is N=4
times too large: divide by N, since the loss is a mean."); errors raised in the
student's own cells (a ``NameError`` in their solution, a crash in a free cell);
manual grades and the grader's comments; the due date, the submission time, an
extension and the late penalty. It gives the seed the hidden tests drew their
inputs with, for the instructor to replay them (``COURSEKIT_SEED=<seed>
coursekit grade ...``: the hidden tests live only on the instructor's side), and
anything the grader had to say about the submission (a deleted test cell put
back, a function stopped after the time limit). It never shows the hidden
tests' code.

The folder also gets the submission's ``timestamp.txt`` and
``submission_secret.txt``, so ``nbgrader release_feedback ASSIGNMENT
--CourseDirectory.feedback_directory=coursekit-feedback`` can hand these pages
to students through the JupyterHub exchange.

Scores come from the gradebook (so manual grades made in formgrader show);
messages from the grader's record, or, for work graded by plain ``nbgrader
autograde``, from the test cells' outputs in ``autograded/``.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from coursekit.instructor.course import Course
from coursekit.instructor.store.results import require_results, unit_of
from coursekit.instructor.store.records import read_record

__all__ = ["write_feedback", "feedback_page", "messages_from_notebook", "student_cell_errors",
           "FEEDBACK_DIR"]

FEEDBACK_DIR = "coursekit-feedback"
MAX_ERRORS_SHOWN = 10

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1d2330}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #dde;padding-bottom:.2em}
.score{font-size:1.3em;font-weight:600} .muted{color:#667}
table{border-collapse:collapse;width:100%;margin:.6em 0} td,th{padding:.35em .6em;border-bottom:1px solid #e6e8ef;text-align:left;vertical-align:top}
.pass{color:#17803d;font-weight:600} .fail{color:#b42318;font-weight:600}
.test{border:1px solid #e2e5ee;border-radius:6px;padding:.6em .9em;margin:.7em 0}
.test.failed{border-left:5px solid #d92d20} .test.passed{border-left:5px solid #12b76a}
.msg{background:#fff4f2;border-radius:4px;padding:.5em .7em;margin:.4em 0;white-space:pre-wrap}
pre{background:#f6f7fb;padding:.5em .7em;border-radius:4px;overflow-x:auto;font-size:.88em;white-space:pre-wrap}
.note{background:#fffbe6;border-radius:4px;padding:.4em .7em;margin:.3em 0}
"""


def messages_from_notebook(path: Path) -> dict[str, dict]:
    """``{grade_id: {"message", "stdout"}}`` read from an autograded notebook's test outputs."""
    import nbformat

    out: dict[str, dict] = {}
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - unreadable: no messages
        return out
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        msg, stdout = "", ""
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error" and not msg:
                ename, evalue = o.get("ename", ""), o.get("evalue", "")
                msg = evalue if ename in ("CheckFailed", "AssertionError") and evalue else f"{ename}: {evalue}"
            elif o.get("output_type") == "stream":
                if o.get("name") == "stdout":
                    stdout += o.get("text", "")
                elif not msg:
                    msg = "the test wrote to stderr: " + _ANSI.sub("", o.get("text", "")).strip()[-400:]
        out[meta["grade_id"]] = {"message": _ANSI.sub("", msg), "stdout": stdout}
    return out


def student_cell_errors(path: Path, max_chars: int = 1500) -> list[dict]:
    """Errors raised in the student's own cells of an autograded notebook.

    ``[{"cell": 1-based index, "unit": grade id or "", "error": "NameError: ...",
    "traceback": text}]`` for every code cell that is not a test or setup cell
    (nbgrader: not graded, not locked) and has an error output.
    """
    import nbformat

    try:
        if path.stat().st_size > 64 << 20:
            return []
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - unreadable: nothing to show
        return []
    found = []
    for index, cell in enumerate(nb.cells, start=1):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade") or meta.get("locked"):
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") != "error":
                continue
            tb = _ANSI.sub("", "\n".join(str(x) for x in o.get("traceback", [])))
            found.append({"cell": index, "unit": str(meta.get("grade_id", "")) if meta.get("solution") else "",
                          "error": _ANSI.sub("", f"{o.get('ename', '')}: {o.get('evalue', '')}")[:max_chars],
                          "traceback": tb[-max_chars:]})
            break
    return found


def _e(text) -> str:
    return html.escape(str(text))


def feedback_page(course: Course, assignment: str, result, notebook: str, record: dict | None,
                  notebook_tests: list[str] | None = None) -> str:
    """The HTML page for one student's notebook (every piece of student text escaped)."""
    nb_record = (record or {}).get("notebooks", {}).get(notebook, {})
    details = dict(nb_record.get("grades", {}))
    autograded = course.directory("autograded") / result.student / assignment / f"{notebook}.ipynb"
    if not details:
        details = messages_from_notebook(autograded)
    units = sorted(result.units)
    if notebook_tests is not None:
        order = [t for t in details if t in notebook_tests] + [t for t in notebook_tests if t not in details]
    else:
        order = list(details or result.tests)
    tests = [t for t in order if t in result.tests]
    got = sum((s or 0.0) for t, (s, m) in result.tests.items() if t in tests)
    total = sum(m for t, (s, m) in result.tests.items() if t in tests)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(assignment)} — {_e(result.student)}</title>"
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>{_e(assignment)} / {_e(notebook)}</h1>",
             f"<p class='muted'>Feedback for <b>{_e(result.student)}</b>"
             + (f", graded {_e(record.get('graded_at'))}" if record and record.get("graded_at") else "") + "</p>",
             f"<p class='score'>{got:g} / {total:g} points</p>"]
    late = result.lateness
    if late is not None and late.due is not None:
        line = _e(late.describe())
        if result.late_penalty > 0:
            line += (f". <b>Late penalty: {result.late_penalty:g} points</b>; the assignment counts "
                     f"{result.score:g} / {result.max_score:g} (before the penalty {result.raw_score:g}).")
        parts.append(f"<p class='note'>{line}</p>")
    if record and record.get("seed") is not None:
        seed = record["seed"]
        parts.append(f"<p class='muted'>The hidden tests drew their random inputs with seed <b>{_e(seed)}</b>. "
                     f"The hidden tests are not in your notebook: only your instructor can run them again on "
                     f"exactly these inputs, with <code>COURSEKIT_SEED={_e(seed)} coursekit grade "
                     f"{_e(assignment)} --student {_e(result.student)} --force</code> at the course root. "
                     f"Ask them if a result puzzles you. To check your work yourself, run "
                     f"<code>coursekit check {_e(notebook)}.ipynb</code> (the visible tests).</p>")
    notes = [p for p in (record or {}).get("problems", []) if p.startswith(f"{notebook}.ipynb")]
    notes += list((record or {}).get("events", []))
    if notes:
        parts.append("<h2>Notes from the grader</h2>")
        parts += [f"<div class='note'>{_e(n)}</div>" for n in notes]
    errors = student_cell_errors(autograded)
    if errors:
        parts.append("<h2>Errors in your own cells</h2><p class='muted'>Raised by code you wrote when the "
                     "notebook ran from top to bottom in a fresh kernel; fix these first, later tests may "
                     "depend on them.</p>")
        for err in errors[:MAX_ERRORS_SHOWN]:
            where = f"cell {err['cell']}" + (f" ({err['unit']})" if err["unit"] else "")
            parts.append(f"<div class='test failed'><b>{_e(where)}</b><div class='msg'>{_e(err['error'])}</div>"
                         f"<pre>{_e(err['traceback'])}</pre></div>")
        if len(errors) > MAX_ERRORS_SHOWN:
            parts.append(f"<p class='muted'>... and {len(errors) - MAX_ERRORS_SHOWN} more.</p>")
    # per unit
    parts.append("<h2>Points per unit</h2><table><tr><th>unit</th><th>points</th></tr>")
    unit_names = [u for u in units]
    for u in unit_names:
        s, m = result.units[u]
        cls = "pass" if s >= m else "fail"
        parts.append(f"<tr><td>{_e(u)}</td><td class='{cls}'>{s:g} / {m:g}</td></tr>")
    parts.append("</table><h2>Tests and graded answers</h2>")
    for t in tests:
        s, m = result.tests[t]
        d = details.get(t, {})
        passed = s is not None and s >= m
        state = "passed" if passed else "failed"
        if t in result.manual:
            label = "graded by hand"
        else:
            label = "passed" if passed else ("needs manual grading" if s is None else "failed")
        parts.append(f"<div class='test {state}'><b>{_e(t)}</b> "
                     f"<span class='muted'>({_e(unit_of(t, unit_names))})</span> — "
                     f"<span class='{'pass' if passed else 'fail'}'>{label}</span>, "
                     f"{(s or 0):g} / {m:g}")
        if not passed and d.get("message"):
            parts.append(f"<div class='msg'>{_e(d['message'])}</div>")
        if d.get("stdout", "").strip():
            parts.append(f"<pre>{_e(d['stdout'].strip()[-3000:])}</pre>")
        if result.comments.get(t):
            parts.append(f"<div class='note'>Grader's comment: {_e(result.comments[t][:5000])}</div>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_feedback(course: Course, assignment: str, student: str | None = None) -> list[Path]:
    """Write the pages for every graded student (or one); return their paths.

    Raises :class:`~coursekit.instructor.store.results.NoGrades` when nothing is graded.
    """
    import shutil

    written = []
    results = require_results(course, assignment, [student] if student else None)
    from coursekit.instructor.store.gradebook import open_gradebook

    with open_gradebook(course) as gb:
        notebooks = {nb.name: [c.name for c in nb.grade_cells]
                     for nb in gb.find_assignment(assignment).notebooks}
    for r in results:
        record = read_record(course, assignment, r.student)
        folder = course.root / FEEDBACK_DIR / r.student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        for nb, tests in notebooks.items():
            page = folder / f"{nb}.html"
            page.write_text(feedback_page(course, assignment, r, nb, record, tests))
            written.append(page)
        # what `nbgrader release_feedback --CourseDirectory.feedback_directory=coursekit-feedback` needs
        graded = course.directory("autograded") / r.student / assignment
        for name in ("timestamp.txt", "submission_secret.txt"):
            src = graded / name
            if src.is_file() and not src.is_symlink() and src.stat().st_size < 4096:
                shutil.copyfile(src, folder / name)
    return written
