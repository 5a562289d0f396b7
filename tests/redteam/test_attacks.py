"""Every attack of the catalogue as a test: it must be contained (see redteam/lab.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from redteam.catalogue import attacks, play


def test_the_catalogue_covers_the_brief() -> None:
    names = [attack.name for attack in attacks()]
    assert len(names) == len(set(names)) >= 20


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("attack", attacks(), ids=lambda attack: attack.name)
def test_attack_is_contained(attack, tmp_path: Path, docker_client,
                             request: pytest.FixtureRequest) -> None:
    if attack.known_gap:
        request.applymarker(pytest.mark.xfail(reason=f"known gap: {attack.known_gap}", strict=True))
    result = play(attack, tmp_path)
    if result.skipped:
        pytest.skip(result.skipped)
    assert result.contained, f"{attack.name} ({attack.tries}):\n  " + "\n  ".join(result.violations)
