"""Cost of a repetition in each sandbox, beside the engine's own floor, measured in one run.

- floor: create, start, wait and remove of a container running ``true`` through the Engine API
  (docker-py, the runner image, networking disabled as the sandbox has it), nothing else;
- docker backend under runc, and under runsc (gVisor) when the engine has it: one repetition of
  a no-op benchmark through the sandbox interface, its container reserved (created) beforehand
  and removed afterwards as a run set does, so the figure is the repetition's critical path
  (start, wait, inspect, logs, cgroup CPU time);
- process backend: the same repetition as a plain subprocess;
- 10-repetition run sets of the no-op benchmark through the real CLI (``bench run -n 10``), wall
  time, docker and process in turn (ROUND_SETS of each; medians).

Targets on a 2-core machine: docker repetition <= 1.5x the floor; a 10-repetition docker run
set <= 1.5x the process backend's and under 5 s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from benchstone.run.protocol import InvocationConfig
from benchstone.sandbox import create_backend
from benchstone.sandbox.base import CONFIG_FILE, Limits, Repetition, RunSetSpec
from benchstone.sandbox.docker.image import DEFAULT_IMAGE

ROUNDS = 15
ROUND_SETS = 3
NOOP_RUNNER = 'printf \'{"status": "ok", "metric": 1}\' > "$2"\n'


def floor_once(client: docker.DockerClient) -> float:
    api = client.api
    started = time.perf_counter()
    container = api.create_container(
        DEFAULT_IMAGE, ["true"], labels={"benchstone.perf": "1"}, network_disabled=True,
        host_config=api.create_host_config(network_mode="none"))
    api.start(container)
    api.wait(container)
    api.remove_container(container, force=True)
    return time.perf_counter() - started


class BackendBench:
    """One backend prepared once, timing single repetitions of the no-op benchmark."""

    def __init__(self, name: str, workdir: Path, runtime: str | None = None) -> None:
        self.name, self.workdir, self.count = name, workdir, 0
        self.label = f"{name}-{runtime}" if runtime else name
        project = workdir / f"project-{self.label}"
        (project / "bench").mkdir(parents=True)
        (project / "bench" / "run.sh").write_text(NOOP_RUNNER)
        for path in (workdir, project, project / "bench"):
            os.chmod(path, 0o755)
        self.spec = RunSetSpec(
            project="perf", benchmark="noop", run_token=f"perf-{self.label}-{os.getpid()}",
            project_dir=project, corpus=None,
            invocation="sh bench/run.sh {config_path} {output_path}", entry_point="noop",
            limits=Limits(timeout_seconds=60, memory_bytes=512 * 1024**2, pids=256,
                          tmpfs_bytes=64 * 1024**2, scratch_bytes=64 * 1024**2, cpuset="0"),
            runtime=runtime,
        )
        self.backend = create_backend(name)
        self.backend.prepare(self.spec, lambda message: None)

    def once(self) -> float:
        index = self.count
        self.count += 1
        scratch = self.workdir / f"{self.label}-{index}" / "scratch"
        scratch.mkdir(parents=True, mode=0o700)
        (scratch / CONFIG_FILE).write_text(InvocationConfig(
            benchmark="noop", seed=index, corpus_path="", repetition_index=index,
            repetition_total=ROUNDS).to_json())
        repetition = Repetition(index=index, scratch_dir=scratch,
                                log_stem=self.workdir / "logs" / f"{self.label}-{index}")
        self.backend.reserve(self.spec, [repetition])  # as a run set does, before it starts
        started = time.perf_counter()
        outcome = self.backend.run(self.spec, repetition)
        elapsed = time.perf_counter() - started
        self.backend.cleanup()  # as after a run set's last repetition
        assert outcome.exit_code == 0, outcome
        assert (scratch / "result.json").exists()
        return elapsed


def interleaved(client: docker.DockerClient, workdir: Path) -> dict[str, list[float]]:
    """Floor, docker (runc, runsc) and process repetitions in turn, so drift of the machine
    hits all alike."""
    benches = {"docker": BackendBench("docker", workdir, "runc"),
               "process": BackendBench("process", workdir)}
    if "runsc" in (client.info().get("Runtimes") or {}):
        benches["runsc"] = BackendBench("docker", workdir, "runsc")
    times: dict[str, list[float]] = {"floor": [], **{name: [] for name in benches}}
    for round_index in range(ROUNDS + 2):
        measured = {"floor": floor_once(client),
                    **{name: bench.once() for name, bench in benches.items()}}
        if round_index >= 2:  # the first rounds warm caches
            for name, value in measured.items():
                times[name].append(value)
    return times


def run_set_seconds(workdir: Path) -> dict[str, list[float]]:
    """10-repetition run sets through the CLI, docker and process in turn."""
    project = workdir / "noop"
    shutil.copytree(Path(__file__).resolve().parent.parent / "fixtures" / "shellproj", project)
    (project / "bench" / "run.sh").write_text(NOOP_RUNNER.replace("$2", "$3"))
    environment = {**os.environ, "BENCHSTONE_HOME": str(workdir / "home"),
                   "GIT_AUTHOR_NAME": "perf", "GIT_AUTHOR_EMAIL": "perf@example.invalid",
                   "GIT_COMMITTER_NAME": "perf", "GIT_COMMITTER_EMAIL": "perf@example.invalid"}
    environment.pop("BENCHSTONE_RUNTIME", None)
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "noop"]):
        subprocess.run(command, cwd=project, check=True, env=environment)
    bench = [sys.executable, "-m", "benchstone"]
    subprocess.run([*bench, "register", str(project)], check=True, env=environment,
                   capture_output=True)
    times: dict[str, list[float]] = {"docker": [], "process": []}
    for round_index in range(ROUND_SETS + 1):
        for sandbox in times:
            started = time.perf_counter()
            subprocess.run([*bench, "run", "shellproj", "probe", "-n", "10", "--sandbox", sandbox],
                           check=True, env=environment, capture_output=True)
            if round_index:  # the first round warms caches
                times[sandbox].append(time.perf_counter() - started)
    return times


def main() -> int:
    client = docker.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="benchstone-perf-"))
    try:
        times = interleaved(client, workdir)
        sets = run_set_seconds(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        for container in client.containers.list(all=True, filters={"label": "benchstone.perf"}):
            container.remove(force=True)
    floor = statistics.median(times["floor"])
    docker_rep = statistics.median(times["docker"])
    process_rep = statistics.median(times["process"])
    docker_set = statistics.median(sets["docker"])
    process_set = statistics.median(sets["process"])
    ratio = docker_rep / floor
    set_ratio = docker_set / process_set
    print(f"median of {ROUNDS} rounds, each: one floor, one docker (runc, runsc), one process "
          "repetition")
    print(f"  engine floor (create+start+wait+remove)  {floor * 1000:7.0f} ms")
    print(f"  docker backend repetition, runc          {docker_rep * 1000:7.0f} ms   "
          f"{ratio:.2f}x floor   target <= 1.50x  {'ok' if ratio <= 1.5 else 'MISSED'}")
    if "runsc" in times:
        runsc_rep = statistics.median(times["runsc"])
        print(f"  docker backend repetition, runsc         {runsc_rep * 1000:7.0f} ms   "
              f"{runsc_rep / docker_rep:.2f}x runc")
    else:
        print("  docker backend repetition, runsc         (runsc is not registered: "
              "bench doctor --fix --runtime runsc)")
    print(f"  process backend repetition               {process_rep * 1000:7.0f} ms   "
          f"{process_rep / floor:.2f}x floor")
    print(f"median of {ROUND_SETS} rounds, each: bench run -n 10 (CLI, wall) docker, then process")
    print(f"  process backend run set                  {process_set:7.2f} s")
    print(f"  docker backend run set                   {docker_set:7.2f} s    "
          f"{set_ratio:.2f}x process   target <= 1.50x  {'ok' if set_ratio <= 1.5 else 'MISSED'}"
          f"; target < 5 s  {'ok' if docker_set < 5 else 'MISSED'}")
    return 0 if ratio <= 1.5 and set_ratio <= 1.5 and docker_set < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
