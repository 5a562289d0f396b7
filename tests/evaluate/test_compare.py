"""``compare``: the paired gate over the pairs of two commits, its refusals, and the pairs of
earlier comparisons recorded straight into a real store; one comparison really runs its pairs,
on the process sandbox (host subprocesses, fast)."""

from __future__ import annotations

import os
import subprocess
import types
from collections.abc import Iterator, Sequence

import pytest
from conftest import git
from stored_runs import ENVIRONMENT, StoredRuns, stored_runs, wobbled

from benchstone.errors import CompareError, DirtyTreeError, NothingToPromote
from benchstone.evaluate import compare as compare_module
from benchstone.evaluate import promotion as promotion_module
from benchstone.evaluate.compare import CompareRequest, CompareResult, compare
from benchstone.evaluate.paired import (
    PairsSoFar,
    candidate_failures,
    complete_pairs,
    earlier_pairs,
    evaluate_paired,
    paired_verdict,
)
from benchstone.evaluate.promotion import promote
from benchstone.gates.verdict import VerdictKind
from benchstone.store.records import Comparison

BASELINE_RUNS = wobbled(10.0, 10)  # the pointer's run set
CLASSIC_NOTE = ("design = classic: these pairs decide this comparison only; bench promote judges "
                "the run sets of bench run (with design = \"paired\", run, evaluate and promote "
                "use these pairs)")
BEFORE = wobbled(10.0, 8)
FASTER = wobbled(8.0, 8, first_seed=3)  # a fifth faster, its own noise in each pair


@pytest.fixture
def state(make_project, home) -> Iterator[StoredRuns]:
    with stored_runs(make_project, home) as recorded:
        yield recorded


def earlier_comparison(state: StoredRuns, shas: tuple[str, str], baseline: Sequence[float],
                       candidate: Sequence[float], failed: int = 0,
                       bench: str = "speedw", baseline_failed: int = 0) -> Comparison:
    """A finished comparison of ``shas``: both sides' run sets and their rows (``failed``
    candidate halves and ``baseline_failed`` baseline halves failed after the values)."""
    comparison = state.store.add_comparison(project="toy", benchmark=bench,
                                            baseline_sha=shas[0], candidate_sha=shas[1],
                                            pairs=len(baseline))
    for side, sha, values, errors in (("baseline", shas[0], baseline, baseline_failed),
                                      ("candidate", shas[1], candidate, failed)):
        state.record(bench, values, sha=sha, kind="compare", comparison_id=comparison.id,
                     side=side, failed=errors)
    return comparison


def run_compare(state: StoredRuns, bench: str = "speedw", **request: object) -> CompareResult:
    return compare(state.store, state.home, state.project, state.bench(bench),
                   CompareRequest(sandbox="process", **request))


def test_complete_pairs_keep_only_pairs_whose_halves_both_succeeded(state: StoredRuns) -> None:
    baseline = state.record("speedw", [10.0, 10.1, 9.9], kind="compare", side="baseline")
    candidate = state.record("speedw", [8.0], kind="compare", side="candidate", failed=1)
    runs = {"baseline": state.store.runs_of([baseline.id]),
            "candidate": state.store.runs_of([candidate.id])}
    # the candidate's repetition 1 failed and it has no repetition 2: one complete pair, and
    # two that count against the candidate (a failed half; a baseline half left alone)
    assert complete_pairs(runs, "runner") == [(10.0, 8.0)]
    assert candidate_failures(runs) == 2
    assert complete_pairs(runs, "harness_wall") == []  # no harness time was recorded


def test_earlier_pairs_are_every_comparison_of_the_same_two_commits(state: StoredRuns) -> None:
    first_sha = state.head
    second_sha = state.commit()
    shas = (first_sha, second_sha)
    earlier_comparison(state, shas, [10.0, 10.2], [8.0, 8.2])
    earlier_comparison(state, (second_sha, first_sha), [1.0, 1.0], [1.0, 1.0])  # the other way
    earlier_comparison(state, shas, [9.8, 9.9], [7.8], failed=1)
    so_far = earlier_pairs(state.store, state.project, state.bench("speedw"), *shas)
    pairs, failed = so_far.pairs, so_far.failed
    assert pairs == [(10.0, 8.0), (10.2, 8.2), (9.8, 7.8)]
    assert failed == 1


