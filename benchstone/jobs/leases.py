"""Leases: the cores and GPU a job holds, recorded as job events every process sharing the
store can see.

Every run set, foreground or background, runs as a job. A job holds its lease from its
``running`` event (which names the cores and GPUs and the process holding them) until its final
event (done, failed, cancelled) or until that process is gone, when the job is ``lost`` and its
lease lapses by itself: a crashed harness never keeps cores. Admission reads the live leases,
decides (:func:`benchstone.jobs.scheduler.admit`) and records the outcome in one write transaction
(BEGIN IMMEDIATE), so two processes admitting at once can never take the same core.

Leases are per store: processes using another ``$BENCHSTONE_HOME`` do not see them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchstone.errors import AdmissionRefused, Interrupted, InvalidSetting
from benchstone.jobs import scheduler
from benchstone.jobs.scheduler import Demand, Grant, Holder, Machine, Refusal
from benchstone.project.manifest import BenchmarkSpec
from benchstone.store import Store, host_name
from benchstone.store.records import Job, JobEvent
from benchstone.system.cpus import parse_cpuset
from benchstone.system.procs import is_alive, own_identity
from benchstone.system.signals import stopping_on_sigterm

if TYPE_CHECKING:
    from benchstone.run.baseline import BaselineResult
    from benchstone.run.runner import RunSetReport

MAX_THREADS_VARIABLE = "BENCHSTONE_MAX_THREADS"
GPU_COUNT_VARIABLE = "BENCHSTONE_GPU_COUNT"
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled")
POLL_SECONDS = 0.5
MESSAGE_LIMIT = 500

Identity = Callable[[], tuple[int, str]]


def new_job_id() -> str:
    return secrets.token_hex(6)


def _setting(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise InvalidSetting(f"{name} must be a whole number of at least {minimum} (got {raw!r})",
                             fix=f"set {name} to a number, or unset it for the default")
    return value


def machine_from_environment(environ: Mapping[str, str] | None = None) -> Machine:
    """This host as the scheduler sees it: the cores this process may use,
    ``$BENCHSTONE_MAX_THREADS`` (default: their count) and ``$BENCHSTONE_GPU_COUNT`` (default 0)."""
    environ = os.environ if environ is None else environ
    cores = tuple(sorted(os.sched_getaffinity(0)))
    return Machine(cores=cores,
                   max_threads=_setting(environ, MAX_THREADS_VARIABLE, len(cores), 1),
                   gpu_count=_setting(environ, GPU_COUNT_VARIABLE, 0, 0))


def demand_of(job: Job) -> Demand:
    gpu = job.gpu if job.gpu in ("none", "direct", "ollama") else "none"
    return Demand(threads=job.threads, gpu=gpu)  # type: ignore[arg-type]


def is_foreground(job: Job) -> bool:
    """A foreground job runs in the process that asked for it and has no spec file."""
    return not job.spec_path


def holds_process(job: Job, event: JobEvent) -> bool:
    """True when the process named on ``event`` still runs. Jobs of other hosts count as
    running: their processes cannot be checked from here."""
    if job.host != host_name():
        return True
    return is_alive(event.pid, event.pid_start)


def _holder(job: Job, event: JobEvent) -> Holder:
    mode = "foreground" if is_foreground(job) else "background"
    return Holder(job_id=job.id, label=f"{job.project}/{job.benchmark}, {mode} {job.command}",
                  demand=demand_of(job), cores=parse_cpuset(event.cores),
                  gpus=parse_cpuset(event.gpus))


def open_jobs(store: Store) -> list[tuple[Job, JobEvent]]:
    """Jobs still holding or waiting for capacity, with their newest event, oldest first."""
    out = []
    for event in store.open_job_events(store.job_mark()):
        job = store.job(event.job_id)
        if job is not None and holds_process(job, event):
            out.append((job, event))
    return out


def _open_jobs_advancing_mark(store: Store) -> list[tuple[Job, JobEvent]]:
    """:func:`open_jobs`, moving the low-water mark up to the oldest of them, so that later
    admissions skip every job that has ended. Call inside ``store.exclusive()``."""
    mark = store.job_mark()
    found = open_jobs(store)
    low_water = found[0][1].id if found else store.last_job_event_id() + 1
    if low_water > mark:
        store.add_job_mark(low_water)
    return found


def _decide(store: Store, machine: Machine, demand: Demand, job_id: str | None = None,
            queued_at: int | None = None) -> Grant | Refusal:
    """Admit ``demand`` against this host's live leases and the live waiters queued before
    ``queued_at`` (every waiter when None). Call inside ``store.exclusive()``."""
    running: list[Holder] = []
    ahead: list[Holder] = []
    for job, event in _open_jobs_advancing_mark(store):
        if event.job_id == job_id or job.host != host_name():
            continue
        if event.state == "running":
            running.append(_holder(job, event))
        elif queued_at is None or event.id < queued_at:
            ahead.append(_holder(job, event))
    return scheduler.admit(demand, machine, running, ahead)


def _refused(refusal: Refusal) -> AdmissionRefused:
    if not refusal.permanent:
        return AdmissionRefused(f"no capacity now: {refusal.message}",
                                fix="pass --wait to queue until it frees up, or stop a job: "
                                "bench cancel JOB (bench status lists them)")
    if "gpu" in refusal.short_of:
        fix = f"set {GPU_COUNT_VARIABLE} to the number of GPUs this machine has"
    else:
        fix = f"set {MAX_THREADS_VARIABLE} to at least 1"
    return AdmissionRefused(f"this job can never be admitted here: {refusal.message}", fix=fix)


def _record_grant(store: Store, job_id: str, grant: Grant, identity: Identity) -> JobEvent:
    pid, started = identity()
    return store.add_job_event(job_id=job_id, state="running", pid=pid, pid_start=started,
                               cores=grant.cpuset, gpus=scheduler.format_cpuset(grant.gpus) or None,
                               message=grant.note)


def open_job(store: Store, fields: dict[str, Any], *, wait: bool,
             identity: Identity = own_identity) -> tuple[Job, JobEvent]:
    """Record a new job and its first event in one transaction: ``running`` with its grant, or
    ``queued`` when there is no capacity and ``wait``; otherwise raise AdmissionRefused and
    record nothing. ``identity`` names the process that will hold the lease (it may start it)."""
    machine = machine_from_environment()
    demand = Demand(threads=fields["threads"], gpu=fields["gpu"])
    refusal: Refusal | None = None
    with store.exclusive():
        decision = _decide(store, machine, demand)
        if isinstance(decision, Refusal) and (decision.permanent or not wait):
            refusal = decision  # raised after the commit, which keeps the mark _decide moved
        else:
            job = store.add_job(**fields)
            if isinstance(decision, Grant):
                event = _record_grant(store, job.id, decision, identity)
            else:
                pid, started = identity()
                event = store.add_job_event(job_id=job.id, state="queued", pid=pid,
                                            pid_start=started,
                                            message=_one_line(f"waiting: {decision.message}"))
    if refusal is not None:
        raise _refused(refusal)
    return job, event


def await_admission(store: Store, job: Job, queued: JobEvent,
                    poll_seconds: float = POLL_SECONDS) -> JobEvent:
    """Poll until the queued job is admitted; returns its ``running`` event."""
    machine = machine_from_environment()
    demand = demand_of(job)
    while True:
        with store.exclusive():
            decision = _decide(store, machine, demand, job.id, queued.id)
            if isinstance(decision, Grant):
                return _record_grant(store, job.id, decision, own_identity)
        if decision.permanent:
            raise _refused(decision)
        time.sleep(poll_seconds)


def close_job(store: Store, job_id: str, state: str, message: str | None = None) -> JobEvent:
    """Record a job's final event; its lease ends with it."""
    assert state in FINAL_STATES
    pid, started = own_identity()
    return store.add_job_event(job_id=job_id, state=state, pid=pid, pid_start=started,
                               message=_one_line(message) if message else None)


