"""Container runtimes: gVisor's ``runsc`` installed and registered with the local engine.

The engine learns a runtime from the ``runtimes`` table of its ``daemon.json``. Registering
merges one entry into that table, leaving every other setting as it was, and then asks the
running ``dockerd`` to reload its configuration with SIGHUP, which reloads runtimes live: the
engine is never stopped or restarted, so containers running meanwhile are not disturbed.
Idempotent; only as root and only on request (``bench doctor --fix --runtime runsc``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchstone.errors import PrerequisiteError, SandboxUnavailable
from benchstone.sandbox.docker import engine
from benchstone.system.packages import install_packages

DAEMON_JSON = Path("/etc/docker/daemon.json")
GVISOR = "runsc"
# Debian's runsc (a 2022 release) cannot start a container that has no network unless its own
# networking is off as well; benchstone's containers never have one. The result and artifact
# leave the container through named pipes the harness made on the host (handover.py), which
# gVisor opens only when allowed to.
GVISOR_ARGUMENTS = ["--network=none", "--host-fifo=open"]
RELOAD_TIMEOUT_SECONDS = 20
INSTALLABLE = {GVISOR: "runsc"}  # runtime name -> Debian package


def runtime_fix(name: str) -> str:
    if name in INSTALLABLE:
        return f"as root: bench doctor --fix --runtime {name}"
    return (f"register {name} in /etc/docker/daemon.json (runtimes) and reload the engine "
            "(kill -HUP $(pidof dockerd))")


def require_runtime(name: str, info: engine.EngineInfo) -> None:
    """SandboxUnavailable unless the engine knows the runtime ``name``."""
    if name not in info.runtimes:
        raise SandboxUnavailable(
            f"the Docker Engine has no runtime {name!r} (it has {', '.join(info.runtimes)})",
            fix=runtime_fix(name))


def runtime_entry(name: str) -> dict[str, Any]:
    """The ``daemon.json`` entry benchstone registers for ``name``."""
    path = shutil.which(name)
    if path is None:
        raise PrerequisiteError(f"{name} is not installed", fix=runtime_fix(name))
    return {"path": path, "runtimeArgs": list(GVISOR_ARGUMENTS) if name == GVISOR else []}


def read_daemon_config(path: Path = DAEMON_JSON) -> dict[str, Any]:
    """The engine's ``daemon.json`` (empty when there is none); refuses one it cannot read,
    rather than overwrite settings it does not understand."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        config = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise PrerequisiteError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})",
                                fix=f"repair {path}, then run bench doctor --fix again") from None
    if not isinstance(config, dict) or not isinstance(config.get("runtimes", {}), dict):
        raise PrerequisiteError(f"{path} does not hold a JSON object with a runtimes object",
                                fix=f"repair {path}, then run bench doctor --fix again")
    return config


def merge_runtime(config: dict[str, Any], name: str, entry: dict[str, Any]) -> bool:
    """Put ``entry`` under ``runtimes.name`` in ``config``; False when it was there already."""
    runtimes = config.setdefault("runtimes", {})
    if runtimes.get(name) == entry:
        return False
    runtimes[name] = entry
    return True


def write_daemon_config(config: dict[str, Any], path: Path = DAEMON_JSON) -> None:
    """Replace ``path`` atomically, keeping its mode (0644 for a new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(config, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def dockerd_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "dockerd":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def reload_engine(name: str) -> None:
    """SIGHUP to the local dockerd, then wait until it lists the runtime ``name``."""
    pids = dockerd_pids()
    if not pids:
        raise SandboxUnavailable("no dockerd runs on this host to reload",
                                 fix="start the engine (bench doctor --fix)")
    for pid in pids:
        os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        engine.reset_client()
        if name in engine.engine_info().runtimes:
            return
        time.sleep(0.3)
    raise SandboxUnavailable(f"dockerd did not list the runtime {name} after a reload",
                             fix="see the engine's log; check /etc/docker/daemon.json")


def ensure_runtime(name: str, notify: Callable[[str], None]) -> None:
    """Install (Debian's package) and register the runtime ``name`` with the local engine;
    nothing is changed when both are done already."""
    if name not in INSTALLABLE:
        raise PrerequisiteError(f"bench doctor can install only {', '.join(INSTALLABLE)}, "
                                f"not {name!r}", fix=runtime_fix(name))
    if os.environ.get("DOCKER_HOST", "").removeprefix("unix://").startswith(("tcp:", "ssh:")):
        raise PrerequisiteError("the engine is remote: its runtimes are set up on its own host",
                                fix=f"on the engine's host, as root: bench doctor --fix "
                                f"--runtime {name}")
    if shutil.which(name) is None:
        install_packages([INSTALLABLE[name]], notify)
    entry = runtime_entry(name)
    config = read_daemon_config()
    if merge_runtime(config, name, entry):
        notify(f"registering {name} in {DAEMON_JSON} and reloading the engine (SIGHUP)")
        write_daemon_config(config)
        reload_engine(name)
    elif name not in engine.engine_info().runtimes:
        notify(f"{name} is in {DAEMON_JSON}; reloading the engine (SIGHUP)")
        reload_engine(name)
