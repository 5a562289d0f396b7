"""The one-sided test statistic of a policy at every look of a stream, for many streams at once.

Look m uses the first m values of the stream: the candidate's runs in the order they were
recorded (against a fixed baseline), or the paired differences of ``compare``. The result is a
nominal p-value per look; ``benchstone.stats.sequential`` turns these into decisions. numpy is
imported inside the functions.

The rank statistics count a tie as "not better", and a zero difference as not positive: never
more than with ties broken at random, whose null distribution is the tie-free one used here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from benchstone.stats import distributions, exact

if TYPE_CHECKING:
    import numpy as np

FIRST_LOOK = 2
UNPAIRED_TESTS = ("welch", "rank")
PAIRED_TESTS = ("paired_t", "signed_rank")


def look_p_values(test: str, candidate: np.ndarray, baseline: np.ndarray | None = None,
                  exact_below: float = 1.0, baseline_sizes: np.ndarray | None = None
                  ) -> np.ndarray:
    """Nominal one-sided p-values at looks m = 1..M for oriented streams.

    ``candidate`` is (T, M): the candidate's values in order, or the paired differences for a
    paired test; ``baseline`` is (T, n_b) for an unpaired test. Column m-1 is look m (look 1 is
    always 1: no test uses a single value). With ``exact_below`` < 1 the t-tests compute only
    p-values that may be below it and report 1 for the others (a large speed-up for the
    simulated null paths, which only need the tail).

    ``baseline_sizes`` (M,), for an unpaired test whose baseline grows: look m uses only the
    first ``baseline_sizes[m-1]`` baseline values (the baseline in the order it was recorded)."""
    if baseline_sizes is not None and test in UNPAIRED_TESTS:
        assert baseline is not None
        grown = {"welch": _welch_grown_looks, "rank": _rank_grown_looks}
        p = grown[test](candidate, baseline, exact_below, baseline_sizes)
        p[:, : FIRST_LOOK - 1] = 1.0
        return p
    tests = {"welch": _welch_looks, "rank": _rank_looks, "paired_t": _paired_t_looks,
             "signed_rank": _signed_rank_looks}
    p = tests[test](candidate, baseline, exact_below)
    p[:, : FIRST_LOOK - 1] = 1.0
    return p


def _t_tail(t: np.ndarray, df: np.ndarray, exact_below: float) -> np.ndarray:
    """P(T_df >= t), computed only where it can be below ``exact_below`` (t quantiles are above
    normal ones, so p < a needs t > z_a), else 1."""
    import numpy as np

    df = np.broadcast_to(df, t.shape)
    if exact_below >= 1:
        with np.errstate(invalid="ignore"):
            return distributions.student_t_sf_array(t, df)
    p = np.ones(t.shape)
    with np.errstate(invalid="ignore"):
        needed = t >= -distributions.normal_quantile(exact_below)
        p[needed] = distributions.student_t_sf_array(t[needed], df[needed])
    return p


def _cumulative_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Running count, mean and Bessel-corrected variance along axis 1 (Welford is not needed:
    values are centred first, which keeps the sums of squares accurate)."""
    import numpy as np

    m = np.arange(1, x.shape[1] + 1, dtype=float)
    centred = x - x[:, :1]
    total = np.cumsum(centred, axis=1)
    squares = np.cumsum(centred * centred, axis=1)
    mean = total / m
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.maximum(squares - m * mean * mean, 0.0) / (m - 1)
    return m, mean + x[:, :1], variance


def _running_constant(x: np.ndarray) -> np.ndarray:
    """Whether the first m values of each row are all equal, for every m."""
    import numpy as np

    return np.maximum.accumulate(x, axis=1) == np.minimum.accumulate(x, axis=1)


def _welch_looks(c: np.ndarray, b: np.ndarray | None, exact_below: float) -> np.ndarray:
    import numpy as np

    assert b is not None
    n_b = b.shape[1]
    m, mean_c, var_c = _cumulative_moments(c)
    gain = mean_c - b.mean(axis=1, keepdims=True)
    se_b2 = b.var(axis=1, ddof=1, keepdims=True) / n_b
    se_c2 = var_c / m
    se = np.sqrt(se_b2 + se_c2)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (se_b2 + se_c2) ** 2 / (se_b2**2 / (n_b - 1) + se_c2**2 / (m - 1))
        p = _t_tail(gain / se, df, exact_below)
    constant = (np.ptp(b, axis=1, keepdims=True) == 0) & _running_constant(c)
    if constant.any():  # both samples constant: the permutation p-value, as in the fixed test
        exact_p = np.array([1 / math.comb(n_b + int(k), n_b) for k in m])
        p = np.where(constant, np.where(gain > 0, exact_p[None, :], 1.0), p)
    return np.nan_to_num(p, nan=1.0)


