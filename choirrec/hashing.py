"""A fixed hash of int64 ids: sharding, valid/test splits by user and activity tie-breaks.

Anything that must put the same user in the same place on every run, machine and worker
count hashes its id with :func:`mix64` — never Python's ``hash`` (salted per process) and
never the id itself (ids often correlate with sign-up date).
"""

from __future__ import annotations

import numpy as np


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fixed, well-spread uint64 hash of int64 ids (stable across runs)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
