"""What an attack is, and the pieces the catalogue's attacks share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redteam.lab import DEFAULT_BENCHMARK, Lab


@dataclass(frozen=True)
class Attack:
    """One hostile move: ``play`` sets the scene, arms the lab's snapshot, attacks through the
    real CLI and records what must hold; the lab's generic checks do the rest."""

    name: str
    tries: str
    threat: str
    play: Callable[[Lab], None]
    engine: bool = True
    unprivileged: bool = False  # the harness runs as an ordinary user in the docker group
    known_gap: str | None = None  # not contained yet: why, and what would fix it


CATALOGUE: list[Attack] = []
USER_SUFFIX = "@user"


def attack(name: str, tries: str, threat: str, engine: bool = True, as_user_too: bool = False,
           known_gap: str | None = None):
    """Add the decorated function to the catalogue; with ``as_user_too`` also a variant in which
    the harness runs as an unprivileged user, so that the sandbox runs as that user too and
    file modes alone (a 0o700 state directory) cannot be what stops the attack."""

    def register(play: Callable[[Lab], None]) -> Callable[[Lab], None]:
        CATALOGUE.append(Attack(name, tries, threat, play, engine, known_gap=known_gap))
        if as_user_too:
            CATALOGUE.append(Attack(name + USER_SUFFIX, tries + " (harness not root)", threat, play,
                                    engine, unprivileged=True))
        return play

    return register


def benchmark(**overrides: Any) -> dict[str, Any]:
    return {**DEFAULT_BENCHMARK, **overrides}


# A well-behaved shell runner: metric = src/metric + (repetition index mod 3) / 1000.
# The spread follows the repetition index, not the seed: an unchanged program then gives the
# baseline and the candidate the same sample, so "not rewarded" never depends on luck.
HONEST = """\
set -eu
index=$(sed -n 's/.*"repetition_index": *\\([0-9]*\\).*/\\1/p' "$2")
base=$(cat src/metric)
metric=$(awk -v b="$base" -v s="$index" 'BEGIN { printf "%.6f", b + (s % 3) / 1000 }')
printf '{"status": "ok", "metric": %s}\\n' "$metric" > "$3"
"""


def failures(lab: Lab, benchmark_name: str = "probe") -> list[str | None]:
    return [row["failure"] for row in lab.runs(benchmark_name)]


def expect_failures(lab: Lab, allowed: set[str], count: int, benchmark_name: str = "probe") -> None:
    """The newest run set has ``count`` rows, each an error whose failure is in ``allowed``."""
    rows = lab.runs(benchmark_name)
    lab.expect(len(rows) == count, f"expected {count} row(s), found {len(rows)}")
    for row in rows:
        lab.expect(row["status"] == "error" and row["failure"] in allowed,
                   f"rep {row['repetition']}: {row['status']}/{row['failure']} "
                   f"({row['message']}), expected an error in {sorted(allowed)}")
        lab.expect("\n" not in (row["message"] or ""), "an error message spans several lines")


def expect_not_rewarded(lab: Lab, benchmark_name: str = "probe",
                        allowed: frozenset[str] = frozenset({"NEEDS_MORE_DATA", "REJECT", "TAMPERED",
                                                             "NO_BASELINE", "FAIL", "NO_REFERENCE"})
                        ) -> dict[str, Any]:
    code, verdict = lab.evaluate(benchmark_name)
    lab.expect(verdict.get("kind") in allowed,
               f"evaluate says {verdict.get('kind')} ({verdict.get('reason')})")
    lab.expect(code in (1, 2), f"evaluate exited {code}")
    return verdict
