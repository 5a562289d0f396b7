"""Getting a Docker Engine on a fresh Debian machine: install ``docker.io`` when missing and
start ``dockerd`` when it is not running. Idempotent; only as root and only on request
(``bench doctor --fix``, ``bench demo``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from benchstone.errors import SandboxUnavailable
from benchstone.sandbox.docker import engine

ENGINE_LOG = Path("/var/log/benchstone-dockerd.log")
START_TIMEOUT_SECONDS = 90


def engine_answers() -> bool:
    engine.reset_client()
    try:
        engine.client()
        return True
    except SandboxUnavailable:
        return False


def _dockerd_running() -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "dockerd":
                    return True
            except OSError:
                continue
    return False


def install_engine(notify: Callable[[str], None]) -> None:
    if shutil.which("apt-get") is None:
        raise SandboxUnavailable("dockerd is not installed and apt-get is not available",
                                 fix="install a Docker Engine for this system")
    notify("installing the Docker Engine (apt-get install docker.io)")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "docker.io"]):
        result = subprocess.run(command, capture_output=True, text=True, env=environment,
                                check=False)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["failed"])[-1]
            raise SandboxUnavailable(f"{' '.join(command)} failed: {last}")


def ensure_engine(notify: Callable[[str], None], install: bool = True) -> None:
    """Make a local engine answer, installing and starting it as needed."""
    if engine_answers():
        return
    if os.environ.get("DOCKER_HOST"):
        raise SandboxUnavailable(f"the engine at DOCKER_HOST={os.environ['DOCKER_HOST']} does "
                                 "not answer", fix="start that engine, or unset DOCKER_HOST")
    if os.geteuid() != 0:
        raise SandboxUnavailable("no Docker Engine answers and starting one needs root",
                                 fix=engine.ENGINE_FIX)
    if shutil.which("dockerd") is None:
        if not install:
            raise SandboxUnavailable("dockerd is not installed", fix=engine.ENGINE_FIX)
        install_engine(notify)
    if not _dockerd_running():
        notify(f"starting dockerd (log: {ENGINE_LOG})")
        with open(ENGINE_LOG, "ab") as log:
            subprocess.Popen(["dockerd"], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if engine_answers():
            return
        time.sleep(0.5)
    raise SandboxUnavailable(f"dockerd did not answer within {START_TIMEOUT_SECONDS} s",
                             fix=f"see {ENGINE_LOG}")
