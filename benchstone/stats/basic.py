"""Statistics as pure functions over sequences of floats. No I/O, no store, no manifest.

Every function names its test and sidedness. "Improvement" is direction-aware throughout: for
``minimize`` a smaller candidate is better, for ``maximize`` a larger one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


def median(xs: Sequence[float]) -> float:
    ordered = sorted(xs)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def sample_variance(xs: Sequence[float]) -> float:
    """Bessel-corrected variance (divisor n-1); needs at least two values."""
    if len(xs) < 2:
        raise ValueError(f"variance needs at least 2 values, got {len(xs)}")
    centre = mean(xs)
    return math.fsum((x - centre) ** 2 for x in xs) / (len(xs) - 1)


def mean_se(xs: Sequence[float]) -> tuple[float, float]:
    """Sample mean and its standard error, sqrt(s^2 / n)."""
    return mean(xs), math.sqrt(sample_variance(xs) / len(xs))


def _check_direction(direction: str) -> None:
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")


def directed_sigma(baseline: Sequence[float], candidate: Sequence[float], direction: str) -> float:
    """The original benchstone's sigma: (candidate mean - baseline mean) / sqrt(se_c^2 + se_b^2),
    signed so that positive means the candidate improved.

    Zero standard errors give 0.0 for equal means and +-inf for different ones.
    """
    _check_direction(direction)
    mean_b, se_b = mean_se(baseline)
    mean_c, se_c = mean_se(candidate)
    denominator = math.sqrt(se_b * se_b + se_c * se_c)
    if denominator == 0.0:
        if mean_c == mean_b:
            return 0.0
        raw = math.inf if mean_c > mean_b else -math.inf
    else:
        raw = (mean_c - mean_b) / denominator
    return -raw if direction == "minimize" else raw


def rank_u(baseline: Sequence[float], candidate: Sequence[float], direction: str) -> float:
    """Mann-Whitney U of the candidate: pairs (b, c) where c improves on b, ties counting 1/2."""
    _check_direction(direction)
    better = 0.0
    for c in candidate:
        for b in baseline:
            if c == b:
                better += 0.5
            elif (c < b) == (direction == "minimize"):
                better += 1.0
    return better


def rank_z(baseline: Sequence[float], candidate: Sequence[float], direction: str) -> float:
    """The original benchstone's Mann-Whitney z, normal approximation without tie correction:
    (U - n_b n_c / 2) / sqrt(n_b n_c (n_b + n_c + 1) / 12); positive means improvement."""
    n_b, n_c = len(baseline), len(candidate)
    if n_b == 0 or n_c == 0:
        raise ValueError("rank_z needs at least one value on each side")
    u = rank_u(baseline, candidate, direction)
    return (u - n_b * n_c / 2) / math.sqrt(n_b * n_c * (n_b + n_c + 1) / 12)


def rank_z_ceiling(n_baseline: int, n_candidate: int) -> float:
    """The largest ``rank_z`` possible at these sample sizes: sqrt(3 n_b n_c / (n_b + n_c + 1))."""
    return math.sqrt(3 * n_baseline * n_candidate / (n_baseline + n_candidate + 1))


def relative_improvement(baseline_centre: float, candidate_centre: float, direction: str) -> float:
    """How much better the candidate is, as a fraction of the baseline (0.05 = 5 % better)."""
    _check_direction(direction)
    if baseline_centre == 0:
        return 0.0 if candidate_centre == 0 else math.copysign(math.inf, (
            baseline_centre - candidate_centre if direction == "minimize"
            else candidate_centre - baseline_centre))
    change = (candidate_centre - baseline_centre) / abs(baseline_centre)
    return -change if direction == "minimize" else change


def reference_centre(centre: float, baseline: Sequence[float]) -> float:
    """What a relative improvement is relative to: the baseline's centre, or, when that is 0,
    its mean magnitude (else 1), so that a metric centred on 0 can still be improved on."""
    if centre != 0:
        return centre
    magnitude = math.fsum(abs(v) for v in baseline) / len(baseline) if baseline else 0.0
    return magnitude if magnitude > 0 else 1.0


def benjamini_hochberg(p_values: Sequence[float], q: float) -> list[bool]:
    """Which hypotheses the Benjamini-Hochberg step-up procedure rejects at false-discovery
    rate ``q``: the k smallest p-values, k the largest with p_(k) <= k q / m. Valid for
    independent or positively dependent tests."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    cutoff = 0
    for rank, index in enumerate(order, start=1):
        if p_values[index] <= rank * q / m:
            cutoff = rank
    rejected = [False] * m
    for index in order[:cutoff]:
        rejected[index] = True
    return rejected
