"""Choosing what a gate compares: the options of an evaluation, the commit it judges, and the
baseline and candidate samples drawn from the store. Read-only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchstone.gates.policies import MIN_PER_SIDE
from benchstone.gates.verdict import Sample
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.provenance import head_commit, tree_of
from benchstone.project.registry import Project
from benchstone.stats.basic import mean_se, median
from benchstone.store import Store
from benchstone.store.records import BaselinePointer, Run, RunSet
from benchstone.system.host import host_name
from benchstone.system.procs import another_live_process_here


@dataclass(frozen=True)
class EvaluateOptions:
    meta_seed: int | None = None
    include_dirty: bool = False
    allow_cross_env: bool = False
    git_sha: str | None = None


def head_sha(project: Project) -> str:
    return head_commit(project.root)


def sample_of(run_sets: list[RunSet], runs: list[Run], source: str,
              unfinished: int = 0) -> Sample:
    """The gated values of ``runs`` (from ``run_sets``, oldest first) as one sample; its errors
    are the failed rows and the ``unfinished`` repetitions (started, never recorded)."""
    values = [v for run in runs if (v := run.gated_value(source)) is not None]
    mean_value = se = None
    if len(values) >= 2:
        mean_value, se = mean_se(values)
    elif values:
        mean_value = values[0]
    return Sample(
        git_sha=run_sets[0].git_sha,
        run_set_ids=[rs.id for rs in run_sets],
        meta_seed=run_sets[0].meta_seed,
        n=len(values),
        n_errors=sum(1 for run in runs if run.status != "ok") + unfinished,
        values=values,
        mean=mean_value,
        se=se,
        median=median(values) if values else None,
        dirty=any(rs.git_dirty for rs in run_sets),
    )


def caller_seeded_note(sets: list[RunSet]) -> str:
    """What ``evaluate`` says of the run sets it left out because the caller chose their seeds."""
    ids = ", ".join(str(rs.id) for rs in sorted(sets, key=lambda rs: rs.id))
    return (f"run set(s) {ids} left out: their seeds were chosen by the caller (--meta-seed or "
            "--seed-set baseline), so they reproduce a run set and are never gate evidence "
            "(seeds searched offline could be the easy ones); bench run without them gives "
            "evidence")


def without_caller_seeds(sets: list[RunSet], notes: list[str] | None) -> list[RunSet]:
    """``sets`` without the caller-seeded ones, noting in ``notes`` which were left out."""
    left_out = [rs for rs in sets if rs.caller_seeds]
    if left_out and notes is not None:
        notes.append(caller_seeded_note(left_out))
    return [rs for rs in sets if not rs.caller_seeds]


def newest_candidate_set(store: Store, project: Project, benchmark: str, git_sha: str,
                         options: EvaluateOptions, exclude: set[int],
                         notes: list[str] | None = None) -> tuple[RunSet | None, str]:
    """The newest run set at ``git_sha`` (or the one with ``meta_seed``) that is gate evidence;
    why none, if none. The seed's policies gate one run set against one run set."""
    found = [rs for rs in store.run_sets(project.name, benchmark, git_sha=git_sha,
                                         meta_seed=options.meta_seed, kinds=("run",))
             if rs.id not in exclude]
    sets = without_caller_seeds(found, notes)
    if found and not sets:
        return None, (f"the only run sets at {git_sha[:10]} had their seeds chosen by the caller "
                      "(--meta-seed or --seed-set baseline) and are never gate evidence: run "
                      f"again without them (bench run {project.name} {benchmark})")
    if not sets:
        named = f" with meta_seed {options.meta_seed}" if options.meta_seed is not None else ""
        return None, (f"no candidate run set{named} at {git_sha[:10]}: "
                      f"run it first (bench run {project.name} {benchmark})")
    clean = sets if options.include_dirty else [rs for rs in sets if not rs.git_dirty]
    if not clean:
        return None, (f"the only run sets at {git_sha[:10]} were recorded on a dirty tree and "
                      "are excluded from gates: commit and run again, or pass --include-dirty")
    return clean[0], ""


