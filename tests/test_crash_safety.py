"""Crash safety: SIGKILL ``bench run`` at 20 points of a run set chosen by a seeded random
schedule; after each, the store is intact, no row is half-written, ``bench gc`` leaves no
container and no work directory, and the next run works (see redteam/crash.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from redteam import crash


@pytest.mark.docker
@pytest.mark.slow
def test_sigkill_at_twenty_points_of_a_run_set(tmp_path: Path, docker_client) -> None:
    report = crash.campaign(tmp_path, points=20)
    failed = [f"kill {point.index + 1} at {point.delay:.2f}s ({point.phase}): {point.problems}"
              for point in report.points if point.problems]
    assert not failed, "\n".join(failed)
    assert report.final_run_ok and not report.problems, report.problems
    assert report.survived == 20
    assert len(report.phases()) >= 3, f"the schedule hit too few phases: {report.phases()}"


def test_store_problems_sees_a_half_recorded_run_set(tmp_path: Path) -> None:
    """The checker itself can fail: rows that skip a repetition are reported."""
    import sqlite3

    from benchstone.store import Store

    store = Store(tmp_path / "bench.db")
    store.close()
    db = sqlite3.connect(tmp_path / "bench.db")
    db.execute("INSERT INTO run_sets (project, benchmark, kind, git_sha, git_dirty, repetitions, "
               "seeds, sandbox, env_hash, environment, manifest_sha256, host, user, created_at) "
               "VALUES ('p', 'b', 'run', 'x', 0, 3, '[1, 2, 3]', 'docker', 'h', '{}', 'm', 'h', "
               "'u', 't')")
    db.execute("INSERT INTO runs (run_set_id, project, benchmark, git_sha, git_dirty, seed, "
               "repetition, status, message, failure, sandbox, host, started_at, finished_at) "
               "VALUES (1, 'p', 'b', 'x', 0, 2, 1, 'error', 'm', 'timeout', 'docker', 'h', 't', 't')")
    db.commit()
    db.close()
    problems = crash.store_problems(tmp_path / "bench.db")
    assert any("not repetitions 0..0" in problem for problem in problems)


def test_a_work_directory_not_fully_removed_keeps_its_owner(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Clean-up removes the owner file last, and only when all else is gone: what a killed or
    failed clean-up leaves is still a directory bench gc recognises and collects."""
    import shutil
    import subprocess
    import tempfile

    from benchstone.system.workdirs import OWNER_FILE, create_workdir, remove_tree

    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    workdir = create_workdir()
    stuck = workdir / "rep-0" / "scratch" / "stuck"
    stuck.parent.mkdir(parents=True)
    stuck.write_text("immutable\n")
    for name in ("a", "b", "c"):
        (workdir / "rep-0" / name).write_text(name)
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable attribute")
    try:
        remove_tree(workdir)
        assert (workdir / OWNER_FILE).is_file()
    finally:
        subprocess.run(["chattr", "-R", "-i", str(workdir)], check=False)  # it may have moved
    remove_tree(workdir)
    assert not workdir.exists()



def test_clean_up_never_changes_modes_through_a_link_swapped_in_for_a_directory(
        tmp_path: Path) -> None:
    """A container still running while its scratch is removed can replace a directory by a
    link between the harness's look and its chmod: the link's target must keep its mode."""
    import os
    import stat
    from unittest import mock

    from benchstone.system import workdirs

    outside = tmp_path / "outside"
    outside.mkdir()
    outside.chmod(0o755)
    (outside / "keep.txt").write_text("not the harness's\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "swapped").symlink_to(outside)
    top = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY)
    try:
        # the look saw a directory: the swap happened right after it
        with mock.patch.object(workdirs.stat, "S_ISDIR", lambda _mode: True):
            workdirs._empty_into(top, "swapped", [])
    finally:
        os.close(top)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755
    assert (outside / "keep.txt").read_text() == "not the harness's\n"


