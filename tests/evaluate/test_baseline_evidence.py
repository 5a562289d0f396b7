"""What a calibrated gate compares a candidate with (``samples.baseline_evidence``): after a
PROMOTE, fresh runs of the promoted commit and never the sample that stopped when it looked
good; with ``baseline_grows``, the established run set pooled with fresh baseline runs, look m
against the first max(n0, m) of them. Run sets recorded straight into a real store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stored_runs import CALIBRATED, ENVIRONMENT, StoredRuns, stored_runs, wobbled

from benchstone.evaluate.samples import baseline_evidence
from benchstone.evaluate.until_decided import baseline_wanted
from benchstone.gates.verdict import VerdictKind

GROWING = CALIBRATED + """
[[benchmarks]]
name = "speedg"
entry_point = "speed"
tier = "performance"
metric_direction = "minimize"
repetitions = 5
baseline_seeds = [1, 2, 3, 4, 5]
gate_policy = "welch"
log_scale = true
max_repetitions = 12
baseline_grows = true
"""


@pytest.fixture
def state(make_project, home) -> Iterator[StoredRuns]:
    with stored_runs(make_project, home, GROWING) as recorded:
        yield recorded


def _evidence(state: StoredRuns, bench: str):
    pointer = state.store.current_pointer("toy", bench)
    return baseline_evidence(state.store, state.project, state.bench(bench), pointer)


def _promoted(state: StoredRuns, bench: str, baseline_runs: int) -> tuple[str, list[int]]:
    """A baseline, a faster commit promoted on two run sets: (its sha, their ids)."""
    state.establish(bench, wobbled(10.0, baseline_runs))
    sha = state.commit()
    first = state.record(bench, wobbled(8.0, 2))
    second = state.record(bench, wobbled(8.0, 2, first_seed=3))
    state.promote(bench, second)
    return sha, [first.id, second.id]


def test_after_a_promote_the_stopped_sample_is_not_the_next_baseline(state: StoredRuns) -> None:
    promoted, stopped = _promoted(state, "speedw", 10)
    state.commit("README", "docs only\n")
    state.record("speedw", wobbled(8.0, 3))
    waiting = state.evaluate("speedw")
    assert waiting.kind == VerdictKind.NEEDS_MORE_DATA
    assert "needs 10 fresh baseline run(s) first" in waiting.reason
    assert "runs them before its own" in waiting.reason
    # shown, so the reader sees what was promoted, but not gated on
    assert waiting.baseline.run_set_ids == stopped and waiting.sequential is None
    assert baseline_wanted(state.store, state.project, state.bench("speedw"), waiting) == 10
    # runs of the promoted commit that do not count: a candidate run set, a dirty or
    # caller-seeded baseline set
    state.record("speedw", wobbled(8.0, 4), sha=promoted)
    state.record("speedw", wobbled(8.0, 10), sha=promoted, kind="baseline", dirty=True)
    state.record("speedw", wobbled(8.0, 10), sha=promoted, kind="baseline", caller_seeds=True)
    assert _evidence(state, "speedw").missing == 10
    fresh = state.record("speedw", wobbled(8.0, 6), sha=promoted, kind="baseline")
    assert _evidence(state, "speedw").missing == 4
    more = state.record("speedw", wobbled(8.0, 6, first_seed=7), sha=promoted, kind="baseline")
    verdict = state.evaluate("speedw")
    # a fixed baseline: the first 10 fresh runs, whatever is recorded later
    assert verdict.baseline.run_set_ids == [fresh.id, more.id] and verdict.baseline.n == 10
    assert verdict.baseline.git_sha == promoted
    assert not set(stopped) & set(verdict.baseline.run_set_ids)
    assert verdict.sequential is not None and verdict.sequential.baseline_first is None
    assert verdict.kind != VerdictKind.PROMOTE  # an unchanged program


def test_the_promoted_commit_itself_is_still_the_baseline_already(state: StoredRuns) -> None:
    promoted, _ = _promoted(state, "speedw", 10)
    verdict = state.evaluate("speedw", git_sha=promoted)
    assert verdict.kind == VerdictKind.REJECT and "is the baseline already" in verdict.reason


def test_a_growing_baseline_pools_fresh_runs_and_waits_for_them(state: StoredRuns) -> None:
    established = state.establish("speedg", wobbled(10.0, 5))
    state.commit("src/speed.txt", "9.9\n")
    state.record("speedg", wobbled(9.9, 7))
    waiting = state.evaluate("speedg")
    assert waiting.kind == VerdictKind.NEEDS_MORE_DATA
    assert "look 6 waits for 1 more baseline run(s)" in waiting.reason
    assert waiting.sequential.look == 5 and waiting.sequential.baseline_first == 5
    assert baseline_wanted(state.store, state.project, state.bench("speedg"), waiting) == 3
    state.record("speedg", wobbled(10.0, 1, first_seed=3), kind="run",
                 sha=established.git_sha)  # a candidate-kind run: never pooled
    fresh = state.record("speedg", wobbled(10.0, 2, first_seed=6), kind="baseline",
                         sha=established.git_sha)
    pooled = state.evaluate("speedg")
    assert pooled.baseline.run_set_ids == [established.id, fresh.id] and pooled.baseline.n == 7
    assert pooled.sequential.look == 7 and pooled.sequential.baseline_first == 5
    evidence = _evidence(state, "speedg")
    assert (evidence.first, len(evidence.runs), evidence.missing) == (5, 7, 0)


def test_fresh_baseline_runs_of_another_environment_are_never_pooled(state: StoredRuns) -> None:
    """Baseline runs on other data (a corpus name pointed elsewhere), or in another sandbox or
    runtime, are another sample: pooled, they would move the baseline where a caller wants."""
    elsewhere = {**ENVIRONMENT, "corpus": "data sha256:other"}
    established = state.establish("speedg", wobbled(10.0, 5))
    state.commit("src/speed.txt", "9.9\n")
    state.record("speedg", wobbled(9.9, 7))
    state.record("speedg", wobbled(20.0, 4), kind="baseline", sha=established.git_sha,
                 environment=elsewhere)
    fresh = state.record("speedg", wobbled(10.0, 2, first_seed=6), kind="baseline",
                         sha=established.git_sha)
    assert state.evaluate("speedg").baseline.run_set_ids == [established.id, fresh.id]


def test_after_a_promote_fresh_runs_pool_only_in_the_first_one_s_environment(
        state: StoredRuns) -> None:
    promoted, _stopped = _promoted(state, "speedg", 5)
    state.commit("README", "docs only\n")
    state.record("speedg", wobbled(8.0, 3))
    first = state.record("speedg", wobbled(8.0, 2), sha=promoted, kind="baseline")
    state.record("speedg", wobbled(16.0, 3), sha=promoted, kind="baseline",
                 environment={**ENVIRONMENT, "runtime": "runsc"})
    later = state.record("speedg", wobbled(8.0, 2, first_seed=9), sha=promoted, kind="baseline")
    assert state.evaluate("speedg").baseline.run_set_ids == [first.id, later.id]


def test_a_fixed_baseline_never_pools_fresh_runs(state: StoredRuns) -> None:
    established = state.establish("speedw", wobbled(10.0, 10))
    state.record("speedw", wobbled(10.0, 4), kind="baseline", sha=established.git_sha)
    state.commit()
    state.record("speedw", wobbled(8.0, 3))
    verdict = state.evaluate("speedw")
    assert verdict.baseline.run_set_ids == [established.id] and verdict.baseline.n == 10
    assert baseline_wanted(state.store, state.project, state.bench("speedw"), verdict) == 0


def test_a_growing_baseline_after_a_promote_is_fresh_runs_only(state: StoredRuns) -> None:
    promoted, stopped = _promoted(state, "speedg", 5)
    state.commit("README", "docs only\n")
    state.record("speedg", wobbled(8.0, 3))
    waiting = state.evaluate("speedg")
    assert "needs 2 fresh baseline run(s) first" in waiting.reason
    assert waiting.baseline.run_set_ids == stopped
    fresh = state.record("speedg", wobbled(8.0, 2), sha=promoted, kind="baseline")
    verdict = state.evaluate("speedg")
    assert verdict.baseline.run_set_ids == [fresh.id]
    # its first looks wait for as many fresh runs as baseline establish would run
    assert verdict.sequential.baseline_first == 5
    assert "waits for" in verdict.reason
    assert baseline_wanted(state.store, state.project, state.bench("speedg"), verdict) == 3


def test_establishing_a_commit_again_adds_runs_instead_of_replacing_them(
        state: StoredRuns) -> None:
    """Re-establishing until the baseline happened to be slow bought a PROMOTE for an unchanged
    candidate: each establishment of the same tree in the same environment now joins the
    earlier ones; another environment (here another sandbox) starts a baseline of its own."""
    first = state.establish("speedw", wobbled(10.0, 10))
    unlucky = state.establish("speedw", [v * 1.2 for v in wobbled(10.0, 10, first_seed=11)])
    pooled = _evidence(state, "speedw")
    assert [rs.id for rs in pooled.sets] == [first.id, unlucky.id]
    assert len(pooled.runs) == 20 and pooled.first is None
    elsewhere = state.establish("speedw", wobbled(10.0, 10, first_seed=30), sandbox="docker")
    assert [rs.id for rs in _evidence(state, "speedw").sets] == [elsewhere.id]
    state.commit("README", "a new tree\n")
    moved = state.establish("speedw", wobbled(10.0, 5, first_seed=40), sandbox="docker")
    assert [rs.id for rs in _evidence(state, "speedw").sets] == [moved.id]
    verdict = state.evaluate("speedw")
    assert verdict.baseline.run_set_ids == [moved.id]


def test_only_clean_harness_seeded_establishments_of_the_environment_are_pooled(
        state: StoredRuns) -> None:
    kept = state.establish("speedw", wobbled(10.0, 10))
    state.record("speedw", wobbled(13.0, 5), kind="baseline", dirty=True)
    state.record("speedw", wobbled(13.0, 5), kind="baseline", caller_seeds=True)
    state.record("speedw", [], kind="baseline", failed=3)  # no ok run: never a baseline
    state.record("speedw", wobbled(10.0, 5, first_seed=20))  # a candidate run at the commit
    stopped = state.record("speedw", wobbled(10.0, 2, first_seed=30), kind="baseline",
                           failed=1)  # stopped part way: counts with what it has
    last = state.establish("speedw", wobbled(10.0, 10, first_seed=40))
    evidence = _evidence(state, "speedw")
    assert [rs.id for rs in evidence.sets] == [kept.id, stopped.id, last.id]
    assert sum(run.status == "ok" for run in evidence.runs) == 22
    verdict = state.evaluate("speedw")  # named by the commit and run set pointed at
    assert verdict.baseline.git_sha == last.git_sha
    assert verdict.baseline.meta_seed == last.meta_seed
    assert verdict.baseline.run_set_ids == [kept.id, stopped.id, last.id]


def test_a_growing_baseline_pools_every_establishment_before_its_fresh_runs(
        state: StoredRuns) -> None:
    first = state.establish("speedg", wobbled(10.0, 5))
    again = state.establish("speedg", wobbled(10.0, 5, first_seed=6))
    grown = state.record("speedg", wobbled(10.0, 3, first_seed=12), kind="baseline")
    evidence = _evidence(state, "speedg")
    assert [rs.id for rs in evidence.sets] == [first.id, again.id, grown.id]
    assert evidence.first == 10 and len(evidence.runs) == 13
