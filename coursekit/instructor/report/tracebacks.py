"""Feedback tracebacks that help the student and reveal no hidden test.

nbgrader's feedback shows a failing test cell's full IPython traceback: frames
inside coursekit's helpers (noise to a student) and the test cell's own lines
around the failure, which may be hidden-test code. This preprocessor, run by
``generate_feedback`` (see ``nbgrader_config.py``) before the hidden tests are
cleared, keeps the frames of the student's own code and the final message.
"""
from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

__all__ = ["ShortTracebacks"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _hidden_lines(source: str) -> set[str]:
    lines, inside = set(), False
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif inside and len(line.strip()) > 8:
            lines.add(line.strip())
    return lines


def _keep(entry: str, hidden: set[str]) -> bool:
    plain = _ANSI.sub("", entry)
    if "HIDDEN TESTS" in plain:  # the markers themselves say where hidden code is
        return False
    if "coursekit/grading/" in plain or "coursekit\\grading\\" in plain:
        return False
    return not any(line in plain for line in hidden)


class ShortTracebacks(Preprocessor):
    """Trim error tracebacks of grade cells to the student's frames and the message."""

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            return cell, resources
        hidden = _hidden_lines(cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
            kept = [e for e in output.get("traceback", []) if _keep(e, hidden)]
            if not kept or _ANSI.sub("", kept[-1]).strip() != message.strip():
                kept.append(message)
            output["traceback"] = kept
        return cell, resources
