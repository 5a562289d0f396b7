"""Registered projects: the pinned copy of each manifest, and loading it back for a run.

``bench register`` is the one human act that makes a manifest trusted. Its bytes are copied into
``$BENCHSTONE_HOME/projects/<project>/`` and their hash recorded; every later command reads that
copy, never the project's file, so code under test cannot loosen its own gate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from benchstone.errors import (
    GitError,
    ManifestError,
    NotYourProject,
    ProjectNotRegistered,
    SandboxRefused,
    StoreError,
)
from benchstone.paths import Home, check_name, write_private
from benchstone.project.corpus import CorpusCheck, check_corpus
from benchstone.project.manifest import (
    MANIFEST_RELATIVE_PATH,
    ON_THE_HOST,
    BenchmarkSpec,
    Manifest,
    load_manifest,
    parse_manifest,
    resolved,
)
from benchstone.project.provenance import file_at, repository_head
from benchstone.store import Store
from benchstone.store.records import Registration, Unregistration
from benchstone.system.host import served_caller


@dataclass(frozen=True)
class Project:
    """A registered project: where it lives and its pinned manifest."""

    registration: Registration
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.registration.project

    @property
    def root(self) -> Path:
        return Path(self.registration.path)

    def benchmark(self, name: str) -> BenchmarkSpec:
        return resolved(self.manifest.benchmark(name), self.manifest.project)


@dataclass(frozen=True)
class RegisterOutcome:
    project: Project
    changed: bool
    previous: Registration | None
    corpus: dict[str, CorpusCheck]
    warnings: tuple[str, ...] = ()


def register(store: Store, home: Home, path: Path) -> RegisterOutcome:
    """Pin ``path``'s manifest. Re-registering an unchanged manifest at the same path is a no-op."""
    given = path.expanduser().absolute()
    root, head = repository_head(given)
    if (given / MANIFEST_RELATIVE_PATH).is_file() and given.resolve() != root.resolve():
        # its own manifest, below the top: registering the top's manifest would be a silent swap
        raise GitError(
            f"{given} holds {MANIFEST_RELATIVE_PATH} but is not the top of its git repository "
            f"({root})",
            fix="benchstone runs a project from the top of its repository: move bench/ there, "
            "or make the project a repository of its own")
    manifest = load_manifest(root)
    raw = (root / MANIFEST_RELATIVE_PATH).read_bytes()
    if hashlib.sha256(raw).hexdigest() != manifest.sha256:
        raise ManifestError(f"{root / MANIFEST_RELATIVE_PATH}: changed while being registered; "
                            "register again")
    name = check_name(manifest.project.name, "project")
    previous = store.latest_registration(name)
    _refuse_another_callers(previous, store)
    _refuse_the_host(manifest)
    pinned = home.project_dir(name) / f"manifest-{manifest.sha256}.toml"
    if not _intact(pinned, manifest.sha256):
        # new, or a pinned copy that was deleted or altered: registering again repairs it
        write_private(pinned, raw)
    if (previous and previous.manifest_sha256 == manifest.sha256 and previous.path == str(root)
            and name not in store.unregistered()):
        registration = previous
        changed = False
    else:
        registration = store.add_registration(
            project=name, path=str(root), manifest_sha256=manifest.sha256,
            manifest_file=str(pinned),
        )
        changed = True
    project = Project(registration, manifest)
    checks = {bench.name: corpus_check(store, project, bench) for bench in manifest.benchmarks}
    return RegisterOutcome(project, changed, previous if changed else None, checks,
                           _uncommitted(root, head, raw))


def _uncommitted(root: Path, head: str, raw: bytes) -> tuple[str, ...]:
    """A warning when the manifest pinned is not the one committed at ``head``: every run
    measures the committed tree, and refuses one whose manifest is not the registered copy."""
    committed = file_at(root, head, MANIFEST_RELATIVE_PATH)
    if committed == raw:
        return ()
    state = "is not committed" if committed is None else "differs from the one committed at HEAD"
    return (f"{MANIFEST_RELATIVE_PATH} {state}: runs measure the committed tree and will refuse "
            f"it until it is committed (git add {MANIFEST_RELATIVE_PATH} && git commit)",)


