"""``calibrate``: the arithmetic of what a gate can see at a measured spread, checked against
simulation through the project's own gate; and its runs, which never enter a verdict (on the
process sandbox: host subprocesses, fast)."""

from __future__ import annotations

import json
import math

import pytest

from benchstone.evaluate import power
from benchstone.evaluate.calibrate import (
    CalibrationReport,
    SourceNoise,
    recommend,
    smallest_detectable,
    spread,
)
from benchstone.gates.policies import GateSettings
from benchstone.gates.verdict import Sample, SequentialSummary, Verdict, VerdictKind
from tests.conftest import BenchCLI, commit_all

SIGMA = GateSettings(policy="sigma", direction="minimize", promotion_sigma=2.0)
WELCH = GateSettings(policy="welch", direction="minimize", alpha=0.01, log_scale=True)


def test_spread_is_the_sample_cv() -> None:
    centre, cv = spread([9.0, 10.0, 11.0])
    assert centre == 10.0 and cv == pytest.approx(0.1)
    assert spread([5.0]) == (5.0, None)


def test_detectable_gain_grows_with_noise_and_shrinks_with_runs() -> None:
    quiet = power.detectable_gain(0.01, 5, 20, WELCH)
    noisy = power.detectable_gain(0.03, 5, 20, WELCH)
    longer = power.detectable_gain(0.03, 20, 80, WELCH)
    assert 0 < quiet < noisy and longer < noisy
    assert power.detectable_gain(0.0, 5, 20, GateSettings("welch", "minimize", min_effect=0.02)) \
        == pytest.approx(0.02)
    assert power.detectable_gain(0.03, 1, 20, WELCH) == math.inf


def test_runs_needed_meets_the_normal_approximation_it_inverts() -> None:
    runs = power.runs_needed(0.05, 0.03, 10, WELCH)
    assert runs is not None
    assert power.detectable_gain(0.03, 10, runs, WELCH) <= 0.05
    assert power.detectable_gain(0.03, 10, runs - 1, WELCH) > 0.05 or runs == 2
    # a baseline of 2 noisy runs is the bottleneck: no number of candidate runs is enough
    assert power.runs_needed(0.02, 0.10, 2, WELCH) is None
    assert power.runs_needed(0.01, 0.03, 5, GateSettings("welch", "minimize", min_effect=0.02)) \
        is None


def test_the_approximation_matches_the_sigma_gate_by_simulation() -> None:
    """At the gain the normal approximation says is detected with 80 % power, the project's own
    sigma gate promotes in 80 % of simulated comparisons (1000 trials: Monte Carlo error about
    1.3 points; the bound below is 4 errors)."""
    gain = power.detectable_gain(0.03, 10, 10, SIGMA)
    simulated = power.simulate_power(gain, 0.03, 10, 10, SIGMA, trials=1000, seed=7)
    assert abs(simulated.power - power.POWER) < 4 * simulated.error + 0.02


def test_an_unchanged_program_is_rarely_promoted_in_the_simulation() -> None:
    simulated = power.simulate_power(0.0, 0.03, 10, 10, SIGMA, trials=1000, seed=3)
    assert simulated.power < 0.05


def test_the_smallest_detectable_gain_is_found_by_simulation() -> None:
    gain, reached = smallest_detectable(0.03, 10, 10, SIGMA, trials=400)
    assert reached is not None and reached >= power.POWER
    below = power.simulate_power(gain * 0.8, 0.03, 10, 10, SIGMA, trials=400, seed=5)
    assert below.power < power.POWER


def _report(**cvs: float | None) -> CalibrationReport:
    sources = [SourceNoise(source=name, n=5, mean=1.0, cv=cv) for name, cv in cvs.items()]
    return CalibrationReport(project="p", benchmark="b", git_sha="a" * 40, run_set_ids=[1],
                             metric_source="runner", gate_policy="welch", alpha=0.01,
                             min_effect=0.0, n_baseline=5, horizon=20, sources=sources,
                             detectable_gain=0.047)


def test_the_recommendation_names_the_quietest_source_and_a_visible_min_effect() -> None:
    advice = recommend(_report(runner=0.05, harness_wall=0.03, harness_cpu=0.02,
                               harness_instructions=0.00001))
    assert 'metric_source = "harness_instructions"' in advice[0]
    assert any("bench compare" in line for line in advice)  # the runner's 5 % is noisy
    assert any("min_effect = 0.05" in line for line in advice)
    advice = recommend(_report(runner=0.004, harness_wall=0.03, harness_cpu=0.02,
                               harness_instructions=None))
    assert advice[0].startswith('keep metric_source = "runner"')


def _verdict(baseline: list[float], candidate: list[float]) -> Verdict:
    def sample(values: list[float]) -> Sample:
        return Sample(git_sha="a" * 40, run_set_ids=[1], n=len(values), values=values)

    return Verdict(kind=VerdictKind.NEEDS_MORE_DATA, project="p", benchmark="b",
                   tier="performance", baseline=sample(baseline), candidate=sample(candidate),
                   sequential=SequentialSummary(test="welch", look=3, runs=3, horizon=20))


