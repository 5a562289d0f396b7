"""Garbage collection: containers whose harness process is gone, and their parent cgroups.

Every container carries the host, pid and start time of the harness that made it. A container
made on this host by a process that no longer exists is an orphan (the harness was killed
before its own cleanup ran) and is removed. Containers of other hosts sharing a remote engine
are left alone.
"""

from __future__ import annotations

import docker.errors
import requests.exceptions

from benchstone.errors import SandboxError
from benchstone.sandbox.docker import cgroups
from benchstone.sandbox.docker.engine import client, transient_retry
from benchstone.system.host import host_name
from benchstone.system.procs import is_alive


def is_orphan(labels: dict[str, str]) -> bool:
    """True for a container made on this host by a benchstone process that is gone."""
    if labels.get("benchstone.harness.host") != host_name():
        return False
    try:
        pid = int(labels.get("benchstone.harness.pid", "0"))
    except ValueError:
        return True
    return not is_alive(pid, labels.get("benchstone.harness.start"))


def collect_orphans(include_live: bool = False) -> list[str]:
    """Remove orphaned benchstone containers (all of this host's with ``include_live``);
    returns the short ids removed."""
    api = client().api
    removed = []
    live_tokens = set()
    for container in transient_retry(api.containers)(all=True, filters={"label": "benchstone"}):
        labels = container.get("Labels") or {}
        if (include_live and labels.get("benchstone.harness.host") == host_name()) or is_orphan(labels):
            try:
                transient_retry(api.remove_container)(container["Id"], force=True, v=True)
                removed.append(container["Id"][:12])
            except docker.errors.NotFound:
                pass
            except (docker.errors.APIError, requests.exceptions.RequestException):
                continue
        else:
            live_tokens.add(labels.get("benchstone.cgroup"))
    for token in cgroups.leftover_parents():
        if token not in live_tokens:
            cgroups.remove_parent(token)
    return removed


def collect_harness(pid: int, start: str, home_label: str) -> list[str]:
    """Remove every container this host's harness ``pid`` (started at ``start``) made for the
    state directory labelled ``home_label``, running or not; returns the short ids removed.
    The caller has checked that the harness is gone."""
    api = client().api
    filters = {"label": [f"benchstone.harness.host={host_name()}",
                         f"benchstone.harness.pid={pid}", f"benchstone.harness.start={start}",
                         f"benchstone.home={home_label}"]}
    removed = []
    try:
        for container in transient_retry(api.containers)(all=True, filters=filters):
            try:
                transient_retry(api.remove_container)(container["Id"], force=True, v=True)
                removed.append(container["Id"][:12])
            except docker.errors.NotFound:
                pass
            token = (container.get("Labels") or {}).get("benchstone.cgroup")
            if token:
                cgroups.remove_parent(token)
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise SandboxError(f"could not collect the containers of harness {pid}: {exc}") from None
    return removed
