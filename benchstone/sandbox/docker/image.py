"""The runner image: built from ``images/python/Dockerfile``, on a registry base where one is
reachable and on a Debian base made offline (debootstrap + ``docker import``) where not.

An image carries the hash of its recipe as a label; it is built only when missing or when the
recipe changed, and never rebuilt behind the user's back: a new image id makes earlier
baselines incomparable, so a stale image is reported, not replaced.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from benchstone.errors import ImageError
from benchstone.resources import bundled
from benchstone.sandbox.docker.engine import client, describe, transient_retry

DEFAULT_IMAGE = "benchstone-runner:python"
OFFLINE_BASE = "benchstone-base:bookworm"
DEBIAN_SUITE = "bookworm"
# valgrind: the harness counts instructions with it (metric_source = "harness_instructions")
DEBIAN_PACKAGES = "python3,valgrind"
RECIPE_LABEL = "benchstone.recipe"
BASE_LABEL = "benchstone.base"
Notify = Callable[[str], None]


def recipe_dir() -> Path:
    return bundled("images", "python")


def recipe_hash() -> str:
    """sha256 of every file of the recipe directory, by name."""
    digest = hashlib.sha256()
    root = recipe_dir()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _offline_base_recipe() -> str:
    return hashlib.sha256(f"debootstrap minbase {DEBIAN_SUITE} {DEBIAN_PACKAGES}".encode()
                          ).hexdigest()[:16]


@dataclass(frozen=True)
class ImageState:
    name: str
    present: bool
    image_id: str | None = None
    recipe: str | None = None
    base: str | None = None
    created: str | None = None

    @property
    def current(self) -> bool:
        # A runner image names the base it was built on; the Debian base of the offline path
        # names none, and follows a recipe of its own.
        wanted = recipe_hash() if self.base is not None else _offline_base_recipe()
        return self.present and self.recipe == wanted


def image_state(name: str = DEFAULT_IMAGE) -> ImageState:
    try:
        image = transient_retry(client().images.get)(name)
    except docker.errors.ImageNotFound:
        return ImageState(name, False)
    labels = image.labels or {}
    return ImageState(name, True, image.id, labels.get(RECIPE_LABEL), labels.get(BASE_LABEL),
                      image.attrs.get("Created"))


def list_images() -> list[ImageState]:
    """Every image on the engine built from a benchstone recipe."""
    out = []
    for image in transient_retry(client().images.list)(filters={"label": RECIPE_LABEL}):
        labels = image.labels or {}
        for tag in image.tags or [image.short_id]:
            out.append(ImageState(tag, True, image.id, labels.get(RECIPE_LABEL),
                                  labels.get(BASE_LABEL), image.attrs.get("Created")))
    return out


def _run_logged(command: list[str], notify: Notify) -> None:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    assert process.stdout is not None
    last = ""
    for line in process.stdout:
        last = line.strip() or last
        if line.startswith(("I: Retrieving Packages", "I: Installing core", "I: Configuring the",
                            "I: Base system")):
            notify(line.strip())
    if process.wait() != 0:
        raise ImageError(f"{' '.join(command[:3])} failed: {last}")


def build_offline_base(notify: Notify, mirror: str | None = None) -> str:
    """A Debian base image from packages (debootstrap minbase with python3, ``docker import``)."""
    want = _offline_base_recipe()
    try:
        existing = client().images.get(OFFLINE_BASE)
        if (existing.labels or {}).get(RECIPE_LABEL) == want:
            return OFFLINE_BASE
    except docker.errors.ImageNotFound:
        pass
    if os.geteuid() != 0:
        raise ImageError("building the offline base image needs root (debootstrap)",
                         fix="run bench image build --offline as root, or build on a host that "
                         "reaches a registry")
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is not installed", fix="apt-get install -y debootstrap")
    notify(f"building {OFFLINE_BASE} from Debian packages (debootstrap, about a minute)")
    workdir = Path(tempfile.mkdtemp(prefix="benchstone-debootstrap-"))
    try:
        root = workdir / "root"
        command = ["debootstrap", "--variant=minbase", f"--include={DEBIAN_PACKAGES}",
                   DEBIAN_SUITE, str(root)]
        if mirror:
            command.append(mirror)
        _run_logged(command, notify)
        shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        tarball = workdir / "root.tar"
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(tarball), "."],
                       check=True)
        notify(f"importing {OFFLINE_BASE}")
        repository, tag = OFFLINE_BASE.split(":")
        client().api.import_image_from_file(
            str(tarball), repository=repository, tag=tag,
            changes=[f"LABEL {RECIPE_LABEL}={want}", 'CMD ["/bin/sh"]'],
        )
    except subprocess.CalledProcessError as exc:
        raise ImageError(f"packing the Debian root file system failed: {exc}") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return OFFLINE_BASE


def _docker_build(base: str, tag: str, notify: Notify) -> str:
    labels = {RECIPE_LABEL: recipe_hash(), BASE_LABEL: base}
    try:
        stream = client().api.build(
            path=str(recipe_dir()), tag=tag, buildargs={"BASE": base}, labels=labels,
            rm=True, forcerm=True, decode=True,
            # a Debian base made offline carries every package; a registry base installs
            # valgrind from its distribution's archive
            network_mode="none" if base == OFFLINE_BASE else None,
        )
        for chunk in stream:
            if "error" in chunk:
                raise ImageError(f"docker build failed: {chunk['error'].strip()}")
            text = str(chunk.get("stream", "")).strip()
            if text.startswith("Step "):
                notify(text)
    except docker.errors.APIError as exc:
        raise ImageError(f"docker build failed: {describe(exc)}") from None
    return transient_retry(client().images.get)(tag).id


def _registry_base_available(base: str, notify: Notify) -> bool:
    try:
        client().images.get(base)
        return True
    except docker.errors.ImageNotFound:
        pass
    notify(f"pulling {base}")
    try:
        client().images.pull(base)
        return True
    except docker.errors.APIError as exc:
        notify(f"cannot pull {base} ({describe(exc)}): using the offline Debian base")
        return False


def build_image(notify: Notify, *, offline: bool | None = None, tag: str = DEFAULT_IMAGE,
                base: str = "python:3.12-slim", mirror: str | None = None,
                force: bool = False) -> ImageState:
    """Build the runner image unless it is present and current (or ``force``).

    ``offline`` True uses the Debian base; False requires the registry; None tries the registry
    and falls back to the Debian base when it does not answer.
    """
    state = image_state(tag)
    if state.current and not force:
        notify(f"{tag} is present and current ({state.image_id[:19] if state.image_id else ''})")
        return state
    if offline is None:
        offline = not _registry_base_available(base, notify)
    elif not offline and not _registry_base_available(base, notify):
        raise ImageError(f"cannot pull {base}", fix="build offline: bench image build --offline")
    chosen = build_offline_base(notify, mirror) if offline else base
    notify(f"building {tag} on {chosen}")
    _docker_build(chosen, tag, notify)
    return image_state(tag)


def ensure_image(name: str, notify: Notify) -> str:
    """The id of ``name``, building the default runner image if it is missing."""
    state = image_state(name)
    if state.present:
        if name == DEFAULT_IMAGE and not state.current:
            notify(f"the runner image {name} is older than its recipe; it is used as it is "
                   "(rebuild with bench image build, then establish new baselines)")
        return state.image_id or ""
    if name != DEFAULT_IMAGE:
        raise ImageError(f"image {name!r} is not on the Docker Engine",
                         fix=f"pull or build it first (docker pull {name})")
    notify(f"the runner image {name} is missing: building it once")
    built = build_image(notify, tag=name)
    return built.image_id or ""