@dataclass
class Lease:
    """A held lease: the job, its grant, and the final state to record when it ends."""

    job: Job
    cores: tuple[int, ...]
    gpus: tuple[int, ...]
    note: str | None = None
    state: str = "done"
    message: str | None = None

    @property
    def cpuset(self) -> str:
        return scheduler.format_cpuset(self.cores)

    def finish(self, state: str, message: str | None = None) -> None:
        """The final state to record when the body ends normally (default ``done``)."""
        self.state, self.message = state, message


@contextlib.contextmanager
def holding(store: Store, job: Job, event: JobEvent,
            on_wait: Callable[[str], None] = lambda message: None) -> Iterator[Lease]:
    """Hold the job's lease (first waiting in the queue when ``event`` is ``queued``) for the
    body, then record its final event: the lease's state, ``cancelled`` on Ctrl-C or SIGTERM,
    ``failed`` on an error."""
    try:
        if event.state == "queued":
            on_wait(event.message or "waiting for capacity")
            event = await_admission(store, job, event)
        lease = Lease(job, parse_cpuset(event.cores), parse_cpuset(event.gpus),
                      note=event.message)
        yield lease
    except (KeyboardInterrupt, Interrupted) as exc:
        _close_quietly(store, job.id, "cancelled", str(exc) or "interrupted")
        raise
    except BaseException as exc:
        _close_quietly(store, job.id, "failed", str(exc) or type(exc).__name__)
        raise
    else:
        close_job(store, job.id, lease.state, lease.message)


