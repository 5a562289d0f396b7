"""The pieces a lab is built from: fixture files and manifests, snapshots of directory trees, a
host listener, the CLI call record, and the unprivileged user a harness may run as."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PYTHON_PRELUDE = '''\
import json, os, sys
entry, config_path, output_path = sys.argv[1:4]
config = json.load(open(config_path))
scratch = os.path.dirname(output_path)
targets = json.load(open("src/targets.json")) if os.path.exists("src/targets.json") else {}

def report(metric=1.0, status="ok", message=None, **metadata):
    document = {"status": status, "metric": metric, "metadata": metadata}
    if message is not None:
        document["message"] = message
    with open(output_path, "w") as handle:
        json.dump(document, handle)

def try_read(path, limit=65536):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return None
'''

DEFAULT_BENCHMARK: dict[str, Any] = {
    "name": "probe", "tier": "performance", "metric_direction": "minimize",
    "timeout_seconds": 20, "repetitions": 2, "baseline_seeds": [1, 2],
}


@dataclass(frozen=True)
class Symlink:
    """A file of the fixture project that is a symbolic link to ``target``."""

    target: str


@dataclass
class Call:
    args: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        tail = (self.stderr.strip().splitlines() or [""])[-1][:200]
        return f"bench {' '.join(self.args)} -> exit {self.returncode} ({tail})"


@dataclass(frozen=True)
class Snapshot:
    project: dict[str, str]
    corpus: dict[str, str]
    home: dict[str, str]
    tables: dict[str, int]
    integrity: str
    triggers: int


def unprivileged_user() -> tuple[tuple[int, int, int] | None, str]:
    """An ordinary user who may use the engine (nobody, with the docker group), or why none."""
    import grp
    import pwd

    if os.geteuid() != 0:
        return None, "switching to another user needs root"
    if shutil.which("setpriv") is None:
        return None, "setpriv is not installed"
    try:
        docker_gid = grp.getgrnam("docker").gr_gid
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        return None, "there is no docker group or no user nobody"
    return (nobody.pw_uid, nobody.pw_gid, docker_gid), ""


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def manifest_text(name: str, benchmarks: list[dict[str, Any]], project: dict[str, Any] | None = None,
                  invocation: str = "sh bench/run.sh {entry_point} {config_path} {output_path}") -> str:
    lines = ["[project]", f"name = {toml_value(name)}", 'language = "shell"',
             f"invocation = {toml_value(invocation)}"]
    lines += [f"{key} = {toml_value(value)}" for key, value in (project or {}).items()]
    for bench in benchmarks:
        lines += ["", "[[benchmarks]]"]
        lines += [f"{key} = {toml_value(value)}" for key, value in bench.items()]
    return "\n".join(lines) + "\n"


def tree_state(root: Path, skip: Iterable[str] = ()) -> dict[str, str]:
    """Every entry beneath ``root`` (relative path -> content digest, link target or 'dir')."""
    skipped = set(skip)
    state: dict[str, str] = {}
    if not root.exists():
        return state
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(directory)
        for name in dirnames + filenames:
            path = base / name
            relative = path.relative_to(root).as_posix()
            if relative in skipped:
                continue
            info = path.lstat()
            mode = f"{stat.S_IMODE(info.st_mode):o}"
            if stat.S_ISLNK(info.st_mode):
                state[relative] = f"link:{os.readlink(path)}"
            elif stat.S_ISDIR(info.st_mode):
                state[relative] = f"dir:{mode}"
            elif stat.S_ISREG(info.st_mode):
                state[relative] = f"file:{mode}:{hashlib.sha256(path.read_bytes()).hexdigest()}"
            else:
                state[relative] = f"special:{stat.S_IFMT(info.st_mode)}"
    return state


class Listener:
    """A TCP listener on the host's 127.0.0.1 that counts the connections it receives."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.socket.close()
