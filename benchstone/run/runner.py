"""One run set, end to end: pin, provenance, export, corpus, sandbox, collect, record.

This module decides what a repetition's row says. The sandbox reports what it observed; the
result and artifact are read here, from the scratch directory, with size limits and strict
validation. A repetition the benchmark got wrong becomes an error row and the run set goes on;
a sandbox failure stops the run set with the rows recorded so far kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, Field

from benchstone.errors import (
    CorpusError,
    DirtyTreeError,
    Interrupted,
    InvalidArgument,
    ManifestChanged,
    ProtocolError,
    RepetitionLost,
)
from benchstone.paths import Home, write_private
from benchstone.project.corpus import mount_source
from benchstone.project.manifest import (
    DEFAULT_MEMORY,
    MANIFEST_RELATIVE_PATH,
    BenchmarkSpec,
    parse_size,
)
from benchstone.project.provenance import (
    dirty_diff,
    export_tree,
    file_at,
    is_dirty,
    protected_files,
    repository_root,
    resolve_commit,
    tree_of,
)
from benchstone.project.references import store_artifact
from benchstone.project.registry import Project, corpus_check
from benchstone.project.snapshots import Fingerprint, corpus_fingerprint, require_unchanged
from benchstone.run.corpus_mount import OpenCorpus, committed_corpus, open_corpus
from benchstone.run.environment import (
    default_cpuset,
    derive_seeds,
    fingerprint,
    new_meta_seed,
    passed_variables,
    protocol_slots,
)
from benchstone.run.protocol import InvocationConfig, read_limited, read_result
from benchstone.sandbox import (
    choose_backend,
    choose_runtime,
    collect_gone_harnesses,
    create_backend,
)
from benchstone.sandbox.base import (
    ARTIFACT_FILE,
    CONFIG_FILE,
    RESULT_FILE,
    CorpusMount,
    Limits,
    Outcome,
    Repetition,
    RunSetSpec,
    Sandbox,
)
from benchstone.store import Store
from benchstone.store.records import Run, RunSet
from benchstone.system.harnesses import harness_marker, home_label
from benchstone.system.workdirs import (
    collect_workdirs,
    create_workdir,
    remove_tree,
    restamp,
    unguessable_name,
)

MESSAGE_LIMIT = 500
LOST_REPETITION_RETRIES = 1
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class RunRequest:
    """What to run. ``revision`` None means HEAD of the working tree (dirty check applies)."""

    kind: Literal["run", "baseline", "compare", "calibrate"] = "run"
    revision: str | None = None
    repetitions: int | None = None
    meta_seed: int | None = None
    seeds: list[int] | None = None
    # "baseline": the manifest's baseline_seeds rather than fresh ones (a baseline always is)
    seed_set: Literal["fresh", "baseline"] = "fresh"
    # Who chose the seeds; None: the caller when it passed meta_seed, seeds or the baseline
    # seed set, else the harness (see caller_chose_seeds). ``compare`` passes "harness".
    seeds_from: Literal["harness", "caller"] | None = None
    allow_dirty: bool = False
    sandbox: str | None = None
    job_id: str | None = None
    cpuset: str | None = None
    gpus: tuple[int, ...] = ()
    comparison_id: int | None = None
    side: Literal["baseline", "candidate"] | None = None
    # A commit checked when the work was requested (a background job is checked when it is
    # dispatched and may run much later): the working tree's state then, not when it runs.
    checked_dirty: bool = False
    checked_diff_path: str | None = None
    # each repetition is given cores of its own inside ``cpuset`` (RunSetSession.run_next)
    cores_per_repetition: bool = False


@dataclass
class Progress:
    """Callbacks for a caller that shows progress; every one is optional."""

    on_warning: Callable[[str], None] = lambda message: None
    on_notice: Callable[[str], None] = lambda message: None
    on_start: Callable[[RunSet], None] = lambda run_set: None
    on_repetition: Callable[[Run, int, int, float], None] = lambda run, done, total, elapsed: None
    # while a repetition runs, every ``running_every`` seconds (0: never): its index, the
    # number planned, its seed and the seconds since it started
    on_running: Callable[[int, int, int, float], None] = lambda index, total, seed, elapsed: None
    running_every: float = 0.0


@contextlib.contextmanager
def running_ticks(progress: Progress, index: int, total: int, seed: int) -> Iterator[None]:
    """Call ``progress.on_running`` every ``progress.running_every`` seconds until the block
    ends, from a thread of its own (the repetition blocks this one)."""
    if progress.running_every <= 0:
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not done.wait(progress.running_every):
            progress.on_running(index, total, seed, time.monotonic() - started)

    thread = threading.Thread(target=tick, name="repetition-ticks", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)


class RunSetReport(BaseModel):
    """A run set and the rows it recorded."""

    run_set: RunSet
    runs: list[Run] = Field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(1 for run in self.runs if run.status == "ok")


@dataclass(frozen=True)
class Prepared:
    """A commit checked and ready to measure."""

    git_sha: str
    dirty: bool
    diff_path: str | None
    protected_hash: str
    protected: dict[str, str]
    corpus: CorpusMount | None
    tree_sha: str | None = None
    # a project-relative corpus committed at git_sha: it is read from the exported commit
    corpus_in_commit: PurePosixPath | None = None
    # a harness-owned corpus: its name and the digest of the data the name points at now
    owned_corpus: str | None = None


def printable(text: str) -> str:
    """Text from the runner as it may be stored and shown: lone surrogates (which SQLite refuses)
    become '?' and control characters other than newline and tab (which a terminal would obey)
    become U+FFFD."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return CONTROL_CHARACTERS.sub("\ufffd", text)