def test_a_candidate_half_whose_baseline_half_was_lost_withholds_promote(
        state: StoredRuns) -> None:
    """A stop (or a crash) between the halves of a pair, after a slow candidate half, must not
    drop that half quietly: the pair counts against promotion like a failed half."""
    baseline_set = state.establish("speedw", BASELINE_RUNS)
    candidate_sha = state.commit()
    shas = (baseline_set.git_sha, candidate_sha)
    earlier_comparison(state, shas, BEFORE[:6], FASTER[:6])
    lost = earlier_comparison(state, shas, BEFORE[6:7], FASTER[6:8])  # 2 halves, 1 partner
    runs = {side: state.store.runs_of([rs.id for rs in state.store.run_sets(
        "toy", "speedw", kinds=("compare",), comparison_id=lost.id) if rs.side == side])
        for side in ("baseline", "candidate")}
    assert complete_pairs(runs, "runner") == [(BEFORE[6], FASTER[6])]
    assert candidate_failures(runs) == 1
    so_far = earlier_pairs(state.store, state.project, state.bench("speedw"), *shas)
    pairs, failed = so_far.pairs, so_far.failed
    assert len(pairs) == 7 and failed == 1
    verdict = evaluate_paired(state.store, state.home, state.project, state.bench("speedw"),
                              candidate_sha)
    assert verdict.kind == "REJECT" and verdict.failures_withhold_promotion
    assert verdict.reason.startswith(f"1 candidate repetition(s) at {candidate_sha[:10]} failed "
                                     "or never finished, or lost the baseline half of their "
                                     "pair (a crash, a timeout, a stop)")


def test_a_baseline_half_whose_candidate_half_never_ran_withholds_promote(
        state: StoredRuns) -> None:
    """The mirror image: a stop after a fast baseline half, before its candidate half, must not
    drop the pair quietly either."""
    baseline_set = state.establish("speedw", BASELINE_RUNS)
    candidate_sha = state.commit()
    shas = (baseline_set.git_sha, candidate_sha)
    earlier_comparison(state, shas, BEFORE[:6], FASTER[:6])
    earlier_comparison(state, shas, BEFORE[6:8], FASTER[6:7])  # the second pair's half is gone
    so_far = earlier_pairs(state.store, state.project, state.bench("speedw"), *shas)
    pairs, failed = so_far.pairs, so_far.failed
    assert len(pairs) == 7 and failed == 1
    verdict = evaluate_paired(state.store, state.home, state.project, state.bench("speedw"),
                              candidate_sha)
    assert verdict.kind == "REJECT" and verdict.failures_withhold_promotion


def test_a_failed_baseline_half_says_what_to_do_when_the_baseline_is_what_fails(
        state: StoredRuns) -> None:
    """A pair whose baseline half failed counts against the candidate like any lost pair, and
    the REJECT says so; its advice names the way out when the baseline's commit is what fails:
    another baseline tree, which starts a new paired test."""
    baseline_set = state.establish("speedw", BASELINE_RUNS)
    candidate_sha = state.commit()
    shas = (baseline_set.git_sha, candidate_sha)
    earlier_comparison(state, shas, BEFORE[:6], FASTER[:6])
    earlier_comparison(state, shas, BEFORE[6:7], FASTER[6:8], baseline_failed=1)
    so_far = earlier_pairs(state.store, state.project, state.bench("speedw"), *shas)
    assert (len(so_far.pairs), so_far.failed, so_far.baseline_failed) == (7, 1, 1)
    verdict = evaluate_paired(state.store, state.home, state.project, state.bench("speedw"),
                              candidate_sha)
    assert verdict.kind == "REJECT" and verdict.failures_withhold_promotion
    assert ("cannot be promoted against this baseline: 1 of them lost their pair because the "
            "baseline's half failed: if the baseline commit is what fails, point the baseline "
            "at a tree that runs (bench baseline establish; a new paired test starts with it), "
            "otherwise fix the cause and commit a changed tree; ") in verdict.reason
    # a candidate half that failed alone keeps the plain advice
    other = state.commit("src/quality.txt", "1.5\n", "another candidate tree")
    earlier_comparison(state, (baseline_set.git_sha, other), BEFORE[:3], FASTER[:2], failed=1)
    plain = evaluate_paired(state.store, state.home, state.project, state.bench("speedw"), other)
    assert plain.kind == "REJECT" and "baseline's half failed" not in plain.reason
    assert "cannot be promoted against this baseline: fix the cause and commit" in plain.reason


