"""nbgrader configuration for the coursekit course.

Lives at the repository root so that plain ``nbgrader generate_assignment``,
``autograde``, ``generate_feedback`` and ``export`` work from here, exactly as
``coursekit release / grade / feedback / export`` do.
"""
import os

c = get_config()  # noqa: F821  (injected by traitlets)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "coursekit"
c.CourseDirectory.source_directory = "solutions"   # solved reference notebooks
c.CourseDirectory.release_directory = "assignments"  # generated student release (committed)
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# sqlite by default; point COURSEKIT_DB_URL at PostgreSQL for a shared course server.
c.CourseDirectory.db_url = os.environ.get(
    "COURSEKIT_DB_URL",
    "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db"),
)
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.png", "*.html",
    # grader-only data beside a source notebook (04_training's held-out digits and the diagnosis key):
    # never copied into the release, nor into a student's autograded folder
    "heldout",
]

# Student stubs: keep signature and docstring, body raises NotImplementedError.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError(\"not implemented yet: replace this line with your code\")",
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Execution during autograding: every cell gets at most this many seconds. `coursekit grade`
# (sandboxed, parallel: see coursekit/instructor/pipeline.py) uses the same value as its default
# --cell-timeout; its other limits (memory, processes, output, time per submission) are flags.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# Cap what a cell may print (floods are cut, not stored); `coursekit grade` applies these too.
c.LimitOutput.max_lines = 300
c.LimitOutput.max_traceback = 60
# A student who deletes a test cell gets it back, instead of "needs manual grade".
c.OverwriteCells.add_missing_cells = True
c.Autograde.create_student = True
# Feedback shows each test's result and message, but not the hidden tests' code
# (nor, in tracebacks, the lines around a failure inside a hidden test).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "coursekit.instructor.report.tracebacks.ShortTracebacks",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Late work. The due date is nbgrader's (`nbgrader db assignment add 01_softmax --duedate
# "2026-03-01 23:59:00 UTC"`); per-student extensions are `coursekit extend` (extensions.json).
# A late submission (after the due date or the student's extension) scores 0 -- nbgrader's
# 'zero' method; 'none' only flags it. coursekit's export, feedback and report apply the same
# plugin (coursekit/instructor/intake/deadlines.py); point AssignLatePenalties.plugin_class at your own
# LateSubmissionPlugin subclass for a graded penalty.
c.LateSubmissionPlugin.penalty_method = "zero"

# `nbgrader zip_collect ASSIGNMENT` (LMS downloads in downloaded/<assignment>/archive/): Canvas
# file names, `name_[late_]userid_submissionid_notebook[-N][ (N)].ipynb`; the Canvas user id
# becomes the student id. `coursekit collect` does more (Moodle, rosters, versions, times).
c.FileNameCollectorPlugin.named_regexp = (
    r".*/[^/_]+_(?:late_|LATE_)?(?P<student_id>\d+)_\d+_(?P<file_id>[^/]+?)(?:-\d+)?(?: ?\(\d+\))?\.ipynb$"
)
