"""Sequential stopping that stays valid under repeated looks: a group-sequential test with an
alpha-spending function, looking after every candidate repetition (or every pair).

The procedure, for one candidate at one commit:

1. The evidence is ordered: the candidate's ok runs (or ``compare``'s pairs) by the time they
   were recorded. Look m uses the first m of them (m = 2 .. horizon), against a fixed baseline.
2. At look m the policy's own one-sided test gives a nominal p-value p_m (Welch t, a
   Mann-Whitney count, a paired t on log ratios or a signed-rank sum).
3. PROMOTE at the first look where p_m <= b_m, p_m testing H0 "the improvement is at most
   min_effect" (the candidate's values moved back by min_effect first, so a PROMOTE means the
   one-sided bound clears min_effect, not only the estimate). The boundaries b_m spend alpha
   over the information fraction t_m, alpha * t_m ** SPENDING_POWER, and are computed by Monte
   Carlo from the joint null distribution of (p_2, ..., p_horizon), with a fixed seed. That
   distribution does not depend on the metric's mean or scale; for the signed-rank test it
   does not depend on the noise at all (continuous noise; ties only make it stricter). For the
   others it depends on the shape, so their boundaries are the smallest over a set of null
   families (``NULL_FAMILIES``): unequal spread (candidate standard deviation 1/4 to 4 times
   the baseline's, same centre) for Welch and Mann-Whitney, an order effect within pairs
   (differences +-k residual standard deviations, the sign set by the random order) for the
   paired t. Boundaries below every family's hold the level under each of them. Whatever the
   looks, P(any p_m <= b_m) <= alpha: looking again, and re-running until green, gains
   nothing.
   A Welch crossing also needs the exact rank test of the same look to cross boundaries
   computed under the exchangeable null (``CONFIRMED_BY``): the rank test's null law does not
   depend on the shape, so the pair holds the level under any noise that is the same on both
   sides, bimodal included (and Welch's own boundaries cover Gaussian noise of unequal spread).
4. REJECT when the horizon is used up, when the interval shows the improvement is below
   min_effect, or when promotion has become unlikely: the conditional power of reaching the
   loosest boundary still ahead under the current trend is below FUTILITY_POWER, checked only
   from FUTILITY_FROM of the information and FUTILITY_LOOKS of the horizon on. While a look
   ahead can still promote, its boundary keeps the conditional power above 0. These futility
   stops are non-binding (the boundaries ignore them), so they cost power, never false
   promotions.
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
from typing import TYPE_CHECKING, Protocol

from benchstone.kinds import VerdictKind
from benchstone.stats import distributions, exact
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
# A growing baseline (``Design.grows``) spends alpha as alpha * t ** GROWN_SPENDING_POWER:
# chosen by simulation for power at equal alpha (tests/perf/perf_power.py prints the
# comparison of the candidates it tried).
GROWN_SPENDING_POWER = 2.0
FUTILITY_POWER = 0.02
FUTILITY_FROM = 0.3  # information fraction before which the trend is too noisy to stop on
FUTILITY_LOOKS = 0.25  # ... and share of the horizon: a small baseline reaches 0.3 at look 2
NULL_PATHS = 100_000
NULL_SEED = 20_240_607
NULL_CHUNK = 10_000
# The null shapes the boundaries of each test must hold under (see the module docstring):
# Welch and Mann-Whitney: the candidate's standard deviation relative to the baseline's (a
# rank test of equal medians is not exact when the spreads differ); paired t: the order effect
# within a pair in residual standard deviations. The signed-rank test needs only one: the
# random order makes every difference symmetric about 0, whatever its shape.
NULL_FAMILIES: dict[str, tuple[float, ...]] = {
    "welch": (1.0, 0.25, 4.0), "rank": (1.0, 0.25, 4.0),
    "paired_t": (0.0, 2.0, 4.0, 10.0), "signed_rank": (0.0,),
}
# Part of every cache key: change it whenever the boundaries' computation changes.
BOUNDARY_VERSION = 3
# A Welch crossing promotes only when the exact rank test of the same look crosses too, against
# boundaries computed under the exchangeable null alone (``confirmation_boundaries``). Welch's
# boundaries hold under the Gaussian shapes of NULL_FAMILIES; the rank test's null law is the
# same for every continuous distribution, so the pair holds under any noise that is the same on
# both sides. Without it, a baseline of a few runs that all fall in one mode of a bimodal
# metric has a tiny standard error, and Welch promotes an unchanged program (3.8 % at alpha
# 0.01 with 5 baseline runs).
CONFIRMED_BY = {"welch": "rank"}


@dataclass(frozen=True)
class Design:
    """What fixes the boundaries: the test, the baseline size (unpaired), horizon and alpha."""

    test: str
    horizon: int
    alpha: float
    n_baseline: int = 0
    # the baseline grows with the candidate: look m uses the first max(n_baseline, m) baseline
    # values in the order they were recorded (``baseline_at``), not a fixed n_baseline
    grows: bool = False

    def baseline_at(self, looks: np.ndarray) -> np.ndarray:
        """The baseline values look m uses: n_baseline, or max(n_baseline, m) when it grows."""
        import numpy as np

        m = np.asarray(looks, dtype=int)
        if not self.grows:
            return np.full(m.shape, self.n_baseline)
        return np.maximum(m, self.n_baseline)

    @property
    def spending_power(self) -> float:
        return GROWN_SPENDING_POWER if self.grows else SPENDING_POWER

    def information(self, looks: np.ndarray) -> np.ndarray:
        """Information fraction of each look: 1 / Var(estimate), relative to the horizon's."""
        import numpy as np

        m = np.asarray(looks, dtype=float)
        if self.test in PAIRED_TESTS:
            return np.minimum(m / self.horizon, 1.0)
        b = self.baseline_at(np.asarray(looks, dtype=int)).astype(float)
        at = m * b / (m + b)
        b_last = float(self.baseline_at(np.asarray([self.horizon]))[0])
        last = self.horizon * b_last / (self.horizon + b_last)
        return np.minimum(at / last, 1.0)