def test_a_comparison_whose_halves_ran_on_different_data_is_left_out(
        state: StoredRuns) -> None:
    """A corpus name pointed elsewhere between the checks of the two halves: the baseline on the
    hard data, the candidate on the easy. Those pairs are never judged."""
    baseline_set = state.establish("speedw", BASELINE_RUNS)
    candidate_sha = state.commit()
    comparison = state.store.add_comparison(project="toy", benchmark="speedw",
                                            baseline_sha=baseline_set.git_sha,
                                            candidate_sha=candidate_sha, pairs=8)
    for side, sha, values, digest in (("baseline", baseline_set.git_sha, BEFORE, "hard"),
                                      ("candidate", candidate_sha, FASTER, "easy")):
        state.record("speedw", values, sha=sha, kind="compare", comparison_id=comparison.id,
                     side=side, environment={**ENVIRONMENT, "corpus": f"data sha256:{digest}"})
    notes: list[str] = []
    assert earlier_pairs(state.store, state.project, state.bench("speedw"), baseline_set.git_sha,
                         candidate_sha, notes=notes) == PairsSoFar()
    assert notes == [f"comparison {comparison.id} is left out: the baseline ran on corpus data "
                     "sha256:hard, the candidate on data sha256:easy: samples on different data "
                     "are never compared; establish a new baseline on this corpus"]
    verdict = evaluate_paired(state.store, state.home, state.project, state.bench("speedw"),
                              candidate_sha)
    assert verdict.kind == "NEEDS_MORE_DATA" and verdict.warnings == notes


def test_a_baseline_pointed_at_another_commit_of_its_tree_keeps_the_pairs(
        state: StoredRuns) -> None:
    """Re-establishing the baseline at a commit that holds the same tree (a message-only commit)
    continues the sequential test, its failed halves included: it never starts a new one."""
    first = state.establish("speedw", BASELINE_RUNS)
    candidate_sha = state.commit()
    earlier_comparison(state, (first.git_sha, candidate_sha), BEFORE[:5], FASTER[:5], failed=1)
    same_tree = git(state.root, "commit-tree", f"{first.git_sha}^{{tree}}", "-p", first.git_sha,
                    "-m", "the baseline's tree again")
    state.establish("speedw", BASELINE_RUNS, sha=same_tree)
    so_far = earlier_pairs(state.store, state.project, state.bench("speedw"), same_tree,
                                  candidate_sha)
    pairs, failed = so_far.pairs, so_far.failed
    assert pairs == list(zip(BEFORE[:5], FASTER[:5], strict=True)) and failed == 1
    verdict = evaluate_paired(state.store, state.home, state.project, state.bench("speedw"),
                              candidate_sha)
    assert verdict.kind == "REJECT" and verdict.failures_withhold_promotion
    other_tree = state.commit("src/quality.txt", "1.5\n", "another baseline tree")
    assert earlier_pairs(state.store, state.project, state.bench("speedw"), other_tree,
                         candidate_sha) == PairsSoFar()


def test_the_paired_verdict_promotes_clear_pairs(state: StoredRuns) -> None:
    shas = ("a" * 40, "b" * 40)
    verdict = paired_verdict(state.project, state.bench("speedw"),
                             list(zip(BEFORE, FASTER, strict=True)), shas, ["a warning"])
    assert verdict.kind == VerdictKind.PROMOTE and verdict.policy == "paired_t"
    assert verdict.reason.startswith("paired_t (sequential, look ")
    assert verdict.effect == pytest.approx(0.2, abs=0.01)
    assert verdict.sequential.test == "paired_t" and verdict.sequential.runs == 8
    assert verdict.sequential.horizon == 12 and verdict.alpha == 0.01
    assert verdict.details[-1] == "8 pair(s), test on log ratios"
    assert (verdict.baseline.git_sha, verdict.candidate.git_sha) == shas
    assert verdict.baseline.values == BEFORE and verdict.candidate.values == FASTER
    assert verdict.baseline_mean == pytest.approx(sum(BEFORE) / 8)
    assert verdict.warnings == ["a warning"]


