"""``calibrate``: how noisy is a benchmark here, and what can its gate see at that noise?

It runs the benchmark's committed tree N times and reports the spread (CV) of every metric
source it observes: the runner's metric, the harness's wall and CPU time, and the instruction
count in a further run set under Valgrind (when the sandbox and image allow it). At the spread
of the benchmark's own source it reports the smallest gain its settings detect with 80 % power
within its horizon and the runs a 2 % and a 5 % gain need (``benchstone.evaluate.power``),
then recommends a metric source, a design and a ``min_effect``.

Its run sets are of kind ``calibrate``: on record like every repetition, never a gate's
evidence (the samples of ``evaluate``, ``promote`` and ``compare`` are drawn from other kinds).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from pydantic import BaseModel, Field

from benchstone.errors import InvalidArgument, SandboxUnavailable
from benchstone.evaluate import power
from benchstone.evaluate.checks import settings_for
from benchstone.gates.policies import GateSettings
from benchstone.paths import Home
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.run.runner import Progress, RunRequest, RunSetReport, execute
from benchstone.stats.basic import mean, sample_variance
from benchstone.store import Store

SOURCES = ("runner", "harness_wall", "harness_cpu", "harness_instructions")
TARGET_GAINS = (0.02, 0.05)
DEFAULT_REPETITIONS = 10
INSTRUCTION_REPETITIONS = 3
TRIALS = 200
Notify = Callable[[str], None]


class SourceNoise(BaseModel):
    """One metric source's spread over the calibration runs."""

    source: str
    n: int
    mean: float | None = None
    cv: float | None = None
    detectable_gain: float | None = None  # normal approximation at the benchmark's settings
    note: str | None = None


class GainNeed(BaseModel):
    """The candidate runs (against the benchmark's baseline size) a gain needs for 80 % power."""

    gain: float
    candidate_runs: int | None
    runs_a_side: int | None  # with a baseline as large as the candidate side
    simulated_power: float | None = None
    trials: int = 0
    note: str | None = None


class CalibrationReport(BaseModel):
    project: str
    benchmark: str
    git_sha: str
    run_set_ids: list[int]
    metric_source: str
    gate_policy: str
    alpha: float
    min_effect: float
    n_baseline: int  # 0 under the paired design, where each pair runs the baseline again
    horizon: int  # candidate runs, or pairs under the paired design
    paired: bool = False
    sources: list[SourceNoise]
    detectable_gain: float | None = None  # with 80 % power within the horizon, by simulation
    detectable_power: float | None = None
    trials: int = TRIALS
    needs: list[GainNeed] = Field(default_factory=list)
    recommendation: list[str] = Field(default_factory=list)


