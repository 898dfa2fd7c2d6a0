"""How surprising a count is: the few tail probabilities the rules judge "unusual" by.

A rule that compares a count with a norm (the employee's own, the peer group's) must also ask whether
so few or so many would happen by chance at that norm: a handful of events a day varies a lot, and a
rule checked every day for every employee sees the rare day often. These helpers give the chance.
"""

from __future__ import annotations

import math


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p): how surprising k of n is where p is the usual share."""
    q = 1.0 - p
    term = q ** n  # P(X = 0)
    total = 0.0
    for i in range(n + 1):
        if i >= k:
            total += term
        if i < n:
            term *= (n - i) / (i + 1) * (p / q) if q else 0.0
    return min(1.0, total)


def poisson_tail(k: int, lam: float) -> float:
    """P(X ≥ k) for X ~ Poisson(lam)."""
    if k <= 0:
        return 1.0
    term = math.exp(-lam)
    below = 0.0
    for i in range(k):
        below += term
        term *= lam / (i + 1)
    return max(0.0, 1.0 - below)


def low_share(k: float, n: float, p: float, dispersion: float = 1.0) -> float:
    """P(at most `k` of `n`) where each of the n falls on this side with chance p, the counts varying
    `dispersion` × as much as binomial ones do (normal approximation with continuity correction).
    Two counts compared this way (k of the pair's total) carry both their uncertainties: a baseline
    counted over a short stretch says less than one counted over a long one."""
    var = max(dispersion, 1.0) * n * p * (1.0 - p)
    if n <= 0 or var <= 0:
        return 1.0
    z = (k + 0.5 - n * p) / math.sqrt(var)
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def dispersion(rows: list[tuple[float, float, float]]) -> float:
    """How much more than binomial the counts of a group vary: the median squared Pearson residual of
    (k, n, p) rows over its median under the model (0.455), at least 1 (at least three rows)."""
    z2 = sorted((k - n * p) ** 2 / (n * p * (1 - p)) for k, n, p in rows if n * p * (1 - p) >= 1.0)
    if len(z2) < 3:
        return 1.0
    mid = z2[len(z2) // 2] if len(z2) % 2 else (z2[len(z2) // 2 - 1] + z2[len(z2) // 2]) / 2
    return max(1.0, mid / 0.455)


def both(p1: float, p2: float) -> float:
    """The chance of two independent tails happening together: a rule that needs both (many converting
    and few buying again) is surprised by their conjunction, not by either alone."""
    return p1 * p2