def test_the_rank_policy_pairs_with_the_signed_rank_test(state: StoredRuns) -> None:
    better = wobbled(1.2, 8)
    verdict = paired_verdict(state.project, state.bench("qualityr"),
                             list(zip(wobbled(1.0, 8), better, strict=True)),
                             ("a" * 40, "b" * 40), [])
    assert verdict.policy == "signed_rank" and verdict.sequential.test == "signed_rank"
    # every pair better: the smallest signed-rank p with 8 pairs is 1/256
    assert verdict.kind == "PROMOTE" and verdict.p_value == pytest.approx(1 / 256)


def test_a_failed_candidate_half_withholds_promote(state: StoredRuns) -> None:
    verdict = paired_verdict(state.project, state.bench("speedw"),
                             list(zip(BEFORE, FASTER, strict=True)), ("a" * 40, "b" * 40), [],
                             failed=2)
    assert verdict.kind == "REJECT" and verdict.failures_withhold_promotion
    assert verdict.reason.startswith(f"2 candidate repetition(s) at {'b' * 10} failed")
    assert verdict.candidate.n_errors == 2 and verdict.baseline.n_errors == 0


def test_one_pair_is_below_the_first_look(state: StoredRuns) -> None:
    verdict = paired_verdict(state.project, state.bench("speedw"), [(10.0, 8.0)],
                             ("a" * 40, "b" * 40), [])
    assert verdict.kind == "NEEDS_MORE_DATA"
    assert verdict.reason == "paired_t (sequential): 1 observation(s), need at least 2"


def test_a_correctness_benchmark_is_refused(state: StoredRuns) -> None:
    with pytest.raises(CompareError) as refused:
        run_compare(state, "output")
    assert "output is a correctness benchmark: there is nothing to compare" in str(refused.value)
    assert refused.value.fix == "bench evaluate toy output"


def test_without_a_baseline_pointer_it_needs_a_commit_to_compare_against(
        state: StoredRuns) -> None:
    with pytest.raises(CompareError) as refused:
        run_compare(state)
    assert str(refused.value) == "toy/speedw has no baseline pointer to compare against"
    assert refused.value.fix == ("establish one: bench baseline establish toy speedw "
                                 "(bench compare also takes --against SHA)")
    first_sha = state.head
    second_sha = state.commit()
    earlier_comparison(state, (first_sha, second_sha), BEFORE, FASTER)
    result = run_compare(state, against=first_sha[:8], until_decided=True)
    assert (result.baseline_sha, result.candidate_sha) == (first_sha, second_sha)
    assert result.verdict.kind == "PROMOTE"


def test_a_dirty_tree_is_refused_before_anything_is_recorded(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE_RUNS)
    (state.root / "src" / "speed.txt").write_text("0.5\n")
    with pytest.raises(DirtyTreeError) as refused:
        run_compare(state, pairs=2)
    assert refused.value.fix == "commit or stash them: the pairs measure the committed HEAD"
    assert state.store.comparisons("toy", "speedw", state.head, state.head) == []


def test_changed_protected_files_are_tampering_and_nothing_runs(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE_RUNS)
    state.commit("bench/runner.py", "# replaced\n", "touch the runner")
    result = run_compare(state, pairs=2)
    assert result.verdict.kind == "TAMPERED" and result.verdict.exit_code == 1
    assert result.verdict.reason == ("protected files differ between the two commits: "
                                     "bench/runner.py")
    assert (result.comparison_id, result.pairs_run, result.meta_seed) == (None, 0, None)