def printable_document(value: Any) -> Any:
    """``value`` (parsed JSON) with :func:`printable` applied to every string, keys included:
    a lone surrogate stored in metadata would make every later read of the row fail."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [printable_document(item) for item in value]
    if isinstance(value, dict):
        return {printable(str(key)): printable_document(item) for key, item in value.items()}
    return value


def _one_line(text: str) -> str:
    line = printable(" ".join(text.split()))
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 3] + "..."


def check_commit(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                 revision: str | None, allow_dirty: bool) -> Prepared:
    """Resolve the commit, refuse a dirty tree, check the pinned manifest and the corpus."""
    root = repository_root(project.root)
    dirty = False
    diff_path: str | None = None
    git_sha = resolve_commit(root, revision or "HEAD")
    # Hashing the protected files walks the committed tree name by name, so a crafted tree is
    # refused here, before git reads the working tree against it.
    protected = protected_files(root, git_sha, bench.protected_paths)
    if revision is None:
        dirty = is_dirty(root)
        if dirty and not allow_dirty:
            raise DirtyTreeError(f"{root} has uncommitted changes")
    committed = file_at(root, git_sha, MANIFEST_RELATIVE_PATH)
    registered = project.registration.manifest_sha256
    if committed is None:
        raise ManifestChanged(
            f"commit {git_sha[:12]} has no {MANIFEST_RELATIVE_PATH}: the registered manifest was "
            "never committed there",
            fix=(f"commit it (git add {MANIFEST_RELATIVE_PATH} && git commit), then run again"
                 if revision is None else
                 "only a commit that holds the registered manifest can be measured: name such a "
                 "commit, or measure HEAD"),
        )
    if hashlib.sha256(committed).hexdigest() != registered:
        if revision is None:
            fix = f"if the change is intended, read it, then pin it: bench register {project.root}"
        else:
            fix = ("only a commit that holds the registered manifest can be measured: name such a "
                   "commit, or measure HEAD")
        raise ManifestChanged(
            f"commit {git_sha[:12]} has a different {MANIFEST_RELATIVE_PATH} than the registered "
            f"copy (sha256:{registered[:12]}...)",
            fix=fix,
        )
    committed = committed_corpus(root, git_sha, bench)
    corpus = owned = None
    if committed is None:  # else verified in the exported commit (open_corpus)
        check = corpus_check(store, project, bench)
        check.require()
        if check.path is not None:
            source = corpus_source(home, project, bench, check.path)
            corpus = CorpusMount(source, source.is_dir(), check.path.name)
            owned = f"{bench.corpus} {check.expected}" if bench.corpus else None
    if dirty:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        unique = secrets.token_hex(4)
        path = home.log_dir(project.name, bench.name) / f"{stamp}-{git_sha[:12]}-{unique}.diff"
        diff_path = str(write_private(path, dirty_diff(root)))
    return Prepared(git_sha, dirty, diff_path, protected.digest, protected.files, corpus,
                    tree_of(root, git_sha), committed, owned)


def corpus_source(home: Home, project: Project, bench: BenchmarkSpec, path: Path) -> Path:
    """The real path the sandbox mounts as ``bench``'s corpus (see corpus.mount_source)."""
    if bench.corpus:  # harness-owned: a path the store itself recorded
        return mount_source(path, forbidden=None, confined_to=home.corpora_dir)
    relative = not Path(bench.corpus_path or "").is_absolute()
    return mount_source(path, forbidden=home.root, confined_to=project.root if relative else None)


