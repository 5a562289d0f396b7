"""No orphans without a harness, with real processes and real signals: a container whose harness
is SIGKILLed mid-repetition ends by its own deadline, and the next ``bench`` command of the same
state directory removes what that harness left (its reserved containers too); containers of a
live harness, of another state directory or of another host are never touched. And a
``runtime = "runsc"`` benchmark really runs under gVisor, through the real CLI."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchstone.paths import Home
from benchstone.sandbox.docker.backend import DEADLINE_MARGIN_SECONDS
from benchstone.system.harnesses import MARKERS, home_label
from benchstone.system.host import host_name
from benchstone.system.procs import start_time

pytestmark = pytest.mark.docker

SLEEPER_MANIFEST = """\
[project]
name = "sleeper"
invocation = "sh bench/run.sh {config_path} {output_path}"

[[benchmarks]]
name = "nap"
tier = "performance"
metric_direction = "minimize"
timeout_seconds = %(timeout)s
repetitions = 3
%(extra)s
"""
SLEEPER_RUNNER = 'echo started > "$(dirname "$2")/started"; sleep 300\n'
PROBE_RUNNER = ('kernel=$( (dmesg 2>/dev/null | head -n 1; cat /proc/version) | tr -d \'"\\\\\' '
                '| tr "\\n" " ")\n'
                'printf \'{"status": "ok", "metric": 1, "metadata": {"kernel": "%s"}}\' '
                '"$kernel" > "$2"\n')


def _project(root: Path, runner: str, timeout: int, extra: str = "") -> Path:
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "manifest.toml").write_text(
        SLEEPER_MANIFEST % {"timeout": timeout, "extra": extra})
    (root / "bench" / "run.sh").write_text(runner)
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        subprocess.run(command, cwd=root, check=True, capture_output=True)
    return root


def _bench(*args: str, **popen: object) -> list[str]:
    return [sys.executable, "-m", "benchstone", *args]


def _containers(client, **labels: str) -> list:
    filters = ["benchstone", *(f"benchstone.{key}={value}" for key, value in labels.items())]
    return client.containers.list(all=True, filters={"label": filters})


class TakenByAnother(Exception):
    """Another checkout's host-wide collection (bench gc, or an older release's run set) removed
    the killed harness's containers first: this engine is shared, so the attempt is repeated."""