def test_scratch_usage_forgives_a_directory_replaced_by_a_file_while_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A benign runner may turn a directory into a file between the watchdog's listing and its
    look inside: that is no reason to kill it as over budget."""
    import os

    from benchstone.sandbox import capture

    scratch = tmp_path / "scratch"
    (scratch / "was_a_directory").mkdir(parents=True)
    (scratch / "data.bin").write_bytes(b"x" * 4096)
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("was_a_directory"):
            raise NotADirectoryError(20, "Not a directory", str(path))
        return real_scandir(path)

    monkeypatch.setattr(capture.os, "scandir", scandir)
    assert capture.disk_usage(scratch, budget=1 << 20) <= 1 << 20


def test_a_work_directory_and_a_repetitions_scratch_are_named_at_random(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_project) -> None:
    """A container sees the host path of its scratch directory (in /proc/self/mountinfo, under
    runc): the path names neither the harness's pid and start time nor the repetition's position
    in its run set, which would tell a baseline from a candidate apart."""
    import tempfile

    from benchstone.paths import Home
    from benchstone.run.runner import repetition_of
    from benchstone.store.records import RunSet
    from benchstone.system.procs import own_identity
    from benchstone.system.workdirs import OWNER_FILE, collect_workdirs, create_workdir

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    pid, started = own_identity()
    workdir = create_workdir()
    assert re.fullmatch(r"benchstone-run-[0-9a-f]{16}", workdir.name), workdir.name
    assert (workdir / OWNER_FILE).read_text().split()[1:] == [str(pid), started]
    assert [entry.name for entry in temporary.iterdir()] == [workdir.name]  # nothing staged
    assert collect_workdirs(temporary) == []  # its owner, this process, is alive
    # a clean-up killed after it removed the owner's file, before the directory itself: empty,
    # nameless, and still collected
    left = create_workdir()
    (left / OWNER_FILE).unlink()
    assert collect_workdirs(temporary) == [left] and workdir.is_dir()
    run_set = RunSet.model_construct(id=7, project="p", benchmark="b")
    scratches = [repetition_of(Home(tmp_path / "home"), run_set, index, workdir).scratch_dir
                 for index in range(3)]
    assert len({scratch.parent.name for scratch in scratches}) == 3
    for scratch in scratches:
        assert scratch.parent.parent == workdir and scratch.name == "scratch"
        assert re.fullmatch(r"rep-[0-9a-f]{16}", scratch.parent.name), scratch


def test_each_repetition_runs_under_the_names_it_was_reserved_with(
        bench, make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Names drawn at random must be drawn once: a container made ahead for a repetition is
    found again by that repetition's scratch directory when it runs."""
    from benchstone.sandbox.process import ProcessSandbox

    reserved: list[Path] = []
    ran: list[Path] = []
    run = ProcessSandbox.run

    def reserve(self, spec, repetitions) -> None:
        reserved.extend(repetition.scratch_dir for repetition in repetitions)

    def recording_run(self, spec, repetition):
        ran.append(repetition.scratch_dir)
        return run(self, spec, repetition)

    monkeypatch.setattr(ProcessSandbox, "reserve", reserve)
    monkeypatch.setattr(ProcessSandbox, "run", recording_run)
    root = make_project("toy")
    assert bench("register", str(root)).returncode == 0
    assert bench("run", "toy", "speed", "-n", "3", "--sandbox", "process").returncode == 0
    assert len(reserved) == 3 and ran == reserved


def test_a_work_directory_whose_owner_died_before_naming_itself_is_collected(
        tmp_path: Path) -> None:
    """Killed between making its directory and writing the owner's file: the hidden name it
    has until then says whose it was, so bench gc still collects it once that process is gone,
    and not before."""
    import subprocess

    from benchstone.system.procs import start_time
    from benchstone.system.workdirs import PREFIX, STAGING, collect_workdirs

    owner = subprocess.Popen(["sleep", "300"])
    try:
        left = tmp_path / f"{STAGING}{PREFIX}{owner.pid}.{start_time(owner.pid)}.abcd1234"
        left.mkdir()
        assert collect_workdirs(tmp_path) == [] and left.is_dir()  # its owner still runs
    finally:
        owner.kill()
        owner.wait()
    assert collect_workdirs(tmp_path) == [left] and not left.exists()
    foreign = tmp_path / f"{PREFIX}notours"
    foreign.mkdir()
    assert collect_workdirs(tmp_path) == [] and foreign.is_dir()