def check_mount_unchanged(corpus: CorpusMount | None, verified: Fingerprint | None = None) -> None:
    """Refuse to mount a corpus whose real path turned into something else since the check (a
    directory on the way swapped for a symlink), or whose files changed since it was verified."""
    if corpus is not None and os.path.realpath(corpus.host_path) != str(corpus.host_path):
        raise CorpusError(f"corpus {corpus.host_path} changed during the run: a directory on its "
                          "path is now a symlink; the run stops")
    if corpus is not None and verified is not None:
        require_unchanged(corpus.host_path, verified)


def limits_for(bench: BenchmarkSpec, cpuset: str | None, gpus: tuple[int, ...]) -> Limits:
    return Limits(
        timeout_seconds=bench.timeout,
        memory_bytes=bench.memory_bytes,
        pids=bench.pids_limit,
        tmpfs_bytes=parse_size(bench.tmpfs_size),
        scratch_bytes=parse_size(bench.scratch_size),
        cpuset=cpuset or default_cpuset(bench.threads),
        gpus=gpus,
        result_bytes=bench.result_max_bytes,
        artifact_bytes=bench.artifact_max_bytes,
    )


def baseline_count(bench: BenchmarkSpec, repetitions: int | None) -> int:
    """How many repetitions a baseline-sized run set runs: ``repetitions``, or one per entry of
    the manifest's ``baseline_seeds``."""
    return repetitions if repetitions is not None else len(bench.baseline_seeds)


def _uses_baseline_seeds(request: RunRequest) -> bool:
    return request.kind == "baseline" or request.seed_set == "baseline"


def caller_chose_seeds(request: RunRequest) -> bool:
    """Whether the caller chose the seeds (a meta seed, explicit seeds, or the manifest's public
    ``baseline_seeds`` by --seed-set baseline): such a run set reproduces one, and is never gate
    evidence, since seeds searched offline could be the easy ones."""
    if request.seeds_from is not None:
        return request.seeds_from == "caller"
    return (request.meta_seed is not None or request.seeds is not None
            or request.seed_set == "baseline")


def _seeds_for(bench: BenchmarkSpec, request: RunRequest) -> tuple[int | None, list[int]]:
    """The run set's meta seed and seeds. Every run set the harness seeds itself, a baseline as
    much as a candidate, draws them from a fresh secret meta seed, so nothing about the seeds
    tells the code under test which side it is on, and nothing can be precomputed for them."""
    if request.seeds is not None:
        return request.meta_seed, list(request.seeds)
    if request.seed_set == "baseline" and request.kind != "baseline":
        # the manifest's public seeds, as the caller asked: a reproduction, not gate evidence
        count = baseline_count(bench, request.repetitions)
        return None, list(bench.baseline_seeds[:count])
    meta_seed = request.meta_seed if request.meta_seed is not None else new_meta_seed()
    return meta_seed, derive_seeds(meta_seed, planned_repetitions(bench, request))