def test_earlier_pairs_that_decided_are_not_run_again(state: StoredRuns) -> None:
    baseline_set = state.establish("speedw", BASELINE_RUNS)
    candidate_sha = state.commit()
    shas = (baseline_set.git_sha, candidate_sha)
    earlier_comparison(state, shas, BEFORE[:4], FASTER[:4])
    earlier_comparison(state, shas, BEFORE[4:], FASTER[4:])
    result = run_compare(state, until_decided=True)
    assert result.verdict.kind == "PROMOTE" and result.verdict.sequential.runs == 8
    assert (result.comparison_id, result.pairs_run, result.pairs_total) == (None, 0, 8)
    assert result.verdict.warnings == [CLASSIC_NOTE,
                                       "8 pair(s) from earlier comparisons of these commits count"]
    assert len(state.store.comparisons("toy", "speedw", *shas)) == 2  # none added


def test_a_failed_earlier_half_stops_until_decided_before_running(state: StoredRuns) -> None:
    baseline_set = state.establish("speedw", BASELINE_RUNS)
    candidate_sha = state.commit()
    earlier_comparison(state, (baseline_set.git_sha, candidate_sha), BEFORE[:3], FASTER[:2],
                       failed=1)
    result = run_compare(state, until_decided=True)
    assert result.pairs_run == 0 and result.pairs_total == 2
    assert result.verdict.kind == "REJECT"
    assert result.verdict.reason.startswith(f"1 candidate repetition(s) at {candidate_sha[:10]} "
                                            "failed")


def test_pairs_run_both_commits_with_the_same_seed_on_the_process_sandbox(
        state: StoredRuns) -> None:
    baseline_set = state.establish("speedw", BASELINE_RUNS)
    candidate_sha = state.commit("src/speed.txt", "0.8\n", "faster")  # from 1.0
    result = run_compare(state, pairs=2)
    assert (result.baseline_sha, result.candidate_sha) == (baseline_set.git_sha, candidate_sha)
    assert result.pairs_run == result.pairs_total == 2 and len(result.first_sides) == 2
    assert set(result.first_sides) <= {"baseline", "candidate"}
    assert result.verdict.kind == "NEEDS_MORE_DATA"  # 2 pairs cannot reach alpha 0.01
    assert result.verdict.policy == "paired_t"
    assert result.verdict.effect == pytest.approx(0.2, abs=1e-6)  # 0.8 v 1.0, same seeds
    baseline_runs, candidate_runs = result.baseline.runs, result.candidate.runs
    assert [run.seed for run in baseline_runs] == [run.seed for run in candidate_runs]
    assert {run.git_sha for run in baseline_runs} == {baseline_set.git_sha}
    assert {run.git_sha for run in candidate_runs} == {candidate_sha}
    assert {run.sandbox for run in baseline_runs + candidate_runs} == {"process"}
    stored = state.store.run_sets("toy", "speedw", kinds=("compare",),
                                  comparison_id=result.comparison_id)
    assert sorted(rs.side for rs in stored) == ["baseline", "candidate"]
    assert {rs.meta_seed for rs in stored} == {result.meta_seed}
    # compare's rows are never candidates for evaluate, nor, under design = classic, promote
    assert state.evaluate("speedw").kind == "NEEDS_MORE_DATA"
    assert state.evaluate("speedw").candidate is None
    assert result.verdict.warnings == [CLASSIC_NOTE]
    with pytest.raises(NothingToPromote, match=r"its bench compare pairs do not count: under "
                       r"design = classic promote judges the run sets of bench run\)$"):
        promote(state.store, state.home, state.project, state.bench("speedw"), meta_seed=None,
                force=False, include_dirty=False)
    # the next comparison of the same commits counts these pairs
    so_far = earlier_pairs(state.store, state.project, state.bench("speedw"),
                                  baseline_set.git_sha, candidate_sha)
    pairs, failed = so_far.pairs, so_far.failed
    assert pairs == [(b.metric, c.metric) for b, c in zip(baseline_runs, candidate_runs,
                                                          strict=True)]
    assert failed == 0


def test_the_same_commit_on_both_sides_is_an_a_a_comparison(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE_RUNS)
    sha = state.head
    earlier_comparison(state, (sha, sha), BEFORE, BEFORE)
    result = run_compare(state, until_decided=True)
    assert result.pairs_run == 0 and result.verdict.kind == "REJECT"
    assert result.verdict.warnings[0] == ("the baseline and the candidate are the same commit "
                                          "(an A/A comparison)")


