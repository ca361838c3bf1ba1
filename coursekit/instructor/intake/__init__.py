"""Stage 1, intake: submissions in, each notebook read and repaired against the source.

- :mod:`.collect` -- an LMS download (Canvas, Moodle, a folder) into ``submitted/``;
- :mod:`.deadlines` -- due dates, per-student extensions, the late penalty;
- :mod:`.notebook` -- one submitted notebook, size-capped, read and its graded cells
  restored from the trusted release (:func:`~.notebook.read_submission`);
- :mod:`.submissions` -- building submissions programmatically (demo, tests, benches).
"""
