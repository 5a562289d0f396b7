"""``evaluate --all``: every benchmark of the toy project at once, the welch and rank ones as one
Benjamini-Hochberg family, and the overall verdict with its exit code.

The toy project has five benchmarks: ``speed`` (sigma), ``quality`` (mann_whitney), ``output``
(correctness), and the calibrated ``speedw`` (welch) and ``qualityr`` (rank)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stored_runs import StoredRuns, stored_runs, wobbled

from benchstone.errors import InvalidArgument
from benchstone.evaluate.all_benchmarks import AllVerdict, evaluate_all, grid_p_value, regressed
from benchstone.evaluate.samples import EvaluateOptions
from benchstone.gates.verdict import VerdictKind

BASELINE = wobbled(10.0, 10)
QUALITY = wobbled(1.0, 10)
ARTIFACT = "b" * 64
SEED_GATE_WARNINGS = [
    "speed: gate_policy sigma has no p-value, so it is outside the false-discovery-rate family",
    "quality: gate_policy mann_whitney has no p-value, so it is outside the "
    "false-discovery-rate family",
]


@pytest.fixture
def state(make_project, home) -> Iterator[StoredRuns]:
    with stored_runs(make_project, home) as recorded:
        yield recorded


def everything(state: StoredRuns, fdr: float | None = None) -> AllVerdict:
    return evaluate_all(state.store, state.home, state.project, EvaluateOptions(), fdr)


def kinds(overall: AllVerdict) -> dict[str, str]:
    return {verdict.benchmark: verdict.kind for verdict in overall.benchmarks}


def by_name(overall: AllVerdict, name: str):
    return next(verdict for verdict in overall.benchmarks if verdict.benchmark == name)


def calibrated_baselines(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.establish("qualityr", QUALITY)


def test_nothing_measured_yet_needs_more_data(state: StoredRuns) -> None:
    overall = everything(state)
    assert overall.kind == VerdictKind.NEEDS_MORE_DATA and overall.exit_code == 2
    assert overall.reason == ("undecided: speed, quality, output, speedw, qualityr; nothing "
                              "improved yet")
    assert kinds(overall) == {"speed": "NO_BASELINE", "quality": "NO_BASELINE",
                              "output": "NO_REFERENCE", "speedw": "NO_BASELINE",
                              "qualityr": "NO_BASELINE"}
    assert overall.fdr is None  # no benchmark has a test to adjust
    assert overall.warnings == SEED_GATE_WARNINGS and overall.regressed == []
    # a rate asked for, with nothing to apply it to, says so rather than pass in silence
    asked = everything(state, fdr=0.005)
    assert asked.fdr is None and asked.kind == overall.kind
    assert asked.warnings == [*SEED_GATE_WARNINGS, "--fdr 0.005 adjusted nothing: no benchmark "
                              "has a p-value from a calibrated or paired gate to adjust"]


def test_one_clear_gain_among_several_promotes(state: StoredRuns) -> None:
    calibrated_baselines(state)
    state.commit()
    state.record("speedw", wobbled(8.0, 5))
    state.record("qualityr", QUALITY[:5])  # unchanged: rejected, but not worse
    overall = everything(state)
    assert overall.kind == "PROMOTE" and overall.exit_code == 0
    assert overall.reason == "improved: speedw; nothing regressed or failed"
    assert overall.fdr == 0.01  # the smallest alpha of the family
    assert kinds(overall)["speedw"] == "PROMOTE" and kinds(overall)["qualityr"] == "REJECT"
    assert by_name(overall, "speedw").details[-1] == (
        "Benjamini-Hochberg across 2 benchmark(s) at false-discovery rate 0.01: significant "
        "(grid p-value 0.005)")
    assert by_name(overall, "qualityr").details[-1] == (
        "Benjamini-Hochberg across 2 benchmark(s) at false-discovery rate 0.01: not "
        "significant (grid p-value > 0.01)")
    assert overall.regressed == [] and overall.warnings == SEED_GATE_WARNINGS


def test_a_regression_elsewhere_rejects_the_whole(state: StoredRuns) -> None:
    calibrated_baselines(state)
    state.commit()
    state.record("speedw", wobbled(8.0, 5))
    state.record("qualityr", wobbled(0.8, 6))  # maximize: a fifth worse
    overall = everything(state)
    assert overall.kind == "REJECT" and overall.exit_code == 1
    assert overall.regressed == ["qualityr"] and overall.reason == "qualityr regressed"
    assert kinds(overall)["speedw"] == "PROMOTE"  # its own verdict still stands


def test_a_baseline_whose_repetitions_failed_rejects_the_whole(state: StoredRuns) -> None:
    """Else failing one benchmark's baseline would leave it out, free to regress."""
    state.establish("speedw", BASELINE)
    state.establish("qualityr", QUALITY, failed=2)
    state.commit()
    state.record("speedw", wobbled(8.0, 5))
    state.record("qualityr", wobbled(1.1, 2))  # undecided, where its regressions would hide
    overall = everything(state)
    assert (kinds(overall)["qualityr"], kinds(overall)["speedw"]) == ("NO_BASELINE", "PROMOTE"), \
        by_name(overall, "qualityr").reason
    assert overall.kind == "REJECT" and overall.exit_code == 1
    assert overall.reason == "qualityr NO_BASELINE (failed baseline repetitions)"
    # nor does the survivors' p-value enter the false-discovery-rate family
    assert not any("Benjamini-Hochberg" in line for line in by_name(overall, "qualityr").details)
    assert by_name(overall, "speedw").details[-1].startswith("Benjamini-Hochberg across 1 ")