def test_a_pair_still_running_elsewhere_is_waited_for(state: StoredRuns,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A comparison running in another process (its candidate half done, its baseline half
    running): NEEDS_MORE_DATA while that harness runs, REJECT once it has ended without the
    half's row."""
    baseline_set = state.establish("speedw", BASELINE_RUNS)
    candidate_sha = state.commit()
    shas = (baseline_set.git_sha, candidate_sha)
    earlier_comparison(state, shas, BEFORE[:6], FASTER[:6])
    harness = subprocess.Popen(["sleep", "300"])
    try:
        running = earlier_comparison(state, shas, [], FASTER[6:7])
        baseline_half = next(rs for rs in state.store.run_sets(
            "toy", "speedw", kinds=("compare",), comparison_id=running.id)
            if rs.side == "baseline")
        with monkeypatch.context() as patched:  # the start names the other harness
            patched.setattr("benchstone.store.store.os", types.SimpleNamespace(
                **{**vars(os), "getpid": lambda: harness.pid}))
            state.store.add_repetition_start(baseline_half.id, 0, 1)
        waiting = evaluate_paired(state.store, state.home, state.project, state.bench("speedw"),
                                  candidate_sha)
        assert waiting.kind == "NEEDS_MORE_DATA" and waiting.failures_withhold_promotion
        assert waiting.reason.startswith(f"1 pair(s) at {candidate_sha[:10]} still running")
    finally:
        harness.kill()
        harness.wait()
    lost = evaluate_paired(state.store, state.home, state.project, state.bench("speedw"),
                           candidate_sha)
    assert lost.kind == "REJECT"



def test_a_head_moved_as_the_comparison_begins_compares_nothing(
        state: StoredRuns, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison names HEAD once, and its candidate half reads HEAD again when it opens (for
    the working tree's dirty check): a checkout in between is refused, never run under the first
    commit's name."""
    state.establish("speedw", BASELINE_RUNS)
    named = state.commit("src/speed.txt", "1.00\n", "the same speed")
    faster = state.commit("src/speed.txt", "0.5\n", "twice as fast")
    git(state.root, "checkout", "-q", named)
    read_head = compare_module.head_sha

    def head_then_moved(project):
        sha = read_head(project)
        git(state.root, "checkout", "-q", faster)  # as an agent working beside it could
        return sha

    monkeypatch.setattr(compare_module, "head_sha", head_then_moved)
    with pytest.raises(CompareError, match=rf"^HEAD moved from {named[:10]} to "):
        run_compare(state, pairs=2)
    assert not state.store.runs_of([rs.id for rs in state.store.run_sets(
        "toy", "speedw", kinds=("compare",))])


def test_promote_judges_the_commit_whose_run_set_it_moves_to(
        state: StoredRuns, monkeypatch: pytest.MonkeyPatch) -> None:
    """promote names HEAD once: a checkout between choosing the run set and asking the gate
    would move the pointer to one commit on the verdict of another."""
    state.establish("speedw", BASELINE_RUNS)
    slower = state.commit("src/speed.txt", "50.0\n", "five times slower")  # than 10.0
    state.record("speedw", wobbled(50.0, 20), sha=slower)
    faster = state.commit("src/speed.txt", "5.0\n", "twice as fast")
    state.record("speedw", wobbled(5.0, 20), sha=faster)
    assert state.evaluate("speedw").kind == "PROMOTE"  # at HEAD, the faster commit
    git(state.root, "checkout", "-q", slower)
    read_head = promotion_module.head_sha

    def head_then_moved(project):
        sha = read_head(project)
        git(state.root, "checkout", "-q", faster)
        return sha

    monkeypatch.setattr(promotion_module, "head_sha", head_then_moved)
    with pytest.raises(NothingToPromote, match=r"^the gate says REJECT"):
        promote(state.store, state.home, state.project, state.bench("speedw"), meta_seed=None,
                force=False, include_dirty=False)
    assert state.store.current_pointer("toy", "speedw").action == "establish"
