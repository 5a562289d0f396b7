"""Engine faults on a private engine of the test's own (the shared engine is never stopped):
stopped mid-run, restarted between repetitions and in the middle of one. The run recovers or
ends with a one-line harness error, never blames the benchmark, and loses nothing
(redteam/engine_faults.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redteam import engine_faults
from redteam.private_engine import EngineUnavailable, PrivateEngine

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def private_engine() -> Iterator[PrivateEngine]:
    reason = PrivateEngine.why_not()
    if reason:
        pytest.skip(f"no private engine: {reason}")
    engine = PrivateEngine()
    try:
        engine.start()
        engine.load_image("benchstone-runner:python")
    except EngineUnavailable as exc:
        engine.close()
        pytest.skip(f"no private engine: {exc}")
    yield engine
    engine.close()


@pytest.mark.parametrize("scenario", engine_faults.SCENARIOS, ids=lambda s: s.__name__)
def test_engine_fault(scenario, private_engine: PrivateEngine, tmp_path: Path, docker_client) -> None:
    if not private_engine.answers():
        private_engine.start()
    result = scenario(tmp_path, private_engine)
    assert result.ok, f"{result.name}: {result.details}\n" + "\n".join(result.problems)
    assert result.outcome in ("recovered through retries", "clear harness error")
