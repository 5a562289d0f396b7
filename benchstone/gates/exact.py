"""Exact decisions on exact data: a benchmark that declares ``deterministic = true``, or whose
two samples both lie within its declared ``resolution`` (a relative tolerance), needs no
statistics. Two runs a side show that the values repeat; the verdict is then the comparison
of the two values: PROMOTE when the candidate is better by more than the resolution and by at
least ``min_effect``, else REJECT. An unchanged program is never promoted.

A side declared deterministic whose values vary beyond the resolution is NEEDS_MORE_DATA
naming the spread, never a silent fall back to a noisy test. Without either declaration
(``resolution = 0``, not deterministic) a constant sample is not taken as exact: a 0/1 or
count metric repeats by chance, and the sequential rank test judges it instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from benchstone.gates.policies import MIN_PER_SIDE, GateDecision, GateSettings
from benchstone.gates.wording import signed_percent
from benchstone.kinds import VerdictKind
from benchstone.stats.basic import median, reference_centre


def relative_spread(values: Sequence[float]) -> float:
    """(max - min) relative to the largest magnitude: 0 for repeated values, at most 2."""
    low, high = min(values), max(values)
    if low == high:
        return 0.0
    return (high - low) / max(abs(low), abs(high))


def decide_exact(name: str, baseline: Sequence[float], candidate: Sequence[float],
                 s: GateSettings) -> GateDecision | None:
    """The exact verdict when the settings declare exact data and both sides have at least
    two values; None when the sequential test must judge instead."""
    if not (s.deterministic or s.resolution > 0):
        return None
    if len(baseline) < MIN_PER_SIDE or len(candidate) < MIN_PER_SIDE:
        return None
    spreads = {"baseline": relative_spread(baseline), "candidate": relative_spread(candidate)}
    wide = {side: spread for side, spread in spreads.items() if spread > s.resolution}
    if wide:
        if not s.deterministic:
            return None  # noisy after all: the sequential test judges it
        side, spread = next(iter(wide.items()))
        return GateDecision(
            VerdictKind.NEEDS_MORE_DATA, name,
            f"{name}: the benchmark is declared deterministic but its {side} values vary by "
            f"{spread:.3g} relative (resolution {s.resolution:g}): make the metric repeat, "
            "declare a resolution above that spread, or set deterministic = false",
            details=[f"relative spread: baseline {spreads['baseline']:.3g}, candidate "
                     f"{spreads['candidate']:.3g}"])
    # a baseline at 0 is improved on relative to its magnitude (else 1), as in the sequential
    # test: relative to 0 itself, any change at all would be infinitely better
    centre = median(baseline)
    change = (median(candidate) - centre) / abs(reference_centre(centre, baseline))
    effect = -change if s.direction == "minimize" else change
    better = effect > s.resolution and effect > 0 and effect >= s.min_effect
    shown = signed_percent(effect, 4) if math.isfinite(effect) else ("better" if effect > 0 else "worse")
    why = ("better by more than the resolution and by at least min_effect" if better else
           "not better by more than the resolution" if effect <= s.resolution else
           "better, but by less than min_effect")
    declared = "deterministic" if s.deterministic else f"within resolution {s.resolution:g}"
    reason = (f"{name} (exact, {declared}: {len(baseline)} baseline and {len(candidate)} "
              f"candidate runs repeat): improvement {shown}, {why} "
              f"(min_effect {s.min_effect:g}, direction={s.direction})")
    return GateDecision(VerdictKind.PROMOTE if better else VerdictKind.REJECT, name, reason,
                        effect=effect if math.isfinite(effect) else None,
                        details=["an exact comparison: both samples repeat their values, so no "
                                 "test and no error rate is involved"])
