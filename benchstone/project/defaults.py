"""What ``bench init`` names things when told nothing: light, so ``bench --help`` can show it."""

from __future__ import annotations

DEFAULT_BENCHMARK = "speed"
# the runner bench init writes for each language, under bench/
RUNNERS: dict[str, str] = {"python": "runner.py", "shell": "run.sh"}
