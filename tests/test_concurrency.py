"""Concurrency: eight ``bench run`` writers on different benchmarks of one project (two of them
on docker) and readers looping ``evaluate``, ``history`` and ``list``, against one store: every
repetition's row is there exactly once and no lock error reaches a user (redteam/concurrency.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from redteam import concurrency


@pytest.mark.docker
@pytest.mark.slow
def test_eight_writers_and_readers_share_one_store(tmp_path: Path, docker_client) -> None:
    report = concurrency.campaign(tmp_path, writers=8, docker_writers=2, repetitions=20, readers=3)
    assert report.ok, "\n".join(report.problems)
    assert report.rows_found == report.rows_expected == 160
    assert report.reads >= 3
