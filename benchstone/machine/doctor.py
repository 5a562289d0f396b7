"""``bench doctor``: is this machine ready to run benchmarks in containers, and if not, what
to do. Each check names its problem and its fix; ``fix`` repairs what can be repaired."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from benchstone.errors import BenchstoneError
from benchstone.paths import DIR_MODE, FILE_MODE, Home
from benchstone.system.packages import install_packages, missing_tools

if TYPE_CHECKING:  # docker is imported only when the engine is checked
    from benchstone.sandbox.docker.engine import EngineInfo


class Check(BaseModel):
    name: str
    ok: bool
    detail: str
    fix: str | None = None


def _loose_paths(home: Home) -> list[Path]:
    """Paths under the state directory that another user could read. Harness-owned corpora are
    read-only for everyone on purpose, so that the container's user can read them: the corpora
    directory itself (0700) is what keeps other users out, so only it is checked."""
    loose: list[Path] = []
    for directory, dirnames, filenames in os.walk(home.root):
        here = Path(directory)
        if here == home.corpora_dir:
            dirnames[:] = []
            continue
        for name in [*dirnames, *filenames]:
            path = here / name
            info = path.lstat()
            if (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)) \
                    and stat.S_IMODE(info.st_mode) & 0o077:
                loose.append(path)
    if stat.S_IMODE(home.root.stat().st_mode) != DIR_MODE:
        loose.insert(0, home.root)
    return loose


def check_state_directory(home: Home, repair: bool) -> Check:
    """Nothing under the state directory readable by another user; with ``repair``, made so."""
    loose = _loose_paths(home) if home.root.exists() else []
    if loose and repair:
        for path in loose:
            os.chmod(path, DIR_MODE if path.is_dir() else FILE_MODE)
        loose = []
    if loose:
        return Check(name="state directory", ok=False,
                     detail=f"{len(loose)} path(s) under {home.root} readable by others, e.g. "
                     f"{loose[0]}", fix="bench doctor --fix (directories 0700, files 0600)")
    return Check(name="state directory", ok=True, detail=f"{home.root} (private)")


def _install_missing_tools(notify: Callable[[str], None]) -> None:
    """Every host command the two README commands need, installed in one go, each named."""
    missing = missing_tools()
    if not missing:
        return
    for tool in missing:
        notify(f"missing: {tool.command} (Debian package {tool.package}), needed for "
               f"{tool.needed_for}")
    try:
        install_packages([tool.package for tool in missing], notify)
    except BenchstoneError as exc:
        notify(f"could not install {', '.join(tool.package for tool in missing)}: {exc}")


def _debootstrap_check(image_current: bool) -> Check:
    path = shutil.which("debootstrap")
    if path:
        return Check(name="debootstrap", ok=True, detail=path)
    return Check(name="debootstrap", ok=image_current,
                 detail="not found: needed to build the runner image without a registry"
                 + ("" if not image_current else " (the image is built, so not now)"),
                 fix=None if image_current else "bench doctor --fix (apt-get install -y debootstrap)")


def _runtime_checks(info: EngineInfo, wanted: str | None, repair: bool,
                    notify: Callable[[str], None]) -> tuple[EngineInfo, list[Check]]:
    """The engine's runtimes, and the one asked for (``--runtime``, ``$BENCHSTONE_RUNTIME``):
    registered, or with ``repair`` installed and registered."""
    from benchstone.sandbox import choose_runtime
    from benchstone.sandbox.docker import engine, runtimes

    wanted = wanted or choose_runtime(None)
    # an installable runtime is set up again even when registered: its entry may be outdated
    if wanted and repair and (wanted not in info.runtimes or wanted in runtimes.INSTALLABLE):
        try:
            runtimes.ensure_runtime(wanted, notify)
            engine.reset_client()
            info = engine.engine_info()
        except BenchstoneError as exc:
            notify(f"could not set up the runtime {wanted}: {exc}")
    known = ", ".join(f"{name} (default)" if name == info.default_runtime else name
                      for name in info.runtimes)
    checks = [Check(name="container runtimes", ok=True, detail=known)]
    if wanted:
        if wanted in info.runtimes:
            gvisor = " (gVisor)" if wanted == runtimes.GVISOR else ""
            checks.append(Check(name=f"runtime {wanted}", ok=True,
                                detail=f"registered{gvisor}: runtime = \"{wanted}\" benchmarks "
                                "can run"))
        else:
            checks.append(Check(name=f"runtime {wanted}", ok=False,
                                detail="not registered with the engine",
                                fix=runtimes.runtime_fix(wanted)))
    return info, checks


def run_checks(home: Home, *, repair: bool = False, offline: bool | None = None,
               notify: Callable[[str], None] = lambda message: None,
               runtime: str | None = None) -> list[Check]:
    if repair:
        _install_missing_tools(notify)
    checks = [Check(name="git", ok=shutil.which("git") is not None,
                    detail=shutil.which("git") or "not found",
                    fix="bench doctor --fix (apt-get install -y git)")]
    checks.append(check_state_directory(home, repair))
    from benchstone.sandbox.docker import engine, image, provision

    if repair:
        try:
            provision.ensure_engine(notify)
        except BenchstoneError as exc:
            notify(f"could not start an engine: {exc}")
    try:
        engine.reset_client()
        info = engine.engine_info()
    except BenchstoneError as exc:
        checks.append(Check(name="docker engine", ok=False, detail=str(exc), fix=exc.fix))
        return checks
    checks.append(Check(name="docker engine", ok=True,
                        detail=f"Docker {info.version} (API {info.api_version}), "
                        f"{'local' if info.local else 'remote'}"))
    cpu_note = ("CPU time is measured" if info.local and info.cgroup_driver == "cgroupfs"
                else "CPU time is not measured (needs a local engine with the cgroupfs driver)")
    checks.append(Check(name="cgroups", ok=True,
                        detail=f"v{info.cgroup_version}, driver {info.cgroup_driver}: {cpu_note}"))
    info, runtime_checks = _runtime_checks(info, runtime, repair, notify)
    checks += runtime_checks
    state = image.image_state()
    if repair and not state.current:
        try:
            state = image.build_image(notify, offline=offline)
        except BenchstoneError as exc:
            notify(f"could not build the runner image: {exc}")
    if not state.present:
        checks.append(Check(name="runner image", ok=False, detail=f"{state.name} is missing",
                            fix="bench image build (add --offline without a registry)"))
    elif not state.current:
        checks.append(Check(name="runner image", ok=False,
                            detail=f"{state.name} was built from an older recipe",
                            fix="bench image build --force, then establish new baselines"))
    else:
        checks.append(Check(name="runner image", ok=True,
                            detail=f"{state.name} {(state.image_id or '')[7:19]} on {state.base}"))
    checks.append(_debootstrap_check(state.current))
    checks.append(Check(
        name="nvidia runtime", ok=True,
        detail="present: gpu = \"direct\" benchmarks can run" if info.has_nvidia else
        "absent: gpu = \"direct\" benchmarks cannot run here (others are unaffected)"))
    return checks
