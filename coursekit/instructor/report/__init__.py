"""Stage 5, report: what grading found, for students and instructors.

- :mod:`.feedback` -- one HTML page per student and notebook;
- :mod:`.tracebacks` -- feedback tracebacks that reveal no hidden test;
- :mod:`.class_report` -- the class at a glance;
- :mod:`.lms_export` -- grades out to Canvas, Moodle or a spreadsheet;
- :mod:`.similarity` -- which submissions are unusually alike.
"""
