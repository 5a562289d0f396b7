"""The ``docker`` backend: every repetition in a fresh, throwaway container.

What the container gets: the exported commit read-only at /benchstone/project, a fresh
scratch directory at /benchstone/scratch (a tmpfs of ``scratch_size``: the kernel refuses a
write past it), the repetition's host directory read-only at /benchstone/io (the config in, the
result and artifact out through pipes: see handover.py), the corpus read-only at
/benchstone/corpus, a bounded tmpfs at /tmp, no network interface but ``lo``, no capabilities,
no-new-privileges, an unprivileged user, pids and memory limits, pinned cores, and a wall-clock
timeout. Nothing from ``$BENCHSTONE_HOME`` and never the engine's socket. The container is
removed in every case.

The container keeps its own deadline too: its first process is ``timeout``, which kills
everything in it at the repetition's timeout plus DEADLINE_MARGIN_SECONDS, so a container whose
harness was killed still ends. It runs under the engine's default runtime or the one the
benchmark names (``runtime = "runsc"``: gVisor).

Creating and removing containers is kept off the critical path without ever running beside a
measured repetition: ``reserve`` creates the planned repetitions' containers (RESERVE_BATCH at
a time, several API calls at once) before the first of them starts, and the containers that
ran are removed together after the last (or before the next batch is created). Each
repetition still starts a container never started before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import docker.errors
import docker.types
import requests.exceptions

from benchstone.errors import RepetitionLost, SandboxError, SandboxUnavailable
from benchstone.resources import bundled
from benchstone.sandbox.base import Layout, Outcome, Repetition, RunSetSpec, Sandbox, render_invocation
from benchstone.sandbox.capture import MAX_SCRATCH_ENTRIES, CappedLog, last_line
from benchstone.sandbox.docker import cgroups
from benchstone.sandbox.docker.engine import (
    EngineInfo,
    client,
    describe,
    engine_error,
    engine_info,
    transient_retry,
)
from benchstone.sandbox.docker.forward import ModelServerForward
from benchstone.sandbox.docker.handover import STATUS_PIPE, Handed, Handover
from benchstone.sandbox.docker.image import DEFAULT_IMAGE, ensure_image
from benchstone.sandbox.docker.runtimes import GVISOR, require_runtime
from benchstone.sandbox.instructions import LOG_FILE, TOOL_OPTIONS, read_count
from benchstone.system.host import host_name, now
from benchstone.system.procs import own_identity

PROJECT_DIR = PurePosixPath("/benchstone/project")
SCRATCH_DIR = PurePosixPath("/benchstone/scratch")
IO_DIR = PurePosixPath("/benchstone/io")
CORPUS_DIR = PurePosixPath("/benchstone/corpus")
FORWARD_DIR = PurePosixPath("/benchstone/forward")
INSTRUCTIONS_DIR = PurePosixPath("/benchstone/instr")
INSTRUCTIONS_MARKS = "/tmp/.benchstone-instructions"
CONTAINER_UID = 10001
LOG_MAX_SIZE = "8m"
WAIT_FAILURES_ALLOWED = 5
# The container's own deadline comes this long after the harness's: the harness kills first
# when it is alive, and the container ends by itself when it is not.
DEADLINE_MARGIN_SECONDS = 5
RESERVE_BATCH = 10  # containers created ahead at most, so a long run set holds few at once
ENGINE_CALLS_AT_ONCE = 4
HANDOVER_PIPES = ("result", "artifact", STATUS_PIPE)
# Under gVisor the engine's pids limit counts the sandbox's own host threads (its kernel and file
# proxy) beside the benchmark's processes; reaching it ends the whole sandbox. This much room is
# theirs, so that pids_limit stays the benchmark's budget (a fork bomb still ends the sandbox).
GVISOR_THREAD_HEADROOM = 256
# The container's first command: it becomes `timeout` (when the image has it) and runs the entry
# script under it, so the container keeps its own deadline ($1) whatever the harness does.
LAUNCHER = (
    'deadline=$1; entry=$2; shift 2\n'
    'if [ "$$" = 1 ] && command -v timeout >/dev/null 2>&1; then\n'
    '    exec timeout -s KILL "$deadline" /bin/sh -c "$entry" benchstone-entry "$@"\n'
    'fi\n'
    'exec /bin/sh -c "$entry" benchstone-entry "$@"\n'
)


def container_user() -> tuple[int, int]:
    """The user a container runs as: 10001 when the harness is root, else the harness's own."""
    if os.geteuid() == 0:
        return CONTAINER_UID, CONTAINER_UID
    return os.geteuid(), os.getegid()


