"""Sequential stopping that stays valid under repeated looks: a group-sequential test with an
alpha-spending function, looking after every candidate repetition (or every pair).

The procedure, for one candidate at one commit:

1. The evidence is ordered: the candidate's ok runs (or ``compare``'s pairs) by the time they
   were recorded. Look m uses the first m of them (m = 2 .. horizon), against a fixed baseline.
2. At look m the policy's own one-sided test gives a nominal p-value p_m (Welch t, a
   Mann-Whitney count, a paired t on log ratios or a signed-rank sum).
3. PROMOTE at the first look where p_m <= b_m (and the improvement estimated there is above 0
   and >= min_effect). The boundaries b_m spend alpha over the information fraction t_m,
   alpha * t_m ** SPENDING_POWER, and are computed by Monte Carlo from the exact joint null
   distribution of (p_2, ..., p_horizon): under H0 "the candidate is the same program" that
   distribution does not depend on the metric's mean or scale (normal noise for the t-tests;
   any continuous noise for the rank tests), so it can be simulated once, with a fixed seed.
   Whatever the looks, P(any p_m <= b_m) <= alpha: looking again, and re-running until green,
   gains nothing.
4. REJECT when the horizon is used up, when the interval shows the improvement is below
   min_effect, or when promotion has become unlikely: the conditional power of reaching the
   last boundary under the current trend is below FUTILITY_POWER. These futility stops are
   non-binding (the boundaries ignore them), so they cost power, never false promotions.
5. Otherwise NEEDS_MORE_DATA: run more.

Ties: the rank statistics count a tie as "not better" (and a zero paired difference as not
positive). That statistic is never larger than the one with ties broken at random, whose null
distribution is exactly the tie-free one simulated here, so ties make the test conservative.

The effect interval reported at look m is a repeated confidence interval at the nominal level
of that look's boundary: it covers the true improvement at every look simultaneously with
probability about 1 - 2 alpha.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from benchstone.kinds import VerdictKind
from benchstone.stats import exact
from benchstone.stats.calibrated import (
    hodges_lehmann,
    rank_interval,
    signed_rank_interval,
    welch_interval,
)
from benchstone.stats.looks import (
    FIRST_LOOK,
    PAIRED_TESTS,
    UNPAIRED_TESTS,
    look_p_values,
    reverse_p_values,
)

if TYPE_CHECKING:
    import numpy as np

SPENDING_POWER = 2.0
FUTILITY_POWER = 0.02
FUTILITY_FROM = 0.3  # information fraction before which the trend is too noisy to stop on
NULL_PATHS = 100_000
NULL_SEED = 20_240_607
NULL_CHUNK = 10_000


@dataclass(frozen=True)
class Design:
    """What fixes the boundaries: the test, the baseline size (unpaired), horizon and alpha."""

    test: str
    horizon: int
    alpha: float
    n_baseline: int = 0

    def information(self, looks: np.ndarray) -> np.ndarray:
        """Information fraction of each look: 1 / Var(estimate), relative to the horizon's."""
        import numpy as np

        m = np.asarray(looks, dtype=float)
        if self.test in PAIRED_TESTS:
            return np.minimum(m / self.horizon, 1.0)
        at = m * self.n_baseline / (m + self.n_baseline)
        last = self.horizon * self.n_baseline / (self.horizon + self.n_baseline)
        return np.minimum(at / last, 1.0)


# ---- boundaries ------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _null_p_values(test: str, n_baseline: int, horizon: int, exact_below: float) -> np.ndarray:
    """Look p-values of NULL_PATHS streams simulated under H0 with a fixed seed (exact only
    where they are below ``exact_below``), in chunks to bound the memory used."""
    import numpy as np

    rng = np.random.default_rng([NULL_SEED, horizon, n_baseline, len(test)])
    chunks = []
    for start in range(0, NULL_PATHS, NULL_CHUNK):
        rows = min(NULL_CHUNK, NULL_PATHS - start)
        candidate = rng.standard_normal((rows, horizon))
        baseline = rng.standard_normal((rows, n_baseline)) if test in UNPAIRED_TESTS else None
        chunks.append(look_p_values(test, candidate, baseline, exact_below))
    return np.concatenate(chunks)


def spent_alpha(design: Design) -> float:
    """The alpha the boundaries spend: a little below ``alpha``, so that the Monte Carlo error of
    the boundaries (two standard errors) cannot push the true level above it."""
    a = design.alpha
    return a * (1 - 2 * math.sqrt((1 - a) / (a * NULL_PATHS)))