def test_evaluate_warns_when_the_spread_hides_gains_near_min_effect() -> None:
    noisy = _verdict([10.0, 11.0, 9.0, 10.5, 9.5], [10.0, 9.0, 11.0])
    warning = power.spread_warning(noisy, WELCH, 0.02)
    assert warning is not None and "min_effect is 2.0%" in warning
    quiet = _verdict([10.0, 10.01, 9.99, 10.0, 10.005], [9.0, 9.01, 8.99])
    assert power.spread_warning(quiet, WELCH, 0.02) is None


@pytest.mark.slow
def test_calibration_runs_never_enter_a_verdict(bench: BenchCLI, make_project) -> None:
    root = make_project("toy")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "toy", "speed", "--sandbox", "process").returncode == 0
    result = bench("calibrate", "toy", "speed", "-n", "4", "--instruction-repetitions", "0",
                   "--sandbox", "process", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    runner = next(s for s in report["sources"] if s["source"] == "runner")
    assert runner["n"] == 4 and 0 < runner["cv"] < 0.03  # the runner wobbles by at most 1.5 %
    assert report["detectable_gain"] is not None and len(report["needs"]) == 2
    instructions = next(s for s in report["sources"] if s["source"] == "harness_instructions")
    assert instructions["cv"] is None and "not measured" in instructions["note"]
    verdict = json.loads(bench("evaluate", "toy", "speed", "--json").stdout)
    assert verdict["kind"] == "NEEDS_MORE_DATA" and "no candidate run set" in verdict["reason"]
    history = json.loads(bench("history", "toy", "speed", "--json").stdout)
    assert {entry["run_set"]["kind"] for entry in history["entries"]} == {"baseline"}


def test_calibrate_refuses_a_correctness_benchmark(bench: BenchCLI, make_project) -> None:
    root = make_project("toy")
    assert bench("register", str(root)).returncode == 0
    result = bench("calibrate", "toy", "output", "--sandbox", "process")
    assert result.returncode != 0
    assert "output is a correctness benchmark: it has no metric to calibrate" in result.stderr
    assert "Traceback" not in result.stderr


def test_one_repetition_under_valgrind_is_refused_not_ignored(bench: BenchCLI,
                                                             make_project) -> None:
    """One count has no spread: it was once reserved, run and then reported as not measured."""
    from benchstone import api
    from benchstone.errors import InvalidArgument

    root = make_project("toy")
    assert bench("register", str(root)).returncode == 0
    result = bench("calibrate", "toy", "speed", "--instruction-repetitions", "1",
                   "--sandbox", "process")
    assert result.returncode == 64
    assert "one repetition cannot show a spread: use 0 (none) or 2 and more" in result.stderr
    with pytest.raises(InvalidArgument, match="cannot show a spread") as refused:
        api.calibrate("toy", "speed", repetitions=3, instruction_repetitions=1,
                      sandbox="process")
    assert refused.value.fix == "pass --instruction-repetitions 0 (none) or 2 and more"
    assert json.loads(bench("history", "toy", "speed", "--json").stdout)["entries"] == []


def test_the_paired_design_is_calibrated_in_pairs() -> None:
    """A pair runs both commits: its log ratio has twice a run's variance, and no baseline size
    bounds it (the simulated gate is decide_paired_sequential)."""
    cv = 0.03
    classic = power.detectable_gain(cv, 5, 20, WELCH)
    paired = power.detectable_gain(cv, 0, 20, WELCH, paired=True)
    sigma = power.log_sigma(cv)
    z = power.critical_z(WELCH) + power.normal_quantile(power.POWER)
    assert paired == pytest.approx(-math.expm1(-z * sigma * math.sqrt(2 / 20)))
    assert paired < classic  # the baseline of 5 bounds the classic design, not the pairs
    assert power.runs_needed(0.05, cv, 5, WELCH, paired=True) == \
        power.balanced_runs_needed(0.05, cv, WELCH)
    clear = power.simulate_power(0.10, cv, 0, 12, WELCH, trials=100, paired=True)
    unchanged = power.simulate_power(0.0, cv, 0, 12, WELCH, trials=300, paired=True)
    assert clear.power >= 0.9 and unchanged.power <= 0.02


@pytest.mark.slow
def test_calibrate_of_a_paired_benchmark_speaks_of_pairs(bench: BenchCLI, make_project) -> None:
    root = make_project("toy")
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace(
        "promotion_sigma = 2.0", 'design = "paired"\ngate_policy = "welch"', 1))
    commit_all(root, "the paired design")
    assert bench("register", str(root)).returncode == 0
    result = bench("calibrate", "toy", "speed", "-n", "4", "--instruction-repetitions", "0",
                   "--sandbox", "process", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["paired"] is True and report["n_baseline"] == 0
    assert report["horizon"] == 20  # max_repetitions: pairs
    assert not any("baseline_seeds" in line for line in report["recommendation"])
    assert any(line.startswith("design: paired welch as configured")
               for line in report["recommendation"])
    text = bench("calibrate", "toy", "speed", "-n", "3", "--instruction-repetitions", "0",
                 "--sandbox", "process").stdout
    assert "design paired, horizon 20 pairs" in text and "candidate runs" not in text
