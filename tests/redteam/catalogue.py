"""The attack catalogue, and playing one attack in a fresh lab."""

from __future__ import annotations

import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from redteam import attacks_escape, attacks_gaming, attacks_protocol, attacks_resources  # noqa: F401
from redteam.attack import CATALOGUE, Attack
from redteam.lab import Lab


@dataclass
class AttackResult:
    attack: Attack
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def contained(self) -> bool:
        return not self.violations


def attacks() -> list[Attack]:
    return list(CATALOGUE)


def by_name(name: str) -> Attack:
    for candidate in CATALOGUE:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def play(attack: Attack, base: Path | None = None) -> AttackResult:
    """Play ``attack`` in a fresh lab under ``base`` (a new temporary directory by default)."""
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix=f"rt-{attack.name}-", dir=base))
    lab = Lab(root / "lab", attack.name, engine=attack.engine)
    try:
        attack.play(lab)
        violations = lab.judge()
    except Exception as exc:  # a broken setup is reported, never counted as contained
        violations = [f"the attack could not be played: {type(exc).__name__}: {exc}",
                      *traceback.format_exc().splitlines()[-3:]]
    finally:
        lab.close()
        root.rmdir() if root.exists() and not any(root.iterdir()) else None
    return AttackResult(attack, violations, time.monotonic() - started)
