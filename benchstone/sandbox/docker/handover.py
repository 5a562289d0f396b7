"""How the protocol's files leave a container whose scratch directory is a tmpfs.

The kernel bounds the scratch directory only if it is a size-limited tmpfs inside the container,
and a tmpfs is gone with its container. So the entry script's last, trusted step (run after it
has killed every process of the invocation) writes the result and the artifact into named pipes
that the harness made in the repetition's host directory and mounted read-only. A pipe keeps
nothing on disk: whatever is written into it, by the trusted step or by the code under test,
costs the host only what the harness chooses to keep, which is at most one byte more than each
file's limit. The files are then written into the host directory, where the runner reads them
with its usual checks (size limit, no symlink followed).
"""

from __future__ import annotations

import os
import select
import threading
from dataclasses import dataclass
from pathlib import Path

from benchstone.paths import write_private

STATUS_PIPE = "status"
STATUS_LIMIT = 4096
_CHUNK = 1 << 16


@dataclass
class _Pipe:
    name: str
    limit: int
    fd: int
    data: bytearray


@dataclass(frozen=True)
class Handed:
    """What the trusted step reported: which files it handed over, and whether the bound held."""

    scratch_full: bool
    stragglers: bool
    complete: bool
    kinds: dict[str, str]


class Handover:
    """Named pipes in ``directory``, read by a thread while the container runs.

    ``limits`` maps a pipe name to the most bytes worth keeping from it; anything more is read
    and dropped, so a writer never blocks on a full pipe.
    """

    def __init__(self, directory: Path, limits: dict[str, int], owner: tuple[int, int] | None):
        self.directory = directory
        self._pipes: list[_Pipe] = []
        for name, limit in {**limits, STATUS_PIPE: STATUS_LIMIT}.items():
            path = directory / name
            os.mkfifo(path, 0o600)
            if owner is not None:
                os.chown(path, *owner, follow_symlinks=False)
            # Opened for reading and writing: the open does not wait for a writer, and reads
            # never see an end of file while the container opens and closes its end.
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            # Write-only from now on: code that walks the sandbox cannot open a pipe to read
            # it (it would block, and could take what the trusted step hands over). The mount
            # is read-only, so the mode cannot be changed back from inside.
            os.chmod(path, 0o200)
            self._pipes.append(_Pipe(name, limit, fd, bytearray()))
        # stopping writes a byte here, so the reading thread leaves its wait at once instead of
        # at its next timeout (a wait of up to 0.2 s after every repetition)
        self._wake_read, self._wake_write = os.pipe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="handover", daemon=True)

    def __enter__(self) -> Handover:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drain(self, pipe: _Pipe) -> None:
        while True:
            try:
                chunk = os.read(pipe.fd, _CHUNK)
            except BlockingIOError:
                return
            if not chunk:
                return
            room = pipe.limit + 1 - len(pipe.data)
            if room > 0:
                pipe.data += chunk[:room]

    def _loop(self) -> None:
        by_fd = {pipe.fd: pipe for pipe in self._pipes}
        while not self._stop.is_set():
            ready, _, _ = select.select([*by_fd, self._wake_read], [], [], 0.2)
            for fd in ready:
                if fd in by_fd:
                    self._drain(by_fd[fd])

    def finish(self) -> Handed:
        """Stop reading (the container has exited, so every writer is gone), take what is left
        in the pipes, and write the files handed over into the directory."""
        self._stop_reading()
        for pipe in self._pipes:
            self._drain(pipe)
        status = next(pipe for pipe in self._pipes if pipe.name == STATUS_PIPE)
        lines = bytes(status.data).decode("utf-8", "replace").splitlines()
        kinds: dict[str, str] = {}
        for line in lines:
            name, _, kind = line.partition(" ")
            if kind:
                kinds[name] = kind
        for pipe in self._pipes:
            if pipe.name == STATUS_PIPE:
                continue
            file_name = next((name for name in kinds if _pipe_for(name) == pipe.name), None)
            self._materialise(file_name, kinds.get(file_name or ""), pipe)
        self.close()
        return Handed(scratch_full="full" in lines, stragglers="stragglers" in lines,
                      complete="done" in lines, kinds=kinds)

    def _materialise(self, file_name: str | None, kind: str | None, pipe: _Pipe) -> None:
        if file_name is None or kind is None or kind == "none":
            return
        target = self.directory / file_name
        if kind == "file":
            write_private(target, bytes(pipe.data))
        elif kind == "link":
            # the runner's reader refuses a symlink in its own words; it is never followed
            os.symlink("/benchstone/scratch/" + file_name, target)
        else:
            target.mkdir(mode=0o700)  # not a regular file: refused the same way

    def _stop_reading(self) -> None:
        self._stop.set()
        if self._wake_write >= 0:
            os.write(self._wake_write, b"\0")
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def close(self) -> None:
        self._stop_reading()
        for pipe in self._pipes:
            if pipe.fd >= 0:
                os.close(pipe.fd)
                pipe.fd = -1
        for fd in (self._wake_read, self._wake_write):
            if fd >= 0:
                os.close(fd)
        self._wake_read = self._wake_write = -1


def _pipe_for(file_name: str) -> str:
    return {"result.json": "result", "artifact.bin": "artifact"}.get(file_name, "")

