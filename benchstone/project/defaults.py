"""What ``bench init`` names things when told nothing: light, so ``bench --help`` can show it."""

from __future__ import annotations

DEFAULT_BENCHMARK = "speed"
