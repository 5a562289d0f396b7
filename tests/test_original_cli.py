"""The original benchstone's command line, kept: a script written for it runs unchanged.

Waiting for cores in the foreground, --version and the usage lines, the reference group and its
aliases, --seed-set, --notes, baseline establish --repetitions, list --project, history
--git-sha/--since, --from-run, unregister, and --expect exiting 0 on a match. Every test drives
the real CLI (or the real API) with the process sandbox.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import commit_all, git

import benchstone
from benchstone import api, cli
from benchstone.errors import AdmissionRefused, InvalidArgument, ProjectNotRegistered
from benchstone.jobs import leases
from benchstone.project.manifest import BenchmarkSpec
from benchstone.run.environment import derive_seeds
from benchstone.store import Store

SB = ("--sandbox", "process")
CLI_REFERENCE = Path(__file__).parent.parent / "docs" / "cli.md"


@pytest.fixture
def toy(make_project, bench) -> Path:
    root = make_project("toy")
    registered = bench("register", str(root))
    assert registered.returncode == 0, registered.stderr
    return root


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)


def _set(root: Path, relative: str, text: str) -> str:
    (root / relative).write_text(text)
    return commit_all(root, f"set {relative}")


# ---- 12: a foreground run waits for its cores ------------------------------------------------


@pytest.mark.slow
def test_a_foreground_run_waits_for_its_cores_saying_whom_it_waits_for(
        bench, toy, home, monkeypatch) -> None:
    """One core in the budget, held by a lease taken here: a plain run waits (and says for
    which job), then runs once the lease ends; --no-wait fails at once, as the API's
    wait=False does."""
    monkeypatch.setenv("BENCHSTONE_MAX_THREADS", "1")  # this process's lease and the CLI's
    store = Store(home / "bench.db")
    holding = leases.foreground(store, "holder", BenchmarkSpec(name="slow", tier="performance"),
                                "run", 1)
    lease = holding.__enter__()
    waiter = None
    try:
        started = time.monotonic()
        refused = bench("run", "toy", "speed", "--no-wait", *SB)
        assert refused.returncode == 5, refused.stderr
        assert time.monotonic() - started < 30
        assert "no capacity now" in refused.stderr and f"job {lease.job.id}" in refused.stderr
        no_wait_baseline = bench("baseline", "establish", "toy", "speed", "--no-wait", *SB)
        assert no_wait_baseline.returncode == 5 and "no capacity now" in no_wait_baseline.stderr
        with pytest.raises(AdmissionRefused):
            api.run("toy", "speed", sandbox="process", wait=False, home=home)

        waiter = subprocess.Popen([sys.executable, "-m", "benchstone", "run", "toy", "speed", "-n",
                                   "2", *SB], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        deadline = time.monotonic() + 60
        while not [job for job in api.status(include_foreground=True, home=home)
                   if job.state == "queued"]:
            assert waiter.poll() is None, waiter.communicate()
            assert time.monotonic() < deadline, "the second run never queued"
            time.sleep(0.2)
        time.sleep(1.0)
        assert waiter.poll() is None  # still waiting: nothing ran while the lease is held
        assert api.history("toy", "speed", home=home) == []
    finally:
        holding.__exit__(None, None, None)
        store.close()
    assert waiter is not None
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, (out, err)
    assert "waiting: needs 1 thread(s)" in err
    assert f"job {lease.job.id} (holder/slow, foreground run" in err
    assert len(api.history("toy", "speed", home=home)) == 2


def test_wait_and_no_wait_are_documented(bench) -> None:
    for command in (("run",), ("baseline", "establish"), ("compare",)):
        shown = bench(*command, "--help").stdout
        assert "--wait / --no-wait" in shown and "fail at once" in shown, command


# ---- 13: --version, usage lines, the reference group -----------------------------------------


def test_version(bench) -> None:
    result = bench("--version")
    assert (result.returncode, result.stdout) == (0, f"bench {benchstone.__version__}\n")
    assert benchstone.__version__ == "0.2.0"


def _all_commands() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(cli.app), ())
    return found


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "bench")
def test_usage_lines_name_positionals_in_upper_case(path: tuple[str, ...], capsys) -> None:
    assert cli.main([*path, "--help"]) == 0
    usage = capsys.readouterr().out.splitlines()[0]
    words = usage.removeprefix(f"Usage: bench {' '.join(path)}".rstrip()).split()
    assert "{" not in usage and "}" not in usage, usage
    for word in words:
        assert re.fullmatch(r"\[OPTIONS\]|COMMAND|\[ARGS\]\.\.\.|\[?[A-Z_]+\]?", word), usage


def test_expect_lists_the_kinds_in_upper_case(bench, toy) -> None:
    result = bench("evaluate", "toy", "speed", "--expect", "maybe")
    assert result.returncode == 64
    assert "PROMOTE, REJECT, NEEDS_MORE_DATA, NO_BASELINE, PASS, FAIL" in result.stderr
    assert "promote" not in result.stderr


def test_the_reference_group_and_the_original_names(bench, toy) -> None:
    group = bench("reference", "--help")
    assert group.returncode == 0
    assert re.search(r"^\s+freeze\s", group.stdout, re.MULTILINE)
    assert re.search(r"^\s+replace\s", group.stdout, re.MULTILINE)
    assert re.search(r"^\s+list\s", group.stdout, re.MULTILINE)
    top = bench("--help").stdout
    assert "freeze-reference" not in top and re.search(r"^\s+reference\s", top, re.MULTILINE)
    headings = set(CLI_REFERENCE.read_text().splitlines())
    for name in ("reference freeze", "reference replace", "reference list", "freeze-reference",
                 "replace-reference", "references"):
        assert f"## bench {name}" in headings, name
    # both names work on the same data
    assert bench("run", "toy", "output", *SB).returncode == 0
    frozen = _json(bench("freeze-reference", "toy", "output", "--json"))
    listed = _json(bench("reference", "list", "toy", "output", "--json"))
    assert [event["id"] for event in listed] == [frozen["id"]]
    assert _json(bench("references", "toy", "output", "--json")) == listed
    again = bench("reference", "freeze", "toy", "output")
    assert again.returncode == 5 and "already has a frozen reference" in again.stderr


# ---- 14: the original's flags and verbs ------------------------------------------------------


@pytest.mark.slow
def test_seed_set_and_baseline_repetitions(bench, toy) -> None:
    candidate = _json(bench("run", "toy", "speed", "--seed-set", "baseline", "--json", *SB))
    assert [run["seed"] for run in candidate["runs"]] == [1, 2, 3, 4, 5]
    assert (candidate["run_set"]["kind"], candidate["run_set"]["meta_seed"]) == ("run", None)
    first_two = _json(bench("run", "toy", "speed", "--seed-set", "baseline", "-n", "2", "--json",
                            *SB))
    assert [run["seed"] for run in first_two["runs"]] == [1, 2]
    fresh = _json(bench("run", "toy", "speed", "--seed-set", "fresh", "--meta-seed", "7",
                        "--json", *SB))
    assert fresh["run_set"]["meta_seed"] == 7 and [r["seed"] for r in fresh["runs"]] != [1, 2, 3,
                                                                                         4, 5]
    both = bench("run", "toy", "speed", "--seed-set", "baseline", "--meta-seed", "7", *SB)
    assert both.returncode == 64 and "--meta-seed" in both.stderr
    with pytest.raises(InvalidArgument):
        api.run("toy", "speed", seed_set="baseline", meta_seed=7, sandbox="process")

    # the public seeds, as asked: a reproduction, recorded as caller-seeded (never gate evidence)
    assert candidate["run_set"]["caller_seeds"] and fresh["run_set"]["caller_seeds"]
    too_many = bench("run", "toy", "speed", "--seed-set", "baseline", "-n", "6", *SB)
    assert too_many.returncode == 5
    assert "lists 5 baseline_seeds" in too_many.stderr and "--repetitions 5" in too_many.stderr

    # a baseline runs as many repetitions as baseline_seeds lists (or --repetitions), on fresh
    # secret seeds like a candidate's, so the code under test cannot tell the sides apart
    three = _json(bench("baseline", "establish", "toy", "speed", "--repetitions", "3", "--json",
                        *SB))
    run_set = three["report"]["run_set"]
    assert len(three["report"]["runs"]) == 3 and not run_set["caller_seeds"]
    assert [run["seed"] for run in three["report"]["runs"]] == derive_seeds(run_set["meta_seed"], 3)
    all_five = api.establish_baseline("toy", "speed", sandbox="process")
    assert len(all_five.report.runs) == 5
    assert [run.seed for run in all_five.report.runs] != [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_notes_are_stored_and_shown_in_history(bench, toy, home) -> None:
    established = _json(bench("baseline", "establish", "toy", "speed", "--notes",
                              "initial baseline", "--json", *SB))
    assert established["pointer"]["notes"] == "initial baseline"
    _set(toy, "src/speed.txt", "0.5\n")  # twice as fast
    assert bench("run", "toy", "speed", *SB).returncode == 0
    promoted = _json(bench("promote", "toy", "speed", "--notes", "halved", "--json"))
    assert promoted["pointer"]["notes"] == "halved"
    assert bench("run", "toy", "output", *SB).returncode == 0
    frozen = _json(bench("freeze-reference", "toy", "output", "--notes", "golden v1", "--json"))
    assert frozen["notes"] == "golden v1"

    text = bench("history", "toy", "speed").stdout
    assert "(establish" in text and "notes: initial baseline" in text
    assert "(promote" in text and "notes: halved" in text
    timeline = _json(bench("history", "toy", "speed", "--json"))
    notes = [event["notes"] for entry in timeline["entries"] for event in entry["baseline_events"]]
    assert sorted(notes) == ["halved", "initial baseline"]
    output = bench("history", "toy", "output")
    assert "<- reference (freeze" in output.stdout and "notes: golden v1" in output.stdout
    events = [event for entry in _json(bench("history", "toy", "output", "--json"))["entries"]
              for event in entry["reference_events"]]
    assert [event["notes"] for event in events] == ["golden v1"]
    # stored: a fresh process reads them back from the store
    assert [p.notes for p in Store(home / "bench.db").pointers("toy", "speed")] == [
        "initial baseline", "halved"]


def test_list_project(bench, toy, make_project) -> None:
    other = make_project("toy", directory="second")
    manifest = other / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('name = "toy"', 'name = "toy2"', 1))
    commit_all(other, "rename")
    assert bench("register", str(other)).returncode == 0
    assert [p["name"] for p in _json(bench("list", "--json"))] == ["toy", "toy2"]
    only = _json(bench("list", "--project", "toy2", "--json"))
    assert [p["name"] for p in only] == ["toy2"]
    assert bench("list", "-p", "toy").stdout.startswith("toy ")
    ghost = bench("list", "--project", "ghost")
    assert ghost.returncode == 5 and "project 'ghost' is not registered" in ghost.stderr
    assert [p.name for p in api.list_projects(project="toy")] == ["toy"]


def test_history_by_commit_prefix_and_time(bench, toy) -> None:
    first = git(toy, "rev-parse", "HEAD")
    assert bench("run", "toy", "speed", "-n", "2", *SB).returncode == 0
    second = _set(toy, "src/speed.txt", "0.9\n")
    assert bench("run", "toy", "speed", "-n", "2", *SB).returncode == 0

    def shas(*args: str) -> list[str]:
        timeline = _json(bench("history", "toy", "speed", "--json", *args))
        return [entry["run_set"]["git_sha"] for entry in timeline["entries"]]

    assert shas() == [second, first]
    assert shas("--git-sha", first[:7]) == [first]
    assert shas("--git-sha", second[:10].upper()) == [second]
    assert shas("--since", "2000-01-01") == [second, first]
    assert shas("--since", "2999-01-01T00:00Z") == []
    assert "no run set matches" in bench("history", "toy", "speed", "--since", "2999-01-01").stdout
    middle = _json(bench("history", "toy", "speed", "--json"))["entries"][0]["run_set"]
    assert shas("--since", middle["created_at"]) == [second]
    for bad in (("--since", "last week"), ("--git-sha", "xyz")):
        refused = bench("history", "toy", "speed", *bad)
        assert refused.returncode == 64 and bad[0] in refused.stderr, refused.stderr
    assert "2025-03-01T14:30" in bench("history", "--help").stdout  # the formats are told
    runs = api.history("toy", "speed", git_sha_prefix=first[:8], since="2000-01-01")
    assert {run.git_sha for run in runs} == {first} and len(runs) == 2
    with pytest.raises(InvalidArgument):
        api.history("toy", "speed", since="soon")


def test_freeze_and_replace_from_a_named_run(bench, toy) -> None:
    speed = _json(bench("run", "toy", "speed", "-n", "1", "--json", *SB))["runs"][0]
    old = _json(bench("run", "toy", "output", "--json", *SB))["runs"][0]
    _set(toy, "src/output.txt", "a new format\n")
    new = _json(bench("run", "toy", "output", "--json", *SB))["runs"][0]

    foreign = bench("freeze-reference", "toy", "output", "--from-run", str(speed["id"]))
    assert foreign.returncode == 5
    assert f"run {speed['id']} belongs to toy/speed, not toy/output" in foreign.stderr
    missing = bench("reference", "freeze", "toy", "output", "--from-run", "9999")
    assert missing.returncode == 5 and "there is no run 9999" in missing.stderr
    both = bench("freeze-reference", "toy", "output", "--from-run", str(old["id"]), "--at-sha",
                 "HEAD")
    assert both.returncode == 64

    # HEAD's newest artifact is the new one; --from-run freezes the old run's instead
    frozen = _json(bench("freeze-reference", "toy", "output", "--from-run", str(old["id"]),
                         "--json"))
    assert (frozen["run_id"], frozen["new_sha256"]) == (old["id"], old["artifact_sha256"])
    assert frozen["git_sha"] == old["git_sha"] != new["git_sha"]
    replaced = _json(bench("replace-reference", "toy", "output", "--reason", "format v2",
                           "--from-run", str(new["id"]), "--json"))
    assert (replaced["run_id"], replaced["old_sha256"]) == (new["id"], old["artifact_sha256"])


def test_from_run_refuses_a_run_without_an_artifact(bench, toy, home) -> None:
    (toy / "src" / "output.txt").unlink()  # the runner fails without it
    commit_all(toy, "break the output")
    result = bench("run", "toy", "output", "--json", *SB)
    assert result.returncode == 1  # every repetition failed; the error row is recorded
    failed = json.loads(result.stdout)["runs"][0]
    assert failed["status"] == "error"
    refused = bench("freeze-reference", "toy", "output", "--from-run", str(failed["id"]))
    assert refused.returncode == 5
    assert f"run {failed['id']} of toy/output has no artifact (it failed" in refused.stderr
    with pytest.raises(Exception, match="has no artifact"):
        api.freeze_reference("toy", "output", run_id=failed["id"], home=home)


def test_unregister_keeps_the_history_and_register_brings_it_back(bench, toy, home) -> None:
    assert bench("run", "toy", "speed", "-n", "2", *SB).returncode == 0
    gone = bench("unregister", "toy")
    assert gone.returncode == 0 and "unregistered toy" in gone.stdout
    assert _json(bench("list", "--json")) == []
    refused = bench("run", "toy", "speed", *SB)
    assert refused.returncode == 5 and "project 'toy' was unregistered" in refused.stderr
    assert f"bench register {toy}" in refused.stderr
    assert bench("evaluate", "toy", "speed").returncode == 5
    assert len(api.history("toy", "speed", home=home)) == 2  # kept, and still readable
    twice = bench("unregister", "toy")
    assert twice.returncode == 5 and "already unregistered" in twice.stderr
    with pytest.raises(ProjectNotRegistered):
        api.unregister("ghost", home=home)

    assert bench("register", str(toy)).returncode == 0
    assert [p["name"] for p in _json(bench("list", "--json"))] == ["toy"]
    assert bench("run", "toy", "speed", "-n", "1", *SB).returncode == 0
    assert len(api.history("toy", "speed", home=home)) == 3
    event = api.unregister("toy", home=home)
    assert event.project == "toy"
    with Store(home / "bench.db") as store:  # two events; every registration still stored
        assert len(store.db.execute("SELECT * FROM unregistrations").fetchall()) == 2
        assert len(store.registrations("toy")) == 2
    assert api.list_projects(home=home) == []


# ---- 15: --expect exits 0 on a match ---------------------------------------------------------


@pytest.mark.slow
def test_expect_exits_0_on_a_match_and_4_on_a_mismatch(bench, toy) -> None:
    assert bench("evaluate", "toy", "speed", "--expect", "NO_BASELINE").returncode == 0
    assert bench("baseline", "establish", "toy", "speed", *SB).returncode == 0
    _set(toy, "src/speed.txt", "2.0\n")  # twice as slow
    assert bench("run", "toy", "speed", *SB).returncode == 0
    plain = bench("evaluate", "toy", "speed")
    assert plain.returncode == 1 and "REJECT" in plain.stdout
    matched = bench("evaluate", "toy", "speed", "--expect", "REJECT")
    assert matched.returncode == 0 and "REJECT" in matched.stdout
    assert bench("evaluate", "toy", "speed", "--expect", "reject", "--json").returncode == 0
    mismatch = bench("evaluate", "toy", "speed", "--expect", "PROMOTE")
    assert mismatch.returncode == 4 and "expected PROMOTE, got REJECT" in mismatch.stderr
    every = bench("evaluate", "toy", "--all", "--expect", "REJECT")
    assert every.returncode == 0, every.stdout
