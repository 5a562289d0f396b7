"""``evaluate`` for the calibrated policies (welch, rank): every clean candidate run at the commit
through one sequential test, on run sets recorded straight into a real store."""

from __future__ import annotations

import os
import subprocess
import types
from collections.abc import Iterator

import pytest
from stored_runs import ENVIRONMENT, StoredRuns, stored_runs, wobbled

from benchstone.errors import SingleRunSetRefused
from benchstone.evaluate.cumulative import evaluate_cumulative
from benchstone.evaluate.samples import EvaluateOptions, baseline_sets, candidate_sets
from benchstone.gates.verdict import VerdictKind

BASELINE = wobbled(10.0, 10)  # speedw: minimize, runs around 10
QUALITY = wobbled(1.0, 10)  # qualityr: maximize, runs around 1


@pytest.fixture
def state(make_project, home) -> Iterator[StoredRuns]:
    with stored_runs(make_project, home) as recorded:
        yield recorded


def test_a_clearly_faster_candidate_is_promoted_at_an_early_look(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    sha = state.commit()
    candidate = state.record("speedw", wobbled(8.0, 5))
    verdict = state.evaluate("speedw")
    assert verdict.kind == VerdictKind.PROMOTE and verdict.exit_code == 0
    assert verdict.policy == "welch" and verdict.direction == "minimize"
    assert verdict.reason.startswith("welch (sequential, look 4 of at most 12): crossed the boundary")
    assert verdict.effect == pytest.approx(0.2, abs=0.005)
    assert verdict.effect_ci[0] > 0.1 and verdict.effect_ci[1] < 0.3
    assert verdict.alpha == 0.01 and verdict.p_value <= verdict.threshold
    summary = verdict.sequential
    assert (summary.test, summary.look, summary.runs, summary.horizon) == ("welch", 4, 5, 12)
    assert summary.boundary == verdict.threshold
    assert verdict.candidate.git_sha == sha and verdict.candidate.run_set_ids == [candidate.id]
    assert verdict.candidate.n == 5 and verdict.baseline.n == 10
    assert verdict.baseline_mean == pytest.approx(sum(BASELINE) / 10)
    assert verdict.candidate_mean == pytest.approx(sum(wobbled(8.0, 5)) / 5)
    assert verdict.warnings == []


def test_evaluate_hands_the_calibrated_policies_to_the_cumulative_gate(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    sha = state.commit()
    state.record("speedw", wobbled(8.0, 5))
    bench = state.bench("speedw")
    direct = evaluate_cumulative(state.store, state.home, state.project, bench, sha,
                                 EvaluateOptions())
    assert direct == state.evaluate("speedw")


def test_rank_promotes_a_better_quality_and_needs_more_looks_than_welch(state: StoredRuns) -> None:
    state.establish("qualityr", QUALITY)
    state.commit("src/quality.txt", "1.2\n")
    state.record("qualityr", wobbled(1.2, 6))
    verdict = state.evaluate("qualityr")
    assert verdict.kind == "PROMOTE" and verdict.policy == "rank"
    assert verdict.direction == "maximize"
    # against 10 runs, no rank look before the sixth has a boundary that also holds when the
    # candidate's spread differs from the baseline's
    assert verdict.sequential.test == "rank" and verdict.sequential.look == 6
    assert verdict.effect == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize(("bench", "baseline"), [("speedw", BASELINE), ("qualityr", QUALITY)])
def test_an_unchanged_program_is_never_promoted(state: StoredRuns, bench: str,
                                                baseline: list[float]) -> None:
    state.establish(bench, baseline)
    state.commit("README", "docs only\n")
    state.record(bench, baseline[:2])
    # futility waits for a quarter of the horizon: a small sample's trend is too noisy
    assert state.evaluate(bench).kind == "NEEDS_MORE_DATA"
    state.record(bench, baseline[2:3])
    early = state.evaluate(bench)
    assert early.kind == "REJECT" and early.exit_code == 1
    assert "promotion within the horizon is unlikely (conditional power" in early.reason
    assert (early.sequential.look, early.sequential.runs) == (3, 3)
    state.record(bench, baseline[3:] + baseline[:2])  # 12 runs: the horizon
    final = state.evaluate(bench)
    assert final.kind == "REJECT"
    assert "reached the horizon of 12 without crossing the boundary" in final.reason
    assert (final.sequential.look, final.sequential.runs) == (12, 12)


def test_a_small_improvement_is_undecided_after_few_runs(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit("src/speed.txt", "9.8\n")
    state.record("speedw", wobbled(9.8, 3))
    verdict = state.evaluate("speedw")
    assert verdict.kind == "NEEDS_MORE_DATA" and verdict.exit_code == 2
    assert "undecided after 3 of at most 12: run more" in verdict.reason
    assert verdict.p_value > verdict.threshold == verdict.sequential.boundary
    assert verdict.sequential.conditional_power > 0.02  # above the futility floor
    state.record("speedw", wobbled(9.8, 2, first_seed=4))
    later = state.evaluate("speedw")
    assert later.kind == "NEEDS_MORE_DATA" and later.sequential.look == 5
    assert later.threshold > verdict.threshold  # each look spends more of alpha


def test_a_slower_candidate_is_rejected(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit("src/speed.txt", "12.0\n")
    state.record("speedw", wobbled(12.0, 5))
    verdict = state.evaluate("speedw")
    assert verdict.kind == "REJECT"
    assert verdict.reason.startswith("welch (sequential, look 5 of at most 12): the candidate is "
                                     "worse; p=1 > boundary")
    assert verdict.effect == pytest.approx(-0.2, abs=0.01)


def test_no_baseline(state: StoredRuns) -> None:
    state.record("speedw", wobbled(8.0, 5))
    verdict = state.evaluate("speedw")
    assert verdict.kind == "NO_BASELINE" and verdict.exit_code == 2
    assert verdict.reason == ("no baseline has been established "
                              "(bench baseline establish toy speedw)")
    assert verdict.baseline is None and verdict.candidate is None


def test_no_candidate_run_at_the_commit(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    sha = state.commit()
    verdict = state.evaluate("speedw")
    assert verdict.kind == "NEEDS_MORE_DATA"
    assert verdict.reason == (f"no clean candidate run set at {sha[:10]}: run it first "
                              "(bench run toy speedw)")
    assert verdict.baseline.n == 10 and verdict.candidate is None


def test_fewer_runs_than_the_first_look_need_more_data(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit()
    state.record("speedw", [8.0])
    verdict = state.evaluate("speedw")
    assert verdict.kind == "NEEDS_MORE_DATA"
    assert verdict.reason == "welch (sequential): 1 observation(s), need at least 2"
    summary = verdict.sequential
    assert (summary.look, summary.runs, summary.horizon, summary.boundary) == (1, 1, 12, None)
    assert verdict.p_value is None and verdict.effect is None


def test_run_sets_at_the_commit_add_up_to_one_sample(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit()
    first = state.record("speedw", [8.0])
    assert state.evaluate("speedw").kind == "NEEDS_MORE_DATA"
    second = state.record("speedw", [8.1, 7.9, 8.05])
    verdict = state.evaluate("speedw")
    assert verdict.kind == "PROMOTE"
    assert verdict.candidate.run_set_ids == [first.id, second.id]
    assert verdict.candidate.values == [8.0, 8.1, 7.9, 8.05]  # in the order recorded
    assert verdict.sequential.runs == 4


def test_a_failed_candidate_repetition_withholds_promote(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    sha = state.commit()
    state.record("speedw", wobbled(8.0, 5), failed=1)
    verdict = state.evaluate("speedw")
    assert verdict.kind == "REJECT" and verdict.failures_withhold_promotion
    assert verdict.reason.startswith(f"1 candidate repetition(s) at {sha[:10]} failed")
    assert "this tree cannot be promoted" in verdict.reason
    assert ("the runs that succeeded alone say: welch (sequential, look 4 of at most 12): "
            "crossed the boundary; p=") in verdict.reason
    assert verdict.candidate.n == 5 and verdict.candidate.n_errors == 1
    assert "1 candidate repetition(s) failed and are not in the gate" in verdict.warnings
    # more good runs at the same commit cannot undo it: the failed row stays
    state.record("speedw", wobbled(8.0, 5, first_seed=6))
    assert state.evaluate("speedw").kind == "REJECT"


def test_a_failed_repetition_leaves_a_reject_standing(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit("src/speed.txt", "12.0\n")
    state.record("speedw", wobbled(12.0, 5), failed=2)
    verdict = state.evaluate("speedw")
    assert verdict.kind == "REJECT" and verdict.candidate.n_errors == 2


def test_dirty_run_sets_are_left_out_unless_included(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    sha = state.commit()
    dirty = state.record("speedw", wobbled(8.0, 5), dirty=True)
    verdict = state.evaluate("speedw")
    assert verdict.kind == "NEEDS_MORE_DATA" and verdict.candidate is None
    assert verdict.reason.startswith(f"no clean candidate run set at {sha[:10]}")
    included = state.evaluate("speedw", include_dirty=True)
    assert included.kind == "PROMOTE" and included.candidate.run_set_ids == [dirty.id]
    assert included.candidate.dirty
    assert ("some candidate runs were recorded on a dirty tree (--include-dirty)"
            in included.warnings)


def test_a_dirty_run_set_does_not_dilute_the_clean_ones(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit()
    state.record("speedw", wobbled(30.0, 5), dirty=True)  # would turn the verdict if counted
    clean = state.record("speedw", wobbled(8.0, 5))
    verdict = state.evaluate("speedw")
    assert verdict.kind == "PROMOTE" and verdict.candidate.run_set_ids == [clean.id]
    assert verdict.warnings == []
    assert state.evaluate("speedw", include_dirty=True).kind == "REJECT"


def test_a_single_run_set_is_refused(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit()
    state.record("speedw", wobbled(8.0, 5))
    with pytest.raises(SingleRunSetRefused) as refused:
        state.evaluate("speedw", meta_seed=1000)
    assert "gate_policy welch does not evaluate a single run set (--meta-seed)" in str(refused.value)
    assert "leave out --meta-seed" in refused.value.fix


def test_changed_protected_files_are_tampering(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE, protected={"bench/runner.py": "one"})
    state.commit()
    state.record("speedw", wobbled(8.0, 5), protected={"bench/runner.py": "two"})
    verdict = state.evaluate("speedw")
    assert verdict.kind == "TAMPERED" and verdict.exit_code == 1
    assert verdict.reason == "protected files changed since the baseline: bench/runner.py"
    assert verdict.details[0] == "changed: bench/runner.py"


def test_a_run_set_from_another_sandbox_is_left_out(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit()
    other = state.record("speedw", wobbled(8.0, 5), sandbox="docker")
    verdict = state.evaluate("speedw")
    assert verdict.kind == "NEEDS_MORE_DATA"
    assert verdict.reason.startswith("baseline ran in sandbox process (image -), candidate in "
                                     "docker (image -)")
    assert verdict.warnings[0].startswith(f"run set {other.id} is left out: baseline ran in")
    same = state.record("speedw", wobbled(8.0, 5))
    verdict = state.evaluate("speedw")
    assert verdict.kind == "PROMOTE" and verdict.candidate.run_set_ids == [same.id]


def test_a_performance_benchmark_needs_the_same_environment(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit()
    state.record("speedw", wobbled(8.0, 5), environment={**ENVIRONMENT, "cores": 8})
    verdict = state.evaluate("speedw")
    assert verdict.kind == "NEEDS_MORE_DATA"
    assert verdict.reason == ("baseline and candidate ran in different environments "
                              "(cores: 2 -> 8); establish a baseline here, or pass "
                              "--allow-cross-env")
    allowed = state.evaluate("speedw", allow_cross_env=True)
    assert allowed.kind == "PROMOTE" and "environments differ: cores: 2 -> 8" in allowed.warnings


@pytest.mark.parametrize("bench", ["speedw", "qualityr"])
def test_another_container_runtime_is_never_compared(state: StoredRuns, bench: str) -> None:
    """gVisor's processor time is several times runc's: unlike the machine's other traits, the
    runtime is not a difference --allow-cross-env may wave through, on any tier."""
    docker = {**ENVIRONMENT, "sandbox": "docker"}
    state.establish(bench, BASELINE, sandbox="docker", environment={**docker, "runtime": "runsc"})
    state.commit()
    state.record(bench, wobbled(5.0, 5), sandbox="docker", environment=docker)
    for allowed in (False, True):
        verdict = state.evaluate(bench, allow_cross_env=allowed)
        assert verdict.kind == "NEEDS_MORE_DATA"
        assert verdict.reason == ("baseline ran under the container runtime runsc, candidate "
                                  "under runc: samples from different runtimes are never "
                                  "compared; establish a new baseline, or run under the "
                                  "baseline's runtime")


def test_a_baseline_that_does_not_record_its_corpus_data_is_not_compared(
        state: StoredRuns) -> None:
    """A baseline recorded before run sets named their corpus data, beside a candidate that
    does: nothing shows the data was the same, so the comparison fails closed."""
    state.establish("qualityr", QUALITY)
    state.commit("src/quality.txt", "1.2\n")
    state.record("qualityr", wobbled(1.2, 6),
                 environment={**ENVIRONMENT, "corpus": "heldout sha256:abc"})
    verdict = state.evaluate("qualityr", allow_cross_env=True)
    assert verdict.kind == "NEEDS_MORE_DATA"
    assert verdict.reason.startswith("the baseline does not record which corpus data it ran on")


def test_a_quality_benchmark_only_warns_of_another_environment(state: StoredRuns) -> None:
    state.establish("qualityr", QUALITY)
    state.commit("src/quality.txt", "1.2\n")
    state.record("qualityr", wobbled(1.2, 6), environment={**ENVIRONMENT, "kernel": "6.2"})
    verdict = state.evaluate("qualityr")
    assert verdict.kind == "PROMOTE"
    assert verdict.warnings == ["environments differ: kernel: '6.1' -> '6.2'"]


def test_a_promoted_baseline_is_every_run_set_the_verdict_used(state: StoredRuns) -> None:
    established = state.establish("speedw", BASELINE)
    improved = state.commit()
    first = state.record("speedw", wobbled(8.0, 2))
    state.record("speedw", wobbled(5.0, 3), dirty=True)  # never part of a baseline
    second = state.record("speedw", wobbled(8.0, 2, first_seed=3))
    later = state.record("speedw", wobbled(8.0, 2, first_seed=5))  # after the promotion
    state.promote("speedw", second)
    pointer = state.store.current_pointer("toy", "speedw")
    assert [rs.id for rs in baseline_sets(state.store, pointer)] == [
        first.id, second.id]
    state.commit("README", "docs only\n")
    state.record("speedw", wobbled(8.0, 3))
    verdict = state.evaluate("speedw")
    assert verdict.baseline.git_sha == improved
    assert verdict.baseline.run_set_ids == [first.id, second.id] and verdict.baseline.n == 4
    assert later.id not in verdict.baseline.run_set_ids
    assert established.id not in verdict.baseline.run_set_ids


def test_candidate_sets_are_oldest_first_and_skip_the_excluded(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    sha = state.commit()
    a = state.record("speedw", [8.0, 8.1])
    state.record("speedw", [8.0, 8.1], dirty=True)
    b = state.record("speedw", [8.0, 8.1])
    bench = state.bench("speedw")
    chosen = candidate_sets(state.store, state.project, bench.name, sha, EvaluateOptions(), set())
    assert [rs.id for rs in chosen] == [a.id, b.id]
    without_a = candidate_sets(state.store, state.project, bench.name, sha, EvaluateOptions(), {a.id})
    assert [rs.id for rs in without_a] == [b.id]


REQUIRING = """
[[benchmarks]]
name = "speedreq"
entry_point = "speed"
tier = "performance"
metric_direction = "minimize"
repetitions = 5
baseline_seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
gate_policy = "welch"
log_scale = true
max_repetitions = 12
requires = ["output"]
"""
ARTIFACT = "a" * 64


@pytest.fixture
def requiring(make_project, home) -> Iterator[StoredRuns]:
    with stored_runs(make_project, home, REQUIRING) as recorded:
        yield recorded


def test_faster_is_promoted_only_where_the_required_correctness_passes(
        requiring: StoredRuns) -> None:
    state = requiring
    frozen = state.record("output", [1.0], artifact=ARTIFACT)
    reference_run = state.store.runs_of([frozen.id])[0]
    state.store.add_reference_event(project="toy", benchmark="output", action="freeze",
                                    git_sha=frozen.git_sha, run_id=reference_run.id,
                                    new_sha256=ARTIFACT)
    state.establish("speedreq", BASELINE)
    sha = state.commit()
    state.record("speedreq", wobbled(8.0, 5))
    unchecked = state.evaluate("speedreq")
    assert unchecked.kind == "NEEDS_MORE_DATA"
    assert unchecked.reason.startswith(
        f"required correctness benchmark output has not run here (no ok run with an artifact at "
        f"{sha[:10]}: run it first (bench run toy output)); the gate alone said: welch "
        "(sequential, look 4 of at most 12): crossed the boundary")
    state.record("output", [1.0], artifact=ARTIFACT)
    checked = state.evaluate("speedreq")
    assert checked.kind == "PROMOTE"
    assert checked.details[-1] == "required correctness: output PASS"


def test_a_required_benchmark_without_a_reference_turns_promote_into_reject(
        requiring: StoredRuns) -> None:
    state = requiring
    state.establish("speedreq", BASELINE)
    state.commit()
    state.record("speedreq", wobbled(8.0, 5))
    verdict = state.evaluate("speedreq")
    assert verdict.kind == "REJECT"
    assert verdict.reason.startswith("required correctness benchmark output says NO_REFERENCE")


def test_a_command_line_evaluation_loads_no_scipy_and_no_typer_coercion(state: StoredRuns
                                                                        ) -> None:
    """``bench evaluate`` of a calibrated benchmark computes its p-values, interval and power
    without scipy, and passes its names and defaults without building typer's pydantic
    adapters (both most of a warm evaluation's start; its time is in make perf)."""
    import json
    import subprocess
    import sys

    state.establish("speedw", BASELINE)
    state.commit()
    state.record("speedw", wobbled(9.5, 4, first_seed=20))
    state.evaluate("speedw")  # the design's boundaries are computed (with scipy) and kept
    script = ("import json, sys\nfrom benchstone.cli import main\ncode = main(sys.argv[1:])\n"
              "print(json.dumps({'code': code, 'loaded': sorted(sys.modules)}))")
    done = subprocess.run([sys.executable, "-c", script, "evaluate", state.project.name,
                           "speedw"], cwd=state.root, capture_output=True, text=True,
                          check=True, timeout=120)
    printed, _, last = done.stdout.rstrip().rpartition("\n")
    loaded = json.loads(last)
    assert loaded["code"] in (0, 1, 2) and printed.startswith("verdict: ")
    assert "sequential" in printed or "look" in printed
    assert [name for name in ("scipy", "typer._adapters") if name in loaded["loaded"]] == []


@pytest.mark.parametrize("bench", ["speedw", "speed"])  # sequential welch; the seed's sigma
def test_evaluating_the_baseline_s_own_commit_says_it_is_an_a_a_comparison(
        state: StoredRuns, bench: str) -> None:
    state.establish(bench, BASELINE)
    nothing_yet = state.evaluate(bench)
    assert nothing_yet.kind == VerdictKind.NEEDS_MORE_DATA
    assert nothing_yet.warnings == ["the baseline and the candidate are the same commit (an A/A "
                                    "comparison)"]
    state.record(bench, wobbled(10.0, 5, first_seed=30))
    judged = state.evaluate(bench)
    assert judged.kind != VerdictKind.PROMOTE
    assert "the baseline and the candidate are the same commit (an A/A comparison)" in (
        judged.warnings)
    state.commit()
    assert state.evaluate(bench).warnings == []


@pytest.fixture
def another_harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen[bytes]]:
    """A real process of this machine that stands for another harness: repetition starts
    recorded while the fixture is in place name it."""
    process = subprocess.Popen(["sleep", "300"])
    # the store records this pid as the starter; everything else still sees this process's own
    monkeypatch.setattr("benchstone.store.store.os",
                        types.SimpleNamespace(**{**vars(os), "getpid": lambda: process.pid}))
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_repetition_still_running_elsewhere_is_waited_for_not_rejected(
        state: StoredRuns, another_harness: subprocess.Popen[bytes]) -> None:
    """``evaluate`` while another process runs a repetition (a background job): not yet judged,
    so NEEDS_MORE_DATA (nothing is promoted while it runs); once that harness has ended without
    the repetition's row, the repetition never finished: REJECT, final for the tree."""
    state.establish("speedw", BASELINE)
    sha = state.commit()
    candidate = state.record("speedw", wobbled(8.0, 5))
    state.store.add_repetition_start(candidate.id, 5, 6)
    running = state.evaluate("speedw")
    assert running.kind == VerdictKind.NEEDS_MORE_DATA and running.failures_withhold_promotion
    assert running.reason.startswith(f"1 candidate repetition(s) at {sha[:10]} still running "
                                     "(their harness has not ended)")
    another_harness.kill()
    another_harness.wait()
    abandoned = state.evaluate("speedw")
    assert abandoned.kind == VerdictKind.REJECT
    assert abandoned.reason.startswith(f"1 candidate repetition(s) at {sha[:10]} failed or "
                                       "never finished")


def test_a_baseline_whose_cheap_runs_failed_promotes_nothing(state: StoredRuns) -> None:
    """A baseline commit that crashes whenever it would be cheap keeps only its costly runs:
    compared with those survivors, an unchanged program looks faster."""
    state.establish("speedw", wobbled(12.0, 10), failed=10)  # the cheap half failed
    sha = state.commit("src/speed.txt", "1.00\n", "the same program")
    state.record("speedw", wobbled(10.0, 12))
    verdict = state.evaluate("speedw")
    assert verdict.kind == VerdictKind.NO_BASELINE and verdict.exit_code == 2
    assert verdict.reason.startswith(
        f"10 repetition(s) of the baseline {state.store.current_pointer('toy', 'speedw').git_sha[:10]}"
        " failed or never finished")
    assert "the runs that succeeded alone say: welch (sequential" in verdict.reason
    assert "crossed the boundary" in verdict.reason  # what the survivors alone would have said
    assert verdict.candidate.git_sha == sha
    assert ("10 baseline repetition(s) failed or never finished: nothing is promoted against "
            "this baseline's tree") in verdict.warnings
    assert "establish the baseline at a tree that runs and is not this one" in verdict.reason
    # the way forward: a baseline at a tree of its own, which nothing failed at
    state.commit("src/speed.txt", "1.000\n", "the baseline again, at a tree of its own")
    state.establish("speedw", wobbled(12.0, 10))
    state.commit("src/speed.txt", "1.0000\n", "the candidate again")
    state.record("speedw", wobbled(10.0, 12))
    assert state.evaluate("speedw").kind == VerdictKind.PROMOTE


def test_a_baseline_stopped_part_way_counts_its_unfinished_repetitions(state: StoredRuns) -> None:
    """A repetition that started and has no row, under a harness that has ended (this test's own
    process counts as ended: it is not another one), is a failure of the baseline too: stopping
    the slow ones would censor it as failing them would."""
    baseline = state.establish("speedw", wobbled(12.0, 10))
    state.commit("src/speed.txt", "1.00\n", "the same program")
    state.record("speedw", wobbled(10.0, 12))
    assert state.evaluate("speedw").kind == VerdictKind.PROMOTE  # a real gain: nothing was lost
    state.store.add_repetition_start(baseline.id, 10, seed=11)
    verdict = state.evaluate("speedw")
    assert verdict.kind == VerdictKind.NO_BASELINE
    assert verdict.reason.startswith(f"1 repetition(s) of the baseline {baseline.git_sha[:10]} "
                                     "failed or never finished")
