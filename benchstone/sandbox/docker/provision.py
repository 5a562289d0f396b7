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

from benchstone.errors import PrerequisiteError, SandboxUnavailable
from benchstone.sandbox.docker import engine
from benchstone.system.packages import install_packages

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
    try:
        install_packages(["docker.io"], notify)
    except PrerequisiteError as exc:
        raise SandboxUnavailable(str(exc), fix=exc.fix) from exc


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
