"""``coursekit grade``: autograde every submission with nbgrader, scores into the gradebook.

The pipeline is nbgrader's own (sanitize, restore locked and test cells,
execute in a fresh kernel, save grades); this module makes sure the gradebook
knows the assignment, runs it, and reads the scores back.
"""
from __future__ import annotations

import time
from pathlib import Path

from .course import Course
from .results import SubmissionResult, read_results

__all__ = ["ensure_in_gradebook", "grade", "generate_feedback"]


def ensure_in_gradebook(course: Course, assignment: str) -> None:
    """Record ``assignment`` (its notebooks and grade cells) in the gradebook if it is not there.

    Generation goes to a scratch release folder so the committed ``assignments/``
    is left exactly as it is.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.course_id) as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    scratch = course.root / "autograded" / ".release-scratch"
    course.nbgrader("generate_assignment", assignment, "--force",
                    f"--CourseDirectory.release_directory={scratch}",
                    log=course.root / "autograded" / ".logs" / f"gradebook-{assignment}.log")


def grade(course: Course, assignment: str, student: str | None = None,
          force: bool = True) -> list[SubmissionResult]:
    """Autograde ``submitted/*/<assignment>`` (or one student's); return their results."""
    if not (course.solutions / assignment).is_dir():
        raise FileNotFoundError(f"unknown assignment {assignment!r}: expected one of "
                                f"{', '.join(course.assignments())}")
    students = [student] if student else course.students(assignment)
    if student and student not in course.students(assignment):
        raise FileNotFoundError(f"no submission at submitted/{student}/{assignment}/")
    ensure_in_gradebook(course, assignment)
    args = ["autograde", assignment]
    if student:
        args += ["--student", student]
    if force:
        args.append("--force")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    course.nbgrader(*args, log=course.root / "autograded" / ".logs" / f"autograde-{assignment}-{stamp}.log")
    return read_results(course, assignment, students)


def generate_feedback(course: Course, assignment: str, student: str | None = None) -> Path:
    """HTML feedback for graded submissions, under ``feedback/<student>/<assignment>/``."""
    args = ["generate_feedback", assignment, "--force"]
    if student:
        args += ["--student", student]
    course.nbgrader(*args, log=course.root / "autograded" / ".logs" / f"feedback-{assignment}.log")
    return course.directory("feedback")
