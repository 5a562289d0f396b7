"""Commits across the socket: the client bundles its ``HEAD`` (or the branch whose tip is the
revision a call names); the service fetches the bundle into its own mirror of the repository
and checks the commit out there.

The mirror is keyed by the repository's first commit, so every clone of one project lands in
one mirror; its working tree belongs to the service user and holds exactly the commit asked
for (checked out by force, untracked files removed), never the caller's files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchstone.errors import GitError
from benchstone.paths import private_dir

SHA = re.compile(r"^[0-9a-f]{40}$")
# a branch or tag name the bundle carries the commit under: plain segments, no "..", no "@{"
REF = re.compile(r"^refs/(heads|tags)/[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, **_GIT_ENV}
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, env=env)
    if check and done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {reason[-1] if reason else done.returncode}")
    return done


@dataclasses.dataclass(frozen=True)
class Commit:
    """What the client says about the commit it sends: checked by the service, never trusted."""

    sha: str
    root: str
    subdir: str
    ref: str = "HEAD"  # the name the bundle holds the commit under

    def as_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def describe(path: Path, revision: str | None = None) -> Commit | None:
    """The commit at ``HEAD`` of the repository holding ``path``, or ``revision``'s when a
    branch or tag has it at its tip (a bundle carries named commits; otherwise ``HEAD``'s goes,
    whose history the service may hold it in), or None outside a repository."""
    if not path.exists():
        return None
    directory = path if path.is_dir() else path.parent
    done = _git(directory, "rev-parse", "HEAD", "--show-prefix", check=False)
    if done.returncode != 0:
        return None
    head, *rest = done.stdout.decode().splitlines()
    subdir = rest[0].strip("/") if rest else ""
    sha, ref = head, "HEAD"
    if revision is not None:
        sha, ref = _named(directory, revision, head)
    roots = _git(directory, "rev-list", "--max-parents=0", sha).stdout.decode().split()
    return Commit(sha=sha, root=sorted(roots)[0], subdir=subdir, ref=ref)


def resolve(path: Path, revision: str) -> str:
    """The SHA of ``revision`` in the repository holding ``path`` (the service resolves
    nothing the caller named: its mirror holds commits, not the caller's branch names)."""
    directory = path if path.is_dir() else path.parent
    done = _git(directory, "rev-parse", "--verify", "--quiet", "--end-of-options",
                f"{revision}^{{commit}}", check=False)
    if done.returncode != 0:
        raise GitError(f"{revision} is not a commit of the repository at {directory}")
    return done.stdout.decode().strip()


def _named(directory: Path, revision: str, head: str) -> tuple[str, str]:
    """``revision``'s commit and a name the bundle can carry it under; ``HEAD``'s when no
    branch or tag has it at its tip."""
    sha = resolve(directory, revision)
    if sha == head:
        return sha, "HEAD"
    names = _git(directory, "for-each-ref", "--points-at", sha, "--format=%(refname)",
                 "refs/heads", "refs/tags").stdout.decode().split()
    usable = [name for name in names if REF.match(name)]
    return (sha, usable[0]) if usable else (head, "HEAD")


def dirty(path: Path) -> bool:
    """Whether the working tree holding ``path`` has changes not committed."""
    directory = path if path.is_dir() else path.parent
    return bool(_git(directory, "status", "--porcelain", check=False).stdout.strip())


def bundle(path: Path, ref: str = "HEAD") -> bytes:
    """A git bundle of ``ref`` (and its history) of the repository holding ``path``."""
    directory = path if path.is_dir() else path.parent
    with tempfile.TemporaryDirectory(prefix="benchstone-bundle-") as tmp:
        target = Path(tmp) / "head.bundle"
        _git(directory, "bundle", "create", "--quiet", str(target), ref)
        return target.read_bytes()


def parse(claim: object) -> Commit:
    """The client's claim as a Commit, refusing anything that is not a plain SHA and subdir."""
    if not isinstance(claim, dict):
        raise GitError("the commit must be an object with sha, root and subdir")
    sha, root, subdir = claim.get("sha"), claim.get("root"), claim.get("subdir", "")
    ref = claim.get("ref", "HEAD")
    if not (isinstance(sha, str) and SHA.match(sha) and isinstance(root, str)
            and SHA.match(root) and isinstance(subdir, str)):
        raise GitError("the commit's sha and root must be 40 hexadecimal digits")
    if not (isinstance(ref, str) and (ref == "HEAD" or (REF.match(ref) and ".." not in ref
                                                        and not ref.endswith(".lock")))):
        raise GitError("the commit's ref must be HEAD or a plain branch or tag name")
    parts = Path(subdir).parts
    if subdir and (Path(subdir).is_absolute() or ".." in parts or ".git" in parts):
        raise GitError(f"the project's directory {subdir!r} is not inside the repository")
    return Commit(sha=sha, root=root, subdir=subdir, ref=ref)


@contextlib.contextmanager
def checked_out(mirrors: Path, claim: Commit, bundle_bytes: bytes) -> Iterator[Path]:
    """Fetch the bundle into the mirror of ``claim.root``, check that it holds ``claim.sha``
    whose first commit is ``claim.root``, check it out, and hold the mirror's lock while the
    caller uses the returned project directory."""
    mirror = private_dir(mirrors / claim.root)
    with open(private_dir(mirrors / ".locks") / claim.root, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (mirror / ".git").is_dir():
            _git(mirror, "init", "--quiet")
            _git(mirror, "config", "fetch.fsckObjects", "true")
            _git(mirror, "config", "core.hooksPath", "/dev/null")
        # fetched to a ref of its own first: a bundle that holds another commit than it claims
        # never moves the ref that keeps the claimed commit (another caller's, maybe)
        incoming = "refs/benchstone-incoming/bundle"
        with tempfile.NamedTemporaryFile(dir=mirrors, prefix=".incoming-",
                                         suffix=".bundle") as handle:
            handle.write(bundle_bytes)
            handle.flush()
            _git(mirror, "fetch", "--quiet", "--no-tags", handle.name,
                 f"+{claim.ref}:{incoming}")
        fetched = _git(mirror, "rev-parse", "--verify", "--quiet",
                       f"{incoming}^{{commit}}", check=False).stdout.decode().strip()
        _git(mirror, "update-ref", "-d", incoming, check=False)
        if fetched != claim.sha:
            raise GitError(f"the bundle holds {fetched or 'no commit'}, not the commit "
                           f"{claim.sha} it was sent for")
        roots = _git(mirror, "rev-list", "--max-parents=0", claim.sha).stdout.decode().split()
        if claim.root not in roots:
            raise GitError(f"commit {claim.sha} does not descend from {claim.root}")
        _git(mirror, "update-ref", f"refs/benchstone/{claim.sha}", claim.sha)
        _git(mirror, "checkout", "--quiet", "--force", "--detach", claim.sha)
        _git(mirror, "clean", "--quiet", "-ffdx")
        project = mirror / claim.subdir if claim.subdir else mirror
        yield project