def baseline_sets(store: Store, pointer: BaselinePointer) -> list[RunSet]:
    """The pointer's run set, or, for a pointer that a calibrated verdict promoted, every clean
    candidate run set that verdict used (the stopped sample: shown, never the next comparison's
    baseline, see ``baseline_evidence``), oldest first."""
    first = store.run_set(pointer.run_set_id)
    assert first is not None
    if pointer.action != "promote":
        return [first]
    sets = [rs for rs in store.run_sets(pointer.project, pointer.benchmark,
                                        git_sha=pointer.git_sha, kinds=("run",))
            if rs.id <= pointer.run_set_id and not rs.git_dirty and not rs.caller_seeds]
    return sorted(sets, key=lambda rs: rs.id) or [first]


def same_environment(a: RunSet, b: RunSet) -> bool:
    """Whether two run sets of one commit may be pooled into one sample: the same sandbox and
    image, machine fingerprint (runtime and harness-owned corpus included) and manifest."""
    return ((a.env_hash, a.sandbox, a.image_id, a.manifest_sha256)
            == (b.env_hash, b.sandbox, b.image_id, b.manifest_sha256))


def fresh_baseline_sets(store: Store, pointer: BaselinePointer, tree: str,
                        like: RunSet | None = None) -> list[RunSet]:
    """Baseline runs recorded after the pointer moved, oldest first: run sets of kind
    ``baseline`` at the pointer's tree (the harness ran its commit on secret seeds), clean, not
    the pointer's own, and in the environment of ``like`` (default: the first of them), so
    that the pool is one sample. They never depend on how a candidate did, so they are an
    unbiased sample of the baseline commit."""
    sets = sorted((rs for rs in store.run_sets_of_tree(pointer.project, pointer.benchmark,
                                                       tree_sha=tree, git_sha=pointer.git_sha,
                                                       kinds=("baseline",))
                   if rs.id != pointer.run_set_id and rs.created_at >= pointer.created_at
                   and not rs.git_dirty and not rs.caller_seeds), key=lambda rs: rs.id)
    model = like or (sets[0] if sets else None)
    return [rs for rs in sets if model is not None and same_environment(rs, model)]


@dataclass(frozen=True)
class BaselineEvidence:
    """What a calibrated gate compares a candidate with.

    ``sets`` and ``runs``: the baseline's runs, in the order recorded. ``first``: for a baseline
    that grows (``baseline_grows``), how many of them the first looks use (look m uses the first
    max(first, m)); None for a fixed baseline. ``missing``: fresh baseline runs still needed
    before a first look. ``stopped``: after a PROMOTE, the run sets of the sample it stopped on
    (biased toward looking good, so never the next comparison's baseline): shown while fresh
    runs are missing, never gated on, and never a candidate either. ``failed``: repetitions of
    the baseline's run sets that failed, or never finished under a harness that has ended
    (``baseline_failures``)."""

    sets: list[RunSet]
    runs: list[Run]
    first: int | None = None
    missing: int = 0
    stopped: list[RunSet] | None = None
    failed: int = 0


def baseline_evidence(store: Store, project: Project, bench: BenchmarkSpec,
                      pointer: BaselinePointer) -> BaselineEvidence:
    """The baseline of a calibrated gate (classic design): every establishment of the pointer's
    commit (``established_sets``), pooled with fresh baseline runs when the baseline grows; after
    a PROMOTE, fresh baseline runs only (``len(baseline_seeds)`` of them for a fixed
    baseline)."""
    tree = tree_of(project.root, pointer.git_sha)
    pointed = store.run_set(pointer.run_set_id)
    fresh = fresh_baseline_sets(store, pointer, tree,
                                like=None if pointer.action == "promote" else pointed)
    fresh_rows = store.runs_of([rs.id for rs in fresh])
    fresh_runs = [run for run in fresh_rows if run.status == "ok"]
    if pointer.action == "promote":
        stopped = baseline_sets(store, pointer)
        wanted = max(len(bench.baseline_seeds), MIN_PER_SIDE)
        missing = max((MIN_PER_SIDE if bench.baseline_grows else wanted) - len(fresh_runs), 0)
        if missing:
            return BaselineEvidence([], [], missing=missing, stopped=stopped)
        failed = baseline_failures(store, fresh, fresh_rows)
        if bench.baseline_grows:
            return BaselineEvidence(fresh, fresh_runs, first=wanted, stopped=stopped,
                                    failed=failed)
        used = fresh_runs[:wanted]  # a fixed baseline: always the same first runs
        return BaselineEvidence(_sets_of(fresh, used), used, stopped=stopped, failed=failed)
    established, rows = established_sets(store, pointer, tree)
    if not bench.baseline_grows:
        return BaselineEvidence(established, rows,
                                failed=baseline_failures(store, established, rows))
    own = [run for run in rows if run.status == "ok"]
    return BaselineEvidence([*established, *fresh], own + fresh_runs, first=len(own),
                            failed=baseline_failures(store, [*established, *fresh],
                                                     rows + fresh_rows))


