"""The handover pipes on their own: what a writer puts in reaches the harness's directory bounded
by the limits, pipes are write-only, and what the trusted step reports is turned into files the
runner's reader judges as before (a symlink, a directory, nothing)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from benchstone.errors import ProtocolError
from benchstone.run.protocol import read_limited
from benchstone.sandbox.docker.handover import Handover


def _write(directory: Path, name: str, data: bytes) -> None:
    # another process, as the container's trusted step is
    subprocess.run(["sh", "-c", f'cat > "{directory / name}"'], input=data, check=True)


def test_files_are_handed_over_within_their_limits(tmp_path: Path) -> None:
    with Handover(tmp_path, {"result": 100, "artifact": 10}, None) as handover:
        for name in ("result", "artifact", "status"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o200
        _write(tmp_path, "result", b'{"status": "ok", "metric": 1}')
        _write(tmp_path, "artifact", b"x" * 5_000_000)  # far past its limit: read and dropped
        _write(tmp_path, "status", b"result.json file\nartifact.bin file\ndone\n")
        handed = handover.finish()
    assert handed.complete and not handed.scratch_full and not handed.stragglers
    assert (tmp_path / "result.json").read_bytes() == b'{"status": "ok", "metric": 1}'
    assert (tmp_path / "artifact.bin").stat().st_size == 11  # the limit plus one byte
    assert stat.S_IMODE((tmp_path / "result.json").stat().st_mode) == 0o600
    with pytest.raises(ProtocolError, match="over the 10-byte limit"):
        read_limited(tmp_path / "artifact.bin", 10, "artifact")


def test_links_other_files_and_missing_files_are_refused_as_before(tmp_path: Path) -> None:
    with Handover(tmp_path, {"result": 100, "artifact": 100}, None) as handover:
        _write(tmp_path, "status", b"full\nresult.json link\nartifact.bin other\ndone\n")
        handed = handover.finish()
    assert handed.scratch_full
    with pytest.raises(ProtocolError, match="symlink"):
        read_limited(tmp_path / "result.json", 100, "result")
    with pytest.raises(ProtocolError, match="not a regular file"):
        read_limited(tmp_path / "artifact.bin", 100, "artifact")

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with Handover(fresh, {"result": 100, "artifact": 100}, None) as handover:
        _write(fresh, "status", b"result.json none\nartifact.bin none\ndone\n")
        handover.finish()
    with pytest.raises(ProtocolError, match="wrote no result"):
        read_limited(fresh / "result.json", 100, "result")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a write-only pipe anyway")
def test_the_pipes_cannot_be_opened_for_reading(tmp_path: Path) -> None:
    handover = Handover(tmp_path, {"result": 100, "artifact": 100}, None)
    with handover, pytest.raises(PermissionError):
        os.open(tmp_path / "result", os.O_RDONLY | os.O_NONBLOCK)


def test_a_pipe_left_open_by_a_writer_does_not_hang_the_harness(tmp_path: Path) -> None:
    handover = Handover(tmp_path, {"result": 100, "artifact": 100}, None)
    with handover:
        writer = subprocess.Popen(["sh", "-c", f'exec 3>"{tmp_path / "result"}"; sleep 30'])
        try:
            handed = handover.finish()  # must return although a writer still holds the pipe
        finally:
            writer.kill()
            writer.wait()
    assert not handed.complete and not (tmp_path / "result.json").exists()
