"""The hostile-agent suite: a separate non-root Unix user with a shell on the host attacks the
harness service (tests/redteam/agents.py). Needs root (real users are created and removed);
the run-related attempts need the engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redteam.agents import ATTEMPTS, Attempt, ServiceLab, lab_running, why_not

pytestmark = pytest.mark.skipif(bool(why_not()), reason=f"hostile-agent suite: {why_not()}")


@pytest.fixture(scope="module")
def service_lab() -> Iterator[ServiceLab]:
    with lab_running() as lab:
        yield lab


@pytest.mark.slow
@pytest.mark.parametrize("attempt", [
    pytest.param(attempt, id=attempt.name, marks=[pytest.mark.docker] if attempt.engine else [])
    for attempt in ATTEMPTS])
def test_the_attempt_is_contained(service_lab: ServiceLab, attempt: Attempt) -> None:
    outcome = attempt.play(service_lab)
    assert outcome.contained, f"{attempt.name} ({attempt.tries}):\n  " + "\n  ".join(
        outcome.details)
    assert service_lab.alive(), "the service went down:\n" + service_lab.log()[-2000:]
