"""Where benchstone keeps its state, and how it writes files there safely.

Every directory the harness creates is 0o700 and every file 0o600: they may hold project data
(diffs, logs, artifacts). Names that become path components are validated first.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from benchstone.errors import InvalidNameError, StateDirectoryError

SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
SAFE_NAME_RULE = "letters, digits, '_', '.', '-', at most 128 characters, not starting with '.' or '-'"

DIR_MODE = 0o700
FILE_MODE = 0o600


def check_name(name: object, what: str) -> str:
    """Return ``name`` when it is safe as one path component, else raise InvalidNameError."""
    if not isinstance(name, str) or not SAFE_NAME.match(name) or name in {".", ".."}:
        raise InvalidNameError(f"{what} {name!r} is not a safe name: use {SAFE_NAME_RULE}")
    return name


def benchstone_home() -> Path:
    """``$BENCHSTONE_HOME``, else ``$XDG_DATA_HOME/benchstone``, else ``~/.local/share/benchstone``."""
    explicit = os.environ.get("BENCHSTONE_HOME")
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return (base / "benchstone").absolute()


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) as 0o700 directories; tighten an existing one.

    ``mkdir(parents=True)`` would give the parents it creates the umask's mode (0o755), so
    each missing parent is created here; parents that already exist are left as they are.
    """
    missing: list[Path] = []
    current = path
    while not current.is_dir() and current.parent != current:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
        if directory.stat().st_mode & 0o777 != DIR_MODE:
            os.chmod(directory, DIR_MODE)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically as a 0o600 file (its directory made 0o700).

    The content goes to a temporary file in the same directory first, so a reader never sees a
    half-written file and a crash leaves the old content in place.
    """
    import tempfile  # here: a reading command (bench list) writes nothing

    private_dir(path.parent)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def append_private(path: Path, line: str) -> None:
    """Append one line to a 0o600 log file, creating it when missing."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class Home:
    """The layout of one ``$BENCHSTONE_HOME``."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or benchstone_home()).absolute()

    def ensure(self) -> Home:
        try:
            private_dir(self.root)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if isinstance(exc, (FileExistsError, NotADirectoryError)):
                reason = "a file stands where a directory is needed"
            raise StateDirectoryError(
                f"cannot use the state directory {self.root}: {reason}",
                fix="set BENCHSTONE_HOME to a directory you can create and write, or unset it "
                    "(default: $XDG_DATA_HOME/benchstone, else ~/.local/share/benchstone)",
            ) from None
        return self

    @property
    def database(self) -> Path:
        return self.root / "bench.db"

    @property
    def references_log(self) -> Path:
        return self.root / "references.log"

    def project_dir(self, project: str) -> Path:
        return self.root / "projects" / check_name(project, "project")

    def artifact_dir(self, project: str, benchmark: str) -> Path:
        return (
            self.root / "artifacts" / check_name(project, "project")
            / check_name(benchmark, "benchmark")
        )

    def log_dir(self, project: str, benchmark: str) -> Path:
        return (
            self.root / "logs" / check_name(project, "project") / check_name(benchmark, "benchmark")
        )

    @property
    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    @property
    def corpora_dir(self) -> Path:
        return self.root / "corpora"
