"""The kinds of verdict and the exit code each maps to.

Kept apart from the verdict models so that the command line can name the kinds (``--expect``)
and the exit codes without loading pydantic.
"""

from __future__ import annotations

from enum import StrEnum


class VerdictKind(StrEnum):
    PROMOTE = "PROMOTE"
    REJECT = "REJECT"
    NEEDS_MORE_DATA = "NEEDS_MORE_DATA"
    NO_BASELINE = "NO_BASELINE"
    PASS = "PASS"
    FAIL = "FAIL"
    NO_REFERENCE = "NO_REFERENCE"
    TAMPERED = "TAMPERED"


VERDICT_EXIT_CODES: dict[str, int] = {
    "PROMOTE": 0,
    "PASS": 0,
    "REJECT": 1,
    "FAIL": 1,
    "TAMPERED": 1,
    "NEEDS_MORE_DATA": 2,
    "NO_BASELINE": 2,
    "NO_REFERENCE": 2,
}
UNKNOWN_VERDICT_EXIT = 3
EXPECT_MISMATCH_EXIT = 4


def exit_code_for(kind: str) -> int:
    return VERDICT_EXIT_CODES.get(kind, UNKNOWN_VERDICT_EXIT)
