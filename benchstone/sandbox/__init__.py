"""Sandbox backends, registered by name. Docker is imported only when asked for."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from benchstone.errors import SandboxError, SandboxRefused, UnknownSandbox
from benchstone.paths import Home
from benchstone.project.manifest import ON_THE_HOST
from benchstone.sandbox.base import Sandbox
from benchstone.system.harnesses import gone_harnesses, home_label
from benchstone.system.host import served_caller

DEFAULT_BACKEND = "docker"
ENVIRONMENT_VARIABLE = "BENCHSTONE_SANDBOX"
RUNTIME_VARIABLE = "BENCHSTONE_RUNTIME"

_BACKENDS: dict[str, str] = {
    "docker": "benchstone.sandbox.docker.backend:DockerSandbox",
    "process": "benchstone.sandbox.process:ProcessSandbox",
}


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def choose_backend(flag: str | None, manifest_setting: str | None) -> str:
    """The backend to use: the command-line flag, else ``$BENCHSTONE_SANDBOX``, else the
    manifest's ``sandbox`` key, else ``docker``. Through the harness service, a caller who is
    not one of its administrators gets a container whatever they ask: on the host, the code
    would run as the service's user, with its state directory and its engine in reach."""
    name = flag or os.environ.get(ENVIRONMENT_VARIABLE) or manifest_setting or DEFAULT_BACKEND
    if name not in _BACKENDS:
        raise UnknownSandbox(
            f"unknown sandbox {name!r}: the backends are {', '.join(backend_names())}"
        )
    if name in ON_THE_HOST and (caller := served_caller()) is not None:
        raise SandboxRefused(
            f"the {name} sandbox runs the code on the service's host, outside any container: "
            f"through the benchstone service it is for its administrators, not {caller}",
            fix="leave out --sandbox process (and sandbox = \"process\" in the manifest): the "
                "docker sandbox is the default")
    return name


def choose_runtime(manifest_setting: str | None) -> str | None:
    """The container runtime to ask the engine for: ``$BENCHSTONE_RUNTIME``, else the
    manifest's ``runtime`` key (the benchmark's, else the project's), else None (the engine's
    default runtime, normally ``runc``). Only the docker backend has runtimes."""
    return os.environ.get(RUNTIME_VARIABLE) or manifest_setting or None


def pins_cores(name: str) -> bool:
    """Whether the backend registered as ``name`` confines a repetition to its cpuset."""
    module_name, class_name = _BACKENDS[name].split(":")
    return bool(getattr(importlib.import_module(module_name), class_name).pins_cores)


def create_backend(name: str) -> Sandbox:
    """A new instance of the backend registered as ``name``."""
    try:
        target = _BACKENDS[name]
    except KeyError:
        raise UnknownSandbox(
            f"unknown sandbox {name!r}: the backends are {', '.join(backend_names())}"
        ) from None
    module_name, class_name = target.split(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class()


def collect_gone_harnesses(home: Home, notify: Callable[[str], None] = lambda message: None
                           ) -> list[str]:
    """Remove the containers of ``home``'s harnesses that are gone (see
    :mod:`benchstone.system.harnesses`); returns their short ids. A marker is deleted once its
    harness's containers are removed; when the engine cannot be asked, it stays for the next
    command. Docker is imported only when a harness is gone."""
    gone = gone_harnesses(home)
    if not gone:
        return []
    from benchstone.sandbox.docker.cleanup import collect_harness

    removed: list[str] = []
    for marker in gone:
        try:
            removed += collect_harness(marker.pid, marker.start, home_label(home))
        except SandboxError:
            return removed
        marker.path.unlink(missing_ok=True)
    if removed:
        notify(f"removed {len(removed)} container(s) left behind by a harness that is gone")
    return removed