def planned_repetitions(bench: BenchmarkSpec, request: RunRequest) -> int:
    """How many repetitions ``request`` will run; raises InvalidArgument when --seed-set
    baseline asks for more seeds than the manifest lists."""
    if request.seeds is not None:
        return len(request.seeds)
    if _uses_baseline_seeds(request):
        count = baseline_count(bench, request.repetitions)
        if request.kind != "baseline" and count > len(bench.baseline_seeds):
            raise InvalidArgument(
                f"{bench.name} lists {len(bench.baseline_seeds)} baseline_seeds: it cannot run "
                f"{count} repetitions on them",
                fix=f"pass --repetitions {len(bench.baseline_seeds)} or fewer, or leave out "
                "--seed-set baseline")
        return count
    return request.repetitions if request.repetitions is not None else bench.run_repetitions


def classify(bench: BenchmarkSpec, outcome: Outcome, scratch: Path, home: Home,
             project: str) -> dict[str, Any]:
    """The row fields a repetition's outcome and scratch directory amount to."""
    row: dict[str, Any] = {"status": "error", "exit_code": outcome.exit_code}
    if outcome.timed_out:
        return {**row, "failure": "timeout",
                "message": f"timeout after {bench.timeout:g} s: the sandbox was killed"}
    if outcome.oom_killed:
        return {**row, "failure": "out_of_memory",
                "message": f"killed: out of memory (limit {bench.memory or DEFAULT_MEMORY})"}
    if outcome.scratch_exceeded:
        return {**row, "failure": "scratch_limit",
                "message": f"used up its scratch space (scratch_size = {bench.scratch_size}): "
                "writes past it were refused or the sandbox was killed"}
    try:
        # a gated metric must be a JSON number; a correctness runner's metric is not gated and
        # keeps the original's coercion ("metric": true)
        result = read_result(scratch / RESULT_FILE, bench.result_max_bytes,
                             strict_numbers=bench.is_stochastic)
        problem = None
    except ProtocolError as exc:
        result, problem = None, exc
    if outcome.exit_code != 0:
        tail = f": {outcome.stderr_tail}" if outcome.stderr_tail else ""
        return {**row, "failure": "runner_exit",
                "message": _one_line(f"runner exited with status {outcome.exit_code}{tail}")}
    if result is None:
        assert problem is not None
        failure = "no_result" if "wrote no" in str(problem) else "invalid_result"
        return {**row, "failure": failure, "message": _one_line(str(problem))}
    fields = {
        "metric_components": printable_document(result.metric_components),
        "metadata": printable_document(result.metadata),
        "wall_clock_seconds": result.wall_clock_seconds,
    }
    if result.status == "error":
        return {**row, **fields, "failure": "runner_error",
                "message": _one_line(result.message or "")}
    message = printable(result.message) if result.message is not None else None
    low, high = bench.metric_range
    assert result.metric is not None
    if not low <= result.metric <= high:
        return {**row, **fields, "failure": "invalid_result", "message": _one_line(
            f"the metric {result.metric:.6g} is outside metric_range [{low:g}, {high:g}]")}
    if bench.is_stochastic and bench.metric_source == "harness_instructions" \
            and outcome.instructions is None:
        return {**row, **fields, "failure": "instruction_count", "message": _one_line(
            outcome.instructions_problem or "Valgrind reported no instruction count")}
    row = {**row, **fields, "status": "ok", "metric": result.metric, "message": message}
    if bench.tier == "correctness":
        try:
            data = read_limited(scratch / ARTIFACT_FILE, bench.artifact_max_bytes, "artifact")
        except ProtocolError as exc:
            return {**row, "status": "error", "metric": None, "failure": "artifact",
                    "message": _one_line(str(exc))}
        row["artifact_sha256"] = store_artifact(home, project, bench.name, data)
        row["artifact_size"] = len(data)
    return row


