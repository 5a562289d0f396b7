"""Sane values: a metric is a JSON number inside the benchmark's metric_range, or the repetition
is an error row; nothing a runner reports can make a later command fail."""

from __future__ import annotations

import json

import pytest
from conftest import commit_all, verdict_of

from benchstone.errors import ManifestError, ProtocolError
from benchstone.project.manifest import parse_manifest
from benchstone.run.protocol import parse_result


@pytest.mark.parametrize(("metric", "why"), [
    ("true", "must be a JSON number (got bool)"),
    ('"1.5"', "must be a JSON number (got str)"),
    ("1" + "0" * 400, "must be a finite number"),
])
def test_only_a_json_number_is_a_gated_metric(metric: str, why: str) -> None:
    with pytest.raises(ProtocolError, match=why.replace("(", r"\(").replace(")", r"\)")):
        parse_result(f'{{"status": "ok", "metric": {metric}}}'.encode(), strict_numbers=True)
    assert parse_result(b'{"status": "ok", "metric": 3}', strict_numbers=True).metric == 3.0


def test_metric_range_must_be_an_ordered_pair() -> None:
    manifest = b'[project]\nname = "p"\ninvocation = "true"\n[[benchmarks]]\nname = "b"\n' \
               b'tier = "performance"\nmetric_direction = "minimize"\nrepetitions = 2\n' \
               b'baseline_seeds = [1, 2]\n'
    assert parse_manifest(manifest).benchmarks[0].metric_range == (-1e15, 1e15)
    with pytest.raises(ManifestError, match="metric_range must be"):
        parse_manifest(manifest + b"metric_range = [3, 1]\n")


@pytest.mark.slow
def test_a_metric_outside_the_range_is_an_error_row_and_never_gated(bench, make_project) -> None:
    root = make_project("toy")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "toy", "speed", "--sandbox", "process").returncode == 0
    (root / "src" / "speed.txt").write_text("-1e300\n")  # "faster" by sheer size
    commit_all(root, "absurd")
    ran = bench("run", "toy", "speed", "--sandbox", "process", "--json")
    assert ran.returncode == 1  # every repetition failed
    runs = json.loads(ran.stdout)["runs"]
    assert {run["failure"] for run in runs} == {"invalid_result"}
    assert "outside metric_range [-1e+15, 1e+15]" in runs[0]["message"]
    code, verdict = verdict_of(bench, "toy", "speed")
    assert verdict["kind"] != "PROMOTE" and code != 0
    assert bench("history", "toy", "speed").returncode == 0
