"""Text for the commands that look after the machine: doctor, gc and the runner images."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchstone.machine.cleanup import Leftovers
    from benchstone.machine.doctor import Check
    from benchstone.sandbox.docker.image import ImageState


def doctor_lines(checks: list[Check]) -> list[str]:
    lines = []
    for check in checks:
        lines.append(f"{'ok ' if check.ok else 'BAD'}  {check.name:<16} {check.detail}")
        if not check.ok and check.fix:
            lines.append(f"     fix: {check.fix}")
    return lines


def leftovers_lines(removed: Leftovers) -> list[str]:
    containers = removed.containers
    lines = [f"removed {len(containers)} container(s)" + (f": {' '.join(containers)}" if containers else "")]
    if removed.workdirs:
        count = len(removed.workdirs)
        lines.append(f"removed {count} work director{'y' if count == 1 else 'ies'} of a harness that is gone")
    if removed.snapshots:
        count = len(removed.snapshots)
        lines.append(f"removed {count} corpus snapshot{'' if count == 1 else 's'} no run uses")
    return lines


def image_built_line(state: ImageState) -> str:
    return f"{state.name} {state.image_id} (recipe {state.recipe}, base {state.base})"


def image_dicts(states: list[ImageState]) -> list[dict[str, object]]:
    """The images as ``image list --json`` prints them."""
    return [{"name": s.name, "image_id": s.image_id, "recipe": s.recipe, "base": s.base,
             "created": s.created, "current": s.current} for s in states]


def image_lines(states: list[ImageState]) -> list[str]:
    if not states:
        return ["no runner images (bench image build)"]
    return [f"{state.name:<32} {(state.image_id or '')[7:19]}  recipe {state.recipe} "
            f"{'current' if state.current else 'OUTDATED'}  base {state.base}" for state in states]
