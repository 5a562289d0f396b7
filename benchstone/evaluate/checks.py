"""What every evaluation checks before the statistics, each written once: is there a baseline,
were protected files changed, did both samples run alike, and what the gate's settings are;
then what it does after: failed repetitions withhold PROMOTE. No store access, no I/O."""

from __future__ import annotations

import shlex
from dataclasses import replace
from typing import Any

from benchstone.evaluate.samples import EvaluateOptions
from benchstone.gates.policies import GateDecision, GateSettings
from benchstone.gates.verdict import SequentialSummary, Verdict, VerdictKind
from benchstone.project.manifest import MANIFEST_RELATIVE_PATH, BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.run.environment import corpus_difference, fingerprint_differences
from benchstone.store.records import BaselinePointer, RunSet


def verdict_for(project: Project, bench: BenchmarkSpec, kind: VerdictKind, reason: str,
                **extra: Any) -> Verdict:
    """A verdict on ``bench`` of ``project``; ``extra`` fills the remaining fields."""
    return Verdict(kind=kind, project=project.name, benchmark=bench.name, tier=bench.tier,
                   reason=reason, metric_source=bench.metric_source, **extra)


SAME_COMMIT = "the baseline and the candidate are the same commit (an A/A comparison)"


def same_commit(pointer: BaselinePointer, git_sha: str) -> list[str]:
    """The warning every evaluation gives when the commit it judges is the baseline's own."""
    return [SAME_COMMIT] if pointer.git_sha == git_sha else []


def no_baseline(project: Project, bench: BenchmarkSpec) -> Verdict:
    return verdict_for(project, bench, VerdictKind.NO_BASELINE, "no baseline has been established "
                       f"(bench baseline establish {project.name} {bench.name})")


def already_promoted(project: Project, bench: BenchmarkSpec, pointer: BaselinePointer,
                     git_sha: str, **extra: Any) -> Verdict | None:
    """REJECT when the commit under evaluation is the one just promoted and nothing ran since:
    the baseline and the candidate are the same runs, so there is nothing better to promote."""
    if pointer.action != "promote" or pointer.git_sha != git_sha:
        return None
    return verdict_for(project, bench, VerdictKind.REJECT,
                       f"{git_sha[:10]} is the baseline already (promoted from run set "
                       f"{pointer.run_set_id}): the candidate is the baseline, so nothing improved",
                       **extra)


def changed_protected(before: RunSet, after: RunSet) -> list[str]:
    """The protected files whose digests differ between two run sets."""
    names = set(before.protected_files) | set(after.protected_files)
    return sorted(name for name in names
                  if before.protected_files.get(name) != after.protected_files.get(name))


def tampered(project: Project, bench: BenchmarkSpec, changed: list[str], headline: str,
             new_baseline_advice: bool = True, **extra: Any) -> Verdict:
    """TAMPERED: the ``changed`` protected files, after ``headline`` (what changed since when)."""
    details = [f"changed: {name}" for name in changed]
    reason = f"{headline}: {', '.join(changed)}"
    if new_baseline_advice and str(MANIFEST_RELATIVE_PATH) in changed:
        # a benchmark added (bench init does that) or a setting changed: a deliberate change
        which = "only the manifest" if len(changed) == 1 else "the manifest among them"
        reason += (f" ({which}: a benchmark added by bench init, or a setting changed). If the "
                   f"change is intended, pin it (bench register {shlex.quote(str(project.root))}),"
                   f" then measure a new baseline (bench baseline establish {project.name} "
                   f"{bench.name})")
    elif new_baseline_advice:
        details.append("a new baseline is the deliberate way forward: "
                       f"bench baseline establish {project.name} {bench.name}")
    return verdict_for(project, bench, VerdictKind.TAMPERED, reason, details=details, **extra)


def comparability(baseline: RunSet, candidate: RunSet, bench: BenchmarkSpec,
                  options: EvaluateOptions) -> tuple[str | None, list[str]]:
    """A reason the two run sets must not be compared (or None), and warnings."""
    if baseline.sandbox != candidate.sandbox or baseline.image_id != candidate.image_id:
        return (f"baseline ran in sandbox {baseline.sandbox} (image {baseline.image_id or '-'}), "
                f"candidate in {candidate.sandbox} (image {candidate.image_id or '-'}): samples "
                "from different sandboxes are never compared; establish a new baseline"), []
    runtimes = [run_set.environment.get("runtime") or "runc" for run_set in (baseline, candidate)]
    if baseline.sandbox == "docker" and runtimes[0] != runtimes[1]:
        # gVisor's processor time is several times runc's: a runtime is a sandbox of its own
        return (f"baseline ran under the container runtime {runtimes[0]}, candidate under "
                f"{runtimes[1]}: samples from different runtimes are never compared; establish "
                "a new baseline, or run under the baseline's runtime"), []
    if (data := corpus_difference(baseline.environment, candidate.environment)) is not None:
        return data, []
    differences = fingerprint_differences(baseline.environment, candidate.environment)
    if not differences:
        return None, []
    listed = "; ".join(differences)
    if bench.tier == "performance" and not options.allow_cross_env:
        return (f"baseline and candidate ran in different environments ({listed}); establish "
                "a baseline here, or pass --allow-cross-env"), []
    return None, [f"environments differ: {listed}"]