def _kill_mid_repetition(client, timeout: int) -> tuple[subprocess.Popen, dict]:
    """Start ``bench run``, SIGKILL it while its first repetition runs, and wait for that
    container to end by itself; returns the dead harness and the container's final state."""
    harness = subprocess.Popen(_bench("run", "sleeper", "nap"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    running = []
    deadline = time.monotonic() + 120
    while not running and time.monotonic() < deadline:
        running = [c for c in _containers(client, **{"harness.pid": str(harness.pid)})
                   if c.status == "running"]
        time.sleep(0.1)
    assert running, "the run set never started a container"
    harness.send_signal(signal.SIGKILL)  # mid-repetition: no clean-up of any kind runs
    harness.wait()
    import docker.errors

    try:
        mine = _containers(client, **{"harness.pid": str(harness.pid)})
        if len(mine) < 3:
            raise TakenByAnother
        container = running[0]
        container.reload()
        assert container.status == "running"  # the harness is gone, its deadline with it
        container.wait(timeout=timeout + DEADLINE_MARGIN_SECONDS + 30)
        container.reload()  # a container that ended by itself stays until it is collected
    except docker.errors.NotFound:
        raise TakenByAnother from None
    return harness, container.attrs["State"]


def test_a_killed_harness_leaves_a_container_that_ends_itself_and_is_collected(
        tmp_path: Path, docker_client) -> None:
    timeout = 3
    project = _project(tmp_path / "sleeper", SLEEPER_RUNNER, timeout)
    subprocess.run(_bench("register", str(project)), check=True, capture_output=True)
    for _attempt in range(4):
        try:
            harness, state = _kill_mid_repetition(docker_client, timeout)
            break
        except TakenByAnother:
            subprocess.run(_bench("list"), capture_output=True, check=True)  # its marker
    else:
        pytest.fail("another collector took the killed harness's containers four times")
    try:
        lived = _seconds(state["FinishedAt"]) - _seconds(state["StartedAt"])
        assert state["ExitCode"] == 137  # killed by its own first process
        assert timeout + DEADLINE_MARGIN_SECONDS - 0.5 <= lived \
            <= timeout + DEADLINE_MARGIN_SECONDS + 3

        markers = list((Home().root / MARKERS).iterdir())
        assert len(markers) == 1  # left behind by the killed harness
        present = len(_containers(docker_client, **{"harness.pid": str(harness.pid)}))
        listed = subprocess.run(_bench("list"), capture_output=True, text=True, check=True)
        if present:  # (unless another collector came first, as above)
            assert f"removed {present} container(s) left behind by a harness that is gone" \
                in listed.stderr
        assert _containers(docker_client, **{"harness.pid": str(harness.pid)}) == []
        assert not list((Home().root / MARKERS).iterdir())
        again = subprocess.run(_bench("list"), capture_output=True, text=True, check=True)
        assert "removed" not in again.stderr
    finally:
        for container in _containers(docker_client, **{"harness.pid": str(harness.pid)}):
            container.remove(force=True)


def test_only_this_directory_s_gone_harnesses_are_collected(tmp_path: Path, docker_client) -> None:
    """Containers labelled as a gone harness's of another state directory, of another host, or
    of a live harness stay; only the gone harness's of this directory goes."""
    from benchstone.sandbox.docker.image import DEFAULT_IMAGE

    gone = subprocess.Popen(["sleep", "30"])
    gone_start = start_time(gone.pid)
    gone.kill()
    gone.wait()
    here = home_label(Home())
    live_pid, live_start = os.getpid(), start_time(os.getpid())
    cases = {
        "gone-here": (host_name(), gone.pid, gone_start, here),
        "gone-elsewhere": (host_name(), gone.pid, gone_start, "0" * 16),
        "other-host": ("another-host.invalid", gone.pid, gone_start, here),
        "live-here": (host_name(), live_pid, live_start, here),
    }
    made = {}
    try:
        for name, (host, pid, started, home) in cases.items():
            # without the plain "benchstone" label, which the host-wide collection (bench gc,
            # and older checkouts' run sets) looks for: these stay until this test's command
            made[name] = docker_client.containers.create(
                DEFAULT_IMAGE, ["sleep", "60"], network_disabled=True, labels={
                    "benchstone.harness.host": host,
                    "benchstone.harness.pid": str(pid), "benchstone.harness.start": started,
                    "benchstone.home": home, "benchstone.test": name})
        markers = Home().ensure().root / MARKERS
        markers.mkdir(mode=0o700)
        for host, pid, started in {(h, p, s) for h, p, s, _ in cases.values()}:
            (markers / f"{host}-{pid}.json").write_text(
                json.dumps({"host": host, "pid": pid, "start": started}))
        listed = subprocess.run(_bench("list"), capture_output=True, text=True, check=True)
        assert "removed 1 container(s)" in listed.stderr
        left = {c.labels["benchstone.test"] for c in docker_client.containers.list(
            all=True, filters={"label": "benchstone.test"})}
        assert left >= {"gone-elsewhere", "other-host", "live-here"}
        assert "gone-here" not in left
        remaining = sorted(path.name for path in markers.iterdir())
        assert remaining == sorted([f"another-host.invalid-{gone.pid}.json",
                                    f"{host_name()}-{live_pid}.json"])
    finally:
        for container in made.values():
            with contextlib.suppress(Exception):
                container.remove(force=True)


@pytest.mark.skipif(shutil.which("runsc") is None, reason="runsc is not installed: "
                    "bench doctor --fix --runtime runsc")
def test_a_runsc_benchmark_runs_under_gvisor_through_the_cli(tmp_path: Path,
                                                             docker_client) -> None:
    project = _project(tmp_path / "probe", PROBE_RUNNER, 60, 'runtime = "runsc"')
    subprocess.run(_bench("register", str(project)), check=True, capture_output=True)
    result = subprocess.run(_bench("run", "sleeper", "nap", "-n", "2", "--json"),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    runs = report["runs"]
    assert report["run_set"]["runtime"] == "runsc"
    assert [run["status"] for run in runs] == ["ok", "ok"]
    assert all("gVisor" in run["metadata"]["kernel"] for run in runs)
    assert {run["runtime"] for run in runs} == {"runsc"}
    history = subprocess.run(_bench("history", "sleeper", "nap", "--json"), capture_output=True,
                             text=True, check=True)
    assert "runsc" in history.stdout


def _seconds(stamp: str) -> float:
    from benchstone.sandbox.docker.backend import _nanoseconds

    return _nanoseconds(stamp) / 1e9
