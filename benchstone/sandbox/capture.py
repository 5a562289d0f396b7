"""Bounded capture of what untrusted code produces: its output streams and its scratch usage."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from benchstone.paths import FILE_MODE, private_dir

LOG_HEAD_BYTES = 4 * 1024 * 1024
LOG_TAIL_BYTES = 256 * 1024
MAX_SCRATCH_ENTRIES = 100_000
# A writer gets past the budget by what it writes between two polls and while the kill lands.
# Measured with dd filling a 64 MiB budget: polling every 0.5 s let it reach about 210 MiB, every
# 0.1 s about 150 MiB (the rest is the kill's latency). Polling a small directory is cheap.
POLL_SECONDS = 0.1


class CappedLog:
    """A 0o600 log file keeping the first ``head`` bytes and the last ``tail`` bytes of a stream.

    A runner that prints gigabytes costs the harness a bounded file and bounded memory.
    """

    def __init__(self, path: Path, head: int = LOG_HEAD_BYTES, tail: int = LOG_TAIL_BYTES) -> None:
        private_dir(path.parent)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
        self._head_left = head
        self._tail_size = tail
        self._tail = bytearray()
        self.total = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        if self._head_left > 0:
            kept = data[: self._head_left]
            os.write(self._fd, kept)
            self._head_left -= len(kept)
            data = data[len(kept):]
        if data:
            self._tail += data
            if len(self._tail) > self._tail_size:
                del self._tail[: len(self._tail) - self._tail_size]

    def close(self) -> None:
        if self._fd < 0:
            return
        if self._tail:
            written = os.lseek(self._fd, 0, os.SEEK_CUR)
            dropped = self.total - written - len(self._tail)
            if dropped > 0:
                os.write(self._fd, f"\n[... {dropped} bytes omitted ...]\n".encode())
            os.write(self._fd, bytes(self._tail))
        os.close(self._fd)
        self._fd = -1

    def drain(self, chunks: Iterable[bytes]) -> None:
        try:
            for chunk in chunks:
                self.write(chunk)
        finally:
            self.close()


def last_line(path: Path | None, limit: int = 300) -> str:
    """The last non-empty line of a log file, shortened to ``limit`` characters."""
    if path is None or not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 8192))
        text = handle.read().decode(errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return line if len(line) <= limit else line[: limit - 3] + "..."


def disk_usage(root: Path, budget: int) -> int:
    """Bytes allocated beneath ``root``, stopping early once over ``budget``.

    Too many entries count as over budget: walking millions of files is itself an attack. So
    does a directory that cannot be read (nested past ``PATH_MAX``, or made unreadable): what it
    holds would otherwise go uncounted. (Its modes are never changed here: the sandbox may still
    be running, and could swap a directory for a symlink to a host path.)
    """
    total = 0
    entries = 0
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            iterator = os.scandir(directory)
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed, or replaced by a file, since it was listed
        except OSError:
            return budget + 1
        with iterator:
            for entry in iterator:
                entries += 1
                if entries > MAX_SCRATCH_ENTRIES:
                    return budget + 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                except OSError:
                    return budget + 1
                total += max(info.st_blocks * 512, 0)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                if total > budget:
                    return total
    return total


class ScratchWatch:
    """Polls a scratch directory while untrusted code runs; calls ``on_exceeded`` once if the
    directory grows past ``budget`` bytes."""

    def __init__(self, root: Path, budget: int, on_exceeded: Callable[[], None],
                 interval: float = POLL_SECONDS) -> None:
        self.root = root
        self.budget = budget
        self.exceeded = False
        self._on_exceeded = on_exceeded
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scratch-watch", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            if disk_usage(self.root, self.budget) > self.budget:
                self.exceeded = True
                self._on_exceeded()
                return

    def __enter__(self) -> ScratchWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if not self.exceeded and disk_usage(self.root, self.budget) > self.budget:
            self.exceeded = True