def test_a_tampered_benchmark_rejects_the_whole(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE, protected={"bench/runner.py": "one"})
    state.establish("qualityr", QUALITY)
    state.commit()
    state.record("speedw", wobbled(8.0, 5), protected={"bench/runner.py": "two"})
    state.record("qualityr", wobbled(1.2, 6))
    overall = everything(state)
    assert kinds(overall) == {"speed": "NO_BASELINE", "quality": "NO_BASELINE",
                              "output": "NO_REFERENCE", "speedw": "TAMPERED",
                              "qualityr": "PROMOTE"}
    assert overall.kind == "REJECT" and overall.exit_code == 1
    assert overall.reason == "speedw TAMPERED" and overall.regressed == []


def test_significant_alone_waits_when_the_family_says_not_yet(state: StoredRuns) -> None:
    calibrated_baselines(state)
    state.commit()
    state.record("speedw", wobbled(9.83, 8))  # promotes at alpha 0.01, not at 0.005
    state.record("qualityr", QUALITY[:5])
    alone = state.evaluate("speedw")
    assert alone.kind == "PROMOTE"
    overall = everything(state)
    speedw = by_name(overall, "speedw")
    assert speedw.kind == "NEEDS_MORE_DATA"  # 8 of 12 runs: more may still get it there
    assert speedw.reason == ("significant alone but not after Benjamini-Hochberg across 2 "
                             f"benchmarks; the gate alone said: {alone.reason}")
    assert speedw.details[-1].endswith("not significant (grid p-value 0.01)")
    assert overall.kind == "NEEDS_MORE_DATA" and overall.exit_code == 2
    assert overall.reason.startswith("undecided: speed, quality, output, speedw;")


def test_significant_alone_is_rejected_after_the_family_when_the_horizon_is_spent(
        state: StoredRuns) -> None:
    calibrated_baselines(state)
    state.commit()
    state.record("speedw", wobbled(9.85, 12))
    state.record("qualityr", QUALITY[:5])
    assert state.evaluate("speedw").kind == "PROMOTE"
    overall = everything(state, fdr=0.001)
    assert overall.fdr == 0.001
    assert by_name(overall, "speedw").kind == "REJECT"
    assert by_name(overall, "speedw").reason.startswith("significant alone but not after")


def test_a_false_discovery_rate_looser_than_the_pinned_alpha_is_refused(
        state: StoredRuns) -> None:
    """The manifest pins the error rates: --fdr may make them stricter, never looser (at 0.05
    this candidate, undecided alone, would be promoted at the family level)."""
    calibrated_baselines(state)
    state.commit()
    state.record("speedw", wobbled(9.78, 5))
    state.record("qualityr", QUALITY[:5])
    assert state.evaluate("speedw").kind == "NEEDS_MORE_DATA"
    with pytest.raises(InvalidArgument, match=r"--fdr 0.05 is above the alpha the manifest "
                       r"pins \(0.01\): a false-discovery rate may make the gates stricter, "
                       r"never looser"):
        everything(state, fdr=0.05)
    at_alpha = everything(state, fdr=0.01)
    assert by_name(at_alpha, "speedw").kind == "NEEDS_MORE_DATA"
    assert at_alpha.kind == "NEEDS_MORE_DATA" and at_alpha.exit_code == 2
    for nonsense in (0.0, -1.0, float("nan")):  # through the API too, not only the CLI
        with pytest.raises(InvalidArgument, match="is not a rate above 0 and at most 1"):
            everything(state, fdr=nonsense)