class RunSetSession:
    """One run set held open: the commit exported and checked, the sandbox prepared, the run
    set recorded; repetitions then run one at a time (``repeat``) until ``close``.

    ``execute`` runs a whole run set with it; ``compare`` keeps two open and alternates."""

    def __init__(self, store: Store, home: Home, project: Project, bench: BenchmarkSpec,
                 request: RunRequest, progress: Progress | None = None) -> None:
        self.store, self.home, self.project, self.bench = store, home, project, bench
        self.request = request
        self.progress = progress or Progress()
        self.meta_seed, self.seeds = _seeds_for(bench, request)
        # what repetition_index shows: a slot of the benchmark's design, not a position
        self.slots = protocol_slots(self.meta_seed if self.meta_seed is not None else 0,
                                    len(self.seeds), bench.design_repetitions)
        self.runs: list[Run] = []
        collect_workdirs()
        collect_gone_harnesses(home, self.progress.on_notice)
        self.workdir = create_workdir()
        self.backend: Sandbox | None = None
        self.corpus: OpenCorpus | None = None
        self.run_set: RunSet | None = None
        self.repetitions: list[Repetition] = []
        self._started = time.monotonic()
        self._marker = contextlib.ExitStack()
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        store, project, bench, request = self.store, self.project, self.bench, self.request
        prepared = check_commit(store, self.home, project, bench, request.revision,
                                request.allow_dirty)
        if request.checked_dirty:
            prepared = dataclasses.replace(prepared, dirty=True,
                                           diff_path=request.checked_diff_path)
        passed = passed_variables(bench.env, f"{project.name}/{bench.name}")
        self.backend = create_backend(choose_backend(request.sandbox, bench.sandbox))
        if self.backend.isolated:  # its containers are collected if this process is killed
            self._marker.enter_context(harness_marker(self.home))
        if not self.backend.isolated:
            from benchstone.sandbox.process import WARNING

            self.progress.on_warning(WARNING)
        limits = limits_for(bench, request.cpuset, request.gpus)
        export_tree(project.root, prepared.git_sha, self.workdir / "project")
        self.corpus = open_corpus(self.home, bench, prepared.git_sha, self.workdir / "project",
                                  prepared.corpus_in_commit, prepared.corpus)
        self.spec = RunSetSpec(
            project=project.name, benchmark=bench.name, run_token=self.workdir.name,
            project_dir=self.workdir / "project",
            corpus=self.corpus.mount if self.corpus else None,
            invocation=project.manifest.project.invocation, entry_point=bench.entry,
            limits=limits, image=bench.image, gpu=bench.gpu,
            model_server=project.manifest.project.ollama_address, env=passed,
            instructions=(bench.instructions_scope if bench.is_stochastic
                          and bench.metric_source == "harness_instructions" else None),
            runtime=choose_runtime(bench.runtime) if self.backend.isolated else None,
        )
        self.backend.prepare(self.spec, self.progress.on_notice)
        env_hash, environment = fingerprint(self.backend.fingerprint(), limits.cpuset,
                                            list(passed), prepared.owned_corpus)
        self.run_set = store.add_run_set(
            project=project.name, benchmark=bench.name, kind=request.kind,
            git_sha=prepared.git_sha, git_dirty=prepared.dirty, diff_path=prepared.diff_path,
            meta_seed=self.meta_seed, repetitions=len(self.seeds), seeds=self.seeds,
            sandbox=self.backend.name, image=bench.image if self.backend.isolated else None,
            image_id=self.backend.image_id, env_hash=env_hash, environment=environment,
            cpuset=limits.cpuset, gpus=",".join(map(str, limits.gpus)) or None,
            protected_hash=prepared.protected_hash, protected_files=prepared.protected,
            manifest_sha256=project.registration.manifest_sha256, job_id=request.job_id,
            comparison_id=request.comparison_id, side=request.side,
            tree_sha=prepared.tree_sha, caller_seeds=caller_chose_seeds(request),
            runtime=self.backend.runtime,
        )
        # named once: a container made ahead is found again by its repetition's names
        self.repetitions = [repetition_of(self.home, self.run_set, index, self.workdir)
                            for index in range(len(self.seeds))]
        # the containers of the whole run set are made before the first repetition starts;
        # not when each repetition gets its own cores (a duet): they would hold the run set's
        if not request.cores_per_repetition:
            self.backend.reserve(self.spec, self.repetitions)
        self.progress.on_start(self.run_set)

    @property
    def remaining(self) -> int:
        return len(self.seeds) - len(self.runs)

    def repeat(self) -> Run:
        """Run the next repetition (the next seed) and record its row."""
        return self.accept(self.run_next())

    def run_next(self, store: Store | None = None, cpuset: str | None = None,
                 ready: Callable[[], None] | None = None) -> Run:
        """Run the next repetition and record its row, without counting it yet (``accept``
        does). A duet runs two sessions' ``run_next`` at once, each in a thread with a
        ``store`` connection of its own, on a ``cpuset`` inside the run set's, and ``ready``
        called just before the sandbox starts."""
        assert self.backend is not None and self.run_set is not None
        index = len(self.runs)
        if index >= len(self.seeds):
            raise IndexError("every repetition of this run set has run")
        spec = self.spec
        if cpuset is not None:
            spec = dataclasses.replace(spec, limits=dataclasses.replace(spec.limits,
                                                                        cpuset=cpuset))
        self._restamp_export()
        with running_ticks(self.progress, index, len(self.seeds), self.seeds[index]):
            return _repetition(store or self.store, self.home, self.backend, spec, self.bench,
                               self.run_set, self.repetitions[index], self.seeds[index],
                               self.progress.on_notice, self.slots[index],
                               self.corpus.verified if self.corpus else None, ready)

    def _restamp_export(self) -> None:
        """Give the export one fixed time and a change time of now, before each repetition:
        the times of its export would tell the code how long ago the run set began, and so its
        position in it. A corpus committed in the export is checked first, and its fingerprint
        taken again after: the harness's own change is no change to refuse."""
        corpus = self.corpus
        inside = corpus is not None and corpus.mount.host_path.is_relative_to(
            self.spec.project_dir)
        if inside:
            check_mount_unchanged(corpus.mount, corpus.verified)
        restamp(self.spec.project_dir)
        if inside:
            self.corpus = dataclasses.replace(
                corpus, verified=corpus_fingerprint(corpus.mount.host_path))

    def accept(self, run: Run) -> Run:
        """Count a row ``run_next`` recorded and report it."""
        index = len(self.runs)
        self.runs.append(run)
        self.progress.on_repetition(run, index + 1, len(self.seeds),
                                    time.monotonic() - self._started)
        return run

    def report(self) -> RunSetReport:
        assert self.run_set is not None
        return RunSetReport(run_set=self.run_set, runs=list(self.runs))

    def close(self) -> None:
        """Release the sandbox and the exported tree. Safe to call more than once."""
        if self.backend is not None:
            self.backend.cleanup()
            self.backend = None
        if self.corpus is not None and self.corpus.snapshot is not None:
            self.corpus.snapshot.release()
        self._marker.close()
        remove_tree(self.workdir)

    def __enter__(self) -> RunSetSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def first_repetition_failed(report: RunSetReport) -> bool:
    """A stop rule: end a run set whose first repetition failed. A candidate that cannot run
    (an import error, a crash, a timeout) fails every repetition alike, each at full cost."""
    return len(report.runs) == 1 and report.ok == 0


