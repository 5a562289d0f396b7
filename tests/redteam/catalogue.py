"""The attack catalogue, and playing one attack in a fresh lab."""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from redteam import (  # noqa: F401  (importing an attack module adds its attacks)
    attacks_corpora,
    attacks_escape,
    attacks_gaming,
    attacks_links,
    attacks_protocol,
    attacks_resources,
    attacks_sides,
)
from redteam.attack import CATALOGUE, Attack
from redteam.lab import Lab, unprivileged_user


@dataclass
class AttackResult:
    attack: Attack
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

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
    user = None
    if attack.unprivileged:
        user, why_not = unprivileged_user()
        if user is None:
            return AttackResult(attack, skipped=why_not)
        base = None  # a test's own temporary directory is not open to another user
    root = Path(tempfile.mkdtemp(prefix=f"rt-{attack.name.replace('@', '-')}-", dir=base))
    os.chmod(root, 0o755)
    lab = Lab(root / "lab", attack.name.replace("@", "_"), engine=attack.engine, user=user)
    try:
        attack.play(lab)
        violations = lab.judge()
    except Exception as exc:  # a broken setup is reported, never counted as contained
        violations = [f"the attack could not be played: {type(exc).__name__}: {exc}",
                      *traceback.format_exc().splitlines()[-3:]]
    finally:
        lab.close()
        root.rmdir() if root.exists() and not any(root.iterdir()) else None
    return AttackResult(attack, violations, time.monotonic() - started, notes=lab.notes)
