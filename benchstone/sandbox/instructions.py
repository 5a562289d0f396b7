"""The instruction count of a repetition's whole process tree, read from Valgrind's own logs.

Under ``metric_source = "harness_instructions"`` the invocation runs under Valgrind with
``--trace-children=yes``: every process of the tree is a Valgrind process that sends its log to
a collector over its own connection, opened when the process starts, and reports its count
(``I refs``) when it exits. The collector (``sandbox/instructions.py``, run as another user
than the benchmark's) writes each line tagged with its connection into a file the benchmark
cannot reach. Here the harness reads that file.

The count is the sum of every process's ``I refs``: a line the code under test manages to
inject can only add to it. A process that started but never reported (killed before it could)
makes the count unknown, never smaller, and so do a connection that never said which program it
counts (a Valgrind told to be quiet, ``-q`` in ``VALGRIND_OPTS`` or a ``.valgrindrc``; or lines
the code sent itself), a total no 64-bit counter holds, and a program that replaced itself with
``exec`` (Valgrind counts a program when it exits, not when it execs). The first connection is
the invocation itself, opened before any code of the benchmark runs: only its shell, which runs
nothing but the manifest's invocation, may end by exec.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

InstructionScope = Literal["process_tree", "marked_region"]

# process_tree: cachegrind, which counts every instruction and obeys no request of the code it
# runs to stop counting. marked_region: callgrind, whose client requests let a runner zero the
# count where its measured region starts and stop counting where it ends (the bench init
# template's ``instructions_region``).
TOOL_OPTIONS: dict[str, str] = {
    "process_tree": "--tool=cachegrind --cache-sim=no --branch-sim=no "
                    "--cachegrind-out-file=/dev/null",
    "marked_region": "--tool=callgrind --callgrind-out-file=/dev/null",
}
LOG_FILE = "valgrind.log"
# The image's shells (its root file system is read-only): the invocation's may end by exec
SHELLS = frozenset({"/bin/sh", "/usr/bin/sh", "/bin/dash", "/usr/bin/dash", "/bin/bash",
                    "/usr/bin/bash"})
LOG_LIMIT = 8 * 1024 * 1024
_TAGGED = re.compile(r"^(\d{1,6}|\*)\t(.*)$")
_PROCESS = re.compile(r"^==(\d{1,10})== (.*)$")
_REFS = re.compile(r"^I\s+refs:\s+([\d,]{1,40})\s*$")
# what a row's INTEGER column holds: a larger total was sent by the code, not counted
LARGEST_COUNT = 2**63 - 1


@dataclass(frozen=True)
class InstructionCount:
    """The tree's count (None when it cannot be known, with the reason) and how many processes
    reported one."""

    total: int | None
    processes: int = 0
    problem: str | None = None


def read_count(path: Path, limit: int = LOG_LIMIT) -> InstructionCount:
    """The instruction count in the collector's file at ``path``."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return InstructionCount(None, problem="the instruction-count collector wrote nothing")
    if len(data) > limit:
        return InstructionCount(None, problem="Valgrind's log was over its size limit")
    return parse_count(data.decode("utf-8", "replace"))


def parse_count(text: str) -> InstructionCount:
    """The count in the collector's lines (``<connection>\\t<Valgrind log line>``)."""
    started: dict[int, dict[str, str]] = defaultdict(dict)  # connection -> pid -> command
    reported: dict[int, set[str]] = defaultdict(set)
    connections: set[int] = set()
    total = processes = 0
    for line in text.splitlines():
        tagged = _TAGGED.match(line)
        if tagged is None:
            continue
        tag, body = tagged.groups()
        if body == "OVERFLOW":
            return InstructionCount(None, problem="the processes sent more log than the "
                                    "collector keeps: the count is unknown")
        if tag != "*":
            connections.add(int(tag))
        entry = _PROCESS.match(body)
        if entry is None or tag == "*":
            continue
        connection = int(tag)
        pid, message = entry.groups()
        if message.startswith("Command: "):
            started[connection].setdefault(pid, message.removeprefix("Command: ")[:120])
            continue
        refs = _REFS.match(message.strip())
        if refs is not None:
            total += int(refs.group(1).replace(",", ""))
            processes += 1
            reported[connection].add(pid)
    if 1 not in started:
        return InstructionCount(None, processes, "Valgrind sent no count for the invocation "
                                "(it did not start, or the invocation was killed)")
    if silent := sorted(connections - set(started)):
        return InstructionCount(None, processes, (
            f"{len(silent)} connection(s) to the collector never named the program they count "
            "(a Valgrind told to be quiet, by -q in VALGRIND_OPTS or a .valgrindrc, or lines "
            "the code sent itself): what those processes ran would go uncounted"))
    if total > LARGEST_COUNT:
        return InstructionCount(None, processes, f"the reported counts add up to {total}, more "
                                "than any process runs (lines the code sent itself)")
    for connection in sorted(started):
        for pid, command in started[connection].items():
            if pid in reported[connection]:
                continue
            if problem := _uncounted(pid, command, connection, started):
                return InstructionCount(None, processes, problem)
    return InstructionCount(total, processes)


def _uncounted(pid: str, command: str, connection: int,
               started: dict[int, dict[str, str]]) -> str | None:
    """Why a process that started without reporting a count makes the count unknown; None for
    the invocation's own shell (the first connection) when it replaced itself with its command:
    it ran nothing but the manifest's invocation. Any other shell may have run the benchmark's
    work (a loop, a preloaded library) before an ``exec``, which would leave it uncounted."""
    program = command.split(" ", 1)[0]
    replaced = any(pid in started[later] for later in started if later > connection)
    if not replaced:
        return (f"process {pid} ({command[:80]}) ended before Valgrind could count it "
                "(killed, or still running when the invocation ended)")
    if connection == 1 and program in SHELLS:
        return None
    return (f"process {pid} ({command[:80]}) replaced itself (exec) before Valgrind could count "
            "it: Valgrind counts a program when it exits, so what ran before an exec would go "
            "uncounted; run the next program as a child instead (a script's last line "
            "without exec)")
