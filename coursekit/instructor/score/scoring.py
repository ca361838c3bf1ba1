"""Points for a judged notebook, by nbgrader's own rules.

After the judge has run every cell, the notebook goes through the two nbgrader
preprocessors that ``nbgrader autograde`` applies to outputs -- ``IgnorePattern``
(drop stderr lines matching the course's pattern, if enabled) and ``LimitOutput``
(cap output lines and traceback length) -- configured from the course's
``nbgrader_config.py``; then each graded cell gets nbgrader's ``determine_grade``.

:func:`output_settings` reads that configuration in the instructor's process (the judge
gets plain numbers); :func:`score_notebook` runs in the judge.
"""
from __future__ import annotations

import logging

__all__ = ["output_settings", "score_notebook", "failure_message"]

log = logging.getLogger("coursekit.instructor.score")


def output_settings(config=None) -> dict:
    """The course's ``LimitOutput`` and ``IgnorePattern`` settings, as plain data.

    ``config``: the course's traitlets config (``Course.config()``); None gives nbgrader's
    defaults. Values come from nbgrader's own preprocessors, so their defaults are nbgrader's.
    """
    from nbgrader.preprocessors import IgnorePattern, LimitOutput

    limit = LimitOutput(config=config) if config is not None else LimitOutput()
    ignore = IgnorePattern(config=config) if config is not None else IgnorePattern()
    return {"max_lines": int(limit.max_lines), "max_traceback": int(limit.max_traceback),
            "ignore_pattern": str(ignore.pattern) if ignore.enabled else ""}


def _output_preprocessors(settings: dict) -> list:
    from nbgrader.preprocessors import IgnorePattern, LimitOutput

    steps = []
    if settings.get("ignore_pattern"):
        steps.append(IgnorePattern(pattern=str(settings["ignore_pattern"]), enabled=True))
    steps.append(LimitOutput(max_lines=int(settings.get("max_lines", LimitOutput.max_lines.default_value)),
                             max_traceback=int(settings.get("max_traceback",
                                                            LimitOutput.max_traceback.default_value))))
    return steps


def failure_message(cell) -> str:
    """Why a test cell failed, in one paragraph (its CheckFailed message); '' for an answer cell."""
    outputs = cell.get("outputs", [])       # a manually graded markdown answer has none
    for o in outputs:
        if o.output_type == "error":
            ename, evalue = o.get("ename", ""), o.get("evalue", "")
            if ename in ("CheckFailed", "AssertionError") and evalue:
                return evalue
            return f"{ename}: {evalue}" if evalue else ename
    for o in outputs:
        if o.output_type == "stream" and o.name == "stderr":
            first = o.text.strip().splitlines()[-1] if o.text.strip() else ""
            return f"the test wrote to stderr (a warning or an error message): {first[:500]}"
    return ""


def score_notebook(nb, spec, settings: dict) -> dict:
    """Grades of a judged notebook ``nb`` (nbformat node, changed in place: outputs limited).

    ``spec``: its :class:`~coursekit.instructor.intake.notebook.NotebookSpec`; ``settings``:
    :func:`output_settings`. Returns ``{"grades": {grade_id: {"score", "max", "manual",
    "passed", "message", "stdout"}}, "unchanged": {grade_id: bool}}`` (``unchanged``: a
    solution cell left as released).
    """
    from nbgrader.utils import compute_checksum, determine_grade, is_grade, is_solution

    for step in _output_preprocessors(settings):
        nb, _ = step.preprocess(nb, {})
    grades: dict[str, dict] = {}
    unchanged: dict[str, bool] = {}
    for cell in nb.cells:
        if is_grade(cell):
            gid = cell.metadata.nbgrader["grade_id"]
            score, max_score = determine_grade(cell, log)
            stdout = "".join(o.text for o in cell.get("outputs", [])
                             if o.output_type == "stream" and o.name == "stdout")
            passed = score is not None and score >= max_score
            grades[gid] = {"score": score, "max": max_score,
                           # a written answer (grade + solution cell) waits for a person
                           "manual": bool(is_solution(cell)),
                           "passed": passed,
                           "message": "" if passed else failure_message(cell),
                           "stdout": stdout[-4000:]}
        if is_solution(cell):
            gid = cell.metadata.nbgrader["grade_id"]
            unchanged[gid] = cell.metadata.nbgrader.get("checksum") == compute_checksum(cell)
    for gid, points in spec.points.items():
        if gid not in grades and gid not in spec.solutions:
            grades[gid] = {"score": 0.0, "max": float(points), "passed": False,
                           "message": "this test cell could not be run", "stdout": ""}
    return {"grades": grades, "unchanged": unchanged}
