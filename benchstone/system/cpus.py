"""CPU sets written as the kernel writes them (``0-2,5``)."""

from __future__ import annotations


def parse_cpuset(text: str | None) -> tuple[int, ...]:
    """The indices in ``0,1,3`` or ``0-2,5``; empty for None or ''."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return tuple(sorted(out))