def spread(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and coefficient of variation (sample standard deviation over the mean)."""
    if len(values) < 2:
        return (values[0] if values else None), None
    centre = mean(values)
    if centre == 0:
        return centre, None
    return centre, math.sqrt(sample_variance(values)) / abs(centre)


def horizon_of(bench: BenchmarkSpec) -> int:
    """The candidate runs (or pairs) the gate may take: the sequential horizon, or one run
    set."""
    if bench.gate_policy in power.SEQUENTIAL_POLICIES or bench.is_paired:
        return bench.max_repetitions
    return max(bench.run_repetitions, 2)


def require_calibratable(bench: BenchmarkSpec, repetitions: int,
                         instruction_repetitions: int = 0) -> None:
    """Refuse what calibrate cannot measure, before any lease is taken."""
    if instruction_repetitions == 1 or instruction_repetitions < 0:
        raise InvalidArgument(
            f"{instruction_repetitions} repetition(s) under Valgrind cannot show a spread",
            fix="pass --instruction-repetitions 0 (none) or 2 and more")
    if not bench.is_stochastic:
        raise InvalidArgument(f"{bench.name} is a {bench.tier} benchmark: it has no metric to "
                              "calibrate", fix="calibrate a performance or quality benchmark")
    if repetitions < 2:
        raise InvalidArgument("calibrate needs at least 2 repetitions to see a spread",
                              fix="pass --repetitions 10 (or more)")


def calibrate(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
              repetitions: int, instruction_repetitions: int, request: RunRequest,
              progress: Progress, notify: Notify, trials: int = TRIALS) -> CalibrationReport:
    """Run the calibration run sets (``request`` carries the sandbox and the lease) and judge."""
    require_calibratable(bench, repetitions, instruction_repetitions)
    main = execute(store, home, project, bench,
                   _calibration(request, repetitions), progress)
    reports = [main]
    observed: dict[str, tuple[list[float], str | None]] = {
        source: ([v for run in main.runs if (v := run.gated_value(source)) is not None], None)
        for source in SOURCES
    }
    if bench.metric_source != "harness_instructions":
        observed["harness_instructions"] = ([], "not measured (--instruction-repetitions 0)")
        if instruction_repetitions >= 2:
            notify(f"counting instructions under Valgrind: {instruction_repetitions} more "
                   "repetitions, each several times slower")
            counted, note = _instruction_runs(store, home, project, bench, request,
                                              instruction_repetitions, progress)
            if counted is not None:
                reports.append(counted)
                values = [v for run in counted.runs
                          if (v := run.gated_value("harness_instructions")) is not None]
                failed = next((run.message for run in counted.runs if run.status != "ok"), None)
                observed["harness_instructions"] = (values, failed if len(values) < 2 else None)
            else:
                observed["harness_instructions"] = ([], note)
    settings = settings_for(bench)
    paired = bench.is_paired
    n_baseline = 0 if paired else max(len(bench.baseline_seeds), 2)
    horizon = horizon_of(bench)
    sources = []
    for source in SOURCES:
        values, note = observed[source]
        centre, cv = spread(values)
        if cv is None and note is None:
            note = "fewer than 2 ok runs" if len(values) < 2 else "no spread to measure"
        detectable = (power.detectable_gain(cv, n_baseline, horizon, settings, paired=paired)
                      if cv is not None else None)
        sources.append(SourceNoise(source=source, n=len(values), mean=centre, cv=cv,
                                   detectable_gain=_finite(detectable), note=note))
    report = CalibrationReport(
        project=project.name, benchmark=bench.name, git_sha=main.run_set.git_sha,
        run_set_ids=[r.run_set.id for r in reports], metric_source=bench.metric_source,
        gate_policy=bench.gate_policy, alpha=bench.alpha, min_effect=bench.min_effect,
        n_baseline=n_baseline, horizon=horizon, paired=paired, sources=sources, trials=trials)
    own = next(s for s in sources if s.source == bench.metric_source)
    if own.cv is not None:
        gate = f"paired {bench.gate_policy}" if paired else bench.gate_policy
        notify(f"simulating the {gate} gate at CV {own.cv:.3%} ({trials} trials a point)")
        gain, reached = smallest_detectable(own.cv, n_baseline, horizon, settings, trials,
                                            paired=paired)
        report.detectable_gain, report.detectable_power = _finite(gain), reached
        report.needs = [need_for(g, own.cv, n_baseline, settings, trials, paired=paired)
                        for g in TARGET_GAINS]
    report.recommendation = recommend(report)
    return report


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _calibration(request: RunRequest, repetitions: int) -> RunRequest:
    return replace(request, kind="calibrate", repetitions=repetitions, seeds=None,
                   seed_set="fresh")


def _instruction_runs(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                      request: RunRequest, repetitions: int, progress: Progress
                      ) -> tuple[RunSetReport | None, str | None]:
    counted = bench.model_copy(update={"metric_source": "harness_instructions"})
    try:
        return execute(store, home, project, counted, _calibration(request, repetitions),
                       progress), None
    except SandboxUnavailable as exc:
        return None, f"not measured: {exc}"


def smallest_detectable(cv: float, n_baseline: int, horizon: int, settings: GateSettings,
                        trials: int, *, paired: bool = False) -> tuple[float, float | None]:
    """The smallest gain the gate promotes in at least 80 % of simulated comparisons within
    its horizon (bisection between the normal approximation and 60 %); its simulated power."""
    low = max(power.detectable_gain(cv, n_baseline, horizon, settings, paired=paired) * 0.8,
              1e-6)
    high = 0.6
    at_high = power.simulate_power(high, cv, n_baseline, horizon, settings, trials,
                                   paired=paired)
    if at_high.power < power.POWER:
        return math.inf, at_high.power
    reached = at_high.power
    for _ in range(7):
        middle = (low + high) / 2
        simulated = power.simulate_power(middle, cv, n_baseline, horizon, settings, trials,
                                         paired=paired)
        if simulated.power >= power.POWER:
            high, reached = middle, simulated.power
        else:
            low = middle
    return high, reached


def need_for(gain: float, cv: float, n_baseline: int, settings: GateSettings,
             trials: int, *, paired: bool = False) -> GainNeed:
    """The candidate runs (``paired``: pairs) ``gain`` needs: the normal approximation's first
    guess, raised until the simulated gate reaches 80 % power (at most the manifest's limit of
    100)."""
    guess = power.runs_needed(gain, cv, n_baseline, settings, paired=paired)
    balanced = None if paired else power.balanced_runs_needed(gain, cv, settings)
    if guess is None:
        why = ("min_effect is above it" if gain <= settings.min_effect else
               "not within the manifest's limit of 100 pairs" if paired else
               f"the baseline of {n_baseline} runs is the bottleneck")
        return GainNeed(gain=gain, candidate_runs=None, runs_a_side=balanced, note=why)
    runs = max(guess, 2)
    simulated = None
    while runs <= 100:
        simulated = power.simulate_power(gain, cv, n_baseline, runs, settings, trials,
                                         paired=paired)
        if simulated.power >= power.POWER:
            return GainNeed(gain=gain, candidate_runs=runs, runs_a_side=balanced,
                            simulated_power=simulated.power, trials=trials)
        runs = math.ceil(runs * 1.6)
    return GainNeed(gain=gain, candidate_runs=None, runs_a_side=balanced,
                    simulated_power=simulated.power if simulated else None, trials=trials,
                    note="not within 100 pairs" if paired else
                    f"not within 100 candidate runs against a baseline of {n_baseline}")


def recommend(report: CalibrationReport) -> list[str]:
    """Plain advice: the quietest source, the design, and a min_effect the gate can see."""
    lines = []
    measured = [s for s in report.sources if s.cv is not None]
    if not measured:
        return ["no source had two ok runs: fix the failures first (bench history shows them)"]
    quietest = min(measured, key=lambda s: s.cv or 0.0)
    own = next((s for s in measured if s.source == report.metric_source), None)
    if quietest.source == "harness_instructions" and (quietest.cv or 0) <= 0.001:
        lines.append(f'metric_source = "harness_instructions": its count moves {quietest.cv:.4%} '
                     "run to run; it counts work, not time, and runs several times slower")
    elif own is None or quietest.source != own.source:
        lines.append(f'metric_source = "{quietest.source}": the quietest here '
                     f"(CV {quietest.cv:.2%})")
    else:
        lines.append(f'keep metric_source = "{own.source}" (CV {own.cv:.2%}, the quietest here)')
    cv = (own or quietest).cv or 0.0
    if report.paired:
        lines.append(f"design: paired {report.gate_policy} as configured: each pair runs both "
                     "commits in one time window, so the machine's drift hits both alike"
                     + ("; bench compare --duet runs the halves at once on disjoint cores"
                        if cv > 0.02 else ""))
    elif cv > 0.02:
        lines.append("design: compare the two commits in interleaved pairs (bench compare), so "
                     "the machine's drift hits both alike; or establish a larger baseline "
                     f"(baseline_seeds: {report.n_baseline} now)")
    else:
        lines.append(f"design: the sequential {report.gate_policy} gate as configured")
    if report.detectable_gain is not None:
        floor = math.ceil(report.detectable_gain * 200) / 200  # up to the next half percent
        if report.min_effect < floor:
            lines.append(f"min_effect = {floor:g}: smaller gains are below what "
                         f"{report.horizon} {'pairs' if report.paired else 'candidate runs'} "
                         "detect with 80 % power here")
        else:
            lines.append(f"min_effect = {report.min_effect:g} is detectable within the horizon")
    else:
        lines.append("min_effect: no gain up to 60 % is detected with 80 % power here; "
                     "reduce the noise first")
    return lines
