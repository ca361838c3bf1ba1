"""Where grading results go: the nbgrader gradebook, ``autograded/``, and a record per submission.

Only the grader's main process writes here (the judges hand their results
back), one submission per transaction:

1. ``autograded/<student>/<assignment>/`` is replaced as a whole (written
   aside, then renamed): the executed notebook(s), as ``nbgrader autograde``
   leaves them, so nbgrader's own tools (formgrader, ``generate_feedback``)
   keep working;
2. the scores go into the gradebook in one commit -- ``auto_score`` and
   ``needs_manual_grade`` per grade cell, the "No response." comments and the
   late penalty, exactly as nbgrader's ``SaveAutoGrades`` and
   ``AssignLatePenalties`` set them;
3. last, ``autograded/.coursekit/<assignment>/<student>.json`` records what
   was graded (a fingerprint of the submission and the tests), the seed, every
   test's message, the problems found and the time taken.

A submission counts as graded only when its record matches its current
files and the gradebook holds a score for every test; a grader killed at any
point therefore loses nothing already written, and the next run grades
exactly what is missing.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

from coursekit.instructor.store.atomic import replace_folder
from coursekit.instructor.course import Course
from coursekit.instructor.intake.notebook import NotebookSpec, unit_names
from coursekit.instructor.markers import Markers

__all__ = ["load_specs", "record_path", "read_record", "is_complete", "write_result", "specs_digest",
           "submission_fingerprint"]

GRADER_VERSION = "coursekit-judge-1"


def load_specs(course: Course, assignment: str) -> list[NotebookSpec]:
    """What the gradebook says each notebook contains (and the source's cell order)."""
    import nbformat
    from coursekit.instructor.store.gradebook import open_gradebook

    specs = []
    markers = Markers.of_course(course).to_dict()
    with open_gradebook(course) as gb:
        a = gb.find_assignment(assignment)
        for nb in sorted(a.notebooks, key=lambda n: n.name):
            cells = {c.name: {"cell_type": c.cell_type, "locked": bool(c.locked), "source": c.source or "",
                              "checksum": c.checksum} for c in nb.source_cells}
            points = {c.name: float(c.max_score) for c in nb.grade_cells}
            solutions = [c.name for c in nb.solution_cells]
            order = []
            path = course.solutions / assignment / f"{nb.name}.ipynb"
            if path.exists():
                for cell in nbformat.read(path, as_version=4).cells:
                    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                    if gid in cells and gid not in order:
                        order.append(gid)
            order += [g for g in cells if g not in order]
            units = unit_names([cells[g]["source"] for g in order if g in solutions])
            specs.append(NotebookSpec(nb.name, order, cells, points, solutions, units, markers))
    return specs


def submission_fingerprint(submission_dir: str | os.PathLike, extra: str = "") -> str:
    """A hash of a submission's files (and ``extra``, e.g. the tests), to tell a re-submission.

    Symbolic links are hashed as links (their text), never followed."""
    import hashlib

    h = hashlib.sha256(extra.encode())
    base = Path(submission_dir)
    if base.is_symlink():
        h.update(b"symlink\0" + os.readlink(base).encode())
        return h.hexdigest()
    entries = []
    if base.is_dir():
        for root, dirs, files in os.walk(base):
            for name in dirs + files:
                p = Path(root) / name
                if any(x in (".ipynb_checkpoints", "__pycache__") for x in p.relative_to(base).parts):
                    continue
                if p.is_symlink() or (name in files and p.is_file()):
                    entries.append(p)
    for p in sorted(entries):
        if p.is_symlink():
            h.update(p.relative_to(base).as_posix().encode() + b"\0")
            h.update(b"symlink\0" + os.readlink(p).encode())
            continue
        h.update(p.relative_to(base).as_posix().encode() + b"\0")
        try:
            h.update(hashlib.sha256(p.read_bytes()).digest())
        except OSError:
            h.update(b"unreadable")
    return h.hexdigest()


def _links_in_path(course: Course, student: str, assignment: str) -> bool:
    """Is ``submitted/<student>`` or ``submitted/<student>/<assignment>`` a symbolic link?"""
    sub = course.directory("submitted") / student
    return sub.is_symlink() or (sub / assignment).is_symlink()


def specs_digest(specs: list[NotebookSpec]) -> str:
    return json.dumps([s.to_dict() for s in specs], sort_keys=True) + GRADER_VERSION


def record_path(course: Course, assignment: str, student: str) -> Path:
    return course.directory("autograded") / ".coursekit" / assignment / f"{student}.json"


def read_record(course: Course, assignment: str, student: str) -> dict | None:
    try:
        return json.loads(record_path(course, assignment, student).read_text())
    except (OSError, ValueError):
        return None


def graded_in_gradebook(course: Course, assignment: str) -> set[str]:
    """Students whose submission has an autograder score for every test cell.

    A written answer (a grade cell that is also a solution cell) has none once answered: it waits
    for a person, and does not make the submission look ungraded.
    """
    from nbgrader.api import MissingEntry

    from coursekit.instructor.store.gradebook import open_gradebook

    done = set()
    with open_gradebook(course) as gb:
        try:
            subs = gb.assignment_submissions(assignment)
        except MissingEntry:
            return done
        for sub in subs:
            # written answers (markdown answer cells) have no autograder score: a person gives it
            grades = [g for nb in sub.notebooks for g in nb.grades if g.cell.cell_type == "code"]
            if grades and all(g.auto_score is not None for g in grades):
                done.add(sub.student.id)
    return done


def is_complete(record: dict | None, fingerprint: str, in_gradebook: bool) -> bool:
    return bool(record and in_gradebook and record.get("status") == "graded"
                and record.get("fingerprint") == fingerprint)


def _timestamp(course: Course, assignment: str, student: str):
    """The submission time from ``timestamp.txt`` (as nbgrader reads it), or None."""
    from nbgrader.utils import parse_utc

    path = course.directory("submitted") / student / assignment / "timestamp.txt"
    if _links_in_path(course, student, assignment) or path.is_symlink():
        return None
    try:
        text = path.read_text().strip()
        return parse_utc(text) if text else None
    except (OSError, ValueError, TypeError, OverflowError):
        return None


def _write_autograded(course: Course, assignment: str, student: str, result: dict) -> None:
    from nbgrader.utils import find_all_files

    dest = course.directory("autograded") / student / assignment
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{assignment}.writing-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    submitted = course.directory("submitted") / student / assignment
    ignore = list(course.config().CourseDirectory.get("ignore", [".ipynb_checkpoints", "*.pyc", "__pycache__"]))
    if submitted.is_dir() and not _links_in_path(course, student, assignment):
        for f in find_all_files(str(submitted), ignore + ["*.ipynb"]):
            rel = os.path.relpath(f, submitted)
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if not os.path.islink(f):
                shutil.copy(f, target)
    source = course.solutions / assignment
    if source.is_dir():
        for f in find_all_files(str(source), ignore + ["*.ipynb"]):
            target = tmp / os.path.relpath(f, source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, target)
    for name, entry in result["notebooks"].items():
        if entry.get("notebook"):
            (tmp / f"{name}.ipynb").write_text(entry["notebook"])
    replace_folder(tmp, dest)


def _late_plugin(course: Course):
    from nbgrader.preprocessors import AssignLatePenalties

    pp = AssignLatePenalties(config=course.config())
    pp.init_plugin()
    return pp


def write_result(course: Course, result: dict, specs: list[NotebookSpec], fingerprint: str) -> None:
    """Record one graded submission: autograded files, gradebook (one commit), then the record."""
    from coursekit.instructor.store.gradebook import open_gradebook

    assignment, student = result["assignment"], result["student"]
    _write_autograded(course, assignment, student, result)
    late = _late_plugin(course)
    with warnings.catch_warnings(), open_gradebook(course) as gb:
        warnings.simplefilter("ignore")   # SQLAlchemy 2.x warns about nbgrader's session use
        gb.update_or_create_student(student)
        ts = _timestamp(course, assignment, student)
        submission = (gb.update_or_create_submission(assignment, student, timestamp=ts) if ts
                      else gb.update_or_create_submission(assignment, student))
        for spec in specs:
            entry = result["notebooks"].get(spec.name, {})
            grades = entry.get("grades", {})
            unchanged = entry.get("unchanged", {})
            snb = gb.find_submission_notebook(spec.name, assignment, student)
            for grade in snb.grades:
                g = grades.get(grade.name)
                score = None if g is None else g.get("score")
                if g is None and entry.get("status") != "ok":
                    score = 0.0
                grade.auto_score = None if score is None else float(score)
                if entry.get("status") == "missing":
                    grade.needs_manual_grade = False   # as nbgrader does for a missing notebook
                else:
                    grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
            for comment in snb.comments:
                if comment.name in unchanged:
                    comment.auto_comment = "No response." if unchanged[comment.name] else None
            if submission.total_seconds_late > 0:
                gb.db.flush()
                gb.db.expire(snb)              # its score is computed by the database
                penalty = late.plugin_inst.late_submission_penalty(student, snb.score,
                                                                   submission.total_seconds_late)
                penalty = max(0.0, min(float(penalty or 0.0), float(snb.score)))
                snb.late_submission_penalty = penalty
        gb.db.commit()
    record = {k: v for k, v in result.items() if k != "notebooks"}
    record["notebooks"] = {name: {k: v for k, v in entry.items() if k != "notebook"}
                           for name, entry in result["notebooks"].items()}
    record["fingerprint"] = fingerprint
    record["graded_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    path = record_path(course, assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)
