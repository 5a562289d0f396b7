"""Containers off the critical path, on the real engine: a run set's containers are created
before the first repetition starts, each repetition starts one never started before, no other
container of the run set runs while one does, and all are removed after the last."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from benchstone.run.protocol import InvocationConfig
from benchstone.sandbox import create_backend
from benchstone.sandbox.base import CONFIG_FILE, RESULT_FILE, Limits, Repetition, RunSetSpec
from benchstone.sandbox.docker.backend import RESERVE_BATCH

pytestmark = pytest.mark.docker

# The scratch directory is a tmpfs gone with its container: the host name leaves in the result.
RUNNER = ('printf \'{"status":"ok","metric":1,"metadata":{"host":"%s"}}\' '
          '"$(cat /etc/hostname)" > "$2"\n')


def _spec(tmp_path: Path, token: str) -> RunSetSpec:
    project = tmp_path / "export"
    (project / "bench").mkdir(parents=True)
    (project / "bench" / "run.sh").write_text(RUNNER)
    for path in (tmp_path, project, project / "bench"):
        os.chmod(path, 0o755)
    return RunSetSpec(
        project="reserve", benchmark="probe", run_token=token, project_dir=project, corpus=None,
        invocation="sh bench/run.sh {config_path} {output_path}", entry_point="probe",
        limits=Limits(timeout_seconds=20, memory_bytes=256 * 1024**2, pids=64,
                      tmpfs_bytes=16 * 1024**2, scratch_bytes=16 * 1024**2))


def _repetitions(tmp_path: Path, count: int) -> list[Repetition]:
    return [Repetition(index=index, scratch_dir=tmp_path / "work" / f"rep-{index}" / "scratch",
                       log_stem=tmp_path / "logs" / f"rep{index}",
                       labels={"run_set": "1", "repetition": str(index)})
            for index in range(count)]


def _states(client, token: str) -> dict[int, dict]:
    """The run set's containers by repetition index: their state as the engine reports it."""
    api = client.api
    listed = api.containers(all=True, filters={"label": [
        f"benchstone.harness.pid={os.getpid()}", "benchstone.project=reserve"]})
    return {int(c["Labels"]["benchstone.repetition"]): api.inspect_container(c["Id"])
            for c in listed if c["Labels"].get("benchstone.cgroup", "").startswith(f"{token}-")}


def test_containers_are_created_ahead_started_once_and_removed_after_the_last(
        tmp_path: Path, docker_client) -> None:
    count = RESERVE_BATCH + 2  # two batches: the second is created between repetitions
    token = f"reserve-{os.getpid()}"
    spec = _spec(tmp_path, token)
    backend = create_backend("docker")
    backend.prepare(spec, lambda message: None)
    repetitions = _repetitions(tmp_path, count)
    try:
        backend.reserve(spec, repetitions)
        before = _states(docker_client, token)
        assert sorted(before) == list(range(RESERVE_BATCH))  # the first batch, none started
        assert {attrs["State"]["Status"] for attrs in before.values()} == {"created"}
        hosts = []
        for repetition in repetitions:
            repetition.scratch_dir.mkdir(parents=True, exist_ok=True)
            (repetition.scratch_dir / CONFIG_FILE).write_text(InvocationConfig(
                benchmark="probe", seed=1, corpus_path="", repetition_index=repetition.index,
                repetition_total=count).to_json())
            outcome = backend.run(spec, repetition)
            assert outcome.exit_code == 0
            result = json.loads((repetition.scratch_dir / RESULT_FILE).read_text())
            hosts.append(result["metadata"]["host"])
            states = _states(docker_client, token)
            mine = states[repetition.index]["State"]
            assert mine["Status"] == "exited"
            for index, attrs in states.items():
                if index > repetition.index:  # made ahead, and not started beside this one
                    assert attrs["State"]["Status"] == "created"
                    assert attrs["Created"] < mine["StartedAt"] or index >= RESERVE_BATCH
                elif index < repetition.index:  # ran before: ended before this one started
                    assert attrs["State"]["FinishedAt"] < mine["StartedAt"]
        assert len(set(hosts)) == count  # a container of its own for each repetition
        survivors = _states(docker_client, token)
        assert all(attrs["State"]["Status"] == "exited" for attrs in survivors.values())
    finally:
        backend.cleanup()
    assert _states(docker_client, token) == {}


def test_a_run_set_stopped_early_removes_what_it_reserved(tmp_path: Path, docker_client) -> None:
    token = f"reserve-early-{os.getpid()}"
    spec = _spec(tmp_path, token)
    backend = create_backend("docker")
    backend.prepare(spec, lambda message: None)
    backend.reserve(spec, _repetitions(tmp_path, 3))
    assert len(_states(docker_client, token)) == 3
    backend.cleanup()
    assert _states(docker_client, token) == {}
