"""Stage 3, score: test results into points, and proof that the tests are honest.

- :mod:`.scoring` -- nbgrader's own rules (its ``LimitOutput`` and ``IgnorePattern``
  preprocessors, ``determine_grade``) applied to a judged notebook;
- :mod:`.preflight` -- before a class is graded: the reference scores full marks and
  the blank release 0, in the same sandbox.
"""
