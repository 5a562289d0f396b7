"""``bench service install``: the service user, the group of its callers, the state and socket
directories, the service user in the ``docker`` group, and a systemd unit where systemd runs.
Idempotent: each step says what it did or that it was already done."""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from benchstone.errors import InstallError
from benchstone.service.config import CLIENT_CONFIG, DEFAULT_SOCKET

DEFAULT_USER = "benchstone"
DEFAULT_GROUP = "benchstone-users"
DEFAULT_ADMIN_GROUP = "benchstone-admins"
DEFAULT_STATE_DIR = Path("/var/lib/benchstone")
SYSTEMD_UNIT = Path("/etc/systemd/system/benchstone.service")


@dataclasses.dataclass(frozen=True)
class Layout:
    user: str = DEFAULT_USER
    group: str = DEFAULT_GROUP
    admin_group: str = DEFAULT_ADMIN_GROUP
    state_dir: Path = DEFAULT_STATE_DIR
    socket_path: Path = DEFAULT_SOCKET


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise InstallError(f"{command[0]} failed: {done.stderr.strip() or done.returncode}")


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _member(user: str, group: str) -> bool:
    entry = grp.getgrnam(group)
    return user in entry.gr_mem or pwd.getpwnam(user).pw_gid == entry.gr_gid


def _directory(path: Path, mode: int, uid: int, gid: int) -> str:
    existed = path.is_dir()
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return f"{'kept' if existed else 'created'} {path} (mode {mode:o})"


def install(layout: Layout, *, client_config: bool = False) -> list[str]:
    """Install the service; one line per step, saying what it did."""
    if os.geteuid() != 0:
        raise InstallError("bench service install needs root: it creates a system user",
                           fix="run it as root (sudo bench service install)")
    for tool in ("useradd", "groupadd", "usermod"):
        if shutil.which(tool) is None:
            raise InstallError(f"{tool} is not on PATH", fix="install Debian's passwd package")
    done = []
    if group_exists(layout.group):
        done.append(f"group {layout.group} exists")
    else:
        _run("groupadd", "--system", layout.group)
        done.append(f"created group {layout.group} (its members may use the service)")
    if group_exists(layout.admin_group):
        done.append(f"group {layout.admin_group} exists")
    else:
        _run("groupadd", "--system", layout.admin_group)
        done.append(f"created group {layout.admin_group} (its members may also force a "
                    "promotion, replace a reference, unregister, gc --all)")
    if user_exists(layout.user):
        done.append(f"user {layout.user} exists")
    else:
        _run("useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", str(layout.state_dir), "--shell", "/usr/sbin/nologin", layout.user)
        done.append(f"created system user {layout.user}")
    for group in (layout.group, "docker"):
        if group == "docker" and not group_exists("docker"):
            done.append("no docker group yet: install the engine (bench doctor --fix), then "
                        "install the service again")
            continue
        if _member(layout.user, group):
            done.append(f"{layout.user} is in group {group}")
        else:
            _run("usermod", "--append", "--groups", group, layout.user)
            done.append(f"added {layout.user} to group {group}")
    account = pwd.getpwnam(layout.user)
    users_gid = grp.getgrnam(layout.group).gr_gid
    done.append(_directory(layout.state_dir, 0o700, account.pw_uid, account.pw_gid))
    done.append(_directory(layout.state_dir / "home", 0o700, account.pw_uid, account.pw_gid))
    # setgid: the socket created inside belongs to the callers' group.
    done.append(_directory(layout.socket_path.parent, 0o2750, account.pw_uid, users_gid))
    if Path("/run/systemd/system").is_dir():
        SYSTEMD_UNIT.write_text(systemd_unit(layout))
        _run("systemctl", "daemon-reload")
        _run("systemctl", "enable", "--now", "benchstone.service")
        done.append(f"wrote and started {SYSTEMD_UNIT}")
    else:
        done.append("no systemd here: start the service with `bench service run` (as root)")
    if client_config:
        CLIENT_CONFIG.parent.mkdir(parents=True, exist_ok=True)
        CLIENT_CONFIG.write_text(f'socket = "{layout.socket_path}"\n')
        CLIENT_CONFIG.chmod(0o644)
        done.append(f"wrote {CLIENT_CONFIG}: every bench on this host now uses the service")
    return done


def service_command(layout: Layout) -> list[str]:
    """The command that serves ``layout``: what the systemd unit starts, and what to start by
    hand where systemd does not run."""
    return [sys.executable, "-m", "benchstone", "service", "run", "--user", layout.user,
            "--group", layout.group, "--admin-group", layout.admin_group,
            "--state-dir", str(layout.state_dir), "--socket", str(layout.socket_path)]


def systemd_unit(layout: Layout) -> str:
    return (
        "[Unit]\nDescription=benchstone harness service\nAfter=docker.service\n\n"
        "[Service]\n"
        f"ExecStart={' '.join(_unit_word(word) for word in service_command(layout))}\n"
        "Restart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n"
    )


def _unit_word(word: str) -> str:
    """One word of a unit's command line: systemd reads ``%`` as the start of a specifier and
    ``$`` as the start of a variable, so both are doubled; a word with a space, a quote or a
    backslash is double-quoted with those escaped."""
    if any(ord(c) < 32 or ord(c) == 127 for c in word):
        raise InstallError(f"{word!r} cannot go into a systemd unit (a control character)",
                           fix="choose a user, group or path without one")
    word = word.replace("%", "%%").replace("$", "$$")
    if not word or any(c.isspace() or c in "\"'\\" for c in word):
        escaped = word.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return word


def drop_to(layout: Layout) -> None:
    """Become the service user (from root), with its groups (``docker`` among them)."""
    account = pwd.getpwnam(layout.user)
    if os.geteuid() != 0:
        if os.geteuid() != account.pw_uid:
            raise InstallError(f"bench service run must start as root or as {layout.user}",
                               fix=f"run it as root; it becomes {layout.user} itself")
        return
    os.setgroups(os.getgrouplist(layout.user, account.pw_gid))
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    os.environ["HOME"] = str(layout.state_dir)
    os.environ["USER"] = os.environ["LOGNAME"] = layout.user


def check(layout: Layout) -> list[str]:
    """What is missing for the service to run (nothing when it is installed)."""
    missing = []
    if not user_exists(layout.user):
        missing.append(f"no user {layout.user}")
    if not group_exists(layout.group):
        missing.append(f"no group {layout.group}")
    if not layout.state_dir.is_dir():
        missing.append(f"no state directory {layout.state_dir}")
    if not layout.socket_path.parent.is_dir():
        missing.append(f"no socket directory {layout.socket_path.parent}")
    return missing


def prepare_socket_directory(layout: Layout) -> None:
    """/run is emptied at boot: as root, make the socket directory again before serving."""
    if os.geteuid() != 0 or not user_exists(layout.user):
        return
    account = pwd.getpwnam(layout.user)
    _directory(layout.socket_path.parent, 0o2750, account.pw_uid,
               grp.getgrnam(layout.group).gr_gid)
