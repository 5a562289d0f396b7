"""``evaluate`` of one benchmark: the correctness tier against its reference, the calibrated
policies over every run at the commit (:mod:`benchstone.evaluate.cumulative`), and the seed's
policies (``sigma``, ``mann_whitney``) on one run set against the baseline's run set, here.
Read-only: nothing here writes to the store.

The order of checks is deliberate: a missing baseline first, then which candidate to use, then
tampering with protected files, then whether the two samples ran alike, and only then the
statistics. A verdict that cannot be trusted is never PROMOTE.
"""

from __future__ import annotations

from benchstone.errors import SingleRunSetRefused
from benchstone.evaluate.checks import (
    already_promoted,
    changed_protected,
    comparability,
    no_baseline,
    same_commit,
    settings_for,
    tampered,
    verdict_for,
)
from benchstone.evaluate.correctness import apply_requirements, evaluate_correctness
from benchstone.evaluate.cumulative import evaluate_cumulative
from benchstone.evaluate.paired import evaluate_paired
from benchstone.evaluate.samples import EvaluateOptions, head_sha, newest_candidate_set, sample_of
from benchstone.gates.policies import decide
from benchstone.gates.verdict import Verdict, VerdictKind
from benchstone.paths import Home
from benchstone.project.manifest import CALIBRATED_POLICIES, BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.store import Store


def evaluate(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
             options: EvaluateOptions | None = None) -> Verdict:
    options = options or EvaluateOptions()
    git_sha = options.git_sha or head_sha(project)
    if bench.tier == "correctness":
        return evaluate_correctness(store, home, project, bench, git_sha, options)
    if bench.is_paired:
        if options.meta_seed is not None:
            raise SingleRunSetRefused(f"{bench.name} has design = paired: it is judged on its "
                                      "pairs, not on a single run set (--meta-seed)")
        return evaluate_paired(store, home, project, bench, git_sha)
    if bench.gate_policy in CALIBRATED_POLICIES:
        return evaluate_cumulative(store, home, project, bench, git_sha, options)
    return _evaluate_one_run_set(store, home, project, bench, git_sha, options)


def _evaluate_one_run_set(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                          git_sha: str, options: EvaluateOptions) -> Verdict:
    """The seed's policies: the newest candidate run set against the baseline's run set."""
    pointer = store.current_pointer(project.name, bench.name)
    if pointer is None:
        return no_baseline(project, bench)
    baseline_set = store.run_set(pointer.run_set_id)
    assert baseline_set is not None
    left_out: list[str] = []
    candidate_set, why_none = newest_candidate_set(store, project, bench.name, git_sha, options,
                                                   exclude={baseline_set.id}, notes=left_out)
    baseline = sample_of([baseline_set], store.runs_of([baseline_set.id]), bench.metric_source)
    common = {"policy": bench.gate_policy, "direction": bench.metric_direction,
              "baseline": baseline}
    if baseline_set.git_dirty and not options.include_dirty:
        return verdict_for(project, bench, VerdictKind.NEEDS_MORE_DATA,
                           f"the baseline ({baseline_set.git_sha[:10]}) was recorded on a dirty "
                           "tree and is excluded from gates: establish it again on a clean tree "
                           f"(bench baseline establish {project.name} {bench.name}), or pass "
                           "--include-dirty", **common)
    if candidate_set is None:
        return (already_promoted(project, bench, pointer, git_sha, **common)
                or verdict_for(project, bench, VerdictKind.NEEDS_MORE_DATA, why_none,
                               warnings=left_out + same_commit(pointer, git_sha), **common))
    candidate = sample_of([candidate_set], store.runs_of([candidate_set.id]), bench.metric_source,
                          unfinished=store.unfinished_repetitions([candidate_set.id]))
    common["candidate"] = candidate
    warnings = left_out + same_commit(pointer, git_sha)
    if baseline_set.git_dirty:
        warnings.append("the baseline was recorded on a dirty tree (--include-dirty)")
    if candidate_set.git_dirty:
        warnings.append("the candidate was recorded on a dirty tree (--include-dirty)")
    if baseline_set.protected_hash != candidate_set.protected_hash:
        return tampered(project, bench, changed_protected(baseline_set, candidate_set),
                        "protected files changed since the baseline", warnings=warnings, **common)
    blocker, env_warnings = comparability(baseline_set, candidate_set, bench, options)
    warnings.extend(env_warnings)
    if blocker:
        return verdict_for(project, bench, VerdictKind.NEEDS_MORE_DATA, blocker,
                           warnings=warnings, **common)
    if candidate.n_errors:
        warnings.append(f"{candidate.n_errors} of {candidate_set.repetitions} candidate "
                        "repetition(s) failed and are not in the gate")
    decision = decide(baseline.values, candidate.values, settings_for(bench),
                      required_baseline=baseline_set.repetitions,
                      required_candidate=candidate_set.repetitions)
    verdict = verdict_for(
        project, bench, decision.kind, decision.reason, statistic=decision.statistic,
        statistic_name=decision.statistic_name, threshold=decision.threshold,
        p_value=decision.p_value, alpha=None, effect=decision.effect, effect_ci=decision.effect_ci,
        details=decision.details, warnings=warnings,
        sigma=decision.statistic if decision.statistic_name == "sigma" else None,
        baseline_mean=baseline.mean, baseline_se=baseline.se,
        candidate_mean=candidate.mean, candidate_se=candidate.se, **common,
    )
    return apply_requirements(store, home, project, bench, verdict, git_sha, options)
