"""The registry: the pinned manifest copy, re-registration, and loading a verified manifest."""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import commit_all

from benchstone.errors import GitError, ManifestError, ProjectNotRegistered, StoreError
from benchstone.paths import Home
from benchstone.project.registry import load_project, register
from benchstone.store import Store


@pytest.fixture
def state(home: Path) -> Iterator[tuple[Home, Store]]:
    place = Home(home).ensure()
    store = Store(place.database)
    yield place, store
    store.close()


def manifest_bytes(root: Path) -> bytes:
    return (root / "bench" / "manifest.toml").read_bytes()


def test_register_pins_a_private_copy(state, make_project) -> None:
    place, store = state
    root = make_project("toy")
    outcome = register(store, place, root)
    raw = manifest_bytes(root)
    digest = hashlib.sha256(raw).hexdigest()
    pinned = Path(outcome.project.registration.manifest_file)
    assert pinned == place.root / "projects" / "toy" / f"manifest-{digest}.toml"
    assert pinned.read_bytes() == raw
    assert stat.S_IMODE(pinned.stat().st_mode) == 0o600
    assert stat.S_IMODE(pinned.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((place.root / "projects").stat().st_mode) == 0o700
    assert outcome.changed is True and outcome.previous is None
    registration = outcome.project.registration
    assert (registration.project, registration.path, registration.manifest_sha256) == (
        "toy", str(root), digest)


def test_register_from_a_subdirectory_uses_the_repository_root(state, make_project) -> None:
    place, store = state
    root = make_project("toy")
    assert register(store, place, root / "src").project.root == root


def test_a_manifest_in_a_subdirectory_is_refused_not_swapped_for_the_top_one(
        state, make_project) -> None:
    # ``bench register PATH`` reads PATH/bench/manifest.toml: when PATH is inside a repository
    # whose top holds another project, registering the top one instead would be a silent swap
    place, store = state
    root = make_project("toy")
    inner = root / "tools" / "other"
    (inner / "bench").mkdir(parents=True)
    (inner / "bench" / "manifest.toml").write_text(
        (root / "bench" / "manifest.toml").read_text().replace('name = "toy"', 'name = "other"'))
    commit_all(root, "a second project in a subdirectory")
    with pytest.raises(GitError, match="not the top of its git repository") as caught:
        register(store, place, inner)
    assert caught.value.fix and str(root) in str(caught.value)
    assert store.registrations() == []


def test_unchanged_re_register_is_a_no_op(state, make_project) -> None:
    place, store = state
    root = make_project("toy")
    first = register(store, place, root)
    again = register(store, place, root)
    assert again.changed is False and again.previous is None
    assert again.project.registration == first.project.registration
    assert len(store.registrations("toy")) == 1
    assert len(list((place.root / "projects" / "toy").iterdir())) == 1


def test_changed_manifest_adds_a_registration_and_keeps_the_old_copy(state, make_project) -> None:
    place, store = state
    root = make_project("toy")
    first = register(store, place, root)
    old_file = Path(first.project.registration.manifest_file)
    old_bytes = old_file.read_bytes()

    path = root / "bench" / "manifest.toml"
    path.write_text(path.read_text().replace("promotion_sigma = 2.0", "promotion_sigma = 3.0"))
    commit_all(root, "stricter gate")
    second = register(store, place, root)

    assert second.changed is True
    assert second.previous == first.project.registration
    assert old_file.read_bytes() == old_bytes  # the old version is kept, untouched
    new_file = Path(second.project.registration.manifest_file)
    assert new_file != old_file and new_file.read_bytes() == manifest_bytes(root)
    assert [r.manifest_sha256 for r in store.registrations("toy")] == [
        first.project.registration.manifest_sha256, second.project.registration.manifest_sha256]
    assert load_project(store, "toy").benchmark("speed").promotion_sigma == 3.0


def test_an_uncommitted_manifest_is_pinned_with_a_warning(state, make_project, bench) -> None:
    """Runs measure the committed tree and refuse a manifest that is not the registered copy:
    registering an edit before committing it says so at once, not at the next run."""
    place, store = state
    root = make_project("toy")
    assert register(store, place, root).warnings == ()
    path = root / "bench" / "manifest.toml"
    path.write_text(path.read_text().replace("promotion_sigma = 2.0", "promotion_sigma = 3.0"))
    edited = register(store, place, root)
    assert edited.warnings == (
        "bench/manifest.toml differs from the one committed at HEAD: runs measure the committed "
        "tree and will refuse it until it is committed (git add bench/manifest.toml && git "
        "commit)",)
    shown = bench("register", str(root))
    assert shown.returncode == 0 and "differs from the one committed at HEAD" in shown.stdout + shown.stderr
    commit_all(root, "stricter gate")
    assert register(store, place, root).warnings == ()


def test_load_project_reads_the_pinned_copy_not_the_project(state, make_project) -> None:
    place, store = state
    root = make_project("toy")
    register(store, place, root)
    path = root / "bench" / "manifest.toml"
    path.write_text(path.read_text().replace("promotion_sigma = 2.0", "promotion_sigma = 0.1"))
    commit_all(root, "an agent loosens its own gate")
    assert load_project(store, "toy").benchmark("speed").promotion_sigma == 2.0


def test_altered_pinned_copy_is_detected(state, make_project) -> None:
    place, store = state
    root = make_project("toy")
    pinned = Path(register(store, place, root).project.registration.manifest_file)
    pinned.write_text(pinned.read_text().replace("promotion_sigma = 2.0", "promotion_sigma = 0.1"))
    with pytest.raises(StoreError, match="was altered on disk") as info:
        load_project(store, "toy")
    assert info.value.fix and "bench register" in info.value.fix


def test_missing_pinned_copy_is_detected(state, make_project) -> None:
    place, store = state
    root = make_project("toy")
    Path(register(store, place, root).project.registration.manifest_file).unlink()
    with pytest.raises(StoreError, match="cannot be read"):
        load_project(store, "toy")


@pytest.mark.parametrize("damage", ["alter", "delete"])
def test_re_registering_repairs_a_damaged_pinned_copy(state, make_project, damage: str) -> None:
    """The error's fix says 'register the project again': that must work."""
    place, store = state
    root = make_project("toy")
    pinned = Path(register(store, place, root).project.registration.manifest_file)
    if damage == "alter":
        pinned.write_text("[project]\nname = 'toy'\ninvocation = 'rm -rf ~'\n")
    else:
        pinned.unlink()
    with pytest.raises(StoreError):
        load_project(store, "toy")
    register(store, place, root)
    assert pinned.read_bytes() == manifest_bytes(root)
    assert stat.S_IMODE(pinned.stat().st_mode) == 0o600
    assert load_project(store, "toy").manifest.sha256 == hashlib.sha256(manifest_bytes(root)).hexdigest()


def test_unregistered_project(state) -> None:
    _place, store = state
    with pytest.raises(ProjectNotRegistered, match="project 'ghost' is not registered"):
        load_project(store, "ghost")


def test_register_needs_a_repository_with_a_commit(state, tmp_path: Path, make_project) -> None:
    place, store = state
    loose = tmp_path / "loose"
    loose.mkdir()
    with pytest.raises(GitError):
        register(store, place, loose)


def test_register_refuses_an_invalid_manifest(state, make_project) -> None:
    place, store = state
    root = make_project("toy")
    path = root / "bench" / "manifest.toml"
    path.write_text(path.read_text().replace('name = "speed"', 'name = "../speed"'))
    with pytest.raises(ManifestError, match=r"benchmarks\[0\]\.name is not a safe name"):
        register(store, place, root)
    assert store.registrations() == []
    assert not (place.root / "projects").exists()


def test_registering_shows_corpus_status(state, make_project) -> None:
    place, store = state
    outcome = register(store, place, make_project("toy"))
    assert {name: check.status for name, check in outcome.corpus.items()} == {
        "speed": "n/a", "quality": "n/a", "output": "n/a"}
