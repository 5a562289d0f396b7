"""Is a process still the one we started? A pid alone can be reused; pid plus start time not."""

from __future__ import annotations

import os


def start_time(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = text[text.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def own_identity() -> tuple[int, str]:
    return os.getpid(), start_time(os.getpid()) or ""


def is_alive(pid: int | None, started: str | None) -> bool:
    """True when ``pid`` runs and, if ``started`` is given, began at that time."""
    if not pid:
        return False
    current = start_time(pid)
    if current is None:
        return False
    if started and current != started:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def another_live_process_here(host: str, pid: int, this_host: str) -> bool:
    """Whether ``pid`` on ``host`` is a process of this machine that is still running and is not
    this one (a harness still running a repetition it started). Only the pid is known: one
    reused since looks alive, which only delays the answer about that repetition."""
    return host == this_host and pid != os.getpid() and is_alive(pid, None)
