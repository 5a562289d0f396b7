"""How gates word numbers in their reasons, and how reports print them: one wording for the
same quantity everywhere."""

from __future__ import annotations

import math


def confidence(level: float) -> str:
    """The two-sided confidence 1 - 2 level as a percentage with the digits that matter."""
    digits = max(0, math.ceil(-math.log10(2 * level)) - 2)
    return f"{100 * (1 - 2 * level):.{digits}f}%"


def signed_percent(value: float, digits: int = 2) -> str:
    """A relative change with its sign; no change reads +0.00%, never -0.00%."""
    # rounded first, so that a change too small to show reads +0.00% too; adding 0.0 turns
    # -0.0 into 0.0
    return f"{round(value, digits + 2) + 0.0:+.{digits}%}"


def percent(value: float) -> str:
    """A relative change; the far ends of early sequential intervals are not worth digits."""
    if value <= -10:
        return "<-1000%"
    return ">+1000%" if value >= 10 else signed_percent(value)
