"""Talking to the Docker Engine: connecting, retrying what is transient, and saying what to do
when there is no engine.

Transient: a reset or refused connection mid-call, a 5xx answer, a 409 race. Everything else
(404, 400, a permanent 5xx that outlives the retries) becomes a SandboxError.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from benchstone.errors import SandboxError, SandboxUnavailable

F = TypeVar("F", bound=Callable[..., Any])

ENGINE_FIX = (
    "start a Docker Engine (as root: apt-get install -y docker.io && dockerd &), or run "
    "bench doctor --fix; set DOCKER_HOST for a remote engine, or use --sandbox process "
    "(no isolation)"
)
RETRY_ATTEMPTS = 4


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return "Read timed out" not in str(exc)
    if isinstance(exc, docker.errors.APIError) and exc.status_code is not None:
        return exc.status_code >= 500 or exc.status_code == 409
    return False


def transient_retry(function: F) -> F:
    """Retry ``function`` on transient engine errors: 4 attempts, backoff 0.2 s to 2 s."""
    decorated = retry(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(RETRY_ATTEMPTS),
        wait=wait_exponential(multiplier=0.2, max=2.0),
        reraise=True,
    )(function)
    return functools.wraps(function)(decorated)  # type: ignore[return-value]


def describe(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    if isinstance(exc, requests.exceptions.ConnectionError):
        cause = _innermost(exc)
        if isinstance(cause, FileNotFoundError):
            return "its socket is gone"
        if isinstance(cause, ConnectionRefusedError):
            return "the connection was refused"
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return "the connection was reset"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _innermost(exc: BaseException) -> BaseException:
    """The deepest cause of a requests error (they nest urllib3 errors and OSErrors in args)."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or exc.__context__ or next(
            (arg for arg in getattr(exc, "args", ()) if isinstance(arg, BaseException)), None)
        if inner is None:
            break
        exc = inner
    return exc


@functools.cache
def _client() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        raise SandboxUnavailable(f"no Docker Engine answers: {describe(exc)}",
                                 fix=ENGINE_FIX) from None
    except requests.exceptions.RequestException as exc:
        raise SandboxUnavailable(f"no Docker Engine answers: {describe(exc)}",
                                 fix=ENGINE_FIX) from None
    return client


def client() -> docker.DockerClient:
    """The shared client for ``$DOCKER_HOST`` (or the local socket); SandboxUnavailable if none."""
    return _client()


def reset_client() -> None:
    """Forget the cached client, so the next call reconnects (after an engine restart)."""
    if _client.cache_info().currsize:
        with contextlib.suppress(Exception):
            _client().close()
    _client.cache_clear()
    engine_info.cache_clear()


@dataclass(frozen=True)
class EngineInfo:
    version: str
    api_version: str
    cgroup_version: str
    cgroup_driver: str
    runtimes: tuple[str, ...]
    local: bool
    default_runtime: str = "runc"

    @property
    def has_nvidia(self) -> bool:
        return "nvidia" in self.runtimes


@functools.cache
def engine_info() -> EngineInfo:
    info = transient_retry(client().info)()
    version = transient_retry(client().version)()
    host = os.environ.get("DOCKER_HOST", "")
    return EngineInfo(
        version=str(version.get("Version", "?")),
        api_version=str(version.get("ApiVersion", "?")),
        cgroup_version=str(info.get("CgroupVersion", "1")),
        cgroup_driver=str(info.get("CgroupDriver", "cgroupfs")),
        runtimes=tuple(sorted(info.get("Runtimes", {}))),
        local=not host or host.startswith("unix://"),
        default_runtime=str(info.get("DefaultRuntime") or "runc"),
    )


def engine_error(action: str, exc: BaseException) -> SandboxError:
    """A SandboxError for an engine failure that outlived the retries."""
    if isinstance(exc, requests.exceptions.ConnectionError):
        reset_client()
        return SandboxUnavailable(f"the Docker Engine stopped answering while {action}: "
                                  f"{describe(exc)}", fix=ENGINE_FIX)
    return SandboxError(f"the Docker Engine failed while {action}: {describe(exc)}")
