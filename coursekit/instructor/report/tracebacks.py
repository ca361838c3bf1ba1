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

from coursekit.instructor.markers import Markers

__all__ = ["ShortTracebacks"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _hidden_lines(source: str, markers: Markers) -> set[str]:
    """The hidden-test lines of a test cell long enough to recognise in a traceback."""
    return {line.strip() for line in markers.hidden_lines(source) if len(line.strip()) > 8}


def _keep(entry: str, hidden: set[str], markers: Markers) -> bool:
    plain = _ANSI.sub("", entry)
    if markers.begin_hidden in plain or markers.end_hidden in plain:  # they say where hidden code is
        return False
    if "coursekit/grading/" in plain or "coursekit\\grading\\" in plain:
        return False
    return not any(line in plain for line in hidden)


class ShortTracebacks(Preprocessor):
    """Trim error tracebacks of grade cells to the student's frames and the message."""

    enabled = Bool(True).tag(config=True)

    def _markers(self) -> Markers:
        """The course's hidden-test delimiters, from the config nbgrader runs this with."""
        if getattr(self, "_markers_cache", None) is None:
            self._markers_cache = Markers.from_config(self.config)
        return self._markers_cache

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            return cell, resources
        markers = self._markers()
        hidden = _hidden_lines(cell.source, markers)
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
            kept = [e for e in output.get("traceback", []) if _keep(e, hidden, markers)]
            if not kept or _ANSI.sub("", kept[-1]).strip() != message.strip():
                kept.append(message)
            output["traceback"] = kept
        return cell, resources