@lru_cache(maxsize=128)
def boundaries(design: Design) -> tuple[float, ...]:
    """Nominal p-value boundaries b_1..b_horizon (b_m = -1: no promotion is possible at m)."""
    import numpy as np

    # one set of paths serves every alpha up to 0.05 (the levels Benjamini-Hochberg asks for)
    p = _null_p_values(design.test, design.n_baseline, design.horizon, max(design.alpha, 0.05))
    looks = np.arange(1, design.horizon + 1)
    spend = spent_alpha(design) * design.information(looks) ** SPENDING_POWER
    alive = np.ones(len(p), dtype=bool)
    crossed = 0
    out = [-1.0] * design.horizon
    for m in range(FIRST_LOOK, design.horizon + 1):
        budget = int(spend[m - 1] * len(p)) - crossed
        values = p[alive, m - 1]
        if budget <= 0 or not len(values):
            continue
        ordered = np.sort(values)
        # the largest threshold that at most `budget` of the surviving paths reach
        bound = 1.0 if budget >= len(ordered) else float(np.nextafter(ordered[budget], -np.inf))
        if bound < ordered[0]:
            continue
        out[m - 1] = bound
        hit = np.zeros(len(p), dtype=bool)
        hit[alive] = values <= bound
        crossed += int(hit.sum())
        alive &= ~hit
    return tuple(out)


# ---- one stream: the decision ----------------------------------------------------------------

@dataclass
class SequentialOutcome:
    """Where a sequential test stands after the evidence so far."""

    kind: VerdictKind  # PROMOTE, REJECT or NEEDS_MORE_DATA
    why: str
    look: int  # the look the decision (or the current state) refers to
    looks: int  # how many values the evidence holds
    horizon: int
    p_value: float
    boundary: float
    shift: float  # oriented shift estimate at ``look``
    interval: tuple[float, float] | None = None
    conditional_power: float | None = None
    p_values: list[float] = field(default_factory=list)
    boundaries: list[float] = field(default_factory=list)


def shift_at(test: str, candidate: np.ndarray, baseline: np.ndarray | None,
             level: float) -> tuple[float, tuple[float, float] | None]:
    """The oriented shift estimate after some looks, and its interval at ``level`` per side."""
    import numpy as np

    if test in PAIRED_TESTS:
        if test == "paired_t":
            mean = float(candidate.mean())
            se = float(candidate.std(ddof=1) / math.sqrt(len(candidate)))
            return mean, welch_interval(mean, se, len(candidate) - 1.0, level)
        shift = float(np.median(exact.walsh_averages(candidate.tolist())))
        return shift, signed_rank_interval(candidate, level)
    assert baseline is not None
    if test == "welch":
        gain = float(candidate.mean() - baseline.mean())
        var_b = float(baseline.var(ddof=1)) / len(baseline)
        var_c = float(candidate.var(ddof=1)) / len(candidate)
        se = math.sqrt(var_b + var_c)
        df = (var_b + var_c) ** 2 / (var_b**2 / (len(baseline) - 1)
                                     + var_c**2 / (len(candidate) - 1)) if se else math.inf
        return gain, welch_interval(gain, se, df, level)
    shift = float(hodges_lehmann(baseline[None, :], candidate[None, :])[0])
    return shift, rank_interval(baseline, candidate, level)


def futility_shift(min_effect: float, direction: str, log_scale: bool,
                   baseline_centre: float) -> float:
    """The oriented shift at which the improvement equals ``min_effect``."""
    if log_scale:
        return math.log1p(min_effect) if direction == "maximize" else -math.log1p(-min_effect)
    return min_effect * abs(baseline_centre)


PROMOTE, UNDECIDED, REJECT = 1, 0, -1


