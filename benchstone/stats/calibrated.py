"""The calibrated tests behind the ``welch`` and ``rank`` policies, one look at a time.

Every test here is one-sided (H0: the candidate is the same program as the baseline; H1: it is
better in the benchmark's direction) and returns p-values that hold their level: P(p <= a) <= a
under H0 for every a. The functions work on 2-D arrays (one row per comparison) so that the
simulation in ``tests/perf`` runs exactly this code on hundreds of thousands of samples; the
gate calls them with a single row.

Values are first *oriented*: logarithms when ``log_scale``, and negated for ``minimize``, so
that larger is better everywhere below.

- Welch: t = (mean_c - mean_b) / sqrt(s_b^2/n_b + s_c^2/n_c), Welch-Satterthwaite degrees of
  freedom; assumes roughly normal noise (log-normal with ``log_scale``). When both samples are
  constant the t statistic does not exist; the exact permutation p-value of the difference of
  means is used instead (1 / C(n_b + n_c, n_b) if the candidate is better, else 1).
- Mann-Whitney: the exact distribution of the mid-rank sum conditional on the ties; no
  assumption but exchangeability under H0.
- Paired t on log ratios, and Wilcoxon signed-rank (exact, tie-aware, zeros dropped): H0 is
  that each pair's difference is symmetric about 0, which the randomized order within a pair
  guarantees for an unchanged program.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from benchstone.stats import distributions, exact

if TYPE_CHECKING:
    import numpy as np


def orient(values: np.ndarray, direction: str, log_scale: bool) -> np.ndarray:
    """Values on the scale a test uses, signed so that larger is better."""
    import numpy as np

    x = np.log(values) if log_scale else np.asarray(values, dtype=float)
    return x if direction == "maximize" else -x


RELATIVE_LIMIT = 1e6  # the far ends of very early intervals: beyond any meaning, kept finite


def to_relative(shift: float, baseline_centre: float, direction: str, log_scale: bool) -> float:
    """An oriented shift as a relative improvement over the baseline (0.05 = 5 % better)."""
    if log_scale:
        bounded = max(min(shift, math.log(RELATIVE_LIMIT)), -math.log(RELATIVE_LIMIT))
        value = math.expm1(bounded) if direction == "maximize" else -math.expm1(-bounded)
    else:
        value = shift / abs(baseline_centre) if baseline_centre else 0.0
    return max(min(value, RELATIVE_LIMIT), -RELATIVE_LIMIT)


def welch_tests(b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row-wise one-sided Welch tests of oriented samples (T, n_b) and (T, n_c).

    Returns (gain, se, df, p): the difference of means, its standard error, the Welch
    degrees of freedom and the p-value."""
    import numpy as np

    n_b, n_c = b.shape[1], c.shape[1]
    gain = c.mean(axis=1) - b.mean(axis=1)
    var_b = b.var(axis=1, ddof=1) / n_b
    var_c = c.var(axis=1, ddof=1) / n_c
    se = np.sqrt(var_b + var_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (var_b + var_c) ** 2 / (var_b**2 / (n_b - 1) + var_c**2 / (n_c - 1))
        p = distributions.student_t_sf_array(gain / se, df)
    constant = (np.ptp(b, axis=1) == 0) & (np.ptp(c, axis=1) == 0)
    if constant.any():
        # both samples constant: the permutation p-value of the difference of means
        p = np.where(constant, np.where(gain > 0, 1 / math.comb(n_b + n_c, n_b), 1.0), p)
        se = np.where(constant, 0.0, se)
    return gain, se, df, p


def welch_interval(gain: float, se: float, df: float, level: float) -> tuple[float, float] | None:
    """The two-sided (1 - 2 level) t interval for the gain; None when it does not exist."""
    if se == 0 or not level > 0 or not math.isfinite(df):
        return None
    half = -distributions.student_t_quantile(level, df) * se
    return gain - half, gain + half


def rank_tests(b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise one-sided Mann-Whitney tests of oriented samples: (U, p), U counting the pairs
    where the candidate is larger and ties as 1/2. Rows without ties read the cached exact
    distribution; rows with ties get the exact tie-aware one."""
    import numpy as np

    n_b, n_c = b.shape[1], c.shape[1]
    greater = (c[:, None, :] > b[:, :, None]).sum(axis=(1, 2))
    ties = (c[:, None, :] == b[:, :, None]).sum(axis=(1, 2))
    u = greater + 0.5 * ties
    tied_rows = (ties > 0) | _has_inner_ties(b) | _has_inner_ties(c)
    if n_b + n_c <= exact.EXACT_LIMIT:
        tail = exact.mann_whitney_upper_tail(n_b, n_c)
        p = tail[np.clip(greater, 0, n_b * n_c)]
    else:
        p = np.ones(len(u))
        tied_rows = np.ones(len(u), dtype=bool)
    for row in np.flatnonzero(tied_rows):
        p[row] = exact.rank_sum_tail(b[row].tolist(), c[row].tolist())[1]
    return u, p


def _has_inner_ties(x: np.ndarray) -> np.ndarray:
    import numpy as np

    ordered = np.sort(x, axis=1)
    return (np.diff(ordered, axis=1) == 0).any(axis=1)


def hodges_lehmann(b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Row-wise median of all differences c_j - b_i: the shift estimate matching the rank test."""
    import numpy as np

    return np.median((c[:, None, :] - b[:, :, None]).reshape(len(b), -1), axis=1)


def rank_interval(b: np.ndarray, c: np.ndarray, level: float) -> tuple[float, float] | None:
    """Bounds on the shift of one row from the exact (tie-free) Mann-Whitney critical count at
    ``level`` per side; None when the samples are too small for any."""
    n_b, n_c = len(b), len(c)
    if n_b + n_c > exact.EXACT_LIMIT:
        return None
    critical = exact.mann_whitney_critical(n_b, n_c, level)
    return exact.shift_bounds((c[None, :] - b[:, None]).ravel(), critical)


def paired_t_tests(d: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row-wise one-sided one-sample t-tests of oriented differences (T, n) against 0.

    Returns (mean, se, df, p). Rows with no spread use the sign-flip p-value 2^-n when every
    difference favours the candidate (else 1)."""
    import numpy as np

    n = d.shape[1]
    mean = d.mean(axis=1)
    se = d.std(axis=1, ddof=1) / math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = distributions.student_t_sf_array(mean / se, n - 1)
    constant = np.ptp(d, axis=1) == 0
    if constant.any():
        p = np.where(constant, np.where(mean > 0, 0.5**n, 1.0), p)
        se = np.where(constant, 0.0, se)
    return mean, se, np.full(len(d), float(n - 1)), p


def signed_rank_tests(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise one-sided Wilcoxon signed-rank tests of oriented differences: (W+, p)."""
    import numpy as np

    w = np.zeros(len(d))
    p = np.ones(len(d))
    for row in range(len(d)):
        w[row], p[row], _ = exact.signed_rank_tail(d[row].tolist())
    return w, p


def signed_rank_interval(d: np.ndarray, level: float) -> tuple[float, float] | None:
    """Bounds on the centre of symmetry of one row of differences from Walsh averages."""
    if len(d) > exact.EXACT_LIMIT:
        return None
    critical = exact.signed_rank_critical(len(d), level)
    return exact.shift_bounds(exact.walsh_averages(d.tolist()), critical)