def settings_for(bench: BenchmarkSpec, **changes: Any) -> GateSettings:
    """The gate settings a benchmark's manifest entry asks for, with ``changes`` applied."""
    settings = GateSettings(
        policy=bench.gate_policy, direction=bench.metric_direction or "minimize",
        promotion_sigma=bench.promotion_sigma, rank_threshold=bench.rank_threshold,
        alpha=bench.alpha, min_effect=bench.min_effect, log_scale=bench.log_scale,
        resolution=bench.resolution, deterministic=bench.deterministic,
    )
    return replace(settings, **changes) if changes else settings


def withheld_for_failures(decision: GateDecision, failed: int, git_sha: str, *,
                          paired: bool = False, running: int = 0,
                          baseline_failed: int = 0) -> GateDecision:
    """REJECT while candidate repetitions at the commit failed: the gate never judges the
    survivors, since making the slow runs fail would otherwise pay. The failed rows stay at the
    tree, so no further run there can lead to PROMOTE, and the verdict is final (a "run more"
    would keep a loop running them for nothing); the way forward is a changed tree, or, when
    ``baseline_failed`` of the lost pairs lost their baseline half, a baseline that runs."""
    if not failed or decision.kind == VerdictKind.REJECT:
        return decision
    if running >= failed:  # every one of them is still running: not a failure, not yet judged
        return replace(decision, kind=VerdictKind.NEEDS_MORE_DATA, reason=(
            f"{running} {'pair(s)' if paired else 'candidate repetition(s)'} at {git_sha[:10]} "
            "still running (their harness has not ended): nothing is promoted while they run, "
            f"so evaluate again when they end; the finished runs say: {decision.reason}"))
    way_forward = "fix the cause and commit a changed tree"
    if baseline_failed:
        way_forward = (f"{baseline_failed} of them lost their pair because the baseline's half "
                       "failed: if the baseline commit is what fails, point the baseline at a "
                       "tree that runs (bench baseline establish; a new paired test starts "
                       f"with it), otherwise {way_forward}")
    return replace(decision, kind=VerdictKind.REJECT, reason=(
        f"{failed} candidate repetition(s) at {git_sha[:10]} failed or never finished"
        f"{', or lost the baseline half of their pair' if paired else ''} (a crash, "
        "a timeout, a stop), and a gate that judged only the runs that succeeded could be gamed "
        "by failing or stopping the slow ones, so this tree cannot be promoted against this "
        f"baseline: {way_forward}; the runs that succeeded alone say: {decision.reason}"))


def withheld_for_baseline_failures(decision: GateDecision, failed: int,
                                   baseline_sha: str) -> GateDecision:
    """NO_BASELINE while repetitions of the baseline failed or never finished: compared with the
    baseline's survivors alone, a baseline commit that fails whenever it would be cheap looks
    slower than it is, and an unchanged candidate would be promoted against it. The candidate is
    not at fault, so the verdict is not a REJECT (a loop would discard a real gain) but a
    baseline to set again, at a changed tree: the failed rows stay with this one, and pooling
    every establishment of a tree is what keeps re-establishing from shopping for a slow one. A
    REJECT stands: the candidate was worse even against a baseline that looks slow."""
    if not failed or decision.kind == VerdictKind.REJECT:
        return decision
    return replace(decision, kind=VerdictKind.NO_BASELINE, reason=(
        f"{failed} repetition(s) of the baseline {baseline_sha[:10]} failed or never finished "
        "(a crash, a timeout, a stop), and a baseline judged only on the runs that succeeded "
        "could be gamed by failing its cheap ones, so it is not compared with: establish the "
        "baseline at a tree that runs and is not this one (bench baseline establish; through "
        "the benchstone service, an administrator); the runs that succeeded alone say: "
        f"{decision.reason}"))


def sequential_summary(decision: GateDecision,
                       baseline_first: int | None = None) -> SequentialSummary | None:
    """What a verdict says of the sequential procedure behind ``decision``, if there was one."""
    outcome = decision.sequential
    if outcome is None:
        return None
    return SequentialSummary(
        test=decision.policy, look=outcome.look, runs=outcome.looks, horizon=outcome.horizon,
        boundary=outcome.boundary if outcome.boundary > 0 else None,
        conditional_power=outcome.conditional_power, baseline_first=baseline_first)