def execute(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
            request: RunRequest, progress: Progress | None = None,
            stop: Callable[[RunSetReport], bool] | None = None) -> RunSetReport:
    """Run one run set and record a row per repetition; ``stop`` (asked after every
    repetition) may end it early."""
    session: RunSetSession | None = None
    try:
        with RunSetSession(store, home, project, bench, request, progress) as session:
            while session.remaining:
                session.repeat()
                if stop is not None and stop(session.report()):
                    break
            return session.report()
    except KeyboardInterrupt:
        if session is None:
            raise Interrupted("interrupted before the first repetition: nothing was recorded") \
                from None
        raise Interrupted(f"interrupted: {len(session.runs)} of {len(session.seeds)} "
                          "repetition(s) were recorded and kept") from None


def repetition_of(home: Home, run_set: RunSet, index: int, workdir: Path) -> Repetition:
    """Repetition ``index`` of ``run_set``: its scratch directory, log files and labels."""
    name = unguessable_name()  # the scratch directory's host path shows in the container
    return Repetition(
        index=index, name=name, scratch_dir=workdir / f"rep-{name}" / "scratch",
        log_stem=home.log_dir(run_set.project, run_set.benchmark) / f"run-{run_set.id}-rep{index}",
        labels={"run_set": str(run_set.id), "repetition": str(index), "home": home_label(home)},
    )


