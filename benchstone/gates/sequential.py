"""The ``welch`` and ``rank`` gates over all the evidence at a commit: the sequential procedure
of :mod:`benchstone.stats.sequential` wrapped as a :class:`~benchstone.gates.policies.GateDecision`.

``decide_sequential`` compares the candidate's runs, in the order they were recorded, with a
fixed baseline; ``decide_paired_sequential`` does the same for ``compare``'s pairs. Both are
pure: the caller brings the values and the horizon (the manifest's ``max_repetitions``).
Declared exact data (``deterministic``, ``resolution``) is judged by
:mod:`benchstone.gates.exact` instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchstone.gates.exact import decide_exact
from benchstone.gates.policies import (
    MIN_PER_SIDE,
    GateDecision,
    GateSettings,
    log_scale_problem,
    paired_differences,
    paired_test_name,
)
from benchstone.gates.wording import confidence, percent, signed_percent
from benchstone.kinds import VerdictKind
from benchstone.stats.basic import mean, median, reference_centre
from benchstone.stats.calibrated import orient, to_relative
from benchstone.stats.looks import FIRST_LOOK
from benchstone.stats.sequential import Design, SequentialOutcome, assess, futility_shift

if TYPE_CHECKING:
    import numpy as np


def _describe(name: str, outcome: SequentialOutcome, effect: float | None,
              ci: tuple[float, float] | None, s: GateSettings) -> GateDecision:
    details = [f"alpha {s.alpha:g} is spent over looks at every repetition up to the horizon "
               f"of {outcome.horizon}; re-running and re-evaluating cannot raise it"]
    if outcome.look < FIRST_LOOK:
        return GateDecision(outcome.kind, name, f"{name} (sequential): {outcome.why}",
                            details=details, sequential=outcome)
    look = f"look {outcome.look} of at most {outcome.horizon}"
    if outcome.boundary > 0:
        compare = "<=" if outcome.p_value <= outcome.boundary else ">"
        test = f"p={outcome.p_value:.4g} {compare} boundary {outcome.boundary:.4g}"
    else:
        test = f"p={outcome.p_value:.4g}, no promotion possible at this look"
    improvement = f", improvement {signed_percent(effect)}" if effect is not None else ""
    ci_text = ""
    if ci is not None:
        ci_text = (f", {confidence(outcome.boundary)} CI "
                   f"[{percent(ci[0])}, {percent(ci[1])}]")
    judged = ""
    if outcome.test and outcome.test != name:
        judged = f"; tied values, judged by the {outcome.test} test"
    reason = (f"{name} (sequential, {look}): {outcome.why}; {test}{improvement}{ci_text} "
              f"(alpha {s.alpha:g}, direction={s.direction}{judged})")
    if outcome.looks > outcome.horizon:
        details.append(f"{outcome.looks - outcome.horizon} value(s) beyond the horizon are not "
                       "used")
    return GateDecision(outcome.kind, name, reason, statistic=None, statistic_name=None,
                        threshold=outcome.boundary if outcome.boundary > 0 else None,
                        p_value=outcome.p_value, effect=effect, effect_ci=ci, details=details,
                        sequential=outcome)


def _relative_interval(outcome: SequentialOutcome, relative) -> tuple[float, float] | None:
    if outcome.interval is None:
        return None
    low, high = sorted(relative(bound) for bound in outcome.interval)
    return low, high


def frame(b: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """(anchor, unit): the tests see (x - anchor) / unit, values of order 1 whatever the metric's
    scale (1e-300 or 1e200): the t-tests and rank tests are unchanged by such a shift and
    scale, and their arithmetic can then neither overflow nor lose the spread. ``unit`` is a
    power of two, so the scaling itself is exact."""
    import numpy as np

    anchor = float(np.median(b))
    spread = float(max(np.abs(b - anchor).max(initial=0.0), np.abs(c - anchor).max(initial=0.0)))
    if not (spread > 0 and math.isfinite(spread)):
        return anchor, 1.0
    return anchor, 2.0 ** math.frexp(spread)[1]


def decide_sequential(baseline: Sequence[float], candidate: Sequence[float],
                      settings: GateSettings, horizon: int, *,
                      first_baseline: int | None = None) -> GateDecision:
    """The policy's one-sided test repeated at every candidate run, boundaries spending alpha;
    an exact comparison instead when the settings declare exact data.

    ``first_baseline`` given: the baseline grows with the candidate (``baseline`` in the order
    it was recorded), look m using its first max(first_baseline, m) values; a look whose
    baseline values are not there yet waits (NEEDS_MORE_DATA) for more baseline runs."""
    import numpy as np

    s = settings
    if len(baseline) < MIN_PER_SIDE:
        return GateDecision(VerdictKind.NEEDS_MORE_DATA, s.policy, f"baseline has {len(baseline)} ok "
                            f"run(s), need {MIN_PER_SIDE}")
    if problem := log_scale_problem(s.policy, s, baseline, candidate):
        return problem
    if exact := decide_exact(s.policy, baseline, candidate, s):
        return exact
    b = orient(np.asarray(baseline, dtype=float), s.direction, s.log_scale)
    c = orient(np.asarray(candidate, dtype=float), s.direction, s.log_scale)
    anchor, unit = frame(b, c)
    b, c = (b - anchor) / unit, (c - anchor) / unit
    # a growing baseline's centre is that of its first values, which no later run can move
    fixed = baseline if first_baseline is None else baseline[:max(first_baseline, MIN_PER_SIDE)]
    centre = reference_centre(mean(fixed) if s.policy == "welch" else median(fixed), fixed)

    def relative(shift: float) -> float:
        return to_relative(shift * unit, centre, s.direction, s.log_scale)

    design = (Design(s.policy, horizon, s.alpha, len(baseline)) if first_baseline is None
              else Design(s.policy, horizon, s.alpha, first_baseline, grows=True))
    outcome = assess(design, c, b, relative, s.min_effect,
                     futility_shift(s.min_effect, s.direction, s.log_scale, centre) / unit)
    effect = relative(outcome.shift) if np.isfinite(outcome.shift) else None
    return _describe(s.policy, outcome, effect, _relative_interval(outcome, relative), s)


def decide_paired_sequential(baseline: Sequence[float], candidate: Sequence[float],
                             settings: GateSettings, horizon: int) -> GateDecision:
    """The paired test (signed-rank or t on log ratios) repeated at every pair; an exact
    comparison instead when the settings declare exact data."""
    import numpy as np

    s = settings
    name = paired_test_name(s.policy)
    if exact := decide_exact(name, baseline, candidate, s):
        exact.details.append(f"{len(baseline)} pair(s)")
        return exact
    d, log_scale = paired_differences(baseline, candidate, s.direction)
    _, unit = frame(np.zeros(1), d)
    d = d / unit
    centre = reference_centre(mean(baseline), baseline) if baseline else 1.0

    def relative(shift: float) -> float:
        return to_relative(shift * unit, centre, s.direction, log_scale)

    design = Design(name, horizon, s.alpha)
    outcome = assess(design, d, None, relative, s.min_effect,
                     futility_shift(s.min_effect, s.direction, log_scale, centre) / unit)
    effect = relative(outcome.shift) if np.isfinite(outcome.shift) else None
    decision = _describe(name, outcome, effect, _relative_interval(outcome, relative), s)
    scale = "log ratios" if log_scale else "differences"
    decision.details.append(f"{len(d)} pair(s), test on {scale}")
    return decision
