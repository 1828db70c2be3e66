"""95% intervals for compliance figures, and how many prompts a threshold needs.

A rate of kept rules on n prompts gets a Wilson score interval; a change between two
evaluations of the same prompts (before and after training) gets a paired bootstrap interval.
Gates pass on these intervals (docs/evaluation.md#gates), so the compiler can tell, before a
cycle runs, whether a gate's threshold is finer than its held-out prompts can resolve.
"""

from __future__ import annotations

import math
import random
from typing import NamedTuple, Sequence

Z95 = 1.959963984540054  # two-sided 95%
BOOTSTRAP_RESAMPLES = 2000


class Interval(NamedTuple):
    """A point estimate, its 95% interval and the number of observations behind it."""

    value: float
    low: float
    high: float
    n: int

    def text(self, scale: float = 100.0) -> str:
        """`85% [64–95] n=20` (a share of 1 shown in percent)."""
        return (f"{scale * self.value:.0f}% [{scale * self.low:.0f}–{scale * self.high:.0f}] n={self.n}"
                if scale == 100.0 else f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] n={self.n}")


def wilson(good: int, n: int, z: float = Z95) -> Interval | None:
    """The Wilson score interval of `good` successes in `n` trials; None when n is 0."""
    if n <= 0:
        return None
    p = good / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


def needed_for(threshold: float, z: float = Z95) -> int | None:
    """The fewest observations whose interval can clear `threshold` (all of them kept); None: never.

    With every prompt kept the Wilson lower end is n / (n + z²), so n ≥ z² t / (1 − t).
    """
    if threshold >= 1.0:
        return None
    if threshold <= 0.0:
        return 1
    return max(1, math.ceil(z * z * threshold / (1.0 - threshold) - 1e-9))


def paired_drop(before: Sequence[int], after: Sequence[int], seed: int = 0,
                resamples: int = BOOTSTRAP_RESAMPLES) -> Interval | None:
    """The drop before − after of a pass rate on the same items (1 kept, 0 broken), with a paired bootstrap interval."""
    if len(before) != len(after):
        raise ValueError("paired samples must have the same length")
    n = len(before)
    if n == 0:
        return None
    diffs = [b - a for b, a in zip(before, after)]
    point = sum(diffs) / n
    if all(d == diffs[0] for d in diffs):
        return Interval(point, point, point, n)
    rng = random.Random(seed)
    means = sorted(sum(rng.choice(diffs) for _ in range(n)) / n for _ in range(resamples))
    low = means[int(0.025 * resamples)]
    high = means[min(resamples - 1, int(math.ceil(0.975 * resamples)) - 1)]
    return Interval(point, low, high, n)
