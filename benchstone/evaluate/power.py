"""What a benchmark's gate can see at a measured spread: pure functions, no I/O.

The noise model is log-normal with the measured coefficient of variation (CV), the usual model
of run times. A gain ``g`` makes the candidate's centre ``(1 - g)`` times the baseline's (for
``maximize``, ``1 / (1 - g)`` times). A normal approximation of the one-sided test gives the
smallest gain detected with 80 % power and the runs a gain needs; simulation through the
project's own gate (``decide``, or ``decide_sequential`` for the calibrated policies, at the
benchmark's settings) then measures the power actually reached, with its trial count and
Monte Carlo error.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from benchstone.gates.policies import GateSettings, decide
from benchstone.gates.sequential import decide_paired_sequential, decide_sequential
from benchstone.gates.verdict import Verdict
from benchstone.kinds import VerdictKind
from benchstone.stats.distributions import normal_quantile

POWER = 0.80
SEQUENTIAL_POLICIES = frozenset({"welch", "rank"})
MAX_RUNS = 1000  # beyond this a gain is reported as out of reach


def log_sigma(cv: float) -> float:
    """The standard deviation of log values whose CV is ``cv`` (log-normal)."""
    return math.sqrt(math.log1p(cv * cv))


def critical_z(settings: GateSettings) -> float:
    """The z a fixed-sample version of the gate must reach."""
    if settings.policy == "sigma":
        return settings.promotion_sigma
    if settings.policy == "mann_whitney":
        return settings.rank_threshold
    return normal_quantile(1 - settings.alpha)


def _log_gain(gain: float) -> float:
    return -math.log1p(-gain)


def detectable_gain(cv: float, n_baseline: int, n_candidate: int, settings: GateSettings,
                    power: float = POWER, *, paired: bool = False) -> float:
    """The smallest relative gain detected with ``power`` by a fixed-sample test at these
    sample sizes (normal approximation on log values), never below ``min_effect``. ``paired``:
    ``n_candidate`` pairs, each a run of both commits (``n_baseline`` plays no part)."""
    if (n_baseline < 2 and not paired) or n_candidate < 2:
        return math.inf
    spread = log_sigma(cv) * (math.sqrt(2 / n_candidate) if paired
                              else math.sqrt(1 / n_baseline + 1 / n_candidate))
    shift = _log_gain(settings.min_effect) + (critical_z(settings) + normal_quantile(power)) * spread
    return -math.expm1(-shift)


def runs_needed(gain: float, cv: float, n_baseline: int, settings: GateSettings,
                power: float = POWER, *, paired: bool = False) -> int | None:
    """Candidate runs a fixed-sample test needs to detect ``gain`` with ``power`` against a
    baseline of ``n_baseline`` runs; None when no number of candidate runs is enough (the
    baseline, or ``min_effect``, is the bottleneck). ``paired``: the pairs it needs."""
    if paired:
        return balanced_runs_needed(gain, cv, settings, power)
    spread = _spread_per_margin(gain, cv, settings, power)
    if spread is None:
        return None
    if spread == 0:
        return 2
    room = 1 / spread**2 - 1 / max(n_baseline, 1)
    if room <= 0:
        return None
    needed = max(2, math.ceil(1 / room))
    return needed if needed <= MAX_RUNS else None


def balanced_runs_needed(gain: float, cv: float, settings: GateSettings,
                         power: float = POWER) -> int | None:
    """Runs a side (baseline and candidate alike) a fixed-sample test needs for ``gain``."""
    spread = _spread_per_margin(gain, cv, settings, power)
    if spread is None:
        return None
    needed = max(2, math.ceil(2 * spread**2))
    return needed if needed <= MAX_RUNS else None


def _spread_per_margin(gain: float, cv: float, settings: GateSettings,
                       power: float) -> float | None:
    """(z_alpha + z_power) times the log spread, over the gain's margin above ``min_effect``:
    a one-run-a-side test's standard error in units of what it must detect; None when the gain
    is not above ``min_effect``."""
    margin = _log_gain(gain) - _log_gain(settings.min_effect)
    if margin <= 0:
        return None
    return (critical_z(settings) + normal_quantile(power)) * log_sigma(cv) / margin


@dataclass(frozen=True)
class SimulatedPower:
    """The share of simulated comparisons the gate promoted, with its Monte Carlo error."""

    power: float
    trials: int

    @property
    def error(self) -> float:
        return math.sqrt(max(self.power * (1 - self.power), 1e-12) / self.trials)


def simulate_power(gain: float, cv: float, n_baseline: int, n_candidate: int,
                   settings: GateSettings, trials: int = 200, seed: int = 1, *,
                   paired: bool = False) -> SimulatedPower:
    """How often the project's gate promotes a true ``gain`` at this spread: ``decide_sequential``
    over ``n_candidate`` runs (its horizon) for ``welch`` and ``rank``, ``decide`` otherwise;
    ``paired``: ``decide_paired_sequential`` over ``n_candidate`` pairs (independent runs: a
    pair cancels drift, which runs of one commit cannot show)."""
    rng = random.Random(seed)
    sigma = log_sigma(cv)
    factor = 1 - gain if settings.direction == "minimize" else 1 / (1 - gain)
    promoted = 0
    for _ in range(trials):
        baseline = [math.exp(rng.gauss(0.0, sigma))
                    for _ in range(n_candidate if paired else n_baseline)]
        candidate = [factor * math.exp(rng.gauss(0.0, sigma)) for _ in range(n_candidate)]
        if paired:
            decision = decide_paired_sequential(baseline, candidate, settings, n_candidate)
        elif settings.policy in SEQUENTIAL_POLICIES:
            decision = decide_sequential(baseline, candidate, settings, n_candidate)
        else:
            decision = decide(baseline, candidate, settings)
        promoted += decision.kind == VerdictKind.PROMOTE
    return SimulatedPower(promoted / trials, trials)


def spread_warning(verdict: Verdict, settings: GateSettings, min_effect: float, *,
                   paired: bool = False) -> str | None:
    """A warning when the spread ``verdict``'s samples show hides gains near ``min_effect``:
    the smallest gain detected with 80 % power within the horizon (normal approximation) is
    above twice ``min_effect`` and a point above it."""
    baseline = verdict.baseline.values if verdict.baseline else []
    candidate = verdict.candidate.values if verdict.candidate else []
    values = baseline if len(baseline) >= 2 else candidate
    if len(values) < 2 or min(values) <= 0:
        return None
    centre = sum(values) / len(values)
    cv = math.sqrt(sum((v - centre) ** 2 for v in values) / (len(values) - 1)) / centre
    horizon = verdict.sequential.horizon if verdict.sequential else max(len(candidate), 2)
    gain = detectable_gain(cv, max(len(baseline), 2), horizon, settings, paired=paired)
    if not gain > max(2 * min_effect, min_effect + 0.01):
        return None
    runs = f"{horizon} pairs" if paired else f"{horizon} candidate runs"
    return (f"at this spread (CV {cv:.2%}) gains below {gain:.1%} are unlikely to be promoted "
            f"within {runs} (80 % power, normal approximation), while "
            f"min_effect is {min_effect:.1%}: reduce the noise (bench calibrate compares the "
            "metric sources) or raise min_effect")
