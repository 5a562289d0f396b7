"""Background jobs: dispatch a detached worker, read every job's status, cancel one.

A background job is a spec file, ``$BENCHSTONE_HOME/jobs/<id>.json`` (0o600), run by a detached
worker process, ``python -m benchstone.cli.worker SPEC``, in its own session, its output in
``jobs/<id>.log`` (0o600). The commit is checked and pinned when the job is dispatched, so a job
that waits in the queue measures the commit it was asked for, not whatever HEAD is by then.
The dispatcher records the job and its lease (or its place in the queue) in one transaction,
naming the worker it just started, and returns at once.

A job's state is its newest append-only event; ``lost`` is never recorded but read: a job whose
newest event is queued or running while the process it names is gone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchstone.errors import JobNotActive, JobNotFound, StoreError
from benchstone.jobs import leases
from benchstone.jobs.leases import ACTIVE_STATES, FINAL_STATES, Lease
from benchstone.paths import FILE_MODE, Home, private_dir, write_private
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.registry import Project
from benchstone.run import runner
from benchstone.run.environment import passed_variables
from benchstone.run.runner import RunRequest
from benchstone.sandbox import choose_backend, create_backend
from benchstone.store import Store, host_name
from benchstone.store.records import Job, JobEvent
from benchstone.system.procs import is_alive, own_identity, start_time

SPEC_VERSION = 2  # 2 added seed_set and notes; a version 1 spec reads as their defaults
WORKER_MODULE = "benchstone.cli.worker"
WORKER_START_TIMEOUT = 60.0
CANCEL_TIMEOUT = 60.0
JobState = Literal["queued", "running", "done", "failed", "cancelled", "lost"]

_started_workers: list[subprocess.Popen[bytes]] = []


class JobSpec(BaseModel):
    """What a worker runs: written once at dispatch, versioned, read back strictly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1, 2] = SPEC_VERSION
    job_id: str
    home: str
    kind: Literal["run", "baseline"]
    project: str
    benchmark: str
    git_sha: str
    dirty: bool = False
    diff_path: str | None = None
    repetitions: int | None = None
    meta_seed: int | None = None
    sandbox: str | None = None
    seed_set: Literal["fresh", "baseline"] = "fresh"
    notes: str | None = None  # a baseline pointer's

    def request(self, lease: Lease) -> RunRequest:
        return RunRequest(kind=self.kind, revision=self.git_sha, repetitions=self.repetitions,
                          meta_seed=self.meta_seed, sandbox=self.sandbox, job_id=self.job_id,
                          cpuset=lease.cpuset, gpus=lease.gpus, checked_dirty=self.dirty,
                          checked_diff_path=self.diff_path, seed_set=self.seed_set)


def read_spec(path: Path) -> JobSpec:
    try:
        return JobSpec.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise JobNotFound(f"cannot use the job spec {path}: {first}") from None


class JobStatus(BaseModel):
    """One job as ``bench status`` shows it."""

    id: str
    project: str
    benchmark: str
    kind: str
    mode: Literal["foreground", "background"]
    state: JobState
    threads: int
    gpu: str
    cores: str | None = None
    gpus: str | None = None
    pid: int | None = None
    repetitions_done: int
    repetitions_ok: int
    repetitions_total: int
    elapsed_seconds: float | None = None
    expected_seconds: float | None = None
    created_at: str
    started_at: str | None = None
    ended_at: str | None = None
    message: str | None = None
    run_set_ids: list[int]
    log_path: str | None = None
    host: str
    warnings: list[str] = Field(default_factory=list)  # from dispatch, e.g. an unisolated sandbox

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


