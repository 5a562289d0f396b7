"""Exact null distributions of rank statistics, and the confidence bounds they give.

Pure functions. numpy is imported inside each function (it costs start-up time the CLI should
not pay unless a gate needs it).

- ``rank_sum_tail``: P(W >= w) for the sum of the candidate's mid-ranks under random
  relabelling, conditional on the tie pattern of the pooled sample (exact, tie-aware).
- ``mann_whitney_counts``: the distribution of U = #{(b, c): c > b} without ties; cached.
- ``signed_rank_tail``: P(W+ >= w) under random signs, conditional on the magnitudes'
  tie pattern (exact, tie-aware).
- ``signed_rank_counts``: the distribution of W+ without ties; cached.

Counts are kept as float64: above about 60 values they exceed int64, and a relative error of
1e-16 in a probability does not matter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from benchstone.stats import distributions

if TYPE_CHECKING:
    import numpy as np

# Above this many pooled values the exact recursions get slow (their cost grows like N^4);
# the normal approximation is then accurate to well below the Monte Carlo error of any check.
EXACT_LIMIT = 120


def _subset_sum_counts(weights: Sequence[int], size: int) -> np.ndarray:
    """counts[s] = number of subsets of ``weights`` with ``size`` elements summing to s."""
    import numpy as np

    total = int(sum(weights))
    table = np.zeros((size + 1, total + 1))
    table[0, 0] = 1.0
    for weight in weights:
        # every subset either leaves this element out or adds it to a smaller subset
        if weight == 0:
            table[1:] += table[:-1].copy()
        else:
            table[1:, weight:] += table[:-1, :-weight].copy()
    return table[size]


def midranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n with tied values sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2 + 1
        for position in range(start, end + 1):
            ranks[order[position]] = shared
        start = end + 1
    return ranks


def rank_sum_tail(baseline: Sequence[float], candidate: Sequence[float]) -> tuple[float, float]:
    """(W, P(W' >= W)): the candidate's mid-rank sum and its exact upper tail under H0 that the
    two samples are exchangeable, conditional on the ties. Larger values are better."""
    pooled = list(baseline) + list(candidate)
    ranks = midranks(pooled)
    observed = sum(ranks[len(baseline):])
    n_c = len(candidate)
    if len(pooled) > EXACT_LIMIT:
        return observed, _rank_sum_normal_tail(ranks, len(baseline), n_c, observed)
    doubled = [round(2 * r) for r in ranks]
    counts = _subset_sum_counts(doubled, n_c)
    threshold = round(2 * observed)
    return observed, float(counts[threshold:].sum() / counts.sum())


def _rank_sum_normal_tail(ranks: list[float], n_b: int, n_c: int, observed: float) -> float:
    """Normal approximation with the tie-corrected variance and a continuity correction."""
    n = n_b + n_c
    mean_rank = (n + 1) / 2
    spread = sum((r - mean_rank) ** 2 for r in ranks) / (n - 1)
    variance = n_b * n_c / n * spread
    if variance == 0:
        return 1.0
    z = (observed - n_c * mean_rank - 0.5) / math.sqrt(variance)
    return distributions.normal_sf(z)


@lru_cache(maxsize=256)
def mann_whitney_counts(n_b: int, n_c: int) -> tuple[float, ...]:
    """counts[u] for u = 0..n_b*n_c: relabellings with U = u, without ties."""
    import numpy as np

    if n_b + n_c > EXACT_LIMIT:
        raise ValueError("too many values for the exact distribution")
    counts = _subset_sum_counts(list(range(1, n_b + n_c + 1)), n_c)
    offset = n_c * (n_c + 1) // 2
    return tuple(float(x) for x in np.asarray(counts[offset: offset + n_b * n_c + 1]))


def mann_whitney_upper_tail(n_b: int, n_c: int) -> np.ndarray:
    """tail[u] = P(U >= u) without ties, for u = 0..n_b*n_c (and tail[n_b*n_c + 1] = 0);
    above ``EXACT_LIMIT`` pooled values, the normal approximation with a continuity correction."""
    import numpy as np

    if n_b + n_c > EXACT_LIMIT:
        u = np.arange(n_b * n_c + 1)
        spread = math.sqrt(n_b * n_c * (n_b + n_c + 1) / 12)
        return np.append(distributions.normal_sf_array((u - 0.5 - n_b * n_c / 2) / spread), 0.0)
    counts = np.asarray(mann_whitney_counts(n_b, n_c))
    tail = np.cumsum(counts[::-1])[::-1] / counts.sum()
    return np.append(tail, 0.0)


def mann_whitney_critical(n_b: int, n_c: int, level: float) -> int | None:
    """The smallest u with P(U >= u) <= level without ties; None if no u is that rare."""
    import numpy as np

    if level <= 0:
        return None
    tail = mann_whitney_upper_tail(n_b, n_c)
    hits = np.flatnonzero(tail <= level)
    u = int(hits[0])
    return u if u <= n_b * n_c else None


def signed_rank_tail(differences: Sequence[float]) -> tuple[float, float, int]:
    """(W+, P(W+' >= W+), n_used): the sum of mid-ranks of |d| over positive d, and its exact
    upper tail under H0 that each d is symmetric about 0, conditional on the ties. Zeros carry
    no sign and are dropped (Wilcoxon's treatment)."""
    nonzero = [d for d in differences if d != 0]
    if not nonzero:
        return 0.0, 1.0, 0
    ranks = midranks([abs(d) for d in nonzero])
    observed = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    if len(nonzero) > EXACT_LIMIT:
        mean = sum(ranks) / 2
        variance = sum(r * r for r in ranks) / 4
        z = (observed - mean - 0.5) / math.sqrt(variance)
        return observed, distributions.normal_sf(z), len(nonzero)
    distribution = _sign_sum_distribution(tuple(round(2 * r) for r in ranks))
    threshold = round(2 * observed)
    return observed, float(distribution[threshold:].sum()), len(nonzero)


def _sign_sum_distribution(weights: tuple[int, ...]) -> np.ndarray:
    """P(sum of a random half of ``weights`` = s), each weight in with probability 1/2."""
    import numpy as np

    distribution = np.zeros(sum(weights) + 1)
    distribution[0] = 1.0
    for weight in weights:
        shifted = np.zeros_like(distribution)
        shifted[weight:] = distribution[: len(distribution) - weight]
        distribution = (distribution + shifted) / 2
    return distribution


@lru_cache(maxsize=256)
def signed_rank_counts(n: int) -> tuple[float, ...]:
    """P(W+ = w) for w = 0..n(n+1)/2, without ties or zeros."""
    return tuple(float(x) for x in _sign_sum_distribution(tuple(range(1, n + 1))))


def signed_rank_upper_tail(n: int) -> np.ndarray:
    """tail[w] = P(W+ >= w) without ties, for w = 0..n(n+1)/2 (and one more entry, 0)."""
    import numpy as np

    probabilities = np.asarray(signed_rank_counts(n))
    return np.append(np.cumsum(probabilities[::-1])[::-1], 0.0)


def signed_rank_critical(n: int, level: float) -> int | None:
    """The smallest w with P(W+ >= w) <= level without ties; None if no w is that rare."""
    import numpy as np

    if level <= 0 or n == 0:
        return None
    tail = signed_rank_upper_tail(n)
    w = int(np.flatnonzero(tail <= level)[0])
    return w if w <= n * (n + 1) // 2 else None


def shift_bounds(differences: np.ndarray, critical: int | None) -> tuple[float, float] | None:
    """Distribution-free confidence bounds for a shift from sorted pairwise differences (or
    Walsh averages) and the critical count of the matching rank test: the shift is above the
    (M - critical + 1)-th smallest and below the critical-th smallest, M = len(differences)."""
    import numpy as np

    if critical is None:
        return None
    ordered = np.sort(differences)
    total = len(ordered)
    return float(ordered[total - critical]), float(ordered[critical - 1])


def walsh_averages(differences: Sequence[float]) -> np.ndarray:
    """(d_i + d_j) / 2 for i <= j: the one-sample Hodges-Lehmann estimate is their median."""
    import numpy as np

    d = np.asarray(differences, dtype=float)
    upper = np.triu_indices(len(d))
    return ((d[:, None] + d[None, :]) / 2)[upper]