def test_failed_repetitions_keep_a_benchmark_out_of_promotion_at_any_rate(
        state: StoredRuns) -> None:
    calibrated_baselines(state)
    state.commit()
    state.record("speedw", wobbled(8.0, 5), failed=1)
    state.record("qualityr", QUALITY[:5])
    verdict = state.evaluate("speedw")
    bench = state.bench("speedw")
    assert verdict.failures_withhold_promotion
    assert grid_p_value(verdict, bench, [0.01, 0.5]) == 1.0
    overall = everything(state)
    assert by_name(overall, "speedw").kind == "REJECT"
    # the commit's speedw repetitions failed: the whole is rejected, as for a FAIL, although
    # the project's other benchmarks still wait for data
    assert [b.kind for b in overall.benchmarks].count("PROMOTE") == 0
    assert overall.kind == "REJECT" and overall.exit_code == 1
    assert overall.reason == "speedw REJECT (failed repetitions)"
    # and however well another benchmark does at the next commit, failed runs there keep the
    # whole from a PROMOTE
    state.commit("src/quality.txt", "1.5\n", "another tree")
    state.record("speedw", wobbled(8.0, 5), failed=1)
    state.record("qualityr", [q * 1.5 for q in QUALITY[:8]])
    again = everything(state)
    assert by_name(again, "qualityr").kind == "PROMOTE"
    assert again.kind == "REJECT" and again.reason == "speedw REJECT (failed repetitions)"


def test_failed_repetitions_under_a_seed_gate_keep_the_whole_from_a_promote(
        state: StoredRuns) -> None:
    """The sigma gate says NEEDS_MORE_DATA for a failed repetition; under --all the commit is
    rejected all the same, however well another benchmark does."""
    state.establish("speed", wobbled(10.0, 5))
    calibrated_baselines(state)
    state.commit()
    state.record("speed", wobbled(10.0, 4), failed=1)
    state.record("speedw", wobbled(8.0, 5))
    overall = everything(state)
    assert kinds(overall)["speed"] == "NEEDS_MORE_DATA" and kinds(overall)["speedw"] == "PROMOTE"
    assert overall.kind == "REJECT" and overall.exit_code == 1
    assert overall.reason == "speed NEEDS_MORE_DATA (failed repetitions)"


def test_grid_p_value_is_the_smallest_level_that_promotes(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit()
    state.record("speedw", wobbled(9.83, 8))
    verdict = state.evaluate("speedw")
    bench = state.bench("speedw")
    assert grid_p_value(verdict, bench, [0.001, 0.005, 0.01, 0.05]) == 0.01
    assert grid_p_value(verdict, bench, [0.001, 0.005]) == 1.0


def test_regressed_tests_the_other_direction_at_the_benchmarks_alpha(state: StoredRuns) -> None:
    calibrated_baselines(state)
    state.commit()
    state.record("speedw", wobbled(12.0, 5))
    state.record("qualityr", QUALITY[:5])
    worse = state.evaluate("speedw")
    unchanged = state.evaluate("qualityr")
    assert worse.kind == unchanged.kind == "REJECT"
    assert regressed(worse, state.bench("speedw"))
    assert not regressed(unchanged, state.bench("qualityr"))


def test_the_seed_gates_regress_below_minus_their_threshold(state: StoredRuns) -> None:
    state.establish("speed", wobbled(10.0, 5))
    state.commit("src/speed.txt", "12.0\n")
    state.record("speed", wobbled(12.0, 5))
    overall = everything(state)
    speed = by_name(overall, "speed")
    assert speed.kind == "REJECT" and speed.statistic <= -speed.threshold
    assert overall.kind == "REJECT" and overall.regressed == ["speed"]
    assert overall.reason == "speed regressed" and overall.fdr is None


def test_everything_decided_and_nothing_improved_rejects(state: StoredRuns) -> None:
    frozen = state.record("output", [1.0], artifact=ARTIFACT)
    state.store.add_reference_event(project="toy", benchmark="output", action="freeze",
                                    git_sha=frozen.git_sha,
                                    run_id=state.store.runs_of([frozen.id])[0].id,
                                    new_sha256=ARTIFACT)
    state.establish("speed", wobbled(10.0, 5))
    state.establish("quality", wobbled(1.0, 5))
    calibrated_baselines(state)
    state.commit("README", "docs only\n")
    state.record("output", [1.0], artifact=ARTIFACT)
    state.record("speed", wobbled(10.0, 5))
    state.record("quality", wobbled(1.0, 5))
    state.record("speedw", BASELINE[:5])
    state.record("qualityr", QUALITY[:5])
    overall = everything(state)
    assert kinds(overall) == {"speed": "REJECT", "quality": "REJECT", "output": "PASS",
                              "speedw": "REJECT", "qualityr": "REJECT"}
    assert overall.kind == "REJECT" and overall.exit_code == 1
    assert overall.reason == "no benchmark improved" and overall.regressed == []


@pytest.mark.parametrize(("kind", "code"), [("PROMOTE", 0), ("REJECT", 1),
                                            ("NEEDS_MORE_DATA", 2)])
def test_the_overall_exit_code_is_the_verdicts(kind: str, code: int) -> None:
    assert AllVerdict(project="p", kind=kind, reason="").exit_code == code