def _refuse_the_host(manifest: Manifest) -> None:
    """Under the harness service, a caller who is not an administrator registers no manifest
    that asks for a sandbox on the host: whoever ran it later, an administrator included, would
    run the caller's code as the service's user."""
    asking = served_caller()
    wanted = {manifest.project.sandbox, *(bench.sandbox for bench in manifest.benchmarks)}
    if asking is None or not wanted & ON_THE_HOST:
        return
    raise SandboxRefused(
        f"the manifest asks for the {', '.join(sorted(wanted & ON_THE_HOST))} sandbox, which runs "
        "the code on the service's host, outside any container: through the benchstone service "
        f"it is for its administrators, not {asking}",
        fix="leave out sandbox = \"process\": the docker sandbox is the default")


def _refuse_another_callers(previous: Registration | None, store: Store) -> None:
    """Under the harness service, registering a project again points every later run at the new
    registration's code: only the caller who registered it (or an administrator) may."""
    asking = served_caller()
    if (previous is None or asking is None or previous.caller in (None, asking)
            or previous.project in store.unregistered()):
        return
    raise NotYourProject(
        f"project {previous.project!r} was registered by {previous.caller}: only they or an "
        "administrator of the benchstone service may register it again",
        fix="name your project differently in bench/manifest.toml, or ask "
            f"{previous.caller} or an administrator")


def _intact(pinned: Path, sha256: str) -> bool:
    try:
        return hashlib.sha256(pinned.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def unregister(store: Store, name: str) -> Unregistration:
    """End the registration of ``name``: it is no longer listed or run. Nothing is deleted; its
    history stays readable (bench history), and registering it again brings it back."""
    check_name(name, "project")
    with store.exclusive():
        registration = store.latest_registration(name)
        if registration is None:
            raise ProjectNotRegistered(f"project {name!r} is not registered")
        if name in store.unregistered():
            raise ProjectNotRegistered(f"project {name!r} is already unregistered",
                                       fix=f"register it again: bench register {registration.path}")
        return store.add_unregistration(registration)


def load_project(store: Store, name: str, *, unregistered_too: bool = False) -> Project:
    """The registered project ``name`` with its pinned manifest, verified against its hash.

    An unregistered project is refused, unless ``unregistered_too`` (to read its history)."""
    check_name(name, "project")
    registration = store.latest_registration(name)
    if registration is None:
        raise ProjectNotRegistered(f"project {name!r} is not registered")
    if not unregistered_too and name in store.unregistered():
        raise ProjectNotRegistered(
            f"project {name!r} was unregistered (its history is kept: bench history)",
            fix=f"register it again: bench register {registration.path}")
    try:
        raw = Path(registration.manifest_file).read_bytes()
    except OSError as exc:
        raise StoreError(
            f"the registered manifest of {name!r} ({registration.manifest_file}) cannot be read: "
            f"{exc.strerror}",
            fix=f"register the project again: bench register {registration.path}",
        ) from None
    if hashlib.sha256(raw).hexdigest() != registration.manifest_sha256:
        raise StoreError(
            f"the registered manifest of {name!r} was altered on disk "
            f"({registration.manifest_file})",
            fix=f"register the project again after reading its manifest: "
            f"bench register {registration.path}",
        )
    try:
        manifest = parse_manifest(raw, f"registered manifest of {name}",
                                  refuse_unpromotable=False)
    except ManifestError as exc:
        raise StoreError(str(exc)) from None
    return Project(registration, manifest)


def corpus_check(store: Store, project: Project, bench: BenchmarkSpec) -> CorpusCheck:
    """The state of ``bench``'s corpus: in the project tree, or harness-owned (``corpus = NAME``)."""
    if bench.corpus:
        from benchstone.project.corpora import check_owned_corpus

        return check_owned_corpus(store, bench.corpus)
    if not bench.corpus_path:
        return check_corpus(None, bench.corpus_type, None)
    path = Path(bench.corpus_path)
    if not path.is_absolute():
        path = project.root / path
    return check_corpus(path, bench.corpus_type, bench.corpus_hash)
