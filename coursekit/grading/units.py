"""Which unit a test cell belongs to: the naming rule of the course contract.

Every graded unit is one solution cell whose ``grade_id`` is the unit's name; its tests are
grade cells named ``test_<unit>...``. Used by the student's self-check and by the
instructor's results, feedback and report alike.
"""
from __future__ import annotations

__all__ = ["unit_of"]


def unit_of(test_id: str, units: list[str]) -> str:
    """The unit a test cell belongs to: ``test_softmax_loss_grad`` -> ``softmax_loss``.

    Test cells are named ``test_<unit>...``; the longest unit name that fits wins.
    """
    name = test_id[5:] if test_id.startswith("test_") else test_id
    matches = [u for u in units if name == u or name.startswith(u + "_")]
    return max(matches, key=len) if matches else name
