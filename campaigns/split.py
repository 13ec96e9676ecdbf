"""Splitting a budget into red packets, in integer fen. Pure functions.

Double mean (二倍均值法): with ``R`` fen left for ``n`` packets, the next packet
is uniform in ``1 .. 2·R/n − 1`` fen (so its mean is about R/n); the last
packet takes what is left. The upper bound is also capped at ``R − (n − 1)``
so every later packet can still get at least 1 fen; with ``R ≥ n`` (checked)
both bounds are ≥ 1, so every packet is ≥ 1 fen and the sum is exactly the
budget.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Sequence


class SplitError(ValueError):
    """The budget cannot be split as asked."""


def check(budget_fen: int, count: int, fixed: bool) -> None:
    """Raise ``SplitError`` unless ``budget_fen`` can be split into ``count`` packets."""
    if count < 1:
        raise SplitError("There must be at least one packet.")
    if budget_fen < count:
        raise SplitError("The budget must give every packet at least 1 fen.")
    if fixed and budget_fen % count:
        raise SplitError(f"A fixed split needs a budget divisible by the count ({budget_fen} fen / {count}).")


def double_mean(budget_fen: int, count: int, rng: random.Random | None = None) -> list[int]:
    """Return ``count`` amounts (each ≥ 1 fen, summing to ``budget_fen``) by the double-mean rule.

    ``rng`` defaults to the operating system's randomness (launches must not be
    predictable); the simulator passes a seeded ``random.Random``.
    Raises ``SplitError``.
    """
    check(budget_fen, count, fixed=False)
    rng = rng or secrets.SystemRandom()
    left, amounts = budget_fen, []
    for n in range(count, 1, -1):
        high = min(2 * left // n - 1, left - (n - 1))
        amount = rng.randint(1, max(1, high))
        amounts.append(amount)
        left -= amount
    amounts.append(left)
    return amounts


def fixed(budget_fen: int, count: int) -> list[int]:
    """Return ``count`` equal amounts summing to ``budget_fen``; raise ``SplitError`` if it does not divide."""
    check(budget_fen, count, fixed=True)
    return [budget_fen // count] * count


def split(kind: str, budget_fen: int, count: int, rng: random.Random | None = None) -> list[int]:
    """Return the packet amounts for a split ``kind`` ("random" or "fixed")."""
    return double_mean(budget_fen, count, rng) if kind == "random" else fixed(budget_fen, count)


def percentile(sorted_values: Sequence[int], p: float) -> int:
    """Return the nearest-rank ``p``-th percentile (0–100) of ascending integers."""
    if not sorted_values:
        raise ValueError("no values")
    rank = min(len(sorted_values), max(1, math.ceil(len(sorted_values) * p / 100)))
    return sorted_values[rank - 1]