# ---- boundaries ------------------------------------------------------------------------------

class BoundaryStore(Protocol):
    """Where computed boundaries are kept between processes (the caller's choice; this module
    does no I/O). ``load`` returns None for a key it does not hold or cannot read."""

    def load(self, key: str) -> tuple[float, ...] | None: ...

    def save(self, key: str, values: tuple[float, ...]) -> None: ...


_store: BoundaryStore | None = None


def use_store(store: BoundaryStore | None) -> None:
    """Keep boundaries in ``store`` from now on (None: compute them in every process)."""
    global _store
    _store = store


def design_key(design: Design) -> str:
    """A file-name-safe key naming the design and the code that computes its boundaries."""
    from benchstone import __version__

    grows = f"-g{GROWN_SPENDING_POWER:g}" if design.grows else ""
    return (f"v{__version__}-b{BOUNDARY_VERSION}-{design.test}-h{design.horizon}-"
            f"a{design.alpha!r}-n{design.n_baseline}{grows}-p{NULL_PATHS}-s{NULL_SEED}")


@lru_cache(maxsize=16)
def _null_p_values(test: str, n_baseline: int, horizon: int, exact_below: float,
                   family: float, grows: bool = False) -> np.ndarray:
    """Look p-values of NULL_PATHS streams simulated under H0 with a fixed seed (exact only
    where they are below ``exact_below``), in chunks to bound the memory used. ``family`` is
    the null shape of ``NULL_FAMILIES``; ``grows``: the baseline grows as ``Design.grows``."""
    import numpy as np

    seed = [NULL_SEED, horizon, n_baseline, len(test), round(family * 100)] + [1] * grows
    rng = np.random.default_rng(seed)
    sizes = None
    if grows:
        sizes = Design(test, horizon, 0.0, n_baseline, grows).baseline_at(
            np.arange(1, horizon + 1))
    chunks = []
    for start in range(0, NULL_PATHS, NULL_CHUNK):
        rows = min(NULL_CHUNK, NULL_PATHS - start)
        candidate = rng.standard_normal((rows, horizon))
        baseline = None
        if test in UNPAIRED_TESTS:
            baseline = rng.standard_normal((rows, max(n_baseline, horizon) if grows
                                                  else n_baseline))
            candidate *= family
        elif test == "paired_t" and family:
            candidate += family * rng.choice((-1.0, 1.0), (rows, horizon))
        chunks.append(look_p_values(test, candidate, baseline, exact_below, sizes))
    return np.concatenate(chunks)


