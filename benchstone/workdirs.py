"""The temporary work directory of one run set (the exported project and each repetition's
scratch), and collecting those a harness killed before its own clean-up left behind.

Each work directory names its owner (host, pid and process start time) in a file; one whose
owner is gone is an orphan and is removed by ``bench gc`` and at the start of every run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from benchstone.paths import write_private
from benchstone.procs import is_alive, own_identity
from benchstone.store import host_name

PREFIX = "benchstone-run-"
OWNER_FILE = ".owner"


def create_workdir() -> Path:
    """A new private work directory under the temporary directory, marked with its owner."""
    workdir = Path(tempfile.mkdtemp(prefix=PREFIX))
    pid, started = own_identity()
    write_private(workdir / OWNER_FILE, f"{host_name()} {pid} {started}\n")
    return workdir


def remove_tree(path: Path) -> None:
    """Remove a directory the sandbox wrote into, whatever modes it left behind.

    Every directory beneath ``path`` is first made 0o700 (walking top-down and never following
    a symlink), so that a harness that is not root can list and empty directories the code under
    test made unreadable; nothing outside ``path`` is touched.
    """
    stack = [os.fspath(path)]
    while stack:
        directory = stack.pop()
        try:
            if not stat.S_ISDIR(os.lstat(directory).st_mode):
                continue
            os.chmod(directory, 0o700)
            with os.scandir(directory) as entries:
                stack.extend(entry.path for entry in entries if entry.is_dir(follow_symlinks=False))
        except OSError:
            continue
    shutil.rmtree(path, ignore_errors=True)


def _orphaned(workdir: Path) -> bool:
    try:
        host, pid, started = (workdir / OWNER_FILE).read_text().split()
    except (OSError, ValueError):
        return False  # not ours, or its owner is still writing the file
    return host == host_name() and not is_alive(int(pid), started)


def collect_workdirs(root: Path | None = None) -> list[Path]:
    """Remove the work directories under ``root`` (default: the temporary directory) whose
    owning harness is gone; returns them."""
    base = root or Path(tempfile.gettempdir())
    removed = []
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            if entry.name.startswith(PREFIX) and entry.is_dir() and not entry.is_symlink() \
                    and _orphaned(entry):
                remove_tree(entry)
                removed.append(entry)
    return removed
