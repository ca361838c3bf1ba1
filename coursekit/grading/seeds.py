"""Fresh, reproducible random inputs for hidden tests.

Each grading run draws new inputs, so hard-coding answers cannot pass hidden
tests, yet every draw can be replayed: the run's seed is printed in the test
cell's output (and so in the student's feedback). Set ``COURSEKIT_SEED`` to that
number to draw exactly the same inputs again.
"""
from __future__ import annotations

import os
import secrets
import zlib

import numpy as np

__all__ = ["run_seed", "fresh_rng", "SEED_VARIABLE"]

SEED_VARIABLE = "COURSEKIT_SEED"
_RUN_SEED: int | None = None


def run_seed() -> int:
    """The seed of this grading run: ``$COURSEKIT_SEED`` if set, else drawn once per process."""
    global _RUN_SEED
    env = os.environ.get(SEED_VARIABLE, "").strip()
    if env:
        return int(env)
    if _RUN_SEED is None:
        _RUN_SEED = secrets.randbelow(2**31 - 1)
    return _RUN_SEED


def fresh_rng(unit: str, *, announce: bool = True) -> np.random.Generator:
    """A generator for ``unit``'s hidden-test inputs, different on every grading run.

    The stream depends on the run seed and on the unit's name only, so two units
    never share inputs and a replay with ``COURSEKIT_SEED=<seed>`` is exact.
    """
    seed = run_seed()
    if announce:
        print(f"[{unit}] hidden-test inputs drawn with seed {seed} "
              f"(replay them with {SEED_VARIABLE}={seed})")
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(unit.encode())]))
