"""The verdict kinds and the exit code each maps to: the vocabulary every layer shares, from the
statistics to the CLI. No imports, so that naming a kind costs nothing."""

from __future__ import annotations

from enum import StrEnum


class VerdictKind(StrEnum):
    """What a gate says. A ``StrEnum``: it compares equal to, and serialises as, its name."""

    PROMOTE = "PROMOTE"
    REJECT = "REJECT"
    NEEDS_MORE_DATA = "NEEDS_MORE_DATA"
    NO_BASELINE = "NO_BASELINE"
    PASS = "PASS"
    FAIL = "FAIL"
    NO_REFERENCE = "NO_REFERENCE"
    TAMPERED = "TAMPERED"


VERDICT_EXIT_CODES: dict[str, int] = {
    VerdictKind.PROMOTE: 0,
    VerdictKind.PASS: 0,
    VerdictKind.REJECT: 1,
    VerdictKind.FAIL: 1,
    VerdictKind.TAMPERED: 1,
    VerdictKind.NEEDS_MORE_DATA: 2,
    VerdictKind.NO_BASELINE: 2,
    VerdictKind.NO_REFERENCE: 2,
}
UNKNOWN_VERDICT_EXIT = 3
EXPECT_MISMATCH_EXIT = 4

# What a run set that is still waiting for evidence says: nothing is wrong, run more.
WAITING_KINDS = frozenset({VerdictKind.NEEDS_MORE_DATA, VerdictKind.NO_BASELINE,
                           VerdictKind.NO_REFERENCE})
# What fails a CI job: the change is worse, wrong, or touched what it must not.
FAILING_KINDS = frozenset({VerdictKind.REJECT, VerdictKind.FAIL, VerdictKind.TAMPERED})


def exit_code_for(kind: str) -> int:
    return VERDICT_EXIT_CODES.get(kind, UNKNOWN_VERDICT_EXIT)