def spent_alpha(design: Design) -> float:
    """The alpha the boundaries spend: a little below ``alpha``, so that the Monte Carlo error of
    the boundaries (two standard errors) cannot push the true level above it."""
    a = design.alpha
    return a * (1 - 2 * math.sqrt((1 - a) / (a * NULL_PATHS)))


@lru_cache(maxsize=128)
def boundaries(design: Design) -> tuple[float, ...]:
    """Nominal p-value boundaries b_1..b_horizon (b_m = -1: no promotion is possible at m): the
    smallest over the test's null families, from the store when it holds them."""
    key = design_key(design)
    if _store is not None and (kept := _store.load(key)) is not None and _plausible(kept, design):
        return kept
    computed = tuple(min(values) for values in zip(
        *(_family_boundaries(design, family) for family in NULL_FAMILIES[design.test]),
        strict=True))
    if _store is not None:
        _store.save(key, computed)
    return computed


@lru_cache(maxsize=128)
def confirmation_boundaries(design: Design) -> tuple[float, ...]:
    """Boundaries of the test that confirms ``design``'s crossings (``CONFIRMED_BY``), computed
    under the exchangeable null only: P(it crosses at any look) <= alpha for every continuous
    noise that is the same on both sides (ties only make it stricter)."""
    confirming = Design(CONFIRMED_BY[design.test], design.horizon, design.alpha,
                        design.n_baseline, design.grows)
    key = design_key(confirming) + "-exchangeable"
    if _store is not None and (kept := _store.load(key)) is not None and _plausible(kept, design):
        return kept
    computed = tuple(_family_boundaries(confirming, 1.0))
    if _store is not None:
        _store.save(key, computed)
    return computed


def confirmed_looks(design: Design, rows: np.ndarray, base: np.ndarray | None) -> np.ndarray:
    """(T, M) whether the confirming test of each look crosses its boundary (all True for a test
    that needs no confirmation). ``rows`` are oriented values already moved back by the shift
    under test."""
    import numpy as np

    if design.test not in CONFIRMED_BY:
        return np.ones(rows.shape, dtype=bool)
    bounds = np.asarray(confirmation_boundaries(design))[: rows.shape[1]]
    # a growing baseline: look m confirms on the baseline values look m itself used
    sizes = design.baseline_at(np.arange(1, rows.shape[1] + 1)) if design.grows else None
    p = look_p_values(CONFIRMED_BY[design.test], rows, base, baseline_sizes=sizes)
    return (p <= bounds) & (bounds > 0)


def _plausible(values: tuple[float, ...], design: Design) -> bool:
    """A kept set of boundaries fits the design: one per look, each -1 or in (0, alpha]."""
    return len(values) == design.horizon and all(
        isinstance(v, float) and (v == -1.0 or 0 < v <= design.alpha) for v in values)


def _family_boundaries(design: Design, family: float) -> list[float]:
    import numpy as np

    # one set of paths serves every alpha up to 0.05 (the levels Benjamini-Hochberg asks for)
    p = _null_p_values(design.test, design.n_baseline, design.horizon, max(design.alpha, 0.05),
                       family, design.grows)
    looks = np.arange(1, design.horizon + 1)
    spend = spent_alpha(design) * design.information(looks) ** design.spending_power
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
        if bound < ordered[0] or bound <= 0:
            continue
        out[m - 1] = min(bound, design.alpha)
        hit = np.zeros(len(p), dtype=bool)
        hit[alive] = values <= out[m - 1]
        crossed += int(hit.sum())
        alive &= ~hit
    return out