def gpu_request(gpus: tuple[int, ...]) -> list[docker.types.DeviceRequest]:
    """The device request for the granted GPU indices (NVIDIA runtime); none for no GPUs."""
    if not gpus:
        return []
    return [docker.types.DeviceRequest(driver="nvidia", device_ids=[str(g) for g in gpus],
                                       capabilities=[["gpu"]])]


def scratch_tmpfs_options(size: int) -> str:
    """The scratch directory's tmpfs: ``size`` bytes of pages and a bounded number of inodes
    (empty files take no page), owned by the container's user. Its pages are charged to the
    container's memory limit."""
    uid, gid = container_user()
    return (f"rw,exec,nosuid,nodev,size={size},nr_inodes={MAX_SCRATCH_ENTRIES},mode=0700,"
            f"uid={uid},gid={gid}")


def scratch_reserve(size: int) -> int:
    """Free scratch below which the bound counts as reached: 1 MiB, or a sixteenth of a smaller
    scratch (the code's last write may have been refused whole, leaving a little room)."""
    return max(4096, min(1 << 20, size // 16))


def labels_for(spec: RunSetSpec, repetition: Repetition, token: str) -> dict[str, str]:
    pid, started = own_identity()
    return {
        "benchstone": "1",
        "benchstone.project": spec.project,
        "benchstone.benchmark": spec.benchmark,
        "benchstone.repetition": str(repetition.index),
        "benchstone.harness.host": host_name(),
        "benchstone.harness.pid": str(pid),
        "benchstone.harness.start": started,
        "benchstone.cgroup": token,
        **{f"benchstone.{key}": value for key, value in repetition.labels.items()},
    }


def host_config_options(spec: RunSetSpec, repetition: Repetition, info: EngineInfo,
                        token: str, forward_dir: Path | None,
                        instructions_dir: Path | None = None) -> dict[str, Any]:
    """The hardening and limits of one container, as docker-py host-config keywords."""
    limits = spec.limits
    mounts = [
        docker.types.Mount(str(PROJECT_DIR), str(spec.project_dir), type="bind", read_only=True),
        docker.types.Mount(str(IO_DIR), str(repetition.scratch_dir), type="bind",
                           read_only=True),
    ]
    if spec.runtime == GVISOR:
        # gVisor refuses to open a pipe for writing on a read-only mount: each pipe is mounted
        # writable on its own (the directory stays read-only, so nothing can be added to it)
        mounts += [docker.types.Mount(str(IO_DIR / name), str(repetition.scratch_dir / name),
                                      type="bind", read_only=False)
                   for name in HANDOVER_PIPES]
    if spec.corpus is not None:
        target = CORPUS_DIR if spec.corpus.is_dir else CORPUS_DIR / spec.corpus.file_name
        mounts.append(docker.types.Mount(str(target), str(spec.corpus.host_path), type="bind",
                                         read_only=True))
    if forward_dir is not None:
        mounts.append(docker.types.Mount(str(FORWARD_DIR), str(forward_dir), type="bind",
                                         read_only=True))
    if instructions_dir is not None:
        mounts.append(docker.types.Mount(str(INSTRUCTIONS_DIR), str(instructions_dir),
                                         type="bind", read_only=False))
    options: dict[str, Any] = {
        "mounts": mounts,
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,exec,nosuid,nodev,size={limits.tmpfs_bytes},mode=1777",
                  str(SCRATCH_DIR): scratch_tmpfs_options(limits.scratch_bytes)},
        "pids_limit": limits.pids + (GVISOR_THREAD_HEADROOM if spec.runtime == GVISOR else 0),
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,
        # No docker-init: `timeout` is the first process and keeps the deadline.
        "init": False,
        "log_config": docker.types.LogConfig(
            type="json-file", config={"max-size": LOG_MAX_SIZE, "max-file": "1"}),
        "device_requests": gpu_request(limits.gpus),
    }
    if limits.cpuset:
        options["cpuset_cpus"] = limits.cpuset
    if spec.runtime:
        options["runtime"] = spec.runtime
    if info.local and info.cgroup_driver == "cgroupfs":
        options["cgroup_parent"] = cgroups.parent_path(token)
    return options


def entry_command(spec: RunSetSpec, invocation: str) -> list[str]:
    """The container's command: the launcher with the container's deadline in whole seconds,
    then the entry script with the invocation and the limits of its trusted last step."""
    limits = spec.limits
    deadline = int(limits.timeout_seconds + 0.999) + DEADLINE_MARGIN_SECONDS
    return ["/bin/sh", "-c", LAUNCHER, "benchstone-launch", str(deadline),
            bundled("sandbox", "entry.sh").read_text(), invocation,
            str(limits.result_bytes), str(limits.artifact_bytes),
            str(scratch_reserve(limits.scratch_bytes))]


class DockerSandbox(Sandbox):
    name: ClassVar[str] = "docker"
    isolated: ClassVar[bool] = True
    pins_cores: ClassVar[bool] = True  # cpuset_cpus: the container's cgroup holds it there

    def __init__(self) -> None:
        self._image_id: str | None = None
        self._image: str = DEFAULT_IMAGE
        self._info: EngineInfo | None = None
        self._runtime: str | None = None
        self._planned: list[Repetition] = []  # reserved in order, RESERVE_BATCH at a time
        self._planned_dirs: set[Path] = set()
        self._reserved: dict[Path, str] = {}  # a repetition's scratch dir -> its new container
        self._spent: list[str] = []  # containers that ran (or failed to), removed later

    @property
    def image_id(self) -> str | None:
        return self._image_id

    @property
    def runtime(self) -> str | None:
        return self._runtime

    def prepare(self, spec: RunSetSpec, notify: Callable[[str], None]) -> None:
        try:
            self._info = engine_info()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise engine_error("reading the engine's information", exc) from None
        if spec.gpu == "direct" and spec.limits.gpus and not self._info.has_nvidia:
            raise SandboxUnavailable(
                "gpu = \"direct\" needs the NVIDIA container runtime, which this engine lacks",
                fix="install the NVIDIA Container Toolkit and restart the engine "
                "(bench doctor shows the runtimes)",
            )
        if spec.runtime:
            require_runtime(spec.runtime, self._info)
        self._runtime = spec.runtime or self._info.default_runtime
        self._image = spec.image or DEFAULT_IMAGE
        self._image_id = ensure_image(self._image, notify)

    def fingerprint(self) -> dict[str, Any]:
        info = self._info
        parts: dict[str, Any] = {
            "sandbox": self.name,
            "engine_version": info.version if info else None,
            "image_id": self._image_id,
        }
        # runc, the engine's usual runtime, is left out, so that run sets recorded before the
        # runtime was part of the fingerprint still compare with new ones
        if self._runtime and self._runtime != "runc":
            parts["runtime"] = self._runtime
        return parts

    def layout(self, spec: RunSetSpec, repetition: Repetition) -> Layout:
        corpus = None
        if spec.corpus is not None:
            corpus = CORPUS_DIR if spec.corpus.is_dir else CORPUS_DIR / spec.corpus.file_name
        return Layout(project_dir=PROJECT_DIR, scratch_dir=SCRATCH_DIR, corpus_path=corpus)

    def _grant_scratch(self, scratch: Path, uid: int, gid: int) -> None:
        if os.geteuid() != 0:
            return
        for path in [scratch, *scratch.iterdir()]:
            os.chown(path, uid, gid, follow_symlinks=False)

    def _environment(self, spec: RunSetSpec) -> dict[str, str]:
        return {**spec.env, "HOME": "/tmp", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}

    def _create(self, api: Any, spec: RunSetSpec, repetition: Repetition,
                environment: dict[str, str], forward_dir: Path | None,
                instructions_dir: Path | None) -> str:
        assert self._info is not None, "prepare() first"
        uid, gid = container_user()
        token = f"{spec.run_token}-{repetition.name}"
        if spec.runtime == GVISOR and self._info.local and self._info.cgroup_driver == "cgroupfs":
            cgroups.prepare_parent(token)
        host_config = api.create_host_config(**host_config_options(
            spec, repetition, self._info, token, forward_dir, instructions_dir))
        layout = self.layout(spec, repetition)
        created = transient_retry(api.create_container)(
            self._image, entry_command(spec, render_invocation(spec.invocation, spec.entry_point,
                                                               layout)),
            user=f"{uid}:{gid}", working_dir=str(PROJECT_DIR), environment=environment,
            labels=labels_for(spec, repetition, token), host_config=host_config,
            network_disabled=True,
        )
        return str(created["Id"])

    def reserve(self, spec: RunSetSpec, repetitions: list[Repetition]) -> None:
        if spec.gpu == "ollama" and spec.model_server:
            return  # each repetition's forwarding socket is made as it starts
        if spec.instructions is not None:
            return  # each repetition's collector gets a port and a directory of its own
        if spec.runtime == GVISOR:
            return  # its pipes are mounted one by one, so they exist before its container
        self._planned = list(repetitions)
        self._planned_dirs = {repetition.scratch_dir for repetition in repetitions}
        self._reserve_next(spec)

    def _reserve_next(self, spec: RunSetSpec) -> None:
        """Remove the containers that ran, then create the next batch of planned ones, several
        engine calls at once: only ever between repetitions."""
        self._remove_spent()
        batch, self._planned = self._planned[:RESERVE_BATCH], self._planned[RESERVE_BATCH:]
        self._planned_dirs.difference_update(repetition.scratch_dir for repetition in batch)
        if not batch:
            return
        api = client().api
        environment = self._environment(spec)

        def create(repetition: Repetition) -> tuple[Path, str | None]:
            # the directory exists before its container, which mounts it (read-only) at IO_DIR
            repetition.scratch_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
            try:
                return repetition.scratch_dir, self._create(api, spec, repetition, environment,
                                                            None, None)
            except (docker.errors.APIError, requests.exceptions.RequestException):
                return repetition.scratch_dir, None  # made on the spot when its turn comes

        # made in a random order: inode numbers, which a container sees, follow the order
        for repetition in random.sample(batch, len(batch)):
            repetition.scratch_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
        with ThreadPoolExecutor(ENGINE_CALLS_AT_ONCE) as pool:
            for scratch, container_id in pool.map(create, batch):
                if container_id is not None:
                    self._reserved[scratch] = container_id

    def run(self, spec: RunSetSpec, repetition: Repetition) -> Outcome:
        assert self._info is not None, "prepare() first"
        uid, gid = container_user()
        if repetition.scratch_dir in self._planned_dirs:  # its batch is the next one
            self._reserve_next(spec)
        limits = spec.limits
        handover = Handover(repetition.scratch_dir,
                            {"result": limits.result_bytes, "artifact": limits.artifact_bytes},
                            None)
        self._grant_scratch(repetition.scratch_dir, uid, gid)
        token = f"{spec.run_token}-{repetition.name}"
        forward = None
        environment = self._environment(spec)
        if spec.gpu == "ollama" and spec.model_server:
            forward_dir = repetition.scratch_dir.parent / "forward"
            forward_dir.mkdir(mode=0o755)
            forward = ModelServerForward(forward_dir, spec.model_server)
            environment["BENCHSTONE_FORWARD_PORT"] = str(forward.port)
            environment["BENCHSTONE_FORWARD_HELPER"] = bundled("sandbox", "forward.py").read_text()
            environment["OLLAMA_HOST"] = f"127.0.0.1:{forward.port}"
        instructions_dir = None
        if spec.instructions is not None:
            instructions_dir = self._instructions_dir(repetition)
            environment.update({
                "BENCHSTONE_INSTRUCTIONS_PORT": str(20000 + secrets.randbelow(40000)),
                "BENCHSTONE_INSTRUCTIONS_TOOL": TOOL_OPTIONS[spec.instructions],
                # Python salts its string hashes per process, which moves its instruction
                # count by several percent from run to run; a count must not move
                "PYTHONHASHSEED": "0",
            })
        api = client().api
        container_id = self._reserved.pop(repetition.scratch_dir, None)
        ended = False
        try:
            if container_id is None:
                container_id = self._create(api, spec, repetition, environment,
                                            forward.path.parent if forward else None,
                                            instructions_dir)
            with handover:
                outcome = self._start_and_wait(api, container_id, spec, repetition, token,
                                               environment)
                handed = handover.finish()
            ended = True
            if instructions_dir is not None:
                count = read_count(instructions_dir / LOG_FILE)
                outcome = dataclasses.replace(outcome, instructions=count.total,
                                              instructions_problem=count.problem)
            return _with_handover(outcome, handed)
        except docker.errors.APIError as exc:
            raise SandboxError(f"the container could not run: {describe(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise engine_error("running a repetition", exc) from None
        finally:
            if container_id is not None and ended:
                self._spent.append(container_id)  # it has exited: removed with the others
            elif container_id is not None:  # it may still run: never beside the next one
                self._remove(api, container_id)
            cgroups.remove_parent(token)
            if forward is not None:
                forward.close()
            handover.close()

    @staticmethod
    def _instructions_dir(repetition: Repetition) -> Path:
        """Where the collector writes Valgrind's logs: a directory the benchmark's user can
        neither write nor read when the harness runs as root (the benchmark then runs as
        another user). A harness under its own user shares it with the benchmark: the
        collector (root in the container, without capabilities) then writes as "other"."""
        path = repetition.scratch_dir.parent / "instructions"
        path.mkdir(mode=0o700)
        if os.geteuid() != 0:
            os.chmod(path, 0o733)
        return path

    def _start_and_wait(self, api: Any, container_id: str, spec: RunSetSpec,
                        repetition: Repetition, token: str,
                        environment: dict[str, str]) -> Outcome:
        since = time.time() - 1
        transient_retry(api.start)(container_id)
        if spec.instructions is not None:
            self._start_collector(api, container_id, environment["BENCHSTONE_INSTRUCTIONS_PORT"])
        deadline = time.monotonic() + spec.limits.timeout_seconds
        timed_out = False

        def kill() -> None:
            with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
                api.kill(container_id)

        failures = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                kill()
                transient_retry(api.wait)(container_id, timeout=60)
                break
            try:
                api.wait(container_id, timeout=remaining)
                break
            except requests.exceptions.ConnectionError as exc:
                if deadline - time.monotonic() <= 0.05:
                    continue
                failures += 1
                if failures > WAIT_FAILURES_ALLOWED:
                    raise engine_error("waiting for a repetition", exc) from None
                time.sleep(0.2 * failures)
        try:
            state = api.inspect_container(container_id)["State"]
        except requests.exceptions.ConnectionError:  # the engine is going away, or coming back
            failures += 1
            state = transient_retry(api.inspect_container)(container_id)["State"]
        lived = _engine_seconds(state.get("StartedAt"), state.get("FinishedAt"))
        if state.get("ExitCode") == 137 and lived is not None \
                and lived >= spec.limits.timeout_seconds:
            timed_out = True  # its own deadline came before the harness's kill (a late harness)
        if state.get("ExitCode") != 0 and not timed_out and (
                failures or _stopped_from_outside(api, container_id, since)):
            # The engine stopped the container (a restart stops them all) or someone else did:
            # the status is theirs, so it is never recorded as the benchmark's failure.
            raise RepetitionLost(
                f"repetition {repetition.index} was stopped from outside the harness (the Docker "
                f"Engine restarting or going away; status {state.get('ExitCode')}): not recorded")
        stdout_log = CappedLog(repetition.log_stem.with_suffix(".stdout"))
        stderr_log = CappedLog(repetition.log_stem.with_suffix(".stderr"))
        stdout_log.drain(api.logs(container_id, stdout=True, stderr=False, stream=True))
        stderr_log.drain(api.logs(container_id, stdout=False, stderr=True, stream=True))
        info = self._info
        cpu = cgroups.cpu_seconds(token, info.cgroup_version) if info else None
        return Outcome(
            exit_code=state.get("ExitCode"),
            started_at=state.get("StartedAt") or now(),
            finished_at=state.get("FinishedAt") or now(),
            wall_seconds=lived,
            cpu_seconds=cpu,
            timed_out=timed_out,
            oom_killed=bool(state.get("OOMKilled")) and not timed_out,
            stdout_path=stdout_log.path,
            stderr_path=stderr_log.path,
            stderr_tail=last_line(stderr_log.path),
        )

    @staticmethod
    def _start_collector(api: Any, container_id: str, port: str) -> None:
        """Start the instruction-count collector in the container as root: the benchmark's
        user can neither signal it nor write where it writes. The entry waits for it."""
        source = bundled("sandbox", "instructions.py").read_text()
        try:
            created = transient_retry(api.exec_create)(
                container_id, ["python3", "-c", source, port,
                               str(INSTRUCTIONS_DIR / LOG_FILE), INSTRUCTIONS_MARKS],
                user="0", stdout=False, stderr=False)
            transient_retry(api.exec_start)(created["Id"], detach=True)
        except docker.errors.APIError:
            # The container already ended (an image without valgrind: its entry says so and
            # exits) or cannot exec: without a collector the entry ends the repetition with a
            # one-line reason, and the row records it.
            pass

    @staticmethod
    def _remove(api: Any, container_id: str) -> None:
        try:
            transient_retry(api.remove_container)(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.exceptions.RequestException):
            pass  # the engine is gone; bench gc removes it by its labels later

    def _remove_spent(self, also_reserved: bool = False) -> None:
        doomed, self._spent = self._spent, []
        if also_reserved:
            doomed += list(self._reserved.values())
            self._reserved.clear()
            self._planned, self._planned_dirs = [], set()
        if not doomed:
            return
        try:
            api = client().api
        except SandboxError:
            return  # no engine: bench gc removes them by their labels later
        if len(doomed) == 1:
            self._remove(api, doomed[0])
            return
        with ThreadPoolExecutor(ENGINE_CALLS_AT_ONCE) as pool:
            list(pool.map(lambda container_id: self._remove(api, container_id), doomed))

    def cleanup(self) -> None:
        """Remove every container of the run set: those that ran and those reserved but never
        started (a run set stopped early)."""
        self._remove_spent(also_reserved=True)


def _with_handover(outcome: Outcome, handed: Handed) -> Outcome:
    """The outcome, knowing what the entry script's trusted step reported after the invocation:
    a scratch tmpfs with no page or inode left means the code reached ``scratch_size``."""
    return dataclasses.replace(outcome, scratch_exceeded=handed.scratch_full)


def _stopped_from_outside(api: Any, container_id: str, since: float) -> bool:
    """Did anyone but the harness kill the container (the engine shutting down, an operator)?

    The harness's own kills (timeout, scratch budget) are known to the caller; an engine that
    cannot say counts as one that stopped it.
    """
    try:
        events = api.events(since=since, until=time.time(), decode=True,
                            filters={"type": "container", "container": container_id, "event": "kill"})
        return any(True for _event in events)
    except (docker.errors.APIError, requests.exceptions.RequestException):
        return True


def _engine_seconds(started: str | None, finished: str | None) -> float | None:
    """Seconds between two engine timestamps (RFC 3339 with nanoseconds)."""
    if not started or not finished or started.startswith("0001"):
        return None
    return _nanoseconds(finished) / 1e9 - _nanoseconds(started) / 1e9


def _nanoseconds(stamp: str) -> int:
    import datetime as dt

    stamp = stamp.rstrip("Z")
    whole, _, fraction = stamp.partition(".")
    moment = dt.datetime.fromisoformat(whole).replace(tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1_000_000_000 + int((fraction + "000000000")[:9])
