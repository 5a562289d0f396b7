"""Correctness verdicts over the runs recorded at a commit, straight into a real store: every
artifact there is judged, and a run that failed is a wrong answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import git
from stored_runs import StoredRuns, stored_runs, wobbled

from benchstone.evaluate.all_benchmarks import evaluate_all
from benchstone.evaluate.samples import EvaluateOptions
from benchstone.gates.verdict import VerdictKind
from benchstone.project.references import store_artifact


@pytest.fixture
def state(make_project, home) -> Iterator[StoredRuns]:
    with stored_runs(make_project, home) as recorded:
        yield recorded


def artifact(state: StoredRuns, data: bytes) -> str:
    return store_artifact(state.home, "toy", "output", data)


def frozen(state: StoredRuns, data: bytes) -> str:
    """A reference frozen from a run at HEAD, as bench freeze-reference leaves it."""
    digest = artifact(state, data)
    run_set = state.record("output", [1.0], artifact=digest)
    state.store.add_reference_event(project="toy", benchmark="output", action="freeze",
                                    git_sha=run_set.git_sha,
                                    run_id=state.store.runs_of([run_set.id])[0].id,
                                    new_sha256=digest)
    return digest


def test_a_wrong_artifact_at_the_commit_fails_however_often_it_was_right(
        state: StoredRuns) -> None:
    """A program right one time in four must not PASS after a few runs: every artifact at the
    commit is judged, not the newest alone."""
    right = frozen(state, b"42\n")
    state.commit("src/notes.txt", "a change\n")
    state.record("output", [1.0], artifact=right)
    assert state.evaluate("output").kind == VerdictKind.PASS
    wrong = state.record("output", [1.0], artifact=artifact(state, b"41\n"))
    state.record("output", [1.0], artifact=right)  # right again, the newest
    verdict = state.evaluate("output")
    wrong_run = state.store.runs_of([wrong.id])[0].id
    assert verdict.kind == VerdictKind.FAIL
    assert verdict.reason == ("the artifact differs from the reference (byte_equivalence): first "
                              f"difference at byte 1 (reference 3 bytes, candidate 3 bytes) (run "
                              f"{wrong_run}, 3 run(s) at this commit)")


def test_a_run_that_failed_at_the_commit_is_a_fail_not_missing_data(state: StoredRuns) -> None:
    right = frozen(state, b"42\n")
    state.establish("speedw", wobbled(1.0, 10))
    sha = state.commit("src/notes.txt", "a change\n")
    state.record("output", [1.0], artifact=right)
    state.record("output", [], failed=1)
    verdict = state.evaluate("output")
    assert verdict.kind == VerdictKind.FAIL and verdict.exit_code == 1
    assert verdict.reason.startswith(f"1 of its 2 run(s) at {sha[:10]} failed, the newest with ")
    # and the project's overall verdict is rejected, however well another benchmark does: a
    # program cannot crash its correctness run rather than FAIL it
    state.record("speedw", wobbled(0.5, 8))
    overall = evaluate_all(state.store, state.home, state.project, EvaluateOptions())
    assert [v.kind for v in overall.benchmarks if v.benchmark == "speedw"] == ["PROMOTE"]
    assert overall.kind == VerdictKind.REJECT and "output FAIL" in overall.reason


def test_artifacts_equal_under_the_policy_pass_and_say_so(state: StoredRuns) -> None:
    right = frozen(state, b"42\n")
    state.commit("src/notes.txt", "a change\n")
    for _ in range(2):
        state.record("output", [1.0], artifact=right)
    verdict = state.evaluate("output")
    assert verdict.kind == VerdictKind.PASS
    assert verdict.reason == "the artifact matches the reference byte for byte"
    assert "all 2 artifact(s) at this commit match" in verdict.details


def test_an_empty_commit_does_not_wipe_a_fail(state: StoredRuns) -> None:
    """The runs of every commit that holds the tree count: a FAIL at a commit stays a FAIL at
    an empty (or message-only) commit on top of it, where fresh runs could otherwise PASS."""
    right = frozen(state, b"42\n")
    failed_at = state.commit("src/notes.txt", "a change\n")
    tree = git(state.root, "rev-parse", "HEAD^{tree}")
    state.record("output", [1.0], artifact=artifact(state, b"41\n"), tree_sha=tree)
    git(state.root, "commit", "-q", "--allow-empty", "-m", "nothing")
    empty = git(state.root, "rev-parse", "HEAD")
    assert empty != failed_at
    state.record("output", [1.0], artifact=right, tree_sha=tree)
    assert state.evaluate("output").kind == VerdictKind.FAIL
