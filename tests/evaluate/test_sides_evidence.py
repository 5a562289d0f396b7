"""What counts as gate evidence: run sets whose seeds the caller chose are left out (and said so),
and a ``design = "paired"`` benchmark is judged on its pairs by every verb that gates (evaluate,
evaluate --all, explain, promote), on run sets recorded straight into a real store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from conftest import git
from stored_runs import StoredRuns, stored_runs, wobbled

from benchstone.errors import NothingToPromote, SingleRunSetRefused
from benchstone.evaluate.all_benchmarks import evaluate_all
from benchstone.evaluate.explain import explain
from benchstone.evaluate.paired import evaluate_paired
from benchstone.evaluate.promotion import promote
from benchstone.evaluate.samples import EvaluateOptions
from benchstone.gates.verdict import VerdictKind
from benchstone.project.provenance import tree_of

BASELINE = wobbled(10.0, 10)

PAIRED = """
[[benchmarks]]
name = "speedp"
entry_point = "speed"
tier = "performance"
metric_direction = "minimize"
repetitions = 5
baseline_seeds = [1, 2, 3, 4, 5]
gate_policy = "welch"
max_repetitions = 12
design = "paired"
"""


@pytest.fixture
def state(make_project, home) -> Iterator[StoredRuns]:
    from stored_runs import CALIBRATED

    with stored_runs(make_project, home, CALIBRATED + PAIRED) as recorded:
        yield recorded


# ---- caller-chosen seeds are never gate evidence -----------------------------------------------


def test_a_caller_seeded_run_set_is_left_out_of_the_calibrated_gate(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit()
    chosen = state.record("speedw", wobbled(5.0, 5), caller_seeds=True)
    verdict = state.evaluate("speedw")
    assert verdict.kind == VerdictKind.NEEDS_MORE_DATA  # a great-looking sample, not evidence
    assert any(f"run set(s) {chosen.id} left out: their seeds were chosen by the caller" in w
               for w in verdict.warnings), verdict.warnings
    state.record("speedw", wobbled(8.0, 5))
    verdict = state.evaluate("speedw")
    assert verdict.kind == VerdictKind.PROMOTE
    assert chosen.id not in verdict.candidate.run_set_ids and verdict.candidate.n == 5
    assert any("left out" in w for w in verdict.warnings)


def test_a_caller_seeded_run_set_is_neither_judged_nor_promoted_by_the_seed_gates(
        state: StoredRuns) -> None:
    state.establish("speed", wobbled(1.0, 5))
    state.commit()
    state.record("speed", wobbled(0.5, 5), caller_seeds=True)
    verdict = state.evaluate("speed")
    assert verdict.kind == VerdictKind.NEEDS_MORE_DATA
    assert "chosen by the caller" in verdict.reason and "never gate evidence" in verdict.reason
    with pytest.raises(NothingToPromote, match="no candidate run set"):
        promote(state.store, state.home, state.project, state.bench("speed"), meta_seed=None,
                force=True, include_dirty=False)


def test_run_sets_from_before_the_column_count_as_harness_seeded(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit()
    run_set = state.record("speedw", wobbled(8.0, 5))  # no caller_seeds value, as before 0005
    raw = state.store.db.conn.execute("SELECT caller_seeds FROM run_sets WHERE id = ?",
                                      [run_set.id]).fetchone()
    assert raw[0] is None
    assert state.store.run_set(run_set.id).caller_seeds is False
    assert state.evaluate("speedw").kind == VerdictKind.PROMOTE


# ---- design = "paired": every gating verb judges the pairs ---------------------------------------


def pairs(state: StoredRuns, shas: tuple[str, str], baseline: Sequence[float],
          candidate: Sequence[float], failed: int = 0) -> None:
    """A finished comparison of ``shas``, each side's run set recording its commit's tree."""
    comparison = state.store.add_comparison(project="toy", benchmark="speedp",
                                            baseline_sha=shas[0], candidate_sha=shas[1],
                                            pairs=len(baseline))
    for side, sha, values, errors in (("baseline", shas[0], baseline, 0),
                                      ("candidate", shas[1], candidate, failed)):
        state.record("speedp", values, sha=sha, kind="compare", comparison_id=comparison.id,
                     side=side, failed=errors, tree_sha=tree_of(state.root, sha))


def test_evaluate_of_a_paired_benchmark_judges_its_pairs(state: StoredRuns) -> None:
    base = state.establish("speedp", wobbled(10.0, 5)).git_sha
    head = state.commit()
    waiting = state.evaluate("speedp")
    assert waiting.kind == VerdictKind.NEEDS_MORE_DATA and "no pairs" in waiting.reason
    # a drifting machine: the baseline run set measured at 10, the pairs much later at 20 and
    # 16, so the classic comparison would call the candidate slower; the pairs say faster
    pairs(state, (base, head), wobbled(20.0, 12), wobbled(16.0, 12))
    verdict = state.evaluate("speedp")
    assert verdict == evaluate_paired(state.store, state.home, state.project,
                                      state.bench("speedp"), head)
    assert verdict.kind == VerdictKind.PROMOTE and verdict.policy == "paired_t"
    assert verdict.baseline.n == verdict.candidate.n == 12
    assert verdict.effect == pytest.approx(0.2, abs=0.01)
    with pytest.raises(SingleRunSetRefused):
        state.evaluate("speedp", meta_seed=1)

    every = evaluate_all(state.store, state.home, state.project, EvaluateOptions())
    speedp = next(v for v in every.benchmarks if v.benchmark == "speedp")
    assert speedp.kind == VerdictKind.PROMOTE and every.kind == VerdictKind.PROMOTE
    assert not any("speedp" in w for w in every.warnings)  # in the false-discovery family
    assert any("design = paired" in line for line in explain(verdict, state.bench("speedp")).test)


def test_a_failed_candidate_half_withholds_promote(state: StoredRuns) -> None:
    base = state.establish("speedp", wobbled(10.0, 5)).git_sha
    head = state.commit()
    pairs(state, (base, head), wobbled(10.0, 12), wobbled(8.0, 12), failed=1)
    verdict = state.evaluate("speedp")
    assert verdict.kind == VerdictKind.REJECT and verdict.failures_withhold_promotion


def test_a_regression_in_pairs_rejects_in_evaluate_all(state: StoredRuns) -> None:
    base = state.establish("speedp", wobbled(10.0, 5)).git_sha
    head = state.commit()
    pairs(state, (base, head), wobbled(10.0, 12), wobbled(13.0, 12))
    every = evaluate_all(state.store, state.home, state.project, EvaluateOptions())
    assert every.regressed == ["speedp"] and every.kind == VerdictKind.REJECT


def test_promote_moves_the_pointer_to_the_paired_candidate_and_the_next_pairs_start_afresh(
        state: StoredRuns) -> None:
    base = state.establish("speedp", wobbled(10.0, 5)).git_sha
    head = state.commit()
    pairs(state, (base, head), wobbled(10.0, 12), wobbled(8.0, 12))
    moved = promote(state.store, state.home, state.project, state.bench("speedp"),
                    meta_seed=None, force=False, include_dirty=False)
    assert moved.pointer.git_sha == head and moved.verdict.kind == VerdictKind.PROMOTE
    candidate_set = state.store.run_set(moved.pointer.run_set_id)
    assert (candidate_set.kind, candidate_set.side) == ("compare", "candidate")
    already = state.evaluate("speedp")
    assert already.kind == VerdictKind.REJECT and "is the baseline already" in already.reason
    state.commit(text="0.7\n", message="faster still")
    fresh = state.evaluate("speedp")  # the old pairs judged another baseline: none count
    assert fresh.kind == VerdictKind.NEEDS_MORE_DATA and "no pairs" in fresh.reason


def test_an_empty_commit_continues_the_paired_test(state: StoredRuns) -> None:
    """The paired evidence belongs to the candidate's tree: an empty commit neither loses the
    pairs so far nor gets a fresh alpha to spend."""
    base = state.establish("speedp", wobbled(10.0, 5)).git_sha
    head = state.commit()
    pairs(state, (base, head), wobbled(10.0, 3), wobbled(9.9, 3))
    before = state.evaluate("speedp")
    git(state.root, "commit", "-q", "--allow-empty", "-m", "nothing changed")
    after = state.evaluate("speedp")
    assert after.candidate.n == before.candidate.n == 3
    assert after.sequential.runs == before.sequential.runs == 3
