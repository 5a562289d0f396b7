"""The docker backend's own duties: model-server forwarding, GPU requests, orphans, engine
errors and retries, the runner image, and `bench doctor`."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests.exceptions
from conftest import commit_all

from benchstone.errors import SandboxError
from benchstone.sandbox.docker.backend import gpu_request, host_config_options
from benchstone.sandbox.docker.engine import is_transient, transient_retry


@pytest.fixture
def echo_server() -> Iterator[int]:
    """A TCP listener on the host's 127.0.0.1 that answers every line with 'pong: <line>'."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                data = conn.recv(1024)
                conn.sendall(b"pong: " + data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    server.close()


@pytest.mark.docker
def test_model_server_is_reachable_while_only_lo_exists(bench, make_project, echo_server: int,
                                                         docker_client) -> None:
    root = make_project("shellproj")
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text()
                        .replace('language = "shell"',
                                 f'language = "shell"\nollama_address = "127.0.0.1:{echo_server}"')
                        .replace('tier = "performance"', 'tier = "performance"\ngpu = "ollama"'))
    (root / "bench" / "probe.py").write_text(
        "import json, os, socket, sys\n"
        "host, port = os.environ['OLLAMA_HOST'].split(':')\n"
        "with socket.create_connection((host, int(port)), timeout=10) as s:\n"
        "    s.sendall(b'ping')\n"
        "    reply = s.recv(1024).decode()\n"
        "interfaces = sorted(os.listdir('/sys/class/net'))\n"
        "json.dump({'status': 'ok', 'metric': 1, 'metadata': {'reply': reply,\n"
        "           'interfaces': interfaces}}, open(sys.argv[1], 'w'))\n")
    (root / "bench" / "run.sh").write_text('exec python3 bench/probe.py "$3"\n')
    commit_all(root, "talk to the model server")
    bench("register", str(root))
    result = bench("run", "shellproj", "probe", "-n", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    run = json.loads(bench("history", "shellproj", "probe", "--json").stdout)["entries"][0]["runs"][0]
    assert run["metadata"] == {"reply": "pong: ping", "interfaces": ["lo"]}


def test_gpu_device_request() -> None:
    # No GPU exists on this machine: this checks the request the backend would send.
    assert gpu_request(()) == []
    [request] = gpu_request((1, 3))
    assert request["Driver"] == "nvidia"
    assert request["DeviceIDs"] == ["1", "3"]
    assert request["Capabilities"] == [["gpu"]]


def test_hardening_options(tmp_path: Path) -> None:
    from benchstone.sandbox.base import CorpusMount, Limits, Repetition, RunSetSpec
    from benchstone.sandbox.docker.engine import EngineInfo

    spec = RunSetSpec(
        project="p", benchmark="b", run_token="t", project_dir=tmp_path / "project",
        corpus=CorpusMount(tmp_path / "data.bin", False), invocation="true", entry_point="b",
        limits=Limits(timeout_seconds=5, memory_bytes=1 << 30, pids=64, tmpfs_bytes=1 << 20,
                      scratch_bytes=1 << 20, cpuset="1", gpus=(0,)),
    )
    repetition = Repetition(index=0, scratch_dir=tmp_path / "scratch", log_stem=tmp_path / "l")
    info = EngineInfo("20.10", "1.41", "1", "cgroupfs", ("runc",), True)
    options = host_config_options(spec, repetition, info, "t-0", None)
    assert options["network_mode"] == "none"
    assert options["cap_drop"] == ["ALL"]
    assert options["security_opt"] == ["no-new-privileges"]
    assert options["read_only"] is True and options["init"] is False  # timeout is PID 1
    assert options["pids_limit"] == 64
    assert options["mem_limit"] == options["memswap_limit"] == 1 << 30
    assert options["cpuset_cpus"] == "1"
    assert options["cgroup_parent"] == "/docker/benchstone/t-0"
    mounts = {m["Target"]: m for m in options["mounts"]}
    assert mounts["/benchstone/project"]["ReadOnly"] is True
    assert mounts["/benchstone/io"]["ReadOnly"] is True
    assert mounts["/benchstone/corpus/data.bin"]["ReadOnly"] is True
    assert set(mounts) == {"/benchstone/project", "/benchstone/io", "/benchstone/corpus/data.bin"}
    # the scratch directory is a tmpfs the kernel bounds: no bind of a host directory is writable
    scratch = options["tmpfs"]["/benchstone/scratch"]
    assert f"size={1 << 20}," in scratch and "nr_inodes=" in scratch
    assert not any("docker.sock" in m["Source"] for m in options["mounts"])


def test_transient_errors_are_retried_and_others_are_not() -> None:
    import docker.errors

    calls = []

    @transient_retry
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise requests.exceptions.ConnectionError("Connection reset by peer")
        return "ok"

    assert flaky() == "ok" and len(calls) == 3
    response = type("Response", (), {"status_code": 404, "reason": "Not Found"})()
    assert not is_transient(docker.errors.NotFound("gone", response=response))
    assert is_transient(docker.errors.APIError("boom", response=type(
        "Response", (), {"status_code": 503, "reason": "Unavailable"})()))
    assert not is_transient(ValueError("no"))


def test_a_missing_engine_is_one_line_with_its_fix(bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    result = bench("run", "toy", "speed", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 5
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: no Docker Engine answers")
    assert lines[1].startswith("  fix: ") and "--sandbox process" in lines[1]
    assert "Traceback" not in result.stderr
    # nothing was recorded for a repetition that never ran
    assert json.loads(bench("history", "toy", "speed", "--json").stdout)["entries"] == []


@pytest.mark.docker
def test_gc_removes_orphans_only(bench, docker_client) -> None:
    from benchstone.sandbox.docker.image import DEFAULT_IMAGE
    from benchstone.store import host_name

    def make(pid: int, label: str) -> str:
        container = docker_client.containers.create(
            DEFAULT_IMAGE, ["sleep", "60"], network_mode="none",
            labels={"benchstone": "1", "benchstone.harness.host": host_name(),
                    "benchstone.harness.pid": str(pid), "benchstone.harness.start": "",
                    "benchstone.test": label})
        return container.id

    dead_pid = 2**22 + 12345  # above the default pid_max: cannot be a live process
    orphan = make(dead_pid, "orphan")
    live = make(os.getpid(), "live")
    try:
        result = bench("gc")
        assert result.returncode == 0
        assert orphan[:12] in result.stdout
        remaining = {c.id for c in docker_client.containers.list(
            all=True, filters={"label": "benchstone.test"})}
        assert remaining == {live}
    finally:
        for container_id in (orphan, live):
            with contextlib.suppress(Exception):
                docker_client.containers.get(container_id).remove(force=True)


@pytest.mark.docker
def test_image_and_doctor_commands(bench, docker_client) -> None:
    listed = bench("image", "list", "--json")
    assert listed.returncode == 0
    images = json.loads(listed.stdout)
    assert any(image["name"] == "benchstone-runner:python" and image["current"] for image in images)
    for base in {image["base"] for image in images} & {image["name"] for image in images}:
        assert [image["current"] for image in images if image["name"] == base] == [True], base
    built = bench("image", "build")
    assert built.returncode == 0 and "present and current" in built.stderr
    doctor = bench("doctor", "--json")
    checks = {check["name"]: check for check in json.loads(doctor.stdout)}
    assert checks["docker engine"]["ok"] and checks["runner image"]["ok"]
    assert "cgroupfs" in checks["cgroups"]["detail"] or "systemd" in checks["cgroups"]["detail"]
    assert doctor.returncode == 0


def test_doctor_finds_and_fixes_a_loose_state_directory(bench, home: Path) -> None:
    from benchstone.machine.doctor import run_checks
    from benchstone.paths import Home

    home.mkdir(parents=True, exist_ok=True)
    loose = home / "logs" / "leak.txt"
    loose.parent.mkdir(mode=0o755)
    loose.write_text("project data")
    os.chmod(loose, 0o644)
    state = next(c for c in run_checks(Home(home)) if c.name == "state directory")
    assert not state.ok and "readable by others" in state.detail
    state = next(c for c in run_checks(Home(home), repair=True) if c.name == "state directory")
    assert state.ok
    assert loose.stat().st_mode & 0o777 == 0o600
    assert loose.parent.stat().st_mode & 0o777 == 0o700


def test_sandbox_errors_are_not_rows(make_project, home: Path) -> None:
    from benchstone import api

    root = make_project("toy")
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace(
        'language = "python"', 'language = "python"\nimage = "benchstone-test-does-not-exist:1"'))
    commit_all(root, "an image nobody built")
    api.register(root, home=home)
    try:
        api.run("toy", "speed", home=home)
    except SandboxError as exc:
        assert "is not on the Docker Engine" in str(exc) or "no Docker Engine" in str(exc)
    else:
        pytest.fail("a missing image must stop the run set")
    assert api.history("toy", "speed", home=home) == []