def stop_matrix(design: Design, p: np.ndarray, p_reverse: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per look (T, M): whether the efficacy boundary is crossed, whether a futility rule
    holds, and the conditional power."""
    import numpy as np

    limit = min(p.shape[1], design.horizon)
    bounds = np.asarray(boundaries(design)[:limit])
    looks = np.arange(1, limit + 1)
    crossed = p[:, :limit] <= bounds
    crossed[:, : FIRST_LOOK - 1] = False
    power = conditional_power_matrix(p[:, :limit], design.information(looks),
                                     boundaries(design)[-1])
    reverse = (p_reverse[:, :limit] <= bounds) & (bounds > 0)
    futile = reverse | ((power < FUTILITY_POWER) & (design.information(looks) >= FUTILITY_FROM))
    futile[:, : FIRST_LOOK - 1] = False
    if limit == design.horizon:
        futile[:, -1] = True  # the horizon: whatever has not crossed is rejected
    return crossed, futile, power


def conditional_power_matrix(p: np.ndarray, information: np.ndarray,
                             final_boundary: float) -> np.ndarray:
    """``conditional_power`` for many looks at once."""
    import numpy as np
    from scipy import special

    if final_boundary <= 0:
        return np.zeros(p.shape)
    z = -special.ndtri(np.clip(p, 1e-15, 1 - 1e-15))
    final_z = -special.ndtri(final_boundary)
    remaining = np.maximum(1 - information, 1e-12)
    return special.ndtr(-(final_z - z / np.sqrt(information)) / np.sqrt(remaining))


def first_decisions(design: Design, p: np.ndarray, p_reverse: np.ndarray) -> tuple[np.ndarray, ...]:
    """Run-until-decided on many streams: (kind, look) of the first decision in each row
    (kind UNDECIDED and look M when the streams end first)."""
    import numpy as np

    crossed, futile, _ = stop_matrix(design, p, p_reverse)
    event = crossed | futile
    decided = event.any(axis=1)
    first = np.where(decided, event.argmax(axis=1), event.shape[1] - 1)
    rows = np.arange(len(p))
    kind = np.where(~decided, UNDECIDED, np.where(crossed[rows, first], PROMOTE, REJECT))
    return kind, first + 1


def assess(design: Design, candidate: np.ndarray, baseline: np.ndarray | None,
           relative: Callable[[float], float], min_effect: float,
           reverse_shift: float) -> SequentialOutcome:
    """Where one oriented stream stands (the evaluate semantics): PROMOTE if the boundary was
    crossed at some look with an improvement above 0 and >= min_effect; else REJECT if a
    futility rule holds at the latest look or the horizon is reached; else NEEDS_MORE_DATA."""
    import numpy as np

    bounds = list(boundaries(design))
    total = len(candidate)
    limit = min(total, design.horizon)
    if limit < FIRST_LOOK:
        return SequentialOutcome(VerdictKind.NEEDS_MORE_DATA, f"{total} observation(s), need at least "
                                 f"{FIRST_LOOK}", limit, looks=total, horizon=design.horizon,
                                 p_value=1.0, boundary=-1.0, shift=math.nan,
                                 boundaries=bounds)
    rows = candidate[None, :limit]
    base = None if baseline is None else baseline[None, :]
    p = look_p_values(design.test, rows, base)
    reverse = reverse_p_values(design.test, rows, base, reverse_shift)
    crossed, futile, power = stop_matrix(design, p, reverse)
    common = {"looks": total, "horizon": design.horizon, "p_values": p[0].tolist(),
              "boundaries": bounds}
    for m in np.flatnonzero(crossed[0]) + 1:
        shift, interval = shift_at(design.test, candidate[:m], baseline, bounds[m - 1])
        effect = relative(shift)
        if effect > 0 and effect >= min_effect:
            return SequentialOutcome(VerdictKind.PROMOTE, "crossed the boundary", int(m),
                                     p_value=float(p[0, m - 1]), boundary=bounds[m - 1],
                                     shift=shift, interval=interval, **common)
    level = bounds[limit - 1]
    shift, interval = shift_at(design.test, candidate[:limit], baseline,
                               level if level > 0 else design.alpha)
    state = {"look": limit, "p_value": float(p[0, limit - 1]), "boundary": level,
             "shift": shift, "interval": interval if level > 0 else None,
             "conditional_power": float(power[0, limit - 1]), **common}
    below = "the improvement is below min_effect" if min_effect > 0 else "the candidate is worse"
    if futile[0, limit - 1] and reverse[0, limit - 1] <= level:
        return SequentialOutcome(VerdictKind.REJECT, below, **state)
    if crossed[0].any():  # significant, but never with an improvement >= min_effect
        why = "significant, but the estimated improvement is below min_effect"
        if limit == design.horizon or futile[0, limit - 1]:
            return SequentialOutcome(VerdictKind.REJECT, why, **state)
        return SequentialOutcome(VerdictKind.NEEDS_MORE_DATA, f"{why} so far: run more", **state)
    if limit == design.horizon:
        return SequentialOutcome(VerdictKind.REJECT, f"reached the horizon of {design.horizon} without "
                                 "crossing the boundary", **state)
    if futile[0, limit - 1]:
        return SequentialOutcome(VerdictKind.REJECT, "promotion within the horizon is unlikely "
                                 f"(conditional power {state['conditional_power']:.1%} under "
                                 "the current trend)", **state)
    return SequentialOutcome(VerdictKind.NEEDS_MORE_DATA, f"undecided after {limit} of at most "
                             f"{design.horizon}: run more", **state)