def _repetition(store: Store, home: Home, backend: Sandbox, spec: RunSetSpec,
                bench: BenchmarkSpec, run_set: RunSet, repetition: Repetition, seed: int,
                notify: Callable[[str], None], slot: int,
                corpus_verified: Fingerprint | None = None,
                ready: Callable[[], None] | None = None) -> Run:
    """Run one repetition and record its row; a repetition the sandbox lost (the engine
    restarted under it) is run again once before the run set stops. ``ready`` is called once,
    just before the sandbox first starts."""
    index = repetition.index
    scratch = repetition.scratch_dir
    rep_dir = scratch.parent
    layout = backend.layout(spec, repetition)
    config = InvocationConfig(
        benchmark=bench.name,
        seed=seed,
        corpus_path=str(layout.corpus_path) if layout.corpus_path else "",
        # one rule on both sides of a comparison (see protocol_slots)
        repetition_index=slot,
        repetition_total=bench.design_repetitions,
        artifact_path=str(layout.artifact_path) if bench.tier == "correctness" else None,
    )
    store.add_repetition_start(run_set.id, index, seed)  # on record before it can be stopped
    for attempt in range(LOST_REPETITION_RETRIES + 1):
        scratch.mkdir(parents=True, mode=0o700, exist_ok=True)
        write_private(scratch / CONFIG_FILE, config.to_json())
        try:
            check_mount_unchanged(spec.corpus, corpus_verified)
            restamp(scratch)  # its times would tell the position (see RunSetSession)
            if ready is not None and attempt == 0:
                ready()
            outcome = backend.run(spec, repetition)
            fields = classify(bench, outcome, scratch, home, run_set.project)
            break
        except RepetitionLost as exc:
            if attempt == LOST_REPETITION_RETRIES:
                raise
            notify(f"{exc}; running it again")
        finally:
            remove_tree(rep_dir)
    return store.add_run(
        run_set_id=run_set.id, project=run_set.project, benchmark=run_set.benchmark,
        git_sha=run_set.git_sha, git_dirty=run_set.git_dirty, seed=seed, repetition=index,
        harness_wall_seconds=outcome.wall_seconds, harness_cpu_seconds=outcome.cpu_seconds,
        harness_instructions=outcome.instructions,
        stdout_path=str(outcome.stdout_path) if outcome.stdout_path else None,
        stderr_path=str(outcome.stderr_path) if outcome.stderr_path else None,
        sandbox=backend.name, runtime=backend.runtime, image_id=backend.image_id,
        cpuset=spec.limits.cpuset, started_at=outcome.started_at, finished_at=outcome.finished_at, **fields,
    )
