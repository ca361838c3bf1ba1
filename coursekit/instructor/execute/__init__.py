"""Stage 2, execute: the student's cells in a sandbox, the tests in a trusted judge.

- :mod:`.sandbox` -- a kernel process with its own root, user, processes and limits;
- :mod:`.runner` -- the kernel inside it: runs student cells, answers the judge;
- :mod:`.wire` -- the framed, plain-data messages between the two (never pickle);
- :mod:`.proxy` -- the judge's connection to the kernel and proxies for its objects;
- :mod:`.capture` -- cell outputs kept as nbformat dicts;
- :mod:`.judge` -- one submission: every notebook, cell by cell;
- :mod:`.workers` -- a few worker processes grading submissions in parallel;
- :mod:`.limits` -- the resource limits of one submission.
"""