def baseline_failures(store: Store, sets: Sequence[RunSet], rows: Sequence[Run]) -> int:
    """Repetitions of the baseline's run sets ``sets`` (whose rows are ``rows``) that failed, or
    started and never finished under a harness that has ended. A gate that compared with the
    survivors alone could be gamed by a baseline commit that fails, or is stopped, whenever it
    would be cheap: it would look slower than it is."""
    failed = sum(1 for run in rows if run.status != "ok")
    ended = sorted({rs.id for rs in sets} - still_running(store, sets))
    return failed + (store.unfinished_repetitions(ended) if ended else 0)


def established_sets(store: Store, pointer: BaselinePointer,
                     tree: str) -> tuple[list[RunSet], list[Run]]:
    """The pointer's run set with every earlier harness-seeded baseline run set of the same tree
    (``tree``, the pointer commit's) in the same environment (sandbox, machine fingerprint,
    manifest), clean and with at least one ok run, oldest first: earlier establishments, and
    baseline runs grown after earlier pointers.

    Pooled, establishing the baseline again adds runs instead of replacing them: re-running
    it until it happens to be slow would otherwise buy a PROMOTE for an unchanged candidate (an
    unchanged program was promoted in 12.7 % of trials at alpha 0.01 by re-establishing until
    the baseline mean was in its slowest 1 %). A run set stopped part way counts with the runs
    it has. Returned with the rows of those run sets, in insertion order."""
    first = store.run_set(pointer.run_set_id)
    assert first is not None
    earlier = [rs for rs in store.run_sets_of_tree(pointer.project, pointer.benchmark,
                                                   tree_sha=tree, git_sha=pointer.git_sha,
                                                   kinds=("baseline",))
               if rs.id < first.id and not rs.git_dirty and not rs.caller_seeds
               and same_environment(rs, first)]
    rows = store.runs_of([rs.id for rs in earlier] + [first.id])
    with_runs = {run.run_set_id for run in rows if run.status == "ok"} | {first.id}
    sets = sorted((rs for rs in [*earlier, first] if rs.id in with_runs), key=lambda rs: rs.id)
    return sets, [run for run in rows if run.run_set_id in with_runs]


def _sets_of(sets: list[RunSet], runs: list[Run]) -> list[RunSet]:
    ids = {run.run_set_id for run in runs}
    return [rs for rs in sets if rs.id in ids]


def candidate_sets(store: Store, project: Project, benchmark: str, git_sha: str,
                   options: EvaluateOptions, exclude: set[int],
                   notes: list[str] | None = None) -> list[RunSet]:
    """Every candidate run set a calibrated gate may use, oldest first: those of every commit
    that holds ``git_sha``'s tree, so that an empty or message-only commit continues the same
    sequential test instead of starting a fresh one. Caller-seeded run sets are left out (and
    said so in ``notes``)."""
    tree = tree_of(project.root, git_sha)
    sets = [rs for rs in store.run_sets_of_tree(project.name, benchmark, tree_sha=tree,
                                                git_sha=git_sha)
            if rs.id not in exclude and (options.include_dirty or not rs.git_dirty)]
    return sorted(without_caller_seeds(sets, notes), key=lambda rs: rs.id)


def still_running(store: Store, run_sets: Sequence[RunSet]) -> set[int]:
    """The ids of those run sets whose newest repetition was started by a harness that is still
    running on this machine (another process than this one): its unfinished repetitions are in
    progress, not abandoned."""
    here = host_name()
    return {run_set_id for run_set_id, (host, pid)
            in store.latest_starters([rs.id for rs in run_sets]).items()
            if another_live_process_here(host, pid, here)}