def rank_can_promote(n_baseline: int, horizon: int, alpha: float,
                     unequal_spread: bool = True) -> bool:
    """Whether the ``rank`` design can ever promote, without simulating it: the smallest p-value
    at look m, 1 / C(n_baseline + m, m), must fit within the alpha spent by then. Cheap enough
    for ``register``. ``unequal_spread=False``: under the exchangeable null alone (the
    confirmation of a ``welch`` design, see ``welch_can_promote``)."""
    design = Design("rank", horizon, alpha, n_baseline)
    # Under the unequal-spread null (a candidate 4 times tighter around the baseline's median)
    # all candidates beat all n baseline runs about 2^-n of the time: the boundaries must stay
    # below that lump, which leaves no look for 2^-n above about 4 alpha (checked against the
    # simulated boundaries in tests/test_gates_exact.py).
    if unequal_spread and 0.5**n_baseline > 4 * alpha:
        return False
    last = horizon * n_baseline / (horizon + n_baseline)
    for m in range(FIRST_LOOK, horizon + 1):
        information = min(m * n_baseline / (m + n_baseline) / last, 1.0)
        if 1 / math.comb(n_baseline + m, m) <= spent_alpha(design) * information**SPENDING_POWER:
            return True
    return False


def welch_can_promote(n_baseline: int, horizon: int, alpha: float) -> bool:
    """Whether the ``welch`` design can ever promote: its crossings need the exact rank test's
    confirmation (``CONFIRMED_BY``), which a baseline of 2 runs reaches at alpha 0.01 only
    with a horizon of about 20."""
    return rank_can_promote(n_baseline, horizon, alpha, unequal_spread=False)


def can_promote(design: Design) -> bool:
    """Whether any look of the design has a boundary (and a confirming one), that is, whether it
    can ever promote."""
    own = boundaries(design)
    if design.test not in CONFIRMED_BY:
        return any(b > 0 for b in own)
    return any(b > 0 and c > 0 for b, c in zip(own, confirmation_boundaries(design), strict=True))


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
    test: str = ""  # the test that judged ``look``: the design's, or its tie fallback


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
    every = np.asarray(boundaries(design))
    bounds = every[:limit]
    looks = np.arange(1, limit + 1)
    crossed = p[:, :limit] <= bounds
    crossed[:, : FIRST_LOOK - 1] = False
    # the loosest boundary at a later look: while one exists, promotion stays reachable
    ahead = np.append(np.maximum.accumulate(every[::-1])[::-1][1:], -1.0)[:limit]
    information = design.information(looks)
    power = conditional_power_matrix(p[:, :limit], information, ahead)
    reverse = (p_reverse[:, :limit] <= bounds) & (bounds > 0)
    late_enough = (information >= FUTILITY_FROM) & (looks >= FUTILITY_LOOKS * design.horizon)
    futile = reverse | ((power < FUTILITY_POWER) & late_enough) | (ahead <= 0)
    futile[:, : FIRST_LOOK - 1] = False
    if limit == design.horizon:
        futile[:, -1] = True  # the horizon: whatever has not crossed is rejected
    return crossed, futile, power


def conditional_power_matrix(p: np.ndarray, information: np.ndarray,
                             target: np.ndarray | float) -> np.ndarray:
    """The chance, under the current trend (a Brownian drift fitted to the look's z), that the
    z at full information exceeds the one of ``target`` (per look; 0 where it is <= 0)."""
    import numpy as np

    target = np.broadcast_to(np.asarray(target, dtype=float), p.shape[1:])
    z = -distributions.normal_quantile_array(np.clip(p, 1e-15, 1 - 1e-15))
    final_z = -distributions.normal_quantile_array(np.clip(target, 1e-15, 1 - 1e-15))
    remaining = np.maximum(1 - information, 1e-12)
    power = distributions.normal_sf_array((final_z - z / np.sqrt(information))
                                          / np.sqrt(remaining))
    return np.where(target > 0, power, 0.0)


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


# A t-test's null distribution assumes continuous values: on heavily tied or discrete data
# (0/1 scores, small counts, rounded values, a constant side) its looks are judged by the rank
# test of the same design, whose null distribution ties can only make stricter. The choice is
# made look by look, so a look once judged stays judged as more values arrive. A few ties (a
# timer with a coarse tick) leave the t-test in charge: see ``heavily_tied``.
TIE_FALLBACK = {"welch": "rank", "paired_t": "signed_rank"}


