"""The temporary work directory of one run set (the exported project and each repetition's
scratch), and collecting those a harness killed before its own clean-up left behind.

Each work directory names its owner (host, pid and process start time) in a file; one whose
owner is gone is an orphan and is removed by ``bench gc`` and at the start of every run. The
directory's own name is random: a container sees the host path of what it mounts from it, and
the harness's pid and start time would tell the code under test when its run set began.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import tempfile
from pathlib import Path

from benchstone.paths import write_private
from benchstone.system.host import host_name
from benchstone.system.procs import is_alive, own_identity

PREFIX = "benchstone-run-"
GIT_VIEW_PREFIX = "benchstone-git-"  # provenance's clean views of a project's repository
PREFIXES = (PREFIX, GIT_VIEW_PREFIX)
OWNER_FILE = ".owner"
STAGING = "."  # a work directory's name until its owner's file is written
_RANDOM_NAME = re.compile(rf"(?:{PREFIX}|{GIT_VIEW_PREFIX})[0-9a-f]{{16}}")


def unguessable_name() -> str:
    """A name for what a container can see of the host (a mount's host path, its cgroup):
    random, so that it tells the code under test nothing, neither its position in the run set
    nor the harness that runs it. 16 hex digits (``_RANDOM_NAME``)."""
    return secrets.token_hex(8)


def create_workdir(prefix: str = PREFIX) -> Path:
    """A new private work directory under the temporary directory, marked with its owner.

    It is made under a hidden name that names the owner (``.<prefix><pid>.<start>.``: a
    harness killed before it wrote the owner's file still leaves a directory that says whose it
    was), then moved to a random name once the owner's file is in."""
    pid, started = own_identity()
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING}{prefix}{pid}.{started}."))
    write_private(staging / OWNER_FILE, f"{host_name()} {pid} {started}\n")
    workdir = staging.with_name(f"{prefix}{unguessable_name()}")
    os.rename(staging, workdir)
    return workdir


# Every file a repetition sees of the export and of its scratch directory carries this time,
# and a change time of the moment it starts: the times of a run set's files would otherwise
# tell the code under test how long ago its run set began, and so its position in it.
STAMPED_TIME = 946_684_800  # 2000-01-01T00:00:00Z, older than any build output


def restamp(root: Path) -> None:
    """Set the access and modification times of ``root`` and all beneath it to STAMPED_TIME
    (links themselves, never their targets); their change times become now. Best effort."""
    entries = [str(root)]
    for directory, dirnames, filenames in os.walk(root):
        entries.extend(os.path.join(directory, name) for name in dirnames + filenames)
    for entry in entries:
        with contextlib.suppress(OSError, NotImplementedError):
            os.utime(entry, (STAMPED_TIME, STAMPED_TIME), follow_symlinks=False)


def remove_tree(path: Path) -> None:
    """Remove a directory the sandbox wrote into, whatever modes and depth it left behind.

    The code under test controls what lies beneath ``path``: directories it made unreadable to
    a harness that is not root, and nesting deeper than recursion or ``PATH_MAX`` allow. So
    the tree is never walked by path nor recursively: each directory is opened relative to
    ``path`` (no symlink followed), made 0o700, emptied of its files, and its subdirectories are
    moved up to ``path`` itself, to be emptied in turn. Nothing outside ``path`` is touched and
    at most two directories are open at a time. Best effort: it never raises for what it finds.
    """
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        pending = [name for name in os.listdir(top) if name != OWNER_FILE]
        while pending:
            _empty_into(top, pending.pop(), pending)
        # The owner goes last, and only once all else is gone: a harness killed while it cleans
        # up, or anything that could not be removed, leaves a directory bench gc still collects.
        if os.listdir(top) == [OWNER_FILE]:
            os.unlink(OWNER_FILE, dir_fd=top)
    except OSError:
        pass
    finally:
        os.close(top)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _empty_into(top: int, name: str, pending: list[str]) -> None:
    """Remove ``name`` beneath the directory ``top``; a directory's subdirectories move up to
    ``top`` under fresh names, added to ``pending``."""
    try:
        if not stat.S_ISDIR(os.stat(name, dir_fd=top, follow_symlinks=False).st_mode):
            os.unlink(name, dir_fd=top)
            return
        # It may have become a link since: chmod must not follow one (Linux refuses to chmod a
        # link itself, and Python says so with ValueError).
        os.chmod(name, 0o700, dir_fd=top, follow_symlinks=False)
        directory = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
    except (OSError, ValueError):
        return
    try:
        with os.scandir(directory) as entries:
            children = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
        for child, is_dir in children:
            with contextlib.suppress(OSError, ValueError):
                if not is_dir:
                    os.unlink(child, dir_fd=directory)
                    continue
                moved = f".removing-{secrets.token_hex(8)}"
                # moving a directory writes its ".."; never through a link swapped in for it
                os.chmod(child, 0o700, dir_fd=directory, follow_symlinks=False)
                os.rename(child, moved, src_dir_fd=directory, dst_dir_fd=top)
                pending.append(moved)
    except OSError:
        pass
    finally:
        os.close(directory)
    with contextlib.suppress(OSError):
        os.rmdir(name, dir_fd=top)


def _orphaned(workdir: Path) -> bool:
    try:
        host, pid, started = (workdir / OWNER_FILE).read_text().split()
    except (OSError, ValueError):
        if not workdir.name.startswith(STAGING):
            # a random name is given only after the owner's file is in: without it, one whose
            # clean-up removed the file and was killed before the directory went (if empty)
            return _RANDOM_NAME.fullmatch(workdir.name) is not None and not any(
                workdir.iterdir())
        # no owner's file yet: the owner named in the staging name (a directory of this
        # machine's temporary directory), still writing the file, or killed before it could
        name = workdir.name.removeprefix(STAGING)
        pid, _, rest = name.removeprefix(GIT_VIEW_PREFIX).removeprefix(PREFIX).partition(".")
        started = rest.partition(".")[0]
        if not (pid.isdigit() and started.isdigit()):
            return False  # not ours
        host = host_name()
    return host == host_name() and not is_alive(int(pid), started)


def collect_workdirs(root: Path | None = None) -> list[Path]:
    """Remove the work directories under ``root`` (default: the temporary directory) whose
    owning harness is gone; returns them."""
    base = root or Path(tempfile.gettempdir())
    removed = []
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            if entry.name.removeprefix(STAGING).startswith(PREFIXES) and entry.is_dir() \
                    and not entry.is_symlink() and _orphaned(entry):
                remove_tree(entry)
                removed.append(entry)
    return removed
