"""Deliberately wrong implementations ("mutants"), one catalogue per assignment.

Each mutant replaces one solution cell with a classic student bug. Grading must
take points off that unit, and the failure message must explain the bug (the
``expect`` regular expression is matched against the failing cells' messages).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str      # short id, also the fake student's name in end-to-end grading
    unit: str      # the solution cell it replaces
    code: str      # the wrong cell
    expect: str    # regex the failure message must match (case-insensitive)


def catalogues() -> dict:
    """``{assignment: [Mutant, ...]}`` from every ``m*.py`` module in this folder."""
    import importlib
    import pkgutil

    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            found[module.ASSIGNMENT] = module.MUTANTS
    return dict(sorted(found.items()))
