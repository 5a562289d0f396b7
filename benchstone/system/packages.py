"""The host commands benchstone needs, the Debian packages that provide them, and installing
the missing ones with apt-get (as root, only when asked: ``bench doctor --fix``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchstone.errors import PrerequisiteError


@dataclass(frozen=True)
class HostTool:
    command: str
    package: str
    needed_for: str


HOST_TOOLS = (
    HostTool("git", "git", "reading the commit under test"),
    HostTool("dockerd", "docker.io", "the Docker Engine that runs every repetition"),
    HostTool("debootstrap", "debootstrap", "building the runner image without a registry"),
)


def missing_tools(tools: Sequence[HostTool] = HOST_TOOLS) -> list[HostTool]:
    """The tools whose command is not on ``PATH``."""
    return [tool for tool in tools if shutil.which(tool.command) is None]


def _apt_get(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *arguments], capture_output=True, text=True,
                          env=environment, check=False)


def install_packages(packages: Sequence[str], notify: Callable[[str], None]) -> None:
    """``apt-get install`` ``packages``, refreshing the package lists first if they are unknown."""
    if not packages:
        return
    if shutil.which("apt-get") is None:
        raise PrerequisiteError(f"{', '.join(packages)} must be installed and apt-get is not "
                                "available", fix=f"install {', '.join(packages)} for this system")
    if os.geteuid() != 0:
        raise PrerequisiteError(f"installing {', '.join(packages)} needs root",
                                fix=f"as root: apt-get install -y {' '.join(packages)}")
    notify(f"installing {', '.join(packages)} (apt-get install)")
    result = _apt_get(["install", "-y", "-qq", *packages])
    if result.returncode != 0:  # a fresh machine has no package lists yet
        update = _apt_get(["update", "-qq"])
        if update.returncode != 0:
            last = (update.stderr.strip().splitlines() or ["failed"])[-1]
            raise PrerequisiteError(f"apt-get update failed: {last}",
                                    fix="check that the Debian package mirror is reachable")
        result = _apt_get(["install", "-y", "-qq", *packages])
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise PrerequisiteError(f"apt-get install {' '.join(packages)} failed: {last}",
                                fix=f"as root: apt-get install -y {' '.join(packages)}")