def _rank_looks(c: np.ndarray, b: np.ndarray | None, _exact_below: float) -> np.ndarray:
    import numpy as np

    assert b is not None
    n_b = b.shape[1]
    beaten = (c[:, None, :] > b[:, :, None]).sum(axis=1)  # ties count as not better
    u = np.cumsum(beaten, axis=1)
    p = np.ones(u.shape)
    for look in range(FIRST_LOOK, c.shape[1] + 1):
        tail = exact.mann_whitney_upper_tail(n_b, look)
        p[:, look - 1] = tail[u[:, look - 1]]
    return p


def _welch_grown_looks(c: np.ndarray, b: np.ndarray, exact_below: float,
                       sizes: np.ndarray) -> np.ndarray:
    """Welch at every look, look m against the first sizes[m-1] baseline values."""
    import numpy as np

    columns = np.asarray(sizes, dtype=int)[: c.shape[1]] - 1
    m, mean_c, var_c = _cumulative_moments(c)
    counts, means, variances = _cumulative_moments(b)
    n_b, mean_b, var_b = counts[columns], means[:, columns], variances[:, columns]
    gain = mean_c - mean_b
    se_b2 = var_b / n_b
    se_c2 = var_c / m
    se = np.sqrt(se_b2 + se_c2)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (se_b2 + se_c2) ** 2 / (se_b2**2 / (n_b - 1) + se_c2**2 / (m - 1))
        p = _t_tail(gain / se, df, exact_below)
    constant = (var_b == 0) & _running_constant(c)
    if constant.any():  # both samples constant: the permutation p-value, as in the fixed test
        exact_p = np.array([1 / math.comb(int(nb) + int(k), int(nb))
                            for nb, k in zip(n_b, m, strict=True)])
        p = np.where(constant, np.where(gain > 0, exact_p[None, :], 1.0), p)
    return np.nan_to_num(p, nan=1.0)


def _rank_grown_looks(c: np.ndarray, b: np.ndarray, _exact_below: float,
                      sizes: np.ndarray) -> np.ndarray:
    """The Mann-Whitney count at every look, look m against the first sizes[m-1] baseline
    values."""
    import numpy as np

    # U grows pair by pair (a (T, n_b, M) table of every count would not fit at long horizons):
    # the new candidate value against the baseline values counted so far, then every candidate
    # value so far against the baseline values this look adds
    p = np.ones(c.shape)
    u = np.zeros(c.shape[0], dtype=np.int64)
    counted = 0
    for look in range(1, c.shape[1] + 1):
        n_b = int(sizes[look - 1])
        u += (c[:, look - 1, None] > b[:, :counted]).sum(axis=1)
        if n_b > counted:
            u += (c[:, :look, None] > b[:, None, counted:n_b]).sum(axis=(1, 2))
            counted = n_b
        if look >= FIRST_LOOK:
            p[:, look - 1] = exact.mann_whitney_upper_tail(n_b, look)[u]
    return p


def _paired_t_looks(d: np.ndarray, _b: np.ndarray | None, exact_below: float) -> np.ndarray:
    import numpy as np

    m, mean, variance = _cumulative_moments(d)
    se = np.sqrt(variance / m)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = _t_tail(mean / se, m - 1, exact_below)
    constant = _running_constant(d)
    if constant.any():  # no spread: the sign-flip p-value
        p = np.where(constant, np.where(mean > 0, 0.5**m, 1.0), p)
    return np.nan_to_num(p, nan=1.0)


def _signed_rank_looks(d: np.ndarray, _b: np.ndarray | None, _exact_below: float) -> np.ndarray:
    import numpy as np

    positive = d > 0
    size = np.abs(d)
    # order by (|d|, not positive): among equal sizes the positive ones take the lower ranks,
    # and zeros count as not positive, so ties can only lower W+
    w = np.zeros(d.shape)
    running = np.zeros(len(d))
    for k in range(d.shape[1]):
        earlier_size, earlier_positive = size[:, :k], positive[:, :k]
        mine, mine_positive = size[:, k: k + 1], positive[:, k: k + 1]
        below = (earlier_size < mine) | ((earlier_size == mine) & earlier_positive
                                         & ~mine_positive)
        rank = 1 + below.sum(axis=1)
        pushed_up = (earlier_positive & ~below).sum(axis=1)
        running = running + np.where(mine_positive[:, 0], rank, 0) + pushed_up
        w[:, k] = running
    p = np.ones(d.shape)
    for look in range(FIRST_LOOK, d.shape[1] + 1):
        tail = exact.signed_rank_upper_tail(look)
        p[:, look - 1] = tail[w[:, look - 1].astype(int)]
    return p


def reverse_p_values(test: str, candidate: np.ndarray, baseline: np.ndarray | None,
                     shift: float, baseline_sizes: np.ndarray | None = None) -> np.ndarray:
    """Look p-values of the mirror test, H0: the improvement is at least ``shift`` (oriented)
    against H1: it is smaller. Crossing a boundary with these says "not worth promoting"."""
    mirrored = -(candidate - shift)
    return look_p_values(test, mirrored, None if baseline is None else -baseline,
                         baseline_sizes=baseline_sizes)
