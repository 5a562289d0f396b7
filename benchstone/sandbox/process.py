"""The ``process`` backend: the invocation as a plain subprocess on the host. NOT ISOLATED.

This is the original benchstone's path-isolation model, kept for machines without a container
engine and for comparison. The project runs as the harness's user with the harness's network
and file system; only the paths it is given keep it away from the store. Each repetition gets
a fresh copy of the exported tree; a timeout kills the whole process group. It is pinned to
the granted cores (CPU affinity), as a container is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import ClassVar

from benchstone.sandbox.base import (
    Layout,
    Outcome,
    Repetition,
    RunSetSpec,
    Sandbox,
    render_invocation,
)
from benchstone.sandbox.capture import CappedLog, ScratchWatch, last_line
from benchstone.system.cpus import parse_cpuset
from benchstone.system.host import now
from benchstone.system.signals import HeldStops, wait_for_exit

WARNING = (
    "sandbox 'process' runs the benchmark on the host WITHOUT isolation: it can read and write "
    "anything your user can, and reach the network; scratch_size is only watched, not enforced"
)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _pinning(cpuset: str | None) -> Callable[[], None] | None:
    """Run in the child before exec: keep it (and all it starts) on the granted cores."""
    if not cpuset:
        return None
    cores = set(parse_cpuset(cpuset))
    return lambda: os.sched_setaffinity(0, cores)


def _clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("BENCHSTONE_")}


class ProcessSandbox(Sandbox):
    name: ClassVar[str] = "process"
    isolated: ClassVar[bool] = False
    pins_cores: ClassVar[bool] = hasattr(os, "sched_setaffinity")

    def __init__(self) -> None:
        self._running: set[int] = set()  # the process groups of repetitions under way

    def prepare(self, spec: RunSetSpec, notify: Callable[[str], None]) -> None:
        if not Path("/bin/sh").exists():
            from benchstone.errors import SandboxUnavailable

            raise SandboxUnavailable("the process backend needs /bin/sh")
        if spec.instructions is not None:
            from benchstone.errors import SandboxUnavailable

            raise SandboxUnavailable(
                'metric_source = "harness_instructions" needs the docker sandbox: the count is '
                "collected where the code under test cannot reach it",
                fix='run it with --sandbox docker (or drop sandbox = "process" for it)')

    def _project_copy(self, repetition: Repetition) -> Path:
        return repetition.scratch_dir.parent / "project"

    def layout(self, spec: RunSetSpec, repetition: Repetition) -> Layout:
        corpus = PurePosixPath(spec.corpus.host_path) if spec.corpus else None
        return Layout(
            project_dir=PurePosixPath(self._project_copy(repetition)),
            scratch_dir=PurePosixPath(repetition.scratch_dir),
            corpus_path=corpus,
        )

    def run(self, spec: RunSetSpec, repetition: Repetition) -> Outcome:
        project_copy = self._project_copy(repetition)
        shutil.copytree(spec.project_dir, project_copy, symlinks=True)
        layout = self.layout(spec, repetition)
        command = render_invocation(spec.invocation, spec.entry_point, layout)
        stdout_log = CappedLog(repetition.log_stem.with_suffix(".stdout"))
        stderr_log = CappedLog(repetition.log_stem.with_suffix(".stderr"))
        started_at = now()
        started = time.perf_counter()
        timed_out = threading.Event()
        rusage = None
        process: subprocess.Popen[bytes] | None = None
        timer: threading.Timer | None = None
        drains: list[threading.Thread] = []
        try:
            # a stop during the start is held until the process is ours to kill (HeldStops)
            with HeldStops() as stops:
                process = subprocess.Popen(
                    ["/bin/sh", "-c", command],
                    cwd=project_copy,
                    env={**_clean_environment(), **spec.env},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    preexec_fn=_pinning(spec.limits.cpuset),
                )
                pgid = process.pid
                self._running.add(pgid)
                assert process.stdout is not None and process.stderr is not None
                drains = [
                    threading.Thread(target=log.drain,
                                     args=(iter(lambda s=stream: s.read1(65536), b""),),
                                     daemon=True)
                    for log, stream in ((stdout_log, process.stdout),
                                        (stderr_log, process.stderr))
                ]
                for thread in drains:
                    thread.start()

                def on_timeout() -> None:
                    timed_out.set()
                    _kill_group(pgid)

                timer = threading.Timer(spec.limits.timeout_seconds, on_timeout)
                timer.daemon = True
                timer.start()
            stops.release()
            with ScratchWatch(repetition.scratch_dir, spec.limits.scratch_bytes,
                              lambda: _kill_group(pgid)) as watch:
                status, rusage = wait_for_exit(process.pid)
                process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if timer is not None:
                timer.cancel()
            if process is not None:
                # children left behind die with the repetition, as in a container
                _kill_group(process.pid)
                if process.returncode is None:
                    try:
                        _pid, status, rusage = os.wait4(process.pid, 0)
                        process.returncode = os.waitstatus_to_exitcode(status)
                    except ChildProcessError:
                        pass
                self._running.discard(process.pid)
                for thread in drains:
                    thread.join(timeout=10)
                for stream in (process.stdout, process.stderr):
                    if stream is not None:
                        stream.close()
        wall = time.perf_counter() - started
        cpu = (rusage.ru_utime + rusage.ru_stime) if rusage is not None else None
        return Outcome(
            exit_code=process.returncode,
            started_at=started_at,
            finished_at=now(),
            wall_seconds=wall,
            cpu_seconds=cpu,
            timed_out=timed_out.is_set(),
            scratch_exceeded=watch.exceeded,
            stdout_path=stdout_log.path,
            stderr_path=stderr_log.path,
            stderr_tail=last_line(stderr_log.path),
        )

    def stop_running(self) -> None:
        for pgid in list(self._running):
            _kill_group(pgid)

    def cleanup(self) -> None:
        return None
