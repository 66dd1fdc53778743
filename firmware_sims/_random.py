"""Small samplers on a seeded random.Random (the standard library has no Poisson or binomial)."""

from __future__ import annotations

import math
import random

__all__ = ["binomial", "poisson", "seeded"]

# Below this mean Knuth's method is exact and cheap; above it the normal approximation is
# within a person or two, which is all a room needs.
_EXACT_LIMIT = 30.0


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson-distributed count with mean ``lam``."""
    if lam <= 0:
        return 0
    if lam < _EXACT_LIMIT:
        limit = math.exp(-lam)
        k = 0
        p = rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def binomial(rng: random.Random, n: int, p: float) -> int:
    """How many of ``n`` trials succeed with probability ``p``."""
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if n < _EXACT_LIMIT:
        return sum(1 for _ in range(n) if rng.random() < p)
    mean = n * p
    return min(n, max(0, round(rng.gauss(mean, math.sqrt(mean * (1 - p))))))


def seeded(*parts: object) -> random.Random:
    """A generator seeded from ``parts``: the same parts give the same numbers on every run."""
    # String seeds go through SHA-512 (random's version 2 seeding), stable across processes.
    # Simulation noise, never secrets.
    return random.Random(":".join(str(p) for p in parts))  # noqa: S311
