"""nbgrader's solution and hidden-test markers, as the course configures them.

nbgrader marks the reference code of a solution cell and the hidden part of a test cell
with delimiter lines; which text they hold is configuration
(``ClearSolutions.begin_solution_delimeter`` / ``end_solution_delimeter``,
``ClearHiddenTests.begin_test_delimeter`` / ``end_test_delimeter``). This module is the
one place coursekit reads them, with nbgrader's rule for a delimiter line: *any line that
contains the delimiter* (``ClearSolutions`` and ``ClearHiddenTests`` test ``delimiter in
line``). Without a course, nbgrader's defaults apply.

Used by intake (the released part of a test cell), the submissions built for the demo and
the tests (solved code without its marker lines), the feedback tracebacks (no hidden-test
line shown) and the student tree's leak check (no marker, no solution body).

Shapes: every function takes and returns cell sources as ``str``; :class:`Markers` is
plain data (``to_dict``/``from_dict``) so it can travel to a judge process.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

__all__ = ["Markers"]


@dataclass(frozen=True)
class Markers:
    """The four delimiters of a course (see nbgrader's ``ClearSolutions``/``ClearHiddenTests``)."""

    begin_solution: str
    end_solution: str
    begin_hidden: str
    end_hidden: str

    # -- where they come from ------------------------------------------------------
    @classmethod
    def from_config(cls, config=None) -> "Markers":
        """The delimiters nbgrader's preprocessors use under ``config`` (a traitlets Config,
        e.g. ``Course.config()``; None: nbgrader's defaults). ``config`` is not changed."""
        from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

        if config is None:
            return cls.default()
        solutions = ClearSolutions(config=copy.deepcopy(config))
        hidden = ClearHiddenTests(config=copy.deepcopy(config))
        return cls(str(solutions.begin_solution_delimeter), str(solutions.end_solution_delimeter),
                   str(hidden.begin_test_delimeter), str(hidden.end_test_delimeter))

    @classmethod
    def of_course(cls, course) -> "Markers":
        """The delimiters of a :class:`~coursekit.instructor.course.Course` (its ``nbgrader_config.py``)."""
        return cls.from_config(course.config())

    @classmethod
    def default(cls) -> "Markers":
        """nbgrader's default delimiters (read from its traits, not spelled here)."""
        from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

        return cls(ClearSolutions.begin_solution_delimeter.default_value,
                   ClearSolutions.end_solution_delimeter.default_value,
                   ClearHiddenTests.begin_test_delimeter.default_value,
                   ClearHiddenTests.end_test_delimeter.default_value)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "Markers":
        return cls(**d) if d else cls.default()

    @property
    def all(self) -> tuple[str, str, str, str]:
        """``(begin solution, end solution, begin hidden, end hidden)``."""
        return (self.begin_solution, self.end_solution, self.begin_hidden, self.end_hidden)

    # -- lines -----------------------------------------------------------------------
    def is_delimiter_line(self, line: str) -> bool:
        """Whether nbgrader would take ``line`` for one of the four delimiters."""
        return any(m in line for m in self.all)

    def is_bare_marker_line(self, line: str) -> bool:
        """Whether ``line`` is nothing but a delimiter (with comment marks ``#`` and blanks
        around it): the strict test used on non-notebook files, which may *mention* one."""
        bare = line.strip().lstrip("#").strip()
        return bool(bare) and bare in {m.strip().lstrip("#").strip() for m in self.all}

    # -- hidden tests ----------------------------------------------------------------
    def _split_hidden(self, source: str) -> tuple[list[str], list[str]]:
        visible, hidden, inside = [], [], False
        for line in source.split("\n"):
            if self.begin_hidden in line:
                inside = True
            elif self.end_hidden in line:
                inside = False
            elif inside:
                hidden.append(line)
            else:
                visible.append(line)
        return visible, hidden

    def visible_part(self, source: str) -> str:
        """A test cell as released: without its hidden-test regions (nbgrader's rule)."""
        return "\n".join(self._split_hidden(source)[0])

    def hidden_lines(self, source: str) -> list[str]:
        """The lines inside a test cell's hidden-test regions (delimiters excluded)."""
        return self._split_hidden(source)[1]

    # -- solutions -------------------------------------------------------------------
    def _split_solutions(self, source: str) -> tuple[list[str], list[str], int]:
        """``(lines outside solutions, solution bodies, number of regions)``."""
        outside, bodies, current = [], [], None
        for line in source.split("\n"):
            if self.begin_solution in line:
                if current is not None:         # a second begin: the first region never closed
                    outside += current
                current = [line]
            elif self.end_solution in line and current is not None:
                bodies.append("\n".join(current[1:]))
                current = None
            elif current is not None:
                current.append(line)
            else:
                outside.append(line)
        if current is not None:                 # never closed: not a region
            outside += current
        return outside, bodies, len(bodies)

    def solution_bodies(self, source: str) -> list[str]:
        """The code between each pair of solution delimiters (an unclosed region is not one)."""
        return self._split_solutions(source)[1]

    def without_solutions(self, source: str) -> str:
        """``source`` with its solution regions (delimiters and bodies) removed: what is given."""
        return "\n".join(self._split_solutions(source)[0])

    def strip_solution_delimiters(self, source: str) -> str:
        """The solved code of a cell: ``source`` without its solution delimiter lines."""
        return "\n".join(line for line in source.splitlines()
                         if not (self.begin_solution in line or self.end_solution in line))