def heavily_tied(baseline: list[float], candidate: list[float]) -> bool:
    """A side of at least two values is constant, or the pooled values hold at most half as many
    distinct values as values."""
    pooled = baseline + candidate
    if any(len(side) >= 2 and len(set(side)) == 1 for side in (baseline, candidate)):
        return True
    return 2 * len(set(pooled)) <= len(pooled)


def tied_looks(test: str, candidate: np.ndarray, baseline: np.ndarray | None,
               baseline_sizes: np.ndarray | None = None) -> np.ndarray:
    """(M,) whether the values up to each look are tied enough for the fallback: heavily tied
    (``heavily_tied``) for an unpaired test (against the baseline values each look uses); for a
    paired one, equal sizes or a zero among the first m differences. One row of oriented
    values."""
    import numpy as np

    out = np.zeros(len(candidate), dtype=bool)
    if test not in PAIRED_TESTS:
        base = [] if baseline is None else baseline.tolist()
        values = candidate.tolist()
        for m in range(len(values)):
            used = base if baseline_sizes is None else base[: int(baseline_sizes[m])]
            out[m] = heavily_tied(used, values[: m + 1])
        return out
    seen: list[float] = []
    tied = False
    for m, value in enumerate(np.abs(candidate).tolist()):
        tied = tied or value in seen or value == 0
        seen.append(value)
        out[m] = tied
    return out


def _evidence(design: Design, rows: np.ndarray, base: np.ndarray | None,
              shift: float) -> dict[str, np.ndarray]:
    """p-values (of H0 "improvement <= shift"), reverse p-values (H0 "improvement >= shift"),
    boundaries, crossings, futility, conditional power and the test used, per look."""
    import numpy as np

    tests = np.full(rows.shape[1], design.test, dtype=object)
    sizes = design.baseline_at(np.arange(1, rows.shape[1] + 1)) if design.grows else None
    fallback = TIE_FALLBACK.get(design.test)
    if fallback:
        tied = tied_looks(design.test, rows[0], None if base is None else base[0], sizes)
        tests[tied] = fallback
    merged: dict[str, np.ndarray] = {}
    for test in dict.fromkeys(tests.tolist()):
        used = tests == test
        this = Design(test, design.horizon, design.alpha, design.n_baseline, design.grows)
        p = look_p_values(test, rows - shift, base, baseline_sizes=sizes)
        reverse = reverse_p_values(test, rows, base, shift, sizes)
        crossed, futile, power = stop_matrix(this, p, reverse)
        confirmed = confirmed_looks(this, rows - shift, base)
        unconfirmed = crossed & ~confirmed
        crossed &= confirmed
        parts = {"p": p[0], "reverse": reverse[0], "crossed": crossed[0], "futile": futile[0],
                 "power": power[0], "unconfirmed": unconfirmed[0],
                 "bounds": np.asarray(boundaries(this))[: rows.shape[1]]}
        for name, values in parts.items():
            if name not in merged:
                merged[name] = values.copy()
            merged[name][used] = values[used]
    merged["tests"] = tests
    return merged