def _moment(stamp: str | None) -> dt.datetime | None:
    """An ISO 8601 time from the store or the engine (which gives nanoseconds and a Z)."""
    if not stamp or stamp.startswith("0001"):
        return None
    text = stamp.replace("Z", "+00:00")
    whole, dot, rest = text.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{whole}.{digits[:6]}{rest[len(digits):]}"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def status_of(store: Store, job: Job) -> JobStatus:
    events = store.job_events(job.id)
    latest = events[-1] if events else None
    state: str = latest.state if latest else "lost"
    if latest is not None and state in ACTIVE_STATES and not leases.holds_process(job, latest):
        state = "lost"
    granted = [event for event in events if event.state == "running"]
    runs = store.runs_of_job(job.id)
    started = _moment(granted[0].at) if granted else None
    if state in FINAL_STATES and latest is not None:
        ended = _moment(latest.at)
    elif state == "lost":
        seen = [_moment(latest.at) if latest else None, *(_moment(run.finished_at) for run in runs)]
        ended = max((moment for moment in seen if moment), default=None)
    else:
        ended = None
    end_or_now = ended or dt.datetime.now(dt.UTC)
    elapsed = max(0.0, (end_or_now - started).total_seconds()) if started else None
    message = latest.message if latest else "the job has no events"
    if state == "lost":
        message = "its process is gone without recording an end" + (
            f" (last: {message})" if message else "")
    return JobStatus(
        id=job.id, project=job.project, benchmark=job.benchmark, kind=job.command,
        mode="foreground" if leases.is_foreground(job) else "background", state=state,  # type: ignore[arg-type]
        threads=job.threads, gpu=job.gpu,
        cores=granted[-1].cores if granted else None, gpus=granted[-1].gpus if granted else None,
        pid=latest.pid if latest else None,
        repetitions_done=len(runs), repetitions_ok=sum(run.status == "ok" for run in runs),
        repetitions_total=job.repetitions, elapsed_seconds=elapsed,
        expected_seconds=job.expected_seconds, created_at=job.created_at,
        started_at=granted[0].at if granted else None,
        ended_at=ended.isoformat() if ended else None, message=message,
        run_set_ids=sorted({run.run_set_id for run in runs}),
        log_path=str(Path(job.spec_path).with_suffix(".log")) if job.spec_path else None,
        host=job.host,
    )


def find_job(store: Store, job_id: str) -> Job:
    """The job with this id, or the only one whose id starts with it."""
    job = store.job(job_id)
    if job is not None:
        return job
    matches = store.jobs_by_prefix(job_id) if job_id else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise JobNotFound(f"{job_id!r} matches {len(matches)} jobs: "
                          f"{', '.join(job.id for job in matches[:5])}", fix="give more of the id")
    raise JobNotFound(f"no job {job_id!r}", fix="bench status lists the jobs")


def statuses(store: Store, *, job_id: str | None = None, limit: int = 20,
             with_foreground: bool = False) -> list[JobStatus]:
    """Every open job, then the newest finished ones (background only unless asked), newest
    first; or just ``job_id``."""
    if job_id is not None:
        return [status_of(store, find_job(store, job_id))]
    jobs = [job for job, _event in leases.open_jobs(store)]
    seen = {job.id for job in jobs}
    for job in store.jobs(limit, with_foreground=with_foreground):
        if job.id not in seen:
            jobs.append(job)
            seen.add(job.id)
    jobs.sort(key=lambda job: (job.created_at, job.id), reverse=True)
    return [status_of(store, job) for job in jobs]


# ---- dispatch ---------------------------------------------------------------------------


