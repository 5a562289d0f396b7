"""Registering a container runtime with the engine: daemon.json merged, never clobbered, and
``ensure_runtime`` idempotent on a machine where runsc is set up."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from benchstone.errors import PrerequisiteError, SandboxUnavailable
from benchstone.sandbox.docker import runtimes
from benchstone.sandbox.docker.engine import EngineInfo

ENTRY = {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none", "--host-fifo=open"]}


def test_merging_keeps_every_other_setting(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"log-driver": "local", "runtimes": {"nvidia": {"path": "x"}}}))
    os.chmod(path, 0o640)
    config = runtimes.read_daemon_config(path)
    assert runtimes.merge_runtime(config, "runsc", ENTRY)
    runtimes.write_daemon_config(config, path)
    written = json.loads(path.read_text())
    assert written == {"log-driver": "local",
                       "runtimes": {"nvidia": {"path": "x"}, "runsc": ENTRY}}
    assert path.stat().st_mode & 0o777 == 0o640
    again = runtimes.read_daemon_config(path)
    assert not runtimes.merge_runtime(again, "runsc", ENTRY)  # already there: nothing to do


def test_a_missing_file_starts_empty_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    assert runtimes.read_daemon_config(tmp_path / "absent.json") == {}
    broken = tmp_path / "daemon.json"
    broken.write_text('{"runtimes": ')
    with pytest.raises(PrerequisiteError, match="not valid JSON") as caught:
        runtimes.read_daemon_config(broken)
    assert "repair" in (caught.value.fix or "")
    broken.write_text('{"runtimes": []}')
    with pytest.raises(PrerequisiteError, match="runtimes object"):
        runtimes.read_daemon_config(broken)


def test_an_unknown_runtime_names_its_fix() -> None:
    info = EngineInfo(version="x", api_version="x", cgroup_version="1", cgroup_driver="cgroupfs",
                      runtimes=("runc",), local=True)
    with pytest.raises(SandboxUnavailable, match="no runtime 'runsc'") as caught:
        runtimes.require_runtime("runsc", info)
    assert caught.value.fix == "as root: bench doctor --fix --runtime runsc"
    with pytest.raises(PrerequisiteError, match="only runsc"):
        runtimes.ensure_runtime("kata", lambda message: None)


@pytest.mark.docker
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runsc") is None,
                    reason="needs root and runsc set up (bench doctor --fix --runtime runsc)")
def test_ensuring_a_registered_runtime_changes_nothing(docker_client) -> None:
    from benchstone.sandbox.docker import engine

    engine.reset_client()
    if "runsc" not in engine.engine_info().runtimes:
        pytest.skip("runsc is installed but not registered here")
    before = runtimes.DAEMON_JSON.stat()
    heard: list[str] = []
    runtimes.ensure_runtime("runsc", heard.append)
    assert heard == []  # no install, no write, no reload
    after = runtimes.DAEMON_JSON.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    assert json.loads(runtimes.DAEMON_JSON.read_text())["runtimes"]["runsc"] == ENTRY


@pytest.mark.docker
def test_doctor_reports_the_runtimes_and_checks_the_one_asked_for(bench, docker_client) -> None:
    result = bench("doctor", "--runtime", "no-such-runtime", "--json")
    checks = {check["name"]: check for check in json.loads(result.stdout)}
    assert "runc" in checks["container runtimes"]["detail"]
    assert "(default)" in checks["container runtimes"]["detail"]
    asked = checks["runtime no-such-runtime"]
    assert not asked["ok"] and "daemon.json" in asked["fix"]
    assert result.returncode == 1
    if shutil.which("runsc") is not None and "runsc" in checks["container runtimes"]["detail"]:
        listed = json.loads(bench("doctor", "--json", env={"BENCHSTONE_RUNTIME": "runsc"}).stdout)
        assert {check["name"]: check["ok"] for check in listed}["runtime runsc"] is True


MANIFEST = b"""
[project]
name = "p"
invocation = "sh run.sh"
runtime = "runsc"

[[benchmarks]]
name = "inherits"
tier = "performance"
metric_direction = "minimize"

[[benchmarks]]
name = "own"
tier = "performance"
metric_direction = "minimize"
runtime = "runc"
"""


def test_the_runtime_key_a_project_default_and_the_environment(monkeypatch) -> None:
    from benchstone.errors import ManifestError
    from benchstone.project.manifest import parse_manifest, resolved
    from benchstone.sandbox import choose_runtime

    manifest = parse_manifest(MANIFEST)
    inherits = resolved(manifest.benchmark("inherits"), manifest.project)
    own = resolved(manifest.benchmark("own"), manifest.project)
    assert (inherits.runtime, own.runtime) == ("runsc", "runc")
    monkeypatch.delenv("BENCHSTONE_RUNTIME", raising=False)
    assert choose_runtime(own.runtime) == "runc"
    assert choose_runtime(None) is None  # the engine's default
    monkeypatch.setenv("BENCHSTONE_RUNTIME", "runsc")
    assert choose_runtime(own.runtime) == "runsc"  # the environment wins, as for the sandbox
    with pytest.raises(ManifestError, match="runtime"):
        parse_manifest(MANIFEST.replace(b'runtime = "runc"', b'runtime = "../runc"'))
