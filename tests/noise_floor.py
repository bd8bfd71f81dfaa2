"""Accuracy floors for tests: the measured figure minus its sampling noise.

A test that re-measures an accuracy on a fixed set should fail when the thing
measured got worse, and not merely when it got catastrophically worse. So a
floor is pinned at the figure measured once (``correct`` of ``n``) minus two
standard errors of a binomial proportion::

    p = correct / n
    floor = p − 2·sqrt(p·(1 − p) / n)          when n·p·(1 − p) ≥ 5

and, where that normal approximation does not hold (small ``n``, or ``p`` near
0 or 1 — a family with 20 of 20 right has zero estimated variance), the lower
end of the Wilson score interval with the same z = 2::

    (p + z²/2n − z·sqrt(p(1 − p)/n + z²/4n²)) / (1 + z²/n)

Two standard errors is about the 2.3% one-sided tail: a retrained or
re-quantised model that is as good as the one measured stays above its floor
with high probability, while a drop of a few points (about two standard errors)
fails.
"""

from __future__ import annotations

import math

__all__ = ["noise_floor"]


def noise_floor(correct: int, n: int, z: float = 2.0) -> float:
    """Lower bound for a re-measured accuracy, from ``correct`` right out of ``n`` measured before."""
    if n <= 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n and n > 0, got {correct}/{n}")
    p = correct / n
    if n * p * (1 - p) >= 5:
        return p - z * math.sqrt(p * (1 - p) / n)
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (centre - spread) / (1 + z2 / n)
