"""CPU time of a container, read from the host's cgroup file system.

A container's own cgroup disappears when it exits, taking its counters with it. Each container
is therefore started under a parent cgroup of its own (``cgroup_parent``); the kernel charges
a child's CPU time to its parents as well, and the parent outlives the container, so its
counter still holds the total after the exit. Only possible when the engine is local and uses
the cgroupfs driver; elsewhere the CPU time is unknown (None).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Beneath the engine's own parent: measured here, a container under a top-level parent of its
# own started in about 1.5x the time of one under /docker (cgroup v1, cgroupfs), and the start
# is on every repetition's critical path.
PARENT = "docker/benchstone"


def parent_path(token: str) -> str:
    return f"/{PARENT}/{token}"


def cpu_seconds(token: str, cgroup_version: str) -> float | None:
    """CPU seconds charged to the parent cgroup of ``token``, or None when unreadable."""
    try:
        if cgroup_version == "2":
            text = (CGROUP_ROOT / PARENT / token / "cpu.stat").read_text()
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            return None
        for controller in ("cpuacct", "cpu,cpuacct", "cpuacct,cpu"):
            usage = CGROUP_ROOT / controller / PARENT / token / "cpuacct.usage"
            if usage.exists():
                return int(usage.read_text()) / 1e9
    except (OSError, ValueError):
        return None
    return None


def prepare_parent(token: str) -> None:
    """Make the cpuset parent of ``token`` ready before the container starts (cgroup v1).

    A new cpuset cgroup starts with no cores and no memory nodes. runc fills in the parents it
    creates; runsc (gVisor) does not, and then cannot pin its container beneath them, so each
    level takes its parent's cores and nodes here. Best effort: elsewhere nothing is needed.
    """
    base = CGROUP_ROOT / "cpuset"
    if not (base / "cpuset.cpus").exists():
        return
    parent = base
    for name in (*PARENT.split("/"), token):
        child = parent / name
        with contextlib.suppress(OSError):
            child.mkdir(exist_ok=True)
            for key in ("cpuset.cpus", "cpuset.mems"):
                if not (child / key).read_text().strip():
                    (child / key).write_text((parent / key).read_text())
        parent = child


def remove_parent(token: str) -> None:
    """Remove the (now empty) parent cgroup of ``token`` in every hierarchy; best effort."""
    candidates = [CGROUP_ROOT / PARENT / token]
    with contextlib.suppress(OSError):
        candidates += [entry / PARENT / token for entry in CGROUP_ROOT.iterdir() if entry.is_dir()]
    for path in candidates:
        with contextlib.suppress(OSError):
            if path.is_dir():
                os.rmdir(path)


def leftover_parents() -> list[str]:
    """Tokens of parent cgroups still on the host (for garbage collection)."""
    tokens: set[str] = set()
    with contextlib.suppress(OSError):
        for entry in CGROUP_ROOT.iterdir():
            base = entry / PARENT
            if base.is_dir():
                tokens.update(child.name for child in base.iterdir() if child.is_dir())
    return sorted(tokens)
