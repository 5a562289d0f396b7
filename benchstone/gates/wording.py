"""How gates word numbers in their reasons, and how reports print them: one wording for the
same quantity everywhere."""

from __future__ import annotations

import math


def confidence(level: float) -> str:
    """The two-sided confidence 1 - 2 level as a percentage with the digits that matter."""
    digits = max(0, math.ceil(-math.log10(2 * level)) - 2)
    return f"{100 * (1 - 2 * level):.{digits}f}%"


def percent(value: float) -> str:
    """A relative change; the far ends of early sequential intervals are not worth digits."""
    if value <= -10:
        return "<-1000%"
    return ">+1000%" if value >= 10 else f"{value:+.2%}"
