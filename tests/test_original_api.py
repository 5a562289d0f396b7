"""The Python API keeps the original's shapes: a script written for the original works unchanged.

Each test drives the real API (process sandbox) on the toy fixture project, and where the CLI
prints the same objects, the real CLI too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BenchCLI, commit_all

from benchstone import api
from benchstone.errors import AmbiguousRunSet, NothingToPromote, UnknownBenchmark
from benchstone.run.baseline import BaselineResult
from benchstone.run.environment import derive_seeds
from benchstone.run.runner import RunSetReport
from benchstone.store.records import Run


@pytest.fixture
def toy(make_project: Callable[..., Path], home: Path) -> Path:
    root = make_project("toy")
    api.register(root, home=home)
    return root


def _faster(root: Path, value: str = "0.8") -> str:
    (root / "src" / "speed.txt").write_text(f"{value}\n")
    return commit_all(root, f"speed {value}")


def test_run_returns_a_list_of_runs_that_carries_the_report(toy: Path, home: Path) -> None:
    runs = api.run("toy", "speed", repetitions=3, sandbox="process", home=home)

    assert type(runs) is not list and isinstance(runs, list)
    assert len(runs) == 3 and all(isinstance(run, Run) for run in runs)
    assert [run.repetition for run in runs] == [0, 1, 2]
    assert runs == runs.runs  # the report's rows are the list's
    assert isinstance(runs.report, RunSetReport) and runs.model is runs.report
    assert runs.ok == 3
    assert {run.run_set_id for run in runs} == {runs.run_set.id}
    assert [run.id for run in runs] == sorted(run.id for run in runs)


def test_establish_baseline_returns_runs_with_the_pointer(toy: Path, home: Path) -> None:
    runs = api.establish_baseline("toy", "speed", sandbox="process", home=home)

    assert isinstance(runs, list) and len(runs) == 5
    # one per baseline_seeds entry, on seeds drawn as a candidate's are (not the listed values)
    assert [run.seed for run in runs] == derive_seeds(runs.run_set.meta_seed, 5)
    assert runs.pointer is not None and runs.pointer.run_set_id == runs.run_set.id
    # code written for today's BaselineResult reads the same attributes
    assert isinstance(runs.model, BaselineResult)
    assert runs.report.ok == 5 and runs.model.pointer == runs.pointer


def test_json_of_run_and_baseline_is_the_report_as_before(toy: Path, bench: BenchCLI) -> None:
    established = bench("baseline", "establish", "toy", "speed", "--sandbox", "process", "--json")
    assert established.returncode == 0, established.stderr
    document = json.loads(established.stdout)
    assert set(document) == {"report", "pointer"}
    assert set(document["report"]) == {"run_set", "runs"}
    assert document["pointer"]["run_set_id"] == document["report"]["run_set"]["id"]
    assert len(document["report"]["runs"]) == 5

    ran = bench("run", "toy", "speed", "-n", "2", "--sandbox", "process", "--json")
    assert ran.returncode == 0, ran.stderr
    document = json.loads(ran.stdout)
    assert set(document) == {"run_set", "runs"}
    assert [run["run_set_id"] for run in document["runs"]] == [document["run_set"]["id"]] * 2


@pytest.mark.slow
def test_promote_refusals_are_value_errors(toy: Path, home: Path) -> None:
    api.establish_baseline("toy", "speed", sandbox="process", home=home)
    with pytest.raises(ValueError, match="nothing new to promote") as nothing:
        api.promote("toy", "speed", home=home)
    assert isinstance(nothing.value, NothingToPromote)

    _faster(toy)
    seeds = [api.run("toy", "speed", sandbox="process", home=home).run_set.meta_seed
             for _ in range(2)]
    with pytest.raises(ValueError, match="2 candidate run sets") as ambiguous:
        api.promote("toy", "speed", home=home)
    assert isinstance(ambiguous.value, AmbiguousRunSet)
    assert api.promote("toy", "speed", meta_seed=seeds[1], home=home).verdict.kind == "PROMOTE"
    # a run set whose seeds the caller chose is never a candidate
    api.run("toy", "speed", meta_seed=11, sandbox="process", home=home)
    with pytest.raises(ValueError, match="nothing new to promote"):
        api.promote("toy", "speed", meta_seed=11, home=home)


@pytest.mark.slow
def test_history_is_in_id_order_with_the_original_filters(toy: Path, home: Path) -> None:
    first = api.run("toy", "speed", repetitions=2, sandbox="process", home=home)
    second_sha = _faster(toy)
    second = api.run("toy", "speed", repetitions=3, sandbox="process", home=home)
    api.run("toy", "quality", repetitions=1, sandbox="process", home=home)  # another benchmark

    everything = api.history("toy", "speed", home=home)
    assert [run.id for run in everything] == [run.id for run in [*first, *second]]
    assert api.history("toy", "speed", limit=2, home=home) == second[1:]  # the newest, in order
    assert api.history("toy", "speed", git_sha_prefix=second_sha[:7], home=home) == second
    assert api.history("toy", "speed", git_sha_prefix=second_sha[:7].upper(),
                       home=home) == second
    assert api.history("toy", "speed", git_sha_prefix=first.run_set.git_sha[:10],
                       home=home) == first

    since = second[0].started_at
    assert api.history("toy", "speed", since=since, home=home) == second
    moment = dt.datetime.fromisoformat(since)
    as_local = moment.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).isoformat()
    assert api.history("toy", "speed", since=as_local, home=home) == second
    naive_utc = moment.replace(tzinfo=None).isoformat()  # without a zone it is UTC
    assert api.history("toy", "speed", since=naive_utc, home=home) == second
    assert api.history("toy", "speed", since=moment + dt.timedelta(days=1), home=home) == []
    assert api.history("toy", "speed", since=moment.date() - dt.timedelta(days=1),
                       home=home) == everything
    with pytest.raises(ValueError, match="ISO 8601"):
        api.history("toy", "speed", since="last tuesday", home=home)


def test_register_has_the_original_field_names(make_project: Callable[..., Path], home: Path,
                                               bench: BenchCLI) -> None:
    root = make_project("toy")
    result = api.register(root, home=home)
    manifest_bytes = (root / "bench" / "manifest.toml").read_bytes()

    assert result.name == "toy"
    assert isinstance(result.path, Path) and result.path == root.resolve()
    assert result.manifest_hash == hashlib.sha256(manifest_bytes).hexdigest()
    assert result.manifest_sha256 == result.manifest_hash  # today's name stays

    printed = bench("register", str(root), "--json")
    assert printed.returncode == 0, printed.stderr
    document = json.loads(printed.stdout)
    assert {"name", "path", "manifest_sha256", "registered_at", "benchmarks", "changed",
            "previous_manifest_sha256", "warnings", "manifest_hash"} == set(document)
    assert document["path"] == str(root.resolve())
    assert document["manifest_hash"] == document["manifest_sha256"] == result.manifest_hash


def test_evaluate_of_an_unknown_benchmark_is_a_key_error_with_a_plain_message(
        toy: Path, home: Path, bench: BenchCLI) -> None:
    with pytest.raises(KeyError) as caught:
        api.evaluate("toy", "nope", home=home)
    assert isinstance(caught.value, UnknownBenchmark) and isinstance(caught.value, LookupError)
    message = "project 'toy' has no benchmark 'nope' (it has: speed, quality, output)"
    assert str(caught.value) == message  # not KeyError's quoted repr

    printed = bench("evaluate", "toy", "nope")
    assert printed.returncode == 5
    assert printed.stderr.splitlines()[0] == f"error: {message}"
