"""Publishing to students: the release generated from ``solutions/`` and the student-only tree."""