def start_worker(spec_path: Path, log_path: Path) -> tuple[int, str]:
    """Start ``python -m benchstone.cli.worker SPEC`` detached, in its own session; returns its pid
    and start time (the identity its lease is recorded under)."""
    for process in list(_started_workers):  # reap the ones that ended, so none stays a zombie
        if process.poll() is not None:
            _started_workers.remove(process)
    private_dir(log_path.parent)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, FILE_MODE)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, str(spec_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
    finally:
        os.close(log)
    _started_workers.append(process)
    return process.pid, start_time(process.pid) or ""


def dispatch(store: Store, home: Home, project: Project, bench: BenchmarkSpec,
             kind: Literal["run", "baseline"], *, at_sha: str | None = None,
             repetitions: int | None = None, meta_seed: int | None = None,
             allow_dirty: bool = False, sandbox: str | None = None,
             wait: bool = False, seed_set: Literal["fresh", "baseline"] = "fresh",
             notes: str | None = None) -> JobStatus:
    """Check the commit, then start a worker for it and record its lease (or its place in the
    queue with ``wait``); raises AdmissionRefused, recording nothing, when there is no room."""
    backend = create_backend(choose_backend(sandbox, bench.sandbox))
    # the worker inherits this environment: a variable env names must be set here already
    passed_variables(bench.env, f"{project.name}/{bench.name}")
    count = runner.planned_repetitions(bench, RunRequest(kind=kind, repetitions=repetitions,
                                                         seed_set=seed_set))
    if kind == "run" and bench.is_paired:
        count *= 2  # each pair runs the baseline commit and the candidate
    checked = runner.check_commit(store, home, project, bench, at_sha, allow_dirty)
    fields = leases.job_fields(project.name, bench, kind, count)
    spec = JobSpec(job_id=fields["id"], home=str(home.root), kind=kind, project=project.name,
                   benchmark=bench.name, git_sha=checked.git_sha, dirty=checked.dirty,
                   diff_path=checked.diff_path, repetitions=repetitions, meta_seed=meta_seed,
                   sandbox=sandbox, seed_set=seed_set, notes=notes)
    spec_path = write_private(home.jobs_dir / f"{spec.job_id}.json", spec.model_dump_json(indent=2))
    fields["spec_path"] = str(spec_path)
    try:
        job, _event = leases.open_job(
            store, fields, wait=wait,
            identity=lambda: start_worker(spec_path, spec_path.with_suffix(".log")))
    except BaseException:
        spec_path.unlink(missing_ok=True)
        raise
    status = status_of(store, job)
    if not backend.isolated:
        from benchstone.sandbox.process import WARNING

        status.warnings.append(WARNING)
    return status


def await_own_event(store: Store, job_id: str, timeout: float = WORKER_START_TIMEOUT) -> JobEvent:
    """In a worker: the event its dispatcher recorded naming this process (running or queued)."""
    pid, _started = own_identity()
    deadline = time.monotonic() + timeout
    while True:
        events = store.job_events(job_id)
        if events and events[-1].pid == pid:
            return events[-1]
        if time.monotonic() > deadline:
            raise StoreError(f"job {job_id} was never recorded as this worker's (pid {pid})")
        time.sleep(0.05)


# ---- cancel -----------------------------------------------------------------------------


def _signal(event: JobEvent, signum: int) -> None:
    if event.pid and is_alive(event.pid, event.pid_start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(event.pid, signum)


def cancel(store: Store, job_id: str, timeout: float = CANCEL_TIMEOUT) -> JobStatus:
    """Stop a queued or running job: its process removes the container, keeps the finished
    repetitions and records ``cancelled``. A process that does not stop within ``timeout`` is
    killed, and the cancellation recorded for it."""
    job = find_job(store, job_id)
    status = status_of(store, job)
    if not status.active:
        raise JobNotActive(f"job {job.id} is already {status.state}")
    if job.host != host_name():
        raise JobNotActive(f"job {job.id} runs on host {job.host}", fix="cancel it there")
    store.add_cancel_request(job.id)
    # Workers and foreground runs alike turn SIGTERM into a clean stop (benchstone.system.signals).
    latest = store.job_events(job.id)[-1]
    _signal(latest, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = store.job_events(job.id)[-1]
        if latest.state in FINAL_STATES or not is_alive(latest.pid, latest.pid_start):
            break
        time.sleep(0.1)
    else:
        _signal(latest, signal.SIGKILL)
    latest = store.job_events(job.id)[-1]
    if latest.state not in FINAL_STATES:
        leases.close_job(store, job.id, "cancelled",
                         "stopped by bench cancel; the process ended without recording it "
                         "(bench gc removes any container it left)")
    return status_of(store, job)
