"""Due dates, per-student extensions and nbgrader's late-submission penalty, in one place.

- The **due date** is nbgrader's: ``Assignment.duedate`` in the gradebook
  (``nbgrader db assignment add 01_softmax --duedate "2026-03-01 23:59:00 UTC"``
  or formgrader's "Manage Assignments"). No due date: nothing is ever late.
- The **submission time** is nbgrader's ``timestamp.txt`` in
  ``submitted/<student>/<assignment>/`` (written by ``nbgrader submit`` /
  ``collect`` and by ``coursekit collect``), as the gradebook recorded it at
  grading, else read from the file.
- An **extension** (``coursekit extend STUDENT ASSIGNMENT --until DATE``) is
  stored with the course in ``extensions.json`` at its root,
  ``{assignment: {student: "YYYY-MM-DD HH:MM:SS UTC"}}``, because it must exist
  before the student has submitted (nbgrader's own ``SubmittedAssignment.extension``
  needs a submission row). :func:`apply_extensions` copies them into the gradebook
  so that formgrader and ``nbgrader export`` agree.
- The **penalty** is computed by the late-submission plugin configured in
  ``nbgrader_config.py`` (``AssignLatePenalties.plugin_class``,
  ``LateSubmissionPlugin.penalty_method``), per notebook, capped at the
  notebook's score, exactly as nbgrader's ``AssignLatePenalties`` does.

Every coursekit output (export, feedback, report, and the grade summary through
:func:`~coursekit.instructor.store.results.read_results`) goes through :func:`late_penalty`
and :func:`effective_score`.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from coursekit.instructor.course import Course

__all__ = ["Lateness", "parse_time", "format_time", "due_date", "read_extensions", "set_extension",
           "submission_time", "lateness", "late_plugin", "late_penalty", "effective_score",
           "apply_extensions", "EXTENSIONS_FILE"]

EXTENSIONS_FILE = "extensions.json"


def parse_time(text) -> datetime | None:
    """A time as naive UTC (nbgrader's convention); strings may carry a zone (``... UTC``, ``+01:00``)."""
    from nbgrader.utils import parse_utc

    if text is None or text == "":
        return None
    return parse_utc(text.strip() if isinstance(text, str) else text)


def format_time(when: datetime) -> str:
    """Naive UTC -> ``2026-03-01 23:59:00.000000 UTC`` (what ``nbgrader submit`` writes)."""
    return when.strftime("%Y-%m-%d %H:%M:%S.%f") + " UTC"


@dataclass(frozen=True)
class Lateness:
    """When one submission was due and made (naive UTC datetimes; None: unknown / no due date)."""

    due: datetime | None
    extended_until: datetime | None
    submitted: datetime | None

    @property
    def deadline(self) -> datetime | None:
        """The student's own deadline: the extension if it is later than the due date."""
        if self.due is None:
            return None
        if self.extended_until is not None and self.extended_until > self.due:
            return self.extended_until
        return self.due

    @property
    def seconds_late(self) -> float:
        if self.deadline is None or self.submitted is None:
            return 0.0
        return max(0.0, (self.submitted - self.deadline).total_seconds())

    def describe(self) -> str:
        """One line for feedback and reports."""
        if self.due is None:
            return "no due date"
        parts = [f"due {format_time(self.due)[:16]} UTC"]
        if self.deadline != self.due:
            parts.append(f"extended to {format_time(self.deadline)[:16]} UTC")
        if self.submitted is not None:
            parts.append(f"submitted {format_time(self.submitted)[:16]} UTC")
        late = self.seconds_late
        if late > 0:
            hours = late / 3600
            parts.append(f"late by {hours:.1f} h" if hours < 48 else f"late by {hours / 24:.1f} days")
        return ", ".join(parts)


# -- due dates, times, extensions ----------------------------------------------------------------
def due_date(course: Course, assignment: str, gb=None) -> datetime | None:
    """The assignment's due date from the gradebook (naive UTC), or None."""
    from nbgrader.api import MissingEntry

    from coursekit.instructor.store.gradebook import open_gradebook

    if gb is None:
        with open_gradebook(course) as gb2:
            return due_date(course, assignment, gb2)
    try:
        return gb.find_assignment(assignment).duedate
    except MissingEntry:
        return None


def _extensions_path(course: Course) -> Path:
    return course.root / EXTENSIONS_FILE


def read_extensions(course: Course) -> dict[str, dict[str, datetime]]:
    """``{assignment: {student: until}}`` from ``extensions.json`` (empty if there is none)."""
    path = _extensions_path(course)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected {{assignment: {{student: date}}}}")
    return {str(a): {str(s): parse_time(str(t)) for s, t in (per or {}).items()}
            for a, per in data.items()}


def set_extension(course: Course, student: str, assignment: str, until: datetime | None) -> Path:
    """Record (or with ``until=None`` remove) an extension in ``extensions.json``; atomic write."""
    from filelock import FileLock

    path = _extensions_path(course)
    with FileLock(str(path) + ".lock"):
        data = json.loads(path.read_text()) if path.exists() else {}
        per = data.setdefault(assignment, {})
        if until is None:
            per.pop(student, None)
            if not per:
                data.pop(assignment)
        else:
            per[student] = format_time(until)
        fd, tmp = tempfile.mkstemp(dir=course.root, prefix=".extensions-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    try:
        os.remove(str(path) + ".lock")
    except OSError:
        pass
    return path


def submission_time(course: Course, assignment: str, student: str) -> datetime | None:
    """``submitted/<student>/<assignment>/timestamp.txt`` as naive UTC, or None."""
    path = course.directory("submitted") / student / assignment / "timestamp.txt"
    try:
        text = path.read_text()[:200].strip()
        return parse_time(text) if text else None
    except (OSError, ValueError, TypeError, OverflowError):
        return None


def lateness(course: Course, assignment: str, student: str, *, due: datetime | None = None,
             submitted: datetime | None = None, extensions: dict | None = None) -> Lateness:
    """The :class:`Lateness` of one submission (pass what you already read to save look-ups)."""
    if extensions is None:
        extensions = read_extensions(course)
    if submitted is None:
        submitted = submission_time(course, assignment, student)
    return Lateness(due, extensions.get(assignment, {}).get(student), submitted)


# -- the penalty -----------------------------------------------------------------------------------
def late_plugin(course: Course):
    """The late-submission plugin ``nbgrader_config.py`` configures (nbgrader's by default)."""
    from nbgrader.preprocessors import AssignLatePenalties

    pp = AssignLatePenalties(config=course.config())
    pp.init_plugin()
    return pp.plugin_inst


def late_penalty(plugin, student: str, notebook_scores: dict[str, float] | list[float],
                 seconds_late: float) -> float:
    """Points taken off: the plugin's penalty per notebook, each between 0 and that notebook's score.

    ``notebook_scores``: the raw score of each notebook of the submission
    (manual grades included). Nothing is taken off work that was on time.
    """
    if seconds_late <= 0:
        return 0.0
    scores = notebook_scores.values() if isinstance(notebook_scores, dict) else notebook_scores
    total = 0.0
    for score in scores:
        p = plugin.late_submission_penalty(student, float(score), float(seconds_late))
        total += max(0.0, min(float(p or 0.0), float(score)))
    return total


def effective_score(raw_score: float, penalty: float) -> float:
    """The score that counts: raw score minus the late penalty, never below 0 (as ``nbgrader export``)."""
    return max(0.0, float(raw_score) - float(penalty))


# -- keeping the gradebook in step ------------------------------------------------------------------
def apply_extensions(course: Course, assignment: str) -> list[str]:
    """Write extensions and recomputed late penalties into the gradebook's submissions.

    For every graded submission of ``assignment``: ``SubmittedAssignment.extension``
    becomes (extension - due date) or None, and each notebook's
    ``late_submission_penalty`` is recomputed from the timestamp and that deadline.
    Formgrader and ``nbgrader export`` then show what coursekit shows. Returns the
    students whose penalty changed. Call it after grading (``coursekit grade``) and
    after ``coursekit extend``.
    """
    import warnings

    from nbgrader.api import MissingEntry

    from coursekit.instructor.store.gradebook import open_gradebook

    extensions = read_extensions(course).get(assignment, {})
    plugin = late_plugin(course)
    changed = []
    with warnings.catch_warnings(), open_gradebook(course) as gb:
        warnings.simplefilter("ignore")
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            return []
        for sub in gb.assignment_submissions(assignment):
            until = extensions.get(sub.student.id)
            ext = (until - a.duedate) if (until and a.duedate and until > a.duedate) else None
            sub.extension = ext if ext is None or ext > timedelta(0) else None
            gb.db.flush()
            late = sub.total_seconds_late
            for snb in sub.notebooks:
                gb.db.expire(snb)
                old = float(snb.late_submission_penalty or 0.0)
                new = late_penalty(plugin, sub.student.id, [float(snb.score)], late)
                if abs(new - old) > 1e-12:
                    snb.late_submission_penalty = new
                    if sub.student.id not in changed:
                        changed.append(sub.student.id)
        gb.db.commit()
    return changed