def assess(design: Design, candidate: np.ndarray, baseline: np.ndarray | None,
           relative: Callable[[float], float], min_effect: float,
           reverse_shift: float) -> SequentialOutcome:
    """Where one oriented stream stands (the evaluate semantics): PROMOTE if the boundary was
    crossed at some look by the test of "improvement <= min_effect" (``reverse_shift`` is
    min_effect as an oriented shift) with an estimate above 0 and >= min_effect; else REJECT
    if a futility rule holds at the latest look or the horizon is reached; else
    NEEDS_MORE_DATA."""
    import numpy as np

    bounds = list(boundaries(design))
    total = len(candidate)
    limit = min(total, design.horizon)
    waiting = 0  # candidate values whose look waits for more baseline values
    if design.grows and baseline is not None:
        ready = design.baseline_at(np.arange(1, limit + 1)) <= len(baseline)
        waiting = limit - int(ready.sum())
        limit -= waiting
    if limit < FIRST_LOOK:
        why = f"{total} observation(s), need at least {FIRST_LOOK}"
        if waiting and total >= FIRST_LOOK:
            needed = int(design.baseline_at(np.asarray([FIRST_LOOK]))[0]) - len(baseline)
            why = f"the first look waits for {needed} more baseline run(s)"
        return SequentialOutcome(VerdictKind.NEEDS_MORE_DATA, why, limit, looks=total, horizon=design.horizon,
                                 p_value=1.0, boundary=-1.0, shift=math.nan,
                                 boundaries=bounds)
    rows = candidate[None, :limit]
    base = None if baseline is None else baseline[None, :]
    e = _evidence(design, rows, base, reverse_shift)
    bounds = e["bounds"].tolist() + bounds[limit:]
    common = {"looks": total, "horizon": design.horizon, "p_values": e["p"].tolist(),
              "boundaries": bounds}
    def used(m: int) -> np.ndarray | None:  # the baseline values look m uses
        if baseline is None or not design.grows:
            return baseline
        return baseline[: int(design.baseline_at(np.asarray([m]))[0])]

    for m in np.flatnonzero(e["crossed"]) + 1:
        shift, interval = shift_at(e["tests"][m - 1], candidate[:m], used(m), bounds[m - 1])
        effect = relative(shift)
        if effect > 0 and effect >= min_effect:
            return SequentialOutcome(VerdictKind.PROMOTE, "crossed the boundary", int(m),
                                     p_value=float(e["p"][m - 1]), boundary=bounds[m - 1],
                                     shift=shift, interval=interval, test=e["tests"][m - 1],
                                     **common)
    level = bounds[limit - 1]
    shift, interval = shift_at(e["tests"][limit - 1], candidate[:limit], used(limit),
                               level if level > 0 else design.alpha)
    state = {"look": limit, "p_value": float(e["p"][limit - 1]), "boundary": level,
             "shift": shift, "interval": interval if level > 0 else None,
             "conditional_power": float(e["power"][limit - 1]), "test": e["tests"][limit - 1],
             **common}
    futile = bool(e["futile"][limit - 1])
    if waiting and not futile and not e["crossed"].any():
        needed = int(design.baseline_at(np.asarray([limit + 1]))[0]) - len(baseline)
        return SequentialOutcome(VerdictKind.NEEDS_MORE_DATA, f"look {limit + 1} waits for "
                                 f"{needed} more baseline run(s): the baseline grows with the "
                                 "candidate", **state)
    below = "the improvement is below min_effect" if min_effect > 0 else "the candidate is worse"
    if futile and level > 0 and e["reverse"][limit - 1] <= level:
        return SequentialOutcome(VerdictKind.REJECT, below, **state)
    if e["crossed"].any():  # significant, but never with an improvement >= min_effect
        why = "significant, but the estimated improvement is below min_effect"
        if limit == design.horizon or futile:
            return SequentialOutcome(VerdictKind.REJECT, why, **state)
        return SequentialOutcome(VerdictKind.NEEDS_MORE_DATA, f"{why} so far: run more", **state)
    if limit == design.horizon:
        return SequentialOutcome(VerdictKind.REJECT, f"reached the horizon of {design.horizon} without "
                                 "crossing the boundary", **state)
    if futile:
        if not any(b > 0 for b in bounds[limit:]):
            return SequentialOutcome(VerdictKind.REJECT, "no look left can promote", **state)
        return SequentialOutcome(VerdictKind.REJECT, "promotion within the horizon is unlikely "
                                 f"(conditional power {state['conditional_power']:.1%} under "
                                 "the current trend)", **state)
    if e["unconfirmed"][limit - 1]:
        return SequentialOutcome(VerdictKind.NEEDS_MORE_DATA, f"crossed the boundary, but the exact "
                                 f"{CONFIRMED_BY[design.test]} test of the same look does not "
                                 "confirm it yet: run more", **state)
    return SequentialOutcome(VerdictKind.NEEDS_MORE_DATA, f"undecided after {limit} of at most "
                             f"{design.horizon}: run more", **state)
