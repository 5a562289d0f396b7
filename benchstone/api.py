"""The Python API: every verb of the ``bench`` CLI as a function returning pydantic models.

Configuration errors (project not registered, manifest invalid, unknown benchmark, no git
state) raise exceptions from :mod:`benchstone.errors`; gate outcomes, including "no baseline
yet" and "not enough runs", come back as :class:`~benchstone.gates.verdict.Verdict` objects.

Every function takes an optional ``home`` to use instead of ``$BENCHSTONE_HOME``.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime
import functools
import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from benchstone import errors
from benchstone.errors import AdmissionRefused, InvalidArgument
from benchstone.paths import Home
from benchstone.service.config import configured_socket
from benchstone.store import peek

F = TypeVar("F", bound=Callable[..., Any])


class _ModuleOnFirstUse:
    """The module ``name``, imported at the first attribute read, so that a command pays only
    for what it uses (``bench list`` needs neither the gates' numpy nor the runner).

    It goes through the ordinary import at that read rather than standing in ``sys.modules``
    as a lazily loaded module: an import interrupted by Ctrl-C or SIGTERM then raises the
    interrupt and leaves nothing half-loaded behind, where a lazy module left a broken one and
    the interpreter's ``from ... import`` of it dropped the interrupt."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute == "_name":  # a copy not made by __init__: no module to stand for
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<{self._name}, imported on first use>"


all_benchmarks = _ModuleOnFirstUse("benchstone.evaluate.all_benchmarks")
baseline = _ModuleOnFirstUse("benchstone.run.baseline")
calibration = _ModuleOnFirstUse("benchstone.evaluate.calibrate")
checks = _ModuleOnFirstUse("benchstone.evaluate.checks")
power = _ModuleOnFirstUse("benchstone.evaluate.power")
compare_module = _ModuleOnFirstUse("benchstone.evaluate.compare")
duet_module = _ModuleOnFirstUse("benchstone.evaluate.duet")
corpora_module = _ModuleOnFirstUse("benchstone.project.corpora")
corpus_module = _ModuleOnFirstUse("benchstone.project.corpus")
evaluation = _ModuleOnFirstUse("benchstone.evaluate.single")
explain_module = _ModuleOnFirstUse("benchstone.evaluate.explain")
job_execution = _ModuleOnFirstUse("benchstone.jobs.execute")
jobs = _ModuleOnFirstUse("benchstone.jobs.dispatch")
leases = _ModuleOnFirstUse("benchstone.jobs.leases")
project_history = _ModuleOnFirstUse("benchstone.project.history")
promotion = _ModuleOnFirstUse("benchstone.evaluate.promotion")
provenance = _ModuleOnFirstUse("benchstone.project.provenance")
references = _ModuleOnFirstUse("benchstone.project.references")
registry = _ModuleOnFirstUse("benchstone.project.registry")
runlist = _ModuleOnFirstUse("benchstone.run.runlist")
runner = _ModuleOnFirstUse("benchstone.run.runner")
summaries = _ModuleOnFirstUse("benchstone.project.summaries")
until_decided = _ModuleOnFirstUse("benchstone.evaluate.until_decided")

# The result types the API hands out, importable from here as before; each loads with its module.
_RESULT_TYPES = {
    "AllVerdict": "benchstone.evaluate.all_benchmarks",
    "BaselineResult": "benchstone.run.baseline",
    "BaselineRuns": "benchstone.run.runlist",
    "BenchmarkSummary": "benchstone.project.summaries",
    "CalibrationReport": "benchstone.evaluate.calibrate",
    "CompareResult": "benchstone.evaluate.compare",
    "Corpus": "benchstone.store.records",
    "Explanation": "benchstone.evaluate.explain",
    "JobStatus": "benchstone.jobs.dispatch",
    "Progress": "benchstone.run.runner",
    "ProjectSummary": "benchstone.project.summaries",
    "PromoteResult": "benchstone.evaluate.promotion",
    "ReferenceEvent": "benchstone.store.records",
    "RegisterResult": "benchstone.project.summaries",
    "Run": "benchstone.store.records",
    "RunList": "benchstone.run.runlist",
    "RunSetReport": "benchstone.run.runner",
    "Timeline": "benchstone.project.history",
    "TimelineEntry": "benchstone.project.history",
    "Unregistration": "benchstone.store.records",
    "UntilDecidedResult": "benchstone.evaluate.until_decided",
    "Verdict": "benchstone.gates.verdict",
}


def __getattr__(name: str) -> Any:
    if name in _RESULT_TYPES:
        value = getattr(importlib.import_module(_RESULT_TYPES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    from benchstone.evaluate.all_benchmarks import AllVerdict
    from benchstone.evaluate.calibrate import CalibrationReport
    from benchstone.evaluate.compare import CompareResult
    from benchstone.evaluate.explain import Explanation
    from benchstone.evaluate.promotion import PromoteResult
    from benchstone.evaluate.until_decided import UntilDecidedResult
    from benchstone.gates.verdict import Verdict
    from benchstone.jobs.dispatch import JobStatus
    from benchstone.project.history import Timeline, TimelineEntry
    from benchstone.project.manifest import BenchmarkSpec
    from benchstone.project.summaries import BenchmarkSummary, ProjectSummary, RegisterResult
    from benchstone.run.baseline import BaselineResult
    from benchstone.run.runlist import BaselineRuns, RunList
    from benchstone.run.runner import Progress, RunRequest, RunSetReport
    from benchstone.store import Store
    from benchstone.store.records import Corpus, ReferenceEvent, Run, Unregistration

__all__ = [
    "AllVerdict", "BaselineResult", "BaselineRuns", "BenchmarkSummary", "CompareResult",
    "Explanation", "JobStatus", "ProjectSummary", "PromoteResult", "RegisterResult", "RunList",
    "Timeline", "TimelineEntry", "UntilDecidedResult", "Verdict", "add_corpus",
    "background_required", "cancel", "commits_from", "compare", "corpora", "corpus_hash",
    "dispatch",
    "establish_baseline", "evaluate", "evaluate_all", "explain", "freeze_reference", "history",
    "list_projects", "promote", "reference_diff", "reference_history", "register",
    "replace_reference", "run", "run_job", "run_until_decided", "status", "timeline", "unregister",
]


_commit_source: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "benchstone_commit_source", default=None)


@contextlib.contextmanager
def commits_from(path: str | Path) -> Iterator[None]:
    """For a client of the harness service: the calls in this block send the commits of the
    repository at ``path`` instead of the working directory's (per thread and task)."""
    token = _commit_source.set(Path(path).absolute())
    try:
        yield
    finally:
        _commit_source.reset(token)


def _served(project_from: Literal["cwd", "path"] | None = None) -> Callable[[F], F]:
    """Call the harness service instead when one is configured (docs/service.md): the
    arguments go as JSON, the result comes back as the same models; a function that reads a
    project sends the commit at HEAD of the working directory (``cwd``) or of its ``path``."""

    def wrap(function: F) -> F:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            socket_path = configured_socket()
            if socket_path is None:
                return function(*args, **kwargs)
            from benchstone.service import client

            arguments = signature.bind(*args, **kwargs).arguments
            for name, value in arguments.items():
                if callable(value) or name == "home":
                    raise InvalidArgument(f"{name} does not cross to the benchstone service",
                                          fix=f"call {function.__name__} without {name}")
            arguments = {name: str(value) if isinstance(value, Path) else value
                         for name, value in arguments.items()}
            where = (Path(arguments["path"]).absolute() if project_from == "path"
                     else _commit_source.get() or Path.cwd() if project_from == "cwd" else None)
            return _decoded(client.call_api(function.__name__, arguments, socket_path, where))

        return call  # type: ignore[return-value]

    return wrap


def _decoded(answer: dict[str, Any]) -> Any:
    if "error" in answer:
        error = answer["error"]
        kind = getattr(errors, str(error.get("type")), None)
        if not (isinstance(kind, type) and issubclass(kind, errors.BenchstoneError)):
            kind = errors.BenchstoneError
        raise kind(error.get("message", "the service refused the call"), fix=error.get("fix"))
    return _decoded_value(answer["result"])


def _decoded_value(encoded: dict[str, Any]) -> Any:
    if "list" in encoded:
        return [_decoded_value(item) for item in encoded["list"]]
    if "rows_of" in encoded:  # a RunList (or its kind) rebuilt around its model
        rows = _benchstone_type(encoded["as"])
        if not (isinstance(rows, type) and issubclass(rows, runlist.RunList)):
            raise errors.BenchstoneError(f"the service answered with rows of {encoded['as']}")
        return rows(_decoded_value(encoded["rows_of"]))
    if "model" in encoded:
        return _benchstone_type(encoded["model"]).model_validate(encoded["data"])
    return encoded["value"]


def _benchstone_type(qualified: str) -> Any:
    module, _, name = qualified.partition(":")
    if not module.startswith("benchstone."):
        raise errors.BenchstoneError(f"the service answered with a foreign type {module}")
    return getattr(importlib.import_module(module), name)


@contextlib.contextmanager
def session(home: Path | None = None) -> Iterator[tuple[Home, Store]]:
    """The state directory and an open store, closed afterwards. Never in a client of the
    harness service: the state is the service's (the served functions forward their call)."""
    from benchstone.store import Store

    if configured_socket() is not None:
        raise errors.ServiceOnly(
            "this API function is not offered through the benchstone service, and a client "
            "never opens the state directory itself",
            fix="use the bench command for it (every verb goes through the service), or set "
                "BENCHSTONE_SERVICE=local to work on a local state directory")
    place = Home(home).ensure()
    store = Store(place.database)
    try:
        yield place, store
    finally:
        store.close()


@_served("path")
def register(path: str | Path, *, home: Path | None = None) -> RegisterResult:
    """Pin ``path/bench/manifest.toml`` as the project's trusted manifest."""
    with session(home) as (place, store):
        return summaries.register_result(store, registry.register(store, place, Path(path)))


@_served()
def list_projects(*, project: str | None = None,
                  home: Path | None = None) -> list[ProjectSummary]:
    """Every registered project (or only ``project``, which must be registered) with its
    benchmarks, baselines and corpus status. Unregistered projects are left out."""
    if project is None and peek.nothing_registered(Home(home).ensure().database):
        return []  # without loading the store and the models, most of `bench list`'s start
    with session(home) as (_place, store):
        if project is not None:
            return [summaries.project_summary(store, registry.load_project(store, project))]
        gone = store.unregistered()
        return [summaries.project_summary(store, registry.load_project(store, r.project))
                for r in store.registrations() if r.project not in gone]


@_served()
def unregister(project: str, *, home: Path | None = None) -> Unregistration:
    """Stop listing and running ``project``. Nothing is deleted: the unregistration is an event
    of its own, its history stays readable (:func:`history`), and :func:`register` brings it
    back."""
    with session(home) as (_place, store):
        return registry.unregister(store, project)


@_served()
def background_required(project: str, benchmark: str, *, home: Path | None = None) -> bool:
    """Whether the manifest says ``benchmark`` runs as a background job (``bench run`` then
    dispatches it unless told --foreground)."""
    with session(home) as (_place, store):
        return registry.load_project(store, project).benchmark(benchmark).background_required


@_served()
def metric_source(project: str, benchmark: str, *, home: Path | None = None) -> str:
    """The metric source ``benchmark``'s gate uses (``runner`` or a ``harness_*`` one)."""
    with session(home) as (_place, store):
        return registry.load_project(store, project).benchmark(benchmark).metric_source


@_served("cwd")
def run(project: str, benchmark: str, *, repetitions: int | None = None,
        meta_seed: int | None = None, allow_dirty: bool = False, sandbox: str | None = None,
        force_foreground: bool = False, cpuset: str | None = None, gpus: tuple[int, ...] = (),
        job_id: str | None = None, progress: Progress | None = None,
        home: Path | None = None, wait: bool = True,
        revision: str | None = None,
        seed_set: Literal["fresh", "baseline"] = "fresh",
        stop: Callable[[RunSetReport], bool] | None = None, fail_fast: bool = False) -> RunList:
    """Run a candidate run set at HEAD (or the commit ``revision``) and record one row per
    repetition: on fresh seeds derived from ``meta_seed``, or with ``seed_set="baseline"`` on
    the manifest's ``baseline_seeds`` (the first ``repetitions`` of them). ``stop``, asked after
    each repetition with the rows so far, may end it early; ``fail_fast`` ends it when the first
    repetition failed (a rule that, unlike ``stop``, also crosses to the harness service).

    Returns the rows as a list of Run, in order; the list also carries the report
    (``.run_set``, ``.runs``, ``.ok``, ``.report``).

    The scheduler grants the cores (and GPU) it runs on, recorded as a foreground job; when
    they are taken it waits for them (``progress.on_notice`` hears whom it waits for), or with
    ``wait=False`` raises AdmissionRefused. ``cpuset``, ``gpus`` and ``job_id`` are for a caller
    that already holds job ``job_id``'s lease.
    """
    _check_seed_set(seed_set, meta_seed)
    if fail_fast and stop is not None:
        raise InvalidArgument("fail_fast is a stop rule of its own", fix="pass stop or fail_fast")
    if fail_fast:
        stop = runner.first_repetition_failed
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        _refuse_foreground(bench, force_foreground)
        if bench.is_paired:
            _refuse_for_paired(proj, bench, meta_seed=meta_seed, seed_set=seed_set,
                               allow_dirty=allow_dirty)
            result = _paired(store, place, proj, bench, pairs=repetitions, sandbox=sandbox,
                             wait=wait, progress=_same_for_both(progress), candidate=revision,
                             stop=stop, cpuset=cpuset, gpus=gpus, job_id=job_id)
            return compare_module.PairedRuns(result)
        if seed_set == "baseline":
            baseline.require_seeds(proj, bench)
        request = runner.RunRequest(kind="run", revision=revision, repetitions=repetitions,
                             meta_seed=meta_seed, allow_dirty=allow_dirty, sandbox=sandbox,
                             cpuset=cpuset, gpus=gpus, job_id=job_id, seed_set=seed_set)
        _fresh_baseline_first(store, place, proj, bench, request, wait, progress)
        with _under_lease(store, proj.name, bench, request, wait, progress) as (leased, lease):
            report = runner.execute(store, place, proj, bench, leased, progress, stop=stop)
            leases.finish_run(lease, report)
            return runlist.RunList(report)


def _same_for_both(progress: Progress | None) -> Callable[[str], Progress] | None:
    return None if progress is None else (lambda side: progress)


def _refuse_for_paired(proj: registry.Project, bench: BenchmarkSpec, *, meta_seed: int | None,
                       seed_set: str, allow_dirty: bool) -> None:
    """Under ``design = "paired"`` the harness chooses every seed and measures committed trees
    only: the options that would choose seeds or run a dirty tree are refused."""
    where = f"{proj.name}/{bench.name} has design = paired"
    if meta_seed is not None or seed_set != "fresh":
        raise InvalidArgument(f"{where}: the harness draws each pair's seed; a chosen one "
                              "(--meta-seed, --seed-set baseline) would never be gate evidence",
                              fix=f"bench run {proj.name} {bench.name}")
    if allow_dirty:
        raise InvalidArgument(f"{where}: both halves of a pair are committed trees",
                              fix="commit or stash the changes, then bench run without "
                              "--allow-dirty")


def _paired(store: Store, place: Home, proj: registry.Project, bench: BenchmarkSpec, *,
            pairs: int | None, sandbox: str | None, wait: bool,
            progress: Callable[[str], Progress] | None, against: str | None = None,
            until_decided: bool = False, budget: int | None = None,
            candidate: str | None = None, stop: Callable[[RunSetReport], bool] | None = None,
            cpuset: str | None = None, gpus: tuple[int, ...] = (),
            job_id: str | None = None, duet: bool = False) -> CompareResult:
    """Pairs of the baseline commit and the candidate on the cores of one lease: a new
    foreground job's, or job ``job_id``'s, whose lease the caller holds. A ``duet`` leases
    twice the benchmark's threads and runs both halves of a pair at once, one set each."""
    def request(cores: str | None, devices: tuple[int, ...], job: str | None
                ) -> compare_module.CompareRequest:
        return compare_module.CompareRequest(
            against=against, pairs=pairs, until_decided=until_decided, sandbox=sandbox,
            cpuset=cores, gpus=devices, job_id=job, candidate=candidate, duet=duet)

    if job_id is not None:
        return compare_module.compare(store, place, proj, bench, request(cpuset, gpus, job_id),
                                      progress, budget=budget, stop=stop)
    if cpuset or gpus:
        raise ValueError("cpuset and gpus are granted by the scheduler: pass them only with "
                         "the job_id whose lease holds them")
    planned = 2 * (budget or bench.max_repetitions if until_decided
                   else pairs or bench.run_repetitions)
    on_wait = progress("candidate").on_notice if progress else (lambda message: None)
    threads = None
    if duet:  # refused before a job is recorded
        compare_module.require_pinning(bench, sandbox)
        threads = _duet_threads(bench)
    with leases.foreground(store, proj.name, bench, "compare", planned, wait=wait,
                           on_wait=on_wait, threads=threads) as lease:
        result = compare_module.compare(store, place, proj, bench,
                                        request(lease.cpuset, lease.gpus, lease.job.id),
                                        progress, budget=budget, stop=stop)
        lease.finish("done", f"{result.pairs_run} pair(s) run: {result.verdict.kind}")
        return result


def _duet_threads(bench: BenchmarkSpec) -> int:
    """The threads a duet's lease asks for: two disjoint sets of the benchmark's; CompareError
    naming the fix when this machine's budget can never hold them."""
    needed = duet_module.duet_cores_needed(bench.threads)
    budget = leases.machine_from_environment().thread_budget
    if budget < needed:
        raise errors.CompareError(
            f"--duet needs two disjoint sets of {bench.threads} core(s), {needed} in all; this "
            f"machine's thread budget is {budget}",
            fix="run the comparison without --duet (alternating pairs), or allow more cores "
            f"({leases.MAX_THREADS_VARIABLE}, or this process's CPU affinity)")
    return needed


def _check_seed_set(seed_set: str, meta_seed: int | None) -> None:
    if seed_set not in ("fresh", "baseline"):
        raise InvalidArgument(f"seed_set must be 'fresh' or 'baseline' (got {seed_set!r})")
    if seed_set == "baseline" and meta_seed is not None:
        raise InvalidArgument("the baseline seed set is the manifest's baseline_seeds: a meta "
                              "seed derives fresh ones, so pass one or the other")


@contextlib.contextmanager
def _under_lease(store: Store, project: str, bench: BenchmarkSpec, request: RunRequest,
                 wait: bool, progress: Progress | None
                 ) -> Iterator[tuple[RunRequest, leases.Lease | None]]:
    """The request pinned to the cores a new foreground job was granted, holding its lease;
    unchanged (and no new lease) when the caller names the job whose lease it holds."""
    if request.job_id is not None:
        yield request, None
        return
    if request.cpuset or request.gpus:
        raise ValueError("cpuset and gpus are granted by the scheduler: pass them only with "
                         "the job_id whose lease holds them")
    progress = progress or runner.Progress()
    count = runner.planned_repetitions(bench, request)
    with leases.foreground(store, project, bench, request.kind, count, wait=wait,
                           on_wait=progress.on_notice) as lease:
        if lease.note:
            progress.on_warning(lease.note)
        yield dataclasses.replace(request, cpuset=lease.cpuset, gpus=lease.gpus,
                                  job_id=lease.job.id), lease


def run_until_decided(project: str, benchmark: str, *, max_repetitions: int | None = None,
                      allow_dirty: bool = False, sandbox: str | None = None,
                      force_foreground: bool = False, wait: bool = True,
                      progress: Progress | None = None,
                      home: Path | None = None) -> UntilDecidedResult:
    """Run candidate repetitions at HEAD one at a time, evaluating after each with the
    sequential gate (every clean candidate run at HEAD counts), until it decides or
    ``max_repetitions`` more have run (at most up to the manifest's ``max_repetitions``)."""
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        _refuse_foreground(bench, force_foreground)
        if bench.is_paired:  # every paired gate is sequential
            _refuse_for_paired(proj, bench, meta_seed=None, seed_set="fresh",
                               allow_dirty=allow_dirty)
            if store.current_pointer(proj.name, bench.name) is None:  # as evaluate says
                return until_decided.UntilDecidedResult(
                    report=None, verdict=evaluation.evaluate(store, place, proj, bench),
                    repetitions=0, total=0)
            result = _paired(store, place, proj, bench, pairs=None, sandbox=sandbox, wait=wait,
                             progress=_same_for_both(progress), until_decided=True,
                             budget=max_repetitions)
            return until_decided.UntilDecidedResult(
                report=result.candidate, verdict=result.verdict, repetitions=result.pairs_run,
                total=result.pairs_total)
        until_decided.require_sequential(proj, bench)
        # HEAD read once: every look judges this commit, and runs of another are refused
        named = evaluation.head_sha(proj)

        def execute(planned: int, stop: until_decided.StopRule) -> RunSetReport:
            request = runner.RunRequest(kind="run", repetitions=planned, allow_dirty=allow_dirty,
                                 sandbox=sandbox)
            with _under_lease(store, proj.name, bench, request, wait, progress) as (leased,
                                                                                    lease):
                report = runner.execute(store, place, proj, bench, leased, progress, stop=stop)
                leases.finish_run(lease, report)
            if report.run_set.git_sha != named:
                raise errors.GitError(
                    f"HEAD moved from {named[:10]} to {report.run_set.git_sha[:10]} while bench "
                    "run --until-decided ran: its runs are kept at the commit they ran, and "
                    "nothing is decided", fix="run again once the working tree stays at one "
                    "commit")
            return report

        def execute_baseline(count: int) -> RunSetReport:
            return _baseline_repetitions(store, place, proj, bench, count, sandbox, wait,
                                         progress)

        return until_decided.run_until_decided(
            store, place, proj, bench,
            evaluation.EvaluateOptions(include_dirty=allow_dirty, git_sha=named),
            max_repetitions, execute, execute_baseline)


def _fresh_baseline_first(store: Store, place: Home, proj: registry.Project,
                          bench: BenchmarkSpec, candidate: RunRequest, wait: bool,
                          progress: Progress | None) -> None:
    """After a PROMOTE (classic calibrated design) the next baseline is fresh runs of the
    promoted commit: a harness-seeded run records them before the candidate's (on the cores of
    the candidate's job when it holds one), as --until-decided does, so that a loop of run and
    evaluate reaches a verdict. The candidate's commit is checked first."""
    if candidate.meta_seed is not None or candidate.seed_set != "fresh":
        return
    missing = until_decided.baseline_needed(store, proj, bench, 0)
    pointer = store.current_pointer(proj.name, bench.name)
    if not missing or pointer is None:
        return
    runner.check_commit(store, place, proj, bench, candidate.revision, candidate.allow_dirty)
    (progress or runner.Progress()).on_notice(
        f"first {missing} fresh baseline repetition(s) of the promoted commit "
        f"{pointer.git_sha[:10]}: the next comparison's baseline")
    try:
        _baseline_repetitions(store, place, proj, bench, missing, candidate.sandbox, wait,
                              progress, held=candidate)
    except errors.BenchstoneError as exc:  # the same error (and exit code), said where it arose
        exc.args = (f"the fresh baseline repetitions of the promoted commit "
                    f"{pointer.git_sha[:10]}, run before the candidate's: {exc}", *exc.args[1:])
        raise


def _baseline_repetitions(store: Store, place: Home, proj: registry.Project,
                          bench: BenchmarkSpec, count: int, sandbox: str | None, wait: bool,
                          progress: Progress | None, held: RunRequest | None = None
                          ) -> RunSetReport:
    """``count`` repetitions of the baseline pointer's commit, exported and run as baseline
    establish runs it, on secret seeds, under a lease of their own (or on the cores of ``held``,
    a request whose job holds them); recorded as a run set of kind baseline that moves no
    pointer (fresh baseline runs, samples.fresh_baseline_sets)."""
    pointer = store.current_pointer(proj.name, bench.name)
    assert pointer is not None  # asked for only when there is one
    request = runner.RunRequest(kind="baseline", revision=pointer.git_sha, repetitions=count,
                                sandbox=sandbox)
    if held is not None and held.job_id is not None:
        request = dataclasses.replace(request, cpuset=held.cpuset, gpus=held.gpus,
                                      job_id=held.job_id)
    with _under_lease(store, proj.name, bench, request, wait, progress) as (leased, lease):
        report = runner.execute(store, place, proj, bench, leased, progress)
        leases.finish_run(lease, report)
        return report


@_served("cwd")
def compare(project: str, benchmark: str, *, against: str | None = None,
            pairs: int | None = None, until_decided: bool = False,
            max_repetitions: int | None = None, sandbox: str | None = None, wait: bool = True,
            progress: Callable[[str], Progress] | None = None,
            home: Path | None = None, duet: bool = False) -> CompareResult:
    """Run the baseline commit (the pointer's, or ``against``) and HEAD alternately, pair by
    pair, and gate them with a paired sequential test. Both sides run on the cores of one
    lease, so they are measured alike. With ``duet`` the two halves of a pair run at the same
    time, each on its own half of the lease's cores (swapped within every two pairs)."""
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        return _paired(store, place, proj, bench, pairs=pairs, sandbox=sandbox, wait=wait,
                       progress=progress, against=against, until_decided=until_decided,
                       budget=max_repetitions, duet=duet)


@_served("cwd")
def calibrate(project: str, benchmark: str, *, repetitions: int | None = None,
              instruction_repetitions: int | None = None, allow_dirty: bool = False,
              sandbox: str | None = None, wait: bool = True, progress: Progress | None = None,
              home: Path | None = None) -> CalibrationReport:
    """Run the benchmark's HEAD ``repetitions`` times (and ``instruction_repetitions`` more
    under Valgrind), and report the spread of every metric source and what the gate can detect
    at it. The run sets are of kind ``calibrate``: on record, never a gate's evidence."""
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        count = repetitions or calibration.DEFAULT_REPETITIONS
        counted = (calibration.INSTRUCTION_REPETITIONS if instruction_repetitions is None
                   else instruction_repetitions)
        calibration.require_calibratable(bench, count, counted)
        progress = progress or runner.Progress()
        request = runner.RunRequest(kind="calibrate", repetitions=count + counted,
                                    allow_dirty=allow_dirty, sandbox=sandbox)
        with _under_lease(store, proj.name, bench, request, wait, progress) as (leased, lease):
            report = calibration.calibrate(store, place, proj, bench, count, counted, leased,
                                           progress, progress.on_notice)
            if lease is not None:
                lease.finish("done", f"calibrated on {len(report.run_set_ids)} run set(s)")
            return report


@_served("cwd")
def evaluate_all(project: str, *, include_dirty: bool = False, allow_cross_env: bool = False,
                 fdr: float | None = None, home: Path | None = None) -> AllVerdict:
    """One verdict per benchmark (Benjamini-Hochberg across the calibrated ones) and an
    overall verdict. Read-only."""
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        options = evaluation.EvaluateOptions(include_dirty=include_dirty,
                                             allow_cross_env=allow_cross_env)
        return all_benchmarks.evaluate_all(store, place, proj, options, fdr)


@_served("cwd")
def explain(project: str, benchmark: str, *, include_dirty: bool = False,
            allow_cross_env: bool = False, home: Path | None = None) -> Explanation:
    """The verdict with both samples plotted, the test, its assumptions and its power."""
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        options = evaluation.EvaluateOptions(include_dirty=include_dirty,
                                             allow_cross_env=allow_cross_env)
        verdict = evaluation.evaluate(store, place, proj, bench, options)
        return explain_module.explain(verdict, bench)


def _refuse_foreground(bench: BenchmarkSpec, force_foreground: bool) -> None:
    if bench.background_required and not force_foreground:
        raise AdmissionRefused(
            f"benchmark {bench.name} has background_required = true",
            fix="run it with --background (bench run does so by itself), or pass --foreground "
            "(force_foreground=True) to run it here anyway",
        )


@_served("cwd")
def establish_baseline(project: str, benchmark: str, *, at_sha: str | None = None,
                       allow_dirty: bool = False, sandbox: str | None = None,
                       force_foreground: bool = False, cpuset: str | None = None,
                       gpus: tuple[int, ...] = (), job_id: str | None = None,
                       progress: Progress | None = None,
                       home: Path | None = None, wait: bool = True,
                       repetitions: int | None = None,
                       notes: str | None = None) -> BaselineRuns:
    """Run the manifest's ``baseline_seeds`` (the first ``repetitions`` of them) at HEAD (or
    ``at_sha``) and point the baseline there, with ``notes`` on the pointer.

    The pointer moves only when at least one repetition succeeded. Admission as for :func:`run`.
    Returns the rows as a list of Run; the list also carries ``.pointer`` (None when the
    baseline was not set), ``.report``, ``.run_set`` and ``.ok``.
    """
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        _refuse_foreground(bench, force_foreground)
        baseline.require_seeds(proj, bench)
        baseline.require_may_establish(store, proj, bench)
        request = runner.RunRequest(kind="baseline", revision=at_sha, allow_dirty=allow_dirty,
                             sandbox=sandbox, cpuset=cpuset, gpus=gpus, job_id=job_id,
                             repetitions=repetitions)
        with _under_lease(store, proj.name, bench, request, wait, progress) as (leased, lease):
            result = baseline.establish(store, place, proj, bench, leased, progress, notes)
            leases.finish_baseline(lease, result)
            return runlist.BaselineRuns(result)


@_served("cwd")
def evaluate(project: str, benchmark: str, *, meta_seed: int | None = None,
             include_dirty: bool = False, allow_cross_env: bool = False,
             home: Path | None = None, git_sha: str | None = None) -> Verdict:
    """The gate's verdict on the newest candidate run set at HEAD (or at the full commit
    ``git_sha``). Read-only."""
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        options = evaluation.EvaluateOptions(meta_seed=meta_seed, include_dirty=include_dirty,
                                             allow_cross_env=allow_cross_env, git_sha=git_sha)
        verdict = evaluation.evaluate(store, place, proj, bench, options)
        if bench.is_stochastic and (warning := power.spread_warning(
                verdict, checks.settings_for(bench), bench.min_effect, paired=bench.is_paired)):
            verdict.warnings.append(warning)
        return verdict


@_served("cwd")
def promote(project: str, benchmark: str, *, meta_seed: int | None = None, force: bool = False,
            include_dirty: bool = False, notes: str | None = None,
            home: Path | None = None) -> PromoteResult:
    """Move the baseline pointer to the candidate run set when the gate says PROMOTE, with
    ``notes`` on the pointer."""
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        return promotion.promote(store, place, proj, bench, meta_seed=meta_seed, force=force,
                                 include_dirty=include_dirty, notes=notes)


@_served()
def history(project: str, benchmark: str, *, git_sha_prefix: str | None = None,
            since: str | datetime.datetime | datetime.date | None = None,
            limit: int | None = None, home: Path | None = None) -> list[Run]:
    """A benchmark's repetitions in id order (oldest first), as the original returns them.

    ``git_sha_prefix`` keeps the rows whose commit starts with it; ``since`` (an ISO 8601 date
    or time; without a zone it is UTC) the rows that started at or after it; ``limit`` keeps the
    newest ``limit`` rows once the other filters apply. ``timeline`` groups them by run set.
    """
    with session(home) as (_place, store):
        proj = registry.load_project(store, project, unregistered_too=True)
        bench = proj.benchmark(benchmark)
        return project_history.runs(store, proj, bench, limit=limit,
                                    git_sha_prefix=git_sha_prefix, since=since)


@_served()
def timeline(project: str, benchmark: str, *, limit: int = 20, git_sha_prefix: str | None = None,
             since: str | None = None, home: Path | None = None) -> Timeline:
    """The newest ``limit`` run sets, newest first, with the baseline moves and reference events
    that named them: only those at a commit starting with ``git_sha_prefix``, and recorded at
    or after ``since`` (an ISO 8601 date or date and time; UTC unless it has an offset). An
    unregistered project's history is still read."""
    with session(home) as (_place, store):
        proj = registry.load_project(store, project, unregistered_too=True)
        bench = proj.benchmark(benchmark)
        return project_history.timeline(store, proj, bench, limit, project_history.Filters(
            git_sha_prefix=git_sha_prefix, since=since))


def _sha_for(proj: registry.Project, at_sha: str | None) -> str:
    return provenance.resolve_commit(provenance.repository_root(proj.root), at_sha or "HEAD")


def _artifact_source(proj: registry.Project, at_sha: str | None,
                     run_id: int | None) -> str | None:
    if run_id is None:
        return _sha_for(proj, at_sha)
    if at_sha is not None:
        raise InvalidArgument("at_sha and run_id both name the artifact: pass one of them")
    return None


def freeze_reference(project: str, benchmark: str, *, at_sha: str | None = None,
                     run_id: int | None = None, notes: str | None = None,
                     home: Path | None = None) -> ReferenceEvent:
    """Freeze the newest ok artifact at ``at_sha`` (default HEAD), or the artifact of run
    ``run_id``, as the reference, with ``notes`` on the event.

    Raises ValueError for a non-correctness benchmark, ReferenceExists when one is frozen and
    ReferenceStateError for a run without an artifact or of another benchmark.
    """
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        return references.freeze_reference(store, place, proj.name, bench,
                                            _artifact_source(proj, at_sha, run_id),
                                            run_id=run_id, notes=notes)


def replace_reference(project: str, benchmark: str, *, reason: str, at_sha: str | None = None,
                      run_id: int | None = None, home: Path | None = None) -> ReferenceEvent:
    """Replace the frozen reference by the newest ok artifact at ``at_sha`` (default HEAD) or
    run ``run_id``'s; ``reason`` is required and logged."""
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        return references.replace_reference(store, place, proj.name, bench,
                                            _artifact_source(proj, at_sha, run_id), reason,
                                            run_id=run_id)


@_served("cwd")
def reference_history(project: str, benchmark: str, *,
                      home: Path | None = None) -> list[ReferenceEvent]:
    """Every freeze and replace of a benchmark's reference, oldest first."""
    with session(home) as (_place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        events = store.reference_events(proj.name, bench.name)
        if not events:
            references.require_correctness(bench)  # rather than "none frozen yet"
        return events


def reference_diff(project: str, benchmark: str, *, at_sha: str | None = None,
                   home: Path | None = None) -> list[str]:
    """The diff between the frozen reference and the newest artifact at HEAD (or ``at_sha``).
    It shows the reference's content: verdicts never carry it, so the code under test cannot
    read the reference back from its FAILs."""
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        return references.reference_diff(store, place, proj.name, bench, _sha_for(proj, at_sha))


def corpus_hash(path: str | Path, corpus_type: str = "bytes") -> str:
    """The ``sha256:...`` value to put in a manifest's ``corpus_hash``."""
    return corpus_module.corpus_hash(Path(path), corpus_type)


def add_corpus(name: str, path: str | Path, *, home: Path | None = None) -> Corpus:
    """Copy a corpus into the harness's store, read-only and content-addressed."""
    with session(home) as (place, store):
        return corpora_module.add_corpus(store, place, name, Path(path))


@_served()
def corpora(*, home: Path | None = None) -> list[Corpus]:
    with session(home) as (_place, store):
        return store.corpora()


# ---- background jobs -------------------------------------------------------------------------


def dispatch(project: str, benchmark: str, *, kind: Literal["run", "baseline"] = "run",
             at_sha: str | None = None, repetitions: int | None = None,
             meta_seed: int | None = None, allow_dirty: bool = False, sandbox: str | None = None,
             wait: bool = False, seed_set: Literal["fresh", "baseline"] = "fresh",
             notes: str | None = None, home: Path | None = None) -> JobStatus:
    """Start ``run`` (or ``baseline`` establish) as a background job and return at once.

    The commit (HEAD, or ``at_sha`` for a baseline) is checked and pinned now. The job is
    admitted on cores of its own, or, with ``wait``, queued until they free up; without room
    and without ``wait`` it raises AdmissionRefused naming the jobs that hold the capacity.
    ``seed_set`` is as for :func:`run`; ``notes`` go on a baseline's pointer.
    """
    if kind not in ("run", "baseline"):
        raise ValueError(f"kind must be 'run' or 'baseline' (got {kind!r})")
    _check_seed_set(seed_set, meta_seed)
    with session(home) as (place, store):
        proj = registry.load_project(store, project)
        bench = proj.benchmark(benchmark)
        if kind == "run" and bench.is_paired:
            _refuse_for_paired(proj, bench, meta_seed=meta_seed, seed_set=seed_set,
                               allow_dirty=allow_dirty)
        if kind == "baseline" or seed_set == "baseline":
            baseline.require_seeds(proj, bench)
        if kind == "baseline":
            baseline.require_may_establish(store, proj, bench)
        return jobs.dispatch(store, place, proj, bench, kind, at_sha=at_sha,
                             repetitions=repetitions, meta_seed=meta_seed,
                             allow_dirty=allow_dirty, sandbox=sandbox, wait=wait,
                             seed_set=seed_set, notes=notes)


@_served()
def status(job_id: str | None = None, *, limit: int = 20, include_foreground: bool = False,
           home: Path | None = None) -> list[JobStatus]:
    """Every queued or running job and the newest ``limit`` finished background ones (finished
    foreground ones too with ``include_foreground``), newest first; or the job ``job_id``."""
    with session(home) as (_place, store):
        return jobs.statuses(store, job_id=job_id, limit=limit,
                             with_foreground=include_foreground)


@_served()
def cancel(job_id: str, *, home: Path | None = None) -> JobStatus:
    """Stop a queued or running job (an unambiguous prefix of its id will do): its container is
    removed, its finished repetitions are kept, and it is recorded as cancelled."""
    with session(home) as (_place, store):
        return jobs.cancel(store, job_id)


def run_job(spec_file: str | Path, *, progress: Progress | None = None) -> JobStatus:
    """Run a dispatched background job in this process, as its worker does: wait in the queue if
    it is queued, run it on the cores it was granted, and record how it ended."""
    return job_execution.run_job(Path(spec_file), progress, paired=_paired_job,
                                 before_run=_fresh_baseline_for_job)


def _fresh_baseline_for_job(store: Store, place: Home, proj: registry.Project,
                            bench: BenchmarkSpec, request: RunRequest,
                            progress: Progress | None) -> None:
    """A background run of a classic calibrated benchmark records the fresh baseline runs a
    PROMOTE calls for first, on the job's cores, as a foreground run does."""
    _fresh_baseline_first(store, place, proj, bench, request, True, progress)


def _paired_job(store: Store, place: Home, proj: registry.Project, bench: BenchmarkSpec,
                request: RunRequest, progress: Progress | None) -> RunSetReport | None:
    """A ``design = "paired"`` run's job: its pairs on the job's lease, the candidate pinned
    to the commit checked when it was dispatched."""
    result = _paired(store, place, proj, bench, pairs=request.repetitions,
                     sandbox=request.sandbox, wait=True, progress=_same_for_both(progress),
                     candidate=request.revision, cpuset=request.cpuset, gpus=request.gpus,
                     job_id=request.job_id)
    if result.pairs_run == 0:  # the job fails, saying why, rather than end "done" with nothing
        raise errors.CompareError(f"no pair ran: {result.verdict.kind}: {result.verdict.reason}")
    return result.candidate


# ---- The machine: doctor, gc, runner images, demo ---------------------------------------------
# These reach the container engine, which no other verb needs at import: each imports its
# module when called, so that importing the API loads no Docker client.

if TYPE_CHECKING:
    from benchstone.machine.cleanup import Leftovers
    from benchstone.machine.doctor import Check
    from benchstone.sandbox.docker.image import ImageState

__all__ += ["build_image", "doctor", "gc", "list_images"]


def _ignore(message: str) -> None:
    pass


def doctor(*, repair: bool = False, offline: bool | None = None,
           notify: Callable[[str], None] = _ignore, home: Path | None = None,
           runtime: str | None = None) -> list[Check]:
    """Check the machine: engine, cgroups, container runtimes, runner image, NVIDIA runtime,
    state directory.

    With ``repair``, fix what can be fixed; ``offline`` True builds a missing image from Debian
    packages only; ``runtime`` (``runsc``) is checked too, and with ``repair`` installed and
    registered with the engine. ``notify`` hears what a repair is doing.
    """
    from benchstone.machine.doctor import run_checks

    return run_checks(Home(home), repair=repair, offline=offline, notify=notify,
                      runtime=runtime)


def gc(*, include_live: bool = False, home: Path | None = None) -> Leftovers:
    """Remove the sandbox containers and work directories of benchstone processes that are gone
    (with ``include_live``, also the containers of this host's live ones), and the corpus
    snapshots no live run set uses."""
    from benchstone.machine.cleanup import collect_leftovers

    return collect_leftovers(include_live=include_live, home=Home(home))


def build_image(*, offline: bool | None = None, force: bool = False, mirror: str | None = None,
                notify: Callable[[str], None] = _ignore) -> ImageState:
    """Build the runner image when it is missing or its recipe changed (or ``force``).

    ``offline`` True builds on Debian packages, False requires the registry base, None tries
    the registry and falls back to Debian packages. The engine must be running already.
    """
    from benchstone.sandbox.docker import image, provision

    provision.ensure_engine(notify, install=False)
    return image.build_image(notify, offline=offline, force=force, mirror=mirror)


def list_images() -> list[ImageState]:
    """The images on the engine built from benchstone's recipes."""
    from benchstone.sandbox.docker import image

    return image.list_images()

