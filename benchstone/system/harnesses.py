"""Containers of harnesses that are gone, collected by the next command of the same state
directory, cheaply.

A harness that runs containers leaves a small marker under ``$BENCHSTONE_HOME/harnesses`` for
as long as its run set is open: its host, pid and the pid's start time. Its containers carry the
same three labels and the state directory's own label. A harness killed before its clean-up
leaves its marker behind; every ``bench`` command (and every run set) reads the markers on its
way in, and for each whose process no longer exists on this host removes that harness's
containers, and nothing else: never a container of a live harness, of another host, or of
another state directory. With no marker left behind this costs a directory listing; the engine
is asked only when a harness is gone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # every command reads the markers: the way in imports as little as it can
    from benchstone.paths import Home

MARKERS = "harnesses"


class Marker(NamedTuple):
    path: Path
    host: str
    pid: int
    start: str


def home_label(home: Home) -> str:
    """The label value naming a state directory on a container (a hash: not its path)."""
    import hashlib  # here: bench list and --help pass through this module and hash nothing

    return hashlib.sha256(str(home.root).encode()).hexdigest()[:16]


@contextlib.contextmanager
def harness_marker(home: Home) -> Iterator[None]:
    """Mark this process as a harness running containers for ``home`` until the block ends."""
    import json
    import secrets

    from benchstone.paths import write_private
    from benchstone.system.host import host_name
    from benchstone.system.procs import own_identity

    pid, start = own_identity()
    path = home.root / MARKERS / f"{pid}-{start}-{secrets.token_hex(4)}.json"
    write_private(path, json.dumps({"host": host_name(), "pid": pid, "start": start}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def gone_harnesses(home: Home) -> list[Marker]:
    """The markers of this host's harnesses whose process is gone."""
    directory = home.root / MARKERS
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    if not names:
        return []
    import json

    from benchstone.system.host import host_name
    from benchstone.system.procs import is_alive

    gone = []
    me = host_name()
    for name in names:
        path = directory / name
        try:
            record = json.loads(path.read_text())
            marker = Marker(path, str(record["host"]), int(record["pid"]), str(record["start"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written, or not ours to judge
        if marker.host == me and not is_alive(marker.pid, marker.start):
            gone.append(marker)
    return gone