def _close_quietly(store: Store, job_id: str, state: str, message: str) -> None:
    # Already handling an error: if even this cannot be written, the job reads as lost once
    # this process is gone, which is true enough.
    with contextlib.suppress(Exception):
        close_job(store, job_id, state, message)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 3] + "..."


def job_fields(project: str, bench: BenchmarkSpec, kind: str, repetitions: int,
               spec_path: str = "", threads: int | None = None) -> dict[str, Any]:
    """The ``jobs`` row of a new job (``spec_path`` empty for a foreground job); ``threads``
    overrides the benchmark's (a duet compare needs two sets of them)."""
    expected = (bench.expected_runtime_seconds * repetitions
                if bench.expected_runtime_seconds is not None else None)
    return {"id": new_job_id(), "project": project, "benchmark": bench.name, "command": kind,
            "spec_path": spec_path, "threads": threads or bench.threads, "gpu": bench.gpu,
            "repetitions": repetitions, "expected_seconds": expected}


@contextlib.contextmanager
def foreground(store: Store, project: str, bench: BenchmarkSpec, kind: str, repetitions: int, *,
               wait: bool = False,
               on_wait: Callable[[str], None] = lambda message: None,
               threads: int | None = None) -> Iterator[Lease]:
    """Admit a run set in this process (queueing first with ``wait``) and hold its lease for
    the body: every run set takes a lease, so foreground and background work never share a
    core. ``threads`` overrides the benchmark's."""
    job, event = open_job(store, job_fields(project, bench, kind, repetitions,
                                            threads=threads), wait=wait)
    with stopping_on_sigterm(), holding(store, job, event, on_wait) as lease:
        yield lease


def finish_run(lease: Lease | None, report: RunSetReport) -> None:
    """Record how the run set's job ended; nothing when the caller holds no lease of its own."""
    if lease is None:
        return
    if report.runs and not report.ok:
        lease.finish("failed", f"every repetition failed ({len(report.runs)} error row(s))")
    else:
        lease.finish("done", f"{report.ok} of {len(report.runs)} repetition(s) ok")


def finish_baseline(lease: Lease | None, result: BaselineResult) -> None:
    """Record how the baseline's job ended; nothing when the caller holds no lease of its own."""
    if lease is None:
        return
    if result.pointer is None:
        lease.finish("failed", "baseline not set: every repetition failed")
    else:
        lease.finish("done", f"baseline set from {result.report.ok} ok repetition(s)")
