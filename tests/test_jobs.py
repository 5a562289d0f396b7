"""Background jobs and admission through the real CLI: pinned cores seen from inside the
containers, refusals that name the holder, --wait, cancel, a worker killed with -9, and
foreground and background runs writing to one store at once.

The fixture project reports the cores it was allowed to run on (``Cpus_allowed_list`` from
/proc/self/status) in each result's metadata, after sleeping for ``src/sleep[.<entry>]`` seconds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_all, git

from benchstone import api
from benchstone.errors import AdmissionRefused
from benchstone.jobs.dispatch import JobStatus

TIMEOUT = 120.0
# The lowest two cores this process may use: the ones the scheduler hands out first.
FIRST, SECOND = (str(core) for core in (sorted(os.sched_getaffinity(0)) * 2)[:2])
pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")


@pytest.fixture
def cpuproj(make_project, bench) -> Path:
    root = make_project("cpuproj")
    registered = bench("register", str(root))
    assert registered.returncode == 0, registered.stderr
    return root


@pytest.fixture(autouse=True)
def stop_leftover_jobs(home: Path):
    """A failing test must not leave a worker (or its container) running."""
    yield
    with contextlib.suppress(Exception):
        for job in api.status(limit=1000, home=home):
            if job.active and job.mode == "background":
                with contextlib.suppress(Exception):
                    api.cancel(job.id, home=home)


def _set(root: Path, relative: str, text: str) -> str:
    (root / relative).write_text(text)
    return commit_all(root, f"set {relative}")


def _dispatch(bench, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = bench("run", "cpuproj", *args, "--background", "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def _job(home: Path, job_id: str) -> JobStatus:
    return api.status(job_id, home=home)[0]


def _wait_for(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _ended(home: Path, job_id: str) -> JobStatus:
    return _wait_for(lambda: (job := _job(home, job_id)).state not in ("queued", "running") and job,
                     f"job {job_id} to end")


def _runs(bench, benchmark: str) -> list[dict[str, Any]]:
    timeline = json.loads(bench("history", "cpuproj", benchmark, "--json").stdout)
    return [run for entry in timeline["entries"] for run in entry["runs"]]


def _run_sets(bench, benchmark: str) -> list[dict[str, Any]]:
    timeline = json.loads(bench("history", "cpuproj", benchmark, "--json").stdout)
    return [entry["run_set"] for entry in timeline["entries"]]


def _moment(stamp: str) -> dt.datetime:
    whole, _, fraction = stamp.rstrip("Z").partition("+")[0].partition(".")
    return dt.datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}")


def _containers_of(docker_client, pid: int) -> list:
    return docker_client.containers.list(all=True, filters={
        "label": ["benchstone.project=cpuproj", f"benchstone.harness.pid={pid}"]})


@pytest.mark.docker
def test_two_background_jobs_run_at_once_on_cores_of_their_own(bench, cpuproj, docker_client,
                                                                home) -> None:
    # long enough that the second worker's start-up, slow on a loaded machine, falls inside
    # the first job's run: both jobs then run at once
    _set(cpuproj, "src/sleep", "5\n")
    first = _dispatch(bench, "pinned")
    second = _dispatch(bench, "other")
    assert first["state"] == second["state"] == "running"
    assert first["mode"] == "background" and first["repetitions_total"] == 2
    assert {first["cores"], second["cores"]} == {FIRST, SECOND}

    for job in (first, second):
        ended = _ended(home, job["id"])
        assert (ended.state, ended.repetitions_done, ended.repetitions_ok) == ("done", 2, 2)
        assert ended.expected_seconds == 2.0 and ended.elapsed_seconds >= 10.0
        spec = home / "jobs" / f"{job['id']}.json"
        assert spec.stat().st_mode & 0o777 == 0o600
        assert spec.with_suffix(".log").stat().st_mode & 0o777 == 0o600
    assert (home / "jobs").stat().st_mode & 0o777 == 0o700

    spans = []
    for job in (first, second):
        runs = _runs(bench, job["benchmark"])
        (run_set,) = _run_sets(bench, job["benchmark"])
        assert run_set["job_id"] == job["id"] and run_set["cpuset"] == job["cores"]
        # what each container saw in its own /proc/self/status
        assert [run["metadata"]["cpus_allowed_list"] for run in runs] == [job["cores"]] * 2
        assert all(run["cpuset"] == job["cores"] for run in runs)
        spans.append((min(_moment(run["started_at"]) for run in runs),
                      max(_moment(run["finished_at"]) for run in runs)))
    (a_start, a_end), (b_start, b_end) = spans
    assert a_start < b_end and b_start < a_end, f"the two jobs did not overlap: {spans}"


@pytest.mark.docker
def test_a_foreground_run_beside_a_background_job_takes_the_other_core(bench, cpuproj,
                                                                       docker_client,
                                                                       home) -> None:
    _set(cpuproj, "src/sleep", "1\n")
    background = _dispatch(bench, "pinned", "-n", "3")
    foreground = bench("run", "cpuproj", "other", "-n", "3")
    assert foreground.returncode == 0, foreground.stderr
    ended = _ended(home, background["id"])
    assert ended.state == "done"
    other_core = {FIRST: SECOND, SECOND: FIRST}[background["cores"]]
    assert {run["metadata"]["cpus_allowed_list"] for run in _runs(bench, "other")} == {other_core}
    assert {run["metadata"]["cpus_allowed_list"] for run in _runs(bench, "pinned")} == {
        background["cores"]}
    listed = api.status(include_foreground=True, home=home)
    assert sorted((job.mode, job.state) for job in listed) == [("background", "done"),
                                                               ("foreground", "done")]


@pytest.mark.slow
def test_foreground_and_background_runs_write_one_store_at_once(bench, cpuproj, home) -> None:
    """Many short repetitions from two processes (the process sandbox: fast, so their writes
    interleave densely), while a third reads status: no row lost, nothing locked."""
    background = _dispatch(bench, "pinned", "-n", "30", "--sandbox", "process")
    foreground = bench("run", "cpuproj", "other", "-n", "30", "--sandbox", "process")
    assert foreground.returncode == 0, foreground.stderr
    while _job(home, background["id"]).active:
        api.status(home=home)
    ended = _job(home, background["id"])
    assert (ended.state, ended.repetitions_done) == ("done", 30)
    assert len(_runs(bench, "pinned")) == len(_runs(bench, "other")) == 30
    log = (home / "jobs" / f"{background['id']}.log").read_text()
    assert "locked" not in log + foreground.stderr


@pytest.mark.docker
def test_no_capacity_is_refused_naming_the_holder(bench, cpuproj, docker_client, home) -> None:
    one_thread = {"BENCHSTONE_MAX_THREADS": "1"}
    _set(cpuproj, "src/sleep", "60\n")
    holder = _dispatch(bench, "pinned", "-n", "1", env=one_thread)
    refused = bench("run", "cpuproj", "other", "--background", env=one_thread)
    assert refused.returncode == 5
    assert refused.stderr.startswith(
        "error: no capacity now: needs 1 thread(s), but 1 of the 1 in the budget are held: "
        f"job {holder['id']} (cpuproj/pinned, background run, core {FIRST})")
    assert "fix: pass --wait to queue" in refused.stderr
    in_foreground = bench("run", "cpuproj", "other", "--no-wait", env=one_thread)
    assert in_foreground.returncode == 5 and f"job {holder['id']}" in in_foreground.stderr
    # a refusal records nothing: the holder is the only job
    assert [job.id for job in api.status(include_foreground=True, home=home)] == [holder["id"]]
    assert bench("cancel", holder["id"]).returncode == 0


def test_gpu_admission(bench, cpuproj, home) -> None:
    """No GPU exists on this machine. The process sandbox never touches one, so this exercises
    admission only (test_scheduler checks the device request a grant becomes, and the docker
    test below that the grant reaches the docker backend)."""
    one_gpu = {"BENCHSTONE_GPU_COUNT": "1"}
    _set(cpuproj, "src/sleep.gpu", "60\n")
    holder = _dispatch(bench, "gpu", "--sandbox", "process", env=one_gpu)
    assert (holder["state"], holder["gpus"], holder["cores"]) == ("running", "0", FIRST)
    refused = bench("run", "cpuproj", "gpu", "--background", "--sandbox", "process", env=one_gpu)
    assert refused.returncode == 5
    assert ("needs a GPU, but all 1 are held or wanted by queued jobs ahead: "
            f"job {holder['id']} (cpuproj/gpu, background run, core {FIRST}, GPU 0)") in refused.stderr
    # a job without a GPU still gets the free core
    beside = _dispatch(bench, "pinned", "-n", "1", "--sandbox", "process", env=one_gpu)
    assert (beside["state"], beside["cores"], beside["gpus"]) == ("running", SECOND, None)
    # no GPU count: waiting can never help, so --wait refuses too, at once
    never = bench("run", "cpuproj", "gpu", "--background", "--wait", "--sandbox", "process",
                  env={"BENCHSTONE_GPU_COUNT": "0"})
    assert never.returncode == 5
    assert "can never be admitted here" in never.stderr and "BENCHSTONE_GPU_COUNT" in never.stderr
    shown = json.loads(bench("status", "--json").stdout)
    assert {job["id"]: job["gpus"] for job in shown} == {holder["id"]: "0", beside["id"]: None}
    bad = bench("run", "cpuproj", "pinned", env={"BENCHSTONE_GPU_COUNT": "many"})
    assert bad.returncode == 5 and "BENCHSTONE_GPU_COUNT must be a whole number" in bad.stderr


@pytest.mark.docker
def test_a_granted_gpu_reaches_the_docker_backend(bench, cpuproj, docker_client, home) -> None:
    """No GPU (nor NVIDIA runtime) exists here: the granted GPU must make the docker backend ask
    for the NVIDIA runtime, and the job is recorded as failed with that reason."""
    result = bench("run", "cpuproj", "gpu", env={"BENCHSTONE_GPU_COUNT": "1"})
    assert result.returncode == 5
    assert "NVIDIA" in result.stderr
    (job,) = api.status(include_foreground=True, home=home)
    assert (job.state, job.gpus, job.mode) == ("failed", "0", "foreground")
    assert "NVIDIA" in (job.message or "")


@pytest.mark.docker
def test_wait_queues_until_capacity_frees_up(bench, cpuproj, docker_client, home) -> None:
    one_thread = {"BENCHSTONE_MAX_THREADS": "1"}
    _set(cpuproj, "src/sleep", "3\n")
    first = _dispatch(bench, "pinned", "-n", "1", env=one_thread)
    queued = bench("run", "cpuproj", "other", "-n", "1", "--background", "--wait",
                   env=one_thread)
    assert queued.returncode == 0, queued.stderr
    assert "queued: waiting for capacity" in queued.stdout
    waiter_id = queued.stdout.split()[1]
    dispatched_at = git(cpuproj, "rev-parse", "HEAD")
    waiter = _job(home, waiter_id)
    assert (waiter.state, waiter.cores) == ("queued", None)
    assert f"job {first['id']}" in (waiter.message or "")
    # the queued job measures the commit it was dispatched at, not what HEAD becomes
    _set(cpuproj, "src/metric", "2.0\n")
    # a foreground run with --wait queues behind both, then runs
    behind = bench("run", "cpuproj", "pinned", "-n", "1", "--wait", env=one_thread)
    assert behind.returncode == 0, behind.stderr
    assert "waiting: needs 1 thread(s)" in behind.stderr

    first_done, waiter_done = _ended(home, first["id"]), _ended(home, waiter_id)
    assert first_done.state == waiter_done.state == "done"
    assert waiter_done.cores == FIRST
    assert _moment(waiter_done.started_at) >= _moment(first_done.ended_at)
    foreground = [job for job in api.status(include_foreground=True, home=home)
                  if job.mode == "foreground"]
    assert len(foreground) == 1 and foreground[0].state == "done"
    assert _moment(foreground[0].started_at) >= _moment(waiter_done.ended_at)
    (run_set,) = _run_sets(bench, "other")
    assert run_set["git_sha"] == dispatched_at
    assert [run["metric"] for run in _runs(bench, "other")] == [1.0]


@pytest.mark.docker
def test_a_worker_killed_with_9_is_lost_and_gc_removes_its_container(bench, cpuproj,
                                                                     docker_client,
                                                                     home) -> None:
    one_thread = {"BENCHSTONE_MAX_THREADS": "1"}
    _set(cpuproj, "src/sleep", "60\n")
    job = _dispatch(bench, "pinned", "-n", "1", env=one_thread)
    _wait_for(lambda: _containers_of(docker_client, job["pid"]), "the job's container")
    os.kill(job["pid"], signal.SIGKILL)
    lost = _wait_for(lambda: (s := _job(home, job["id"])).state == "lost" and s, "lost")
    assert "its process is gone" in (lost.message or "")
    shown = json.loads(bench("status", job["id"], "--json").stdout)
    assert shown[0]["state"] == "lost"
    collected = bench("gc")
    assert collected.returncode == 0, collected.stderr
    assert _containers_of(docker_client, job["pid"]) == []
    # a lost job's lease lapses by itself: its core can be granted again
    after = _dispatch(bench, "other", "-n", "1", env=one_thread)
    assert (after["state"], after["cores"]) == ("running", FIRST)
    assert bench("cancel", after["id"]).returncode == 0


@pytest.mark.docker
def test_cancel_stops_a_running_job_and_keeps_its_finished_repetitions(bench, cpuproj,
                                                                       docker_client,
                                                                       home) -> None:
    _set(cpuproj, "src/sleep", "2\n")
    job = _dispatch(bench, "pinned", "-n", "4")
    _wait_for(lambda: _job(home, job["id"]).repetitions_done >= 1, "a first repetition")
    cancelled = bench("cancel", job["id"][:6])
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.startswith(f"job {job['id']} cancelled: ")
    after = _job(home, job["id"])
    assert after.state == "cancelled"
    assert 1 <= after.repetitions_done < 4
    assert len(_runs(bench, "pinned")) == after.repetitions_done
    assert _containers_of(docker_client, job["pid"]) == []
    assert "recorded and kept" in (after.message or "")
    again = bench("cancel", job["id"])
    assert again.returncode == 5 and f"job {job['id']} is already cancelled" in again.stderr
    unknown = bench("cancel", "ffffffffffff")
    assert unknown.returncode == 5 and "no job 'ffffffffffff'" in unknown.stderr


@pytest.mark.slow
@pytest.mark.subprocess_cli  # the worker must outlive the process that dispatched it
def test_background_required_goes_to_the_background_unless_told_foreground(
        bench, cpuproj, home) -> None:
    plain = bench("run", "cpuproj", "heavy", "--sandbox", "process")
    assert plain.returncode == 0, plain.stderr
    assert "background_required" in plain.stderr and "--foreground" in plain.stderr
    assert plain.stdout.startswith("job ")
    implicit = _ended(home, plain.stdout.split()[1])
    assert (implicit.mode, implicit.state, implicit.kind) == ("background", "done", "run")
    here = bench("run", "cpuproj", "heavy", "--foreground", "--sandbox", "process")
    assert here.returncode == 0 and "dispatched 1 run(s)" in here.stdout, here.stderr
    both = bench("run", "cpuproj", "heavy", "--background", "--foreground")
    assert both.returncode != 0 and "exclude each other" in both.stderr
    job = _dispatch(bench, "heavy", "--sandbox", "process")
    assert _ended(home, job["id"]).state == "done"
    # a plain baseline establish goes to the background too, its notes carried by the job
    baseline = bench("baseline", "establish", "cpuproj", "heavy", "--sandbox", "process",
                     "--notes", "nightly")
    assert baseline.returncode == 0, baseline.stderr
    assert "background_required" in baseline.stderr
    assert "WITHOUT isolation" in baseline.stderr  # said at dispatch, not only in the job's log
    baseline_job = _ended(home, baseline.stdout.split()[1])
    assert (baseline_job.state, baseline_job.kind, baseline_job.repetitions_done) == (
        "done", "baseline", 2)
    shown = bench("history", "cpuproj", "heavy").stdout
    assert "baseline: " + git(cpuproj, "rev-parse", "HEAD")[:10] in shown
    assert "notes: nightly" in shown
    text = bench("status")
    assert text.returncode == 0 and baseline_job.id in text.stdout and " done " in text.stdout


def test_a_baseline_and_a_candidate_on_different_cores_are_compared(bench, cpuproj,
                                                                    home) -> None:
    """Which core a run set was pinned to is incidental: the fingerprint holds how many."""
    established = bench("baseline", "establish", "cpuproj", "pinned", "--sandbox", "process")
    assert established.returncode == 0, established.stderr
    _set(cpuproj, "src/sleep.other", "60\n")
    holder = _dispatch(bench, "other", "-n", "1", "--sandbox", "process")
    assert holder["cores"] == FIRST
    _set(cpuproj, "src/metric", "0.5\n")
    assert bench("run", "cpuproj", "pinned", "--sandbox", "process").returncode == 0
    runs = _runs(bench, "pinned")
    assert {run["cpuset"] for run in runs} == {FIRST, SECOND}
    verdict = json.loads(bench("evaluate", "cpuproj", "pinned", "--json").stdout)
    assert "different environments" not in verdict["reason"]


def _admit_and_hold(home: str, barrier: Any, results: Any, release: Any) -> None:
    from benchstone.jobs import leases
    from benchstone.project.manifest import BenchmarkSpec
    from benchstone.store import Store

    store = Store(Path(home) / "bench.db")
    fields = leases.job_fields("p", BenchmarkSpec(name="b", tier="performance"), "run", 1)
    barrier.wait()
    try:
        _job, event = leases.open_job(store, fields, wait=False)
        results.put(("running", event.cores))
    except AdmissionRefused as exc:
        results.put(("refused", str(exc)))
    release.wait(60)
    store.close()


def test_admission_is_atomic_across_processes(home) -> None:
    """Eight processes ask for one core at the same moment: exactly as many as there are cores
    are admitted, each on a different core."""
    from benchstone.store import Store

    Store(home / "bench.db").close()
    context = multiprocessing.get_context("fork")
    barrier, results, release = context.Barrier(8), context.Queue(), context.Event()
    processes = [context.Process(target=_admit_and_hold, args=(str(home), barrier, results,
                                                               release)) for _ in range(8)]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=60) for _ in processes]
    finally:
        release.set()
        for process in processes:
            process.join(timeout=60)
    cores = [detail for state, detail in outcomes if state == "running"]
    assert len(cores) == len(os.sched_getaffinity(0)) == len(set(cores))
    assert all("no capacity now" in detail for state, detail in outcomes if state == "refused")


def test_every_jobs_command_has_help_with_an_example(bench) -> None:
    shown = {name: bench(*name.split(), "--help")
             for name in ("status", "cancel", "run", "baseline establish")}
    for name, result in shown.items():
        assert result.returncode == 0 and "Example: bench " in result.stdout, name
    for name in ("run", "baseline establish"):
        assert "--background" in shown[name].stdout and "--wait" in shown[name].stdout


def test_the_low_water_mark_skips_ended_jobs_but_never_an_open_one(home, monkeypatch) -> None:
    """Admission reads only the events after the scheduler's low-water mark: it must move past
    ended and lost jobs, and never past a job still running or waiting in the queue."""
    import subprocess

    from benchstone.jobs import leases
    from benchstone.project.manifest import BenchmarkSpec
    from benchstone.store import Store

    monkeypatch.setenv("BENCHSTONE_MAX_THREADS", "1")
    spec = BenchmarkSpec(name="b", tier="performance")
    gone = subprocess.Popen(["true"])
    gone.wait()
    with Store(home / "bench.db") as store:
        def admit(wait: bool = False, identity=leases.own_identity):
            return leases.open_job(store, leases.job_fields("p", spec, "run", 1), wait=wait,
                                   identity=identity)

        lost, _ = admit(identity=lambda: (gone.pid, "1"))  # its process is already gone
        ended, _ = admit()
        leases.close_job(store, ended.id, "done")
        holder, holder_event = admit()  # held by this (live) process
        assert holder_event.state == "running"
        waiter, waiter_event = admit(wait=True)
        assert waiter_event.state == "queued"
        leases.close_job(store, holder.id, "done")
        with pytest.raises(AdmissionRefused, match=f"queued jobs ahead: job {waiter.id}"):
            admit()  # moves the mark past every ended job, but not past the waiter
        mark = store.job_mark()
        assert holder_event.id < mark <= waiter_event.id
        assert [job.id for job, _event in leases.open_jobs(store)] == [waiter.id]
        assert {lost.id, ended.id, holder.id}.isdisjoint(
            job.id for job, _event in leases.open_jobs(store))
        leases.close_job(store, waiter.id, "cancelled")
        _fresh, fresh_event = admit()
        assert fresh_event.state == "running" and store.job_mark() > waiter_event.id
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.db.execute("UPDATE job_marks SET event_id = 0")


def test_cancel_a_queued_job_and_a_foreground_run(bench, cpuproj, home) -> None:
    import subprocess
    import sys

    one_thread = {"BENCHSTONE_MAX_THREADS": "1"}
    _set(cpuproj, "src/sleep", "60\n")
    # started as a script's `bench run &` is: with SIGINT ignored, so only SIGTERM can stop it
    foreground = subprocess.Popen(
        [sys.executable, "-m", "benchstone", "run", "cpuproj", "pinned", "-n", "1", "--sandbox",
         "process"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **one_thread},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        holder = _wait_for(lambda: [job for job in api.status(include_foreground=True, home=home)
                                    if job.state == "running"], "the foreground run")[0]
        assert (holder.mode, holder.pid) == ("foreground", foreground.pid)
        waiter = _dispatch(bench, "other", "--wait", "--sandbox", "process", env=one_thread)
        assert waiter["state"] == "queued"
        cancelled = bench("cancel", waiter["id"])
        assert cancelled.returncode == 0, cancelled.stderr
        assert _job(home, waiter["id"]).state == "cancelled"
        assert _job(home, holder.id).state == "running"  # the queue's head is untouched
        # a foreground run is stopped as by Ctrl-C: it records its own end and exits 130
        assert bench("cancel", holder.id).returncode == 0
        assert foreground.wait(timeout=60) == 130
        assert _job(home, holder.id).state == "cancelled"
        assert "interrupted" in foreground.stderr.read()
    finally:
        if foreground.poll() is None:
            foreground.kill()
            foreground.wait()


def test_cancel_of_a_run_started_through_the_api_stops_it_cleanly(cpuproj, home) -> None:
    """The Python API's caller (an evolution loop, a notebook) is the job's process: cancel's
    SIGTERM must end the run as Ctrl-C would, and leave the caller alive with its own handler."""
    import subprocess
    import sys

    _set(cpuproj, "src/sleep", "60\n")
    script = (
        "import signal, sys\n"
        "from benchstone import api\n"
        "from benchstone.errors import Interrupted\n"
        "mine = signal.getsignal(signal.SIGTERM)\n"
        "try:\n"
        "    api.run('cpuproj', 'pinned', repetitions=2, sandbox='process')\n"
        "except Interrupted as exc:\n"
        "    print('stopped:', exc)\n"
        "print('handler restored:', signal.getsignal(signal.SIGTERM) is mine)\n"
        "sys.exit(42)\n")
    caller = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        job = _wait_for(lambda: [job for job in api.status(include_foreground=True, home=home)
                                 if job.state == "running"], "the API's run")[0]
        assert (job.mode, job.pid) == ("foreground", caller.pid)
        api.cancel(job.id, home=home)
        out, err = caller.communicate(timeout=60)
        assert caller.returncode == 42, (out, err)
        assert "stopped: interrupted" in out and "handler restored: True" in out
        assert _job(home, job.id).state == "cancelled"
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()


def test_a_cancel_that_comes_while_the_runner_forks_is_not_lost(cpuproj, home) -> None:
    """Python drops an exception raised in its at-fork hooks, which the process backend's
    Popen runs (it has a preexec_fn). A SIGTERM delivered there, sent here by such a hook, was
    printed as "ignored" and lost, and the run went on to sleep its minute. It stops at once."""
    import subprocess
    import sys

    _set(cpuproj, "src/sleep", "60\n")
    script = (
        "import os, signal, sys, time\n"
        "from benchstone import api\n"
        "from benchstone.errors import Interrupted\n"
        "sent = []\n"
        "def cancel_now():\n"
        "    if not sent:\n"
        "        sent.append(1)\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "os.register_at_fork(after_in_parent=cancel_now)\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    api.run('cpuproj', 'pinned', repetitions=2, sandbox='process')\n"
        "except Interrupted as exc:\n"
        "    print('stopped:', exc)\n"
        "print('seconds:', round(time.monotonic() - started))\n"
        "sys.exit(42)\n")
    caller = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=os.environ.copy(), timeout=120)
    assert caller.returncode == 42, (caller.stdout, caller.stderr)
    assert "stopped: interrupted" in caller.stdout, (caller.stdout, caller.stderr)
    seconds = int(caller.stdout.split("seconds:")[1])
    assert seconds < 50, caller.stdout  # not after the 60 s repetition
