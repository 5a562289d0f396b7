"""The manifest loader: the seed's fields and rules, one-line errors, warnings, safe names."""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchstone.errors import ManifestError, UnknownBenchmark
from benchstone.project.manifest import load_manifest, parse_manifest

SEED = Path(__file__).parent / "fixtures" / "seed"
PLACEHOLDER = "sha256:<64 hex digits of the file>"

PROJECT = """\
[project]
name = "p"
invocation = "python3 run.py {entry_point} {config_path} {output_path}"
"""


def manifest(*benchmarks: str, project: str = PROJECT) -> bytes:
    """A manifest text from a [project] table and benchmark bodies (one [[benchmarks]] each)."""
    parts = [project]
    parts.extend(f"[[benchmarks]]\n{body.strip()}\n" for body in benchmarks)
    return "\n".join(parts).encode()


PERF = 'name = "b"\ntier = "performance"\nmetric_direction = "minimize"\nbaseline_seeds = [1, 2, 3]\n'


def error_of(text: bytes) -> str:
    with pytest.raises(ManifestError) as info:
        parse_manifest(text)
    message = str(info.value)
    assert "\n" not in message, f"error is not one line: {message!r}"
    assert message.startswith("bench/manifest.toml: "), message
    return message


# ---- the seed's example loads unchanged ------------------------------------------------------


@pytest.fixture
def seed_project(tmp_path: Path) -> Path:
    """The seed's manifest-example.toml, byte for byte, with its corpus hash filled in."""
    root = tmp_path / "seed"
    shutil.copytree(SEED, root)
    corpus = (root / "bench/corpus/data.bin").read_bytes()
    path = root / "bench/manifest.toml"
    text = path.read_text()
    assert text.count(PLACEHOLDER) == 1, "the fixture must be the seed's file, placeholder included"
    path.write_text(text.replace(PLACEHOLDER, "sha256:" + hashlib.sha256(corpus).hexdigest()))
    return root


def test_seed_example_loads_without_warnings(seed_project: Path) -> None:
    loaded = load_manifest(seed_project)
    assert loaded.warnings == []
    assert loaded.project.name == "ExampleProject"
    assert loaded.project.language == "python"
    assert loaded.project.invocation.startswith("python3 bench/runner.py --entry={entry_point}")
    assert [b.name for b in loaded.benchmarks] == ["solve_quality", "solve_speed", "solve_output"]
    assert loaded.sha256 == hashlib.sha256((seed_project / "bench/manifest.toml").read_bytes()).hexdigest()


def test_seed_example_keeps_every_field_and_its_meaning(seed_project: Path) -> None:
    quality, speed, output = load_manifest(seed_project).benchmarks
    assert (quality.entry_point, quality.tier, quality.deterministic) == ("solve_quality", "quality", False)
    assert quality.metric_direction == "minimize"
    assert quality.expected_runtime_seconds == 2
    assert (quality.threads, quality.gpu, quality.background_required) == (1, "none", False)
    assert quality.repetitions == 3 and quality.run_repetitions == 3
    assert quality.baseline_seeds == [1, 2, 3]
    assert quality.promotion_sigma == 2.0
    assert quality.gate_policy == "sigma"  # the seed's default
    assert quality.corpus_path == "bench/corpus/data.bin"
    assert quality.corpus_type == "bytes"
    assert quality.corpus_hash is not None and quality.corpus_hash.startswith("sha256:")

    assert (speed.threads, speed.background_required, speed.expected_runtime_seconds) == (4, True, 5)
    assert speed.gate_policy == "mann_whitney"
    assert (speed.promotion_sigma, speed.promotion_z, speed.rank_threshold) == (2.0, 2.0, 2.0)
    assert speed.baseline_seeds == [11, 12, 13, 14, 15] and speed.run_repetitions == 5

    assert (output.tier, output.deterministic, output.reference_policy) == (
        "correctness", True, "byte_equivalence")
    assert output.metric_direction is None
    assert output.run_repetitions == 1


def test_entry_point_defaults_to_the_name() -> None:
    loaded = parse_manifest(manifest(PERF))
    assert loaded.benchmarks[0].entry_point is None
    assert loaded.benchmarks[0].entry == "b"


# ---- required fields per tier ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "invocation"])
def test_project_requires_name_and_invocation(field: str) -> None:
    project = "\n".join(line for line in PROJECT.splitlines() if not line.startswith(field))
    assert error_of(manifest(PERF, project=project + "\n")) == (
        f"bench/manifest.toml: project.{field} is required")


def test_project_table_is_required() -> None:
    assert error_of(b'[[benchmarks]]\nname = "b"\ntier = "correctness"\n') == (
        "bench/manifest.toml: project is required")


@pytest.mark.parametrize("field", ["name", "tier"])
def test_benchmark_requires_name_and_tier(field: str) -> None:
    body = "\n".join(line for line in PERF.splitlines() if not line.startswith(field))
    assert error_of(manifest('name = "ok"\ntier = "correctness"', body)) == (
        f"bench/manifest.toml: benchmarks[1].{field} is required")


@pytest.mark.parametrize("tier", ["performance", "quality"])
def test_stochastic_tiers_require_metric_direction(tier: str) -> None:
    message = error_of(manifest(f'name = "b"\ntier = "{tier}"\nbaseline_seeds = [1, 2]'))
    assert message == (f"bench/manifest.toml: benchmarks[0].metric_direction is required for tier "
                       f"'{tier}' (minimize or maximize)")


def test_correctness_tier_needs_no_direction_and_warns_nothing() -> None:
    loaded = parse_manifest(manifest('name = "c"\ntier = "correctness"\nrepetitions = 1'))
    assert loaded.warnings == []
    assert loaded.benchmarks[0].metric_direction is None


def test_the_documented_error_example_word_for_word() -> None:
    text = manifest('name = "a"\ntier = "correctness"', 'name = "b"\ntier = "correctness"',
                    'name = "c"\ntier = "perf"')
    assert error_of(text) == ("bench/manifest.toml: benchmarks[2].tier must be one of correctness, "
                              "performance, quality (got 'perf')")


@pytest.mark.parametrize(("line", "expected"), [
    ('metric_direction = "down"', "benchmarks[0].metric_direction must be one of minimize, maximize "
                                  "(got 'down')"),
    ('gpu = "cuda"', "benchmarks[0].gpu must be one of none, direct, ollama (got 'cuda')"),
    ('corpus_type = "zip"', "benchmarks[0].corpus_type must be one of bytes, spec, tree (got 'zip')"),
    ('gate_policy = "t"', "benchmarks[0].gate_policy must be one of sigma, mann_whitney, welch, rank "
                          "(got 't')"),
    ("threads = 0", "benchmarks[0].threads must be at least 1 (got 0)"),
    ("threads = 1.5", "benchmarks[0].threads must be an integer (got 1.5)"),
    ('repetitions = "many"', "benchmarks[0].repetitions must be an integer (got 'many')"),
    ('deterministic = "perhaps"', "benchmarks[0].deterministic must be true or false (got 'perhaps')"),
    ("promotion_sigma = -1.0", "benchmarks[0].promotion_sigma must be greater than 0.0 (got -1.0)"),
    ('baseline_seeds = "1,2"', "benchmarks[0].baseline_seeds must be a list (got '1,2')"),
    ('baseline_seeds = [1, "x"]', "benchmarks[0].baseline_seeds[1] must be an integer (got 'x')"),
    ("baseline_seeds = [1, -2]", "benchmarks[0].baseline_seeds seeds must be between 0 and 2**63-1 "
                                 "(got -2)"),
    ('corpus_hash = "md5:abc"\ncorpus_path = "c"', "benchmarks[0].corpus_hash must look like "
                                                    "'sha256:<64 lowercase hex digits>' (got 'md5:abc')"),
    (f'corpus_hash = "sha256:{"0" * 64}"', "benchmarks[0].corpus_hash is set but corpus_path is not"),
])
def test_invalid_values_name_file_entry_and_field(line: str, expected: str) -> None:
    body = "\n".join(existing for existing in PERF.splitlines()
                     if existing.split(" = ")[0] != line.split(" = ")[0])
    assert error_of(manifest(body + "\n" + line)) == f"bench/manifest.toml: {expected}"


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
@pytest.mark.parametrize("field", ["promotion_sigma", "promotion_z", "timeout_seconds",
                                   "expected_runtime_seconds"])
def test_non_finite_numbers_are_errors(field: str, value: str) -> None:
    message = error_of(manifest(PERF + f"{field} = {value}"))
    assert message == f"bench/manifest.toml: benchmarks[0].{field} must be a finite number (got {value})"


def test_duplicate_benchmark_names_are_an_error() -> None:
    assert error_of(manifest(PERF, PERF)) == (
        "bench/manifest.toml: benchmarks[1].name 'b' is used by two benchmarks")


def test_not_toml_and_not_utf8_are_one_line_errors() -> None:
    assert error_of(b"[project\nname=").startswith("bench/manifest.toml: is not valid TOML: ")
    assert error_of(b"\xff\xfe[project]") == "bench/manifest.toml: is not valid UTF-8"
    with pytest.raises(ManifestError) as info:
        parse_manifest(b"[project\nname=")
    assert "(at line 1, column 9)" in str(info.value) and "toml.io" in (info.value.fix or "")


def test_missing_manifest_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"has no bench/manifest.toml") as info:
        load_manifest(tmp_path)
    assert str(tmp_path) in str(info.value)


# ---- warnings --------------------------------------------------------------------------------


def only_warning(text: bytes) -> str:
    loaded = parse_manifest(text)
    assert len(loaded.warnings) == 1, loaded.warnings
    return loaded.warnings[0]


@pytest.mark.parametrize("tier", ["performance", "quality"])
@pytest.mark.parametrize("repetitions", [0, 1])
def test_repetitions_below_two_warn_on_stochastic_tiers(tier: str, repetitions: int) -> None:
    body = PERF.replace('"performance"', f'"{tier}"') + f"repetitions = {repetitions}"
    warning = only_warning(manifest(body))
    assert warning.startswith(f"bench/manifest.toml: benchmarks[0].repetitions is {repetitions}: ")
    assert "NEEDS_MORE_DATA" in warning


@pytest.mark.parametrize("seeds", ["[]", "[7]"])
def test_fewer_than_two_baseline_seeds_warn_on_stochastic_tiers(seeds: str) -> None:
    body = PERF.replace("baseline_seeds = [1, 2, 3]", f"baseline_seeds = {seeds}")
    warning = only_warning(manifest(body))
    count = 0 if seeds == "[]" else 1
    assert warning.startswith(f"bench/manifest.toml: benchmarks[0].baseline_seeds has {count} seed(s)")


def test_floors_do_not_warn_on_the_correctness_tier() -> None:
    text = manifest('name = "c"\ntier = "correctness"\nrepetitions = 1\nbaseline_seeds = []')
    assert parse_manifest(text).warnings == []


def test_mann_whitney_without_promotion_z_warns_and_falls_back_to_sigma() -> None:
    body = PERF.replace("[1, 2, 3]", "[1, 2, 3, 4, 5]") + 'gate_policy = "mann_whitney"\n' \
        "promotion_sigma = 1.5\nrepetitions = 5"
    loaded = parse_manifest(manifest(body))
    assert loaded.warnings == [
        "bench/manifest.toml: benchmarks[0]: gate_policy is mann_whitney but promotion_z is not set; "
        "using promotion_sigma (1.5) as the z threshold"]
    assert loaded.benchmarks[0].rank_threshold == 1.5


def test_promotion_z_above_the_rank_ceiling_warns() -> None:
    # 3 baseline and 3 candidate runs: ceiling sqrt(3*3*3 / (3+3+1)) = sqrt(27/7) = 1.9640
    body = PERF + 'gate_policy = "mann_whitney"\npromotion_z = 2.0\nrepetitions = 3'
    warning = only_warning(manifest(body))
    assert math.isclose(math.sqrt(27 / 7), 1.9640, abs_tol=1e-4)
    assert warning == ("bench/manifest.toml: benchmarks[0].promotion_z 2.0 is above the rank-test "
                       "ceiling 1.964 for 3 baseline and 3 candidate runs: this gate can never promote")


def test_promotion_z_at_four_a_side_is_below_the_ceiling() -> None:
    # 4 v 4: ceiling sqrt(3*4*4 / 9) = sqrt(48/9) = 2.309 > 2.0
    body = PERF.replace("[1, 2, 3]", "[1, 2, 3, 4]") + \
        'gate_policy = "mann_whitney"\npromotion_z = 2.0\nrepetitions = 4'
    assert parse_manifest(manifest(body)).warnings == []


def test_unknown_keys_warn_and_do_not_fail() -> None:
    text = manifest(PERF + "colour = 'blue'", project=PROJECT + "owner = 'me'\n") + b"\n[extra]\nx = 1\n"
    loaded = parse_manifest(text)
    assert sorted(loaded.warnings) == sorted([
        "bench/manifest.toml: extra is not a known key (ignored)",
        "bench/manifest.toml: project.owner is not a known key (ignored)",
        "bench/manifest.toml: benchmarks[0].colour is not a known key (ignored)",
    ])
    assert loaded.benchmarks[0].name == "b"


# ---- names that become path components -------------------------------------------------------


UNSAFE = ["../x", ".hidden", "a/b", "..", ".", "", "-rf", "a b", "x\0y", "é", "a" * 129]


@pytest.mark.parametrize("name", UNSAFE)
def test_unsafe_project_name_is_a_manifest_error(name: str) -> None:
    project = PROJECT.replace('name = "p"', f"name = {name!r}".replace("'", '"'))
    if "\0" in name:
        project = PROJECT.replace('name = "p"', 'name = "x\\u0000y"')
    message = error_of(manifest(PERF, project=project))
    assert message.startswith("bench/manifest.toml: project.name is not a safe name")


@pytest.mark.parametrize("name", UNSAFE)
def test_unsafe_benchmark_name_is_a_manifest_error(name: str) -> None:
    quoted = '"x\\u0000y"' if "\0" in name else f'"{name}"'
    message = error_of(manifest(PERF.replace('name = "b"', f"name = {quoted}")))
    assert message.startswith("bench/manifest.toml: benchmarks[0].name is not a safe name")


@pytest.mark.parametrize("name", ["a", "A-1", "x.y_z", "_private", "a" * 128, "v1.2.3"])
def test_safe_names_are_accepted(name: str) -> None:
    project = PROJECT.replace('name = "p"', f'name = "{name}"')
    loaded = parse_manifest(manifest(PERF.replace('name = "b"', f'name = "{name}"'), project=project))
    assert loaded.project.name == name and loaded.benchmarks[0].name == name


def test_unknown_benchmark_lists_the_known_ones() -> None:
    loaded = parse_manifest(manifest(PERF, PERF.replace('"b"', '"c"')))
    with pytest.raises(UnknownBenchmark, match=r"has no benchmark 'z' \(it has: b, c\)"):
        loaded.benchmark("z")


# ---- property: arbitrary input never raises anything but ManifestError -------------------------

KEYS = ["name", "tier", "metric_direction", "repetitions", "baseline_seeds", "gate_policy",
        "promotion_sigma", "promotion_z", "corpus_path", "corpus_hash", "corpus_type", "threads",
        "gpu", "memory", "timeout_seconds", "requires", "corpus", "alpha", "min_effect",
        "protected_paths", "entry_point", "pids_limit", "tmpfs_size", "unknown_thing"]
SCALARS = st.one_of(
    st.sampled_from(['"performance"', '"quality"', '"correctness"', '"minimize"', '"maximize"',
                     '"mann_whitney"', '"sigma"', '"rank"', '"welch"', '"b"', '"../x"', '"2g"',
                     '"tree"', "inf", "nan", "-inf", "true", "false", '""', '"\\u0000"']),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=8).map(lambda s: '"' + s.encode("unicode_escape").decode().replace('"', '\\"') + '"'),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"))
BENCH_BODY = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=10).map(
    lambda d: "\n".join(f"{k} = {v}" for k, v in d.items()))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(BENCH_BODY, max_size=3), junk=st.binary(max_size=30))
def test_structured_manifests_raise_only_manifest_error(bodies: list[str], junk: bytes) -> None:
    for text in (manifest(*bodies), manifest(*bodies) + junk):
        try:
            loaded = parse_manifest(text)
        except ManifestError as exc:
            assert "\n" not in str(exc)
            continue
        for bench in loaded.benchmarks:
            assert bench.run_repetitions >= 0
            assert math.isfinite(bench.timeout)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_manifest_error(data: bytes) -> None:
    try:
        parse_manifest(data)
    except ManifestError as exc:
        assert "\n" not in str(exc)


# ---- designs that can never promote, and exact data ----------------------------------------


def test_a_rank_design_that_can_never_promote_is_refused_with_the_settings_that_work() -> None:
    body = ('name = "b"\ntier = "performance"\nmetric_direction = "minimize"\n'
            'baseline_seeds = [1, 2]\ngate_policy = "rank"\nmax_repetitions = 10\n')
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest(body))
    assert "can never promote" in str(info.value)
    # welch with 2 baseline runs cannot promote within 10 either (see the test below)
    assert info.value.fix == 'use at least 5 baseline_seeds'
    assert parse_manifest(manifest(body.replace("[1, 2]", "[1, 2, 3, 4, 5]"))).benchmarks
    short = body.replace("[1, 2]", "[1, 2, 3, 4, 5]").replace("= 10", "= 3")
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest(short))
    assert info.value.fix == 'use at least 7 baseline_seeds, or max_repetitions = 4'
    longer = body.replace("[1, 2]", "[1, 2, 3]").replace("= 10", "= 12")
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest(longer))
    assert info.value.fix == 'use at least 5 baseline_seeds, or gate_policy = "welch"'


def test_a_welch_design_that_can_never_promote_is_refused_with_the_settings_that_work() -> None:
    """A Welch crossing needs the exact rank test's confirmation: with 2 baseline runs at
    alpha 0.01 that takes a horizon of 14."""
    body = ('name = "b"\ntier = "performance"\nmetric_direction = "minimize"\n'
            'baseline_seeds = [1, 2]\ngate_policy = "welch"\nmax_repetitions = 10\n')
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest(body))
    assert "gate_policy welch with 2 baseline runs" in str(info.value)
    assert info.value.fix == 'use at least 3 baseline_seeds, or max_repetitions = 14'
    assert parse_manifest(manifest(body.replace("= 10", "= 14"))).benchmarks
    assert parse_manifest(manifest(body.replace("[1, 2]", "[1, 2, 3]"))).benchmarks
    # what does not use Welch's unpaired looks on the 2 runs alone is not refused: the paired
    # design (its own test on pairs), a baseline that grows, and a manifest already registered
    assert parse_manifest(manifest(body + 'design = "paired"\n')).benchmarks
    assert parse_manifest(manifest(body + "baseline_grows = true\n")).benchmarks
    ignored = parse_manifest(manifest(body + 'design = "paired"\nbaseline_grows = true\n'))
    assert any("baseline_grows applies to" in w for w in ignored.warnings)
    assert parse_manifest(manifest(body), refuse_unpromotable=False).benchmarks


def test_resolution_is_a_relative_tolerance() -> None:
    spec = parse_manifest(manifest(PERF + "deterministic = true\nresolution = 0.001\n"))
    assert spec.benchmarks[0].resolution == 0.001 and spec.benchmarks[0].deterministic
    assert parse_manifest(manifest(PERF)).benchmarks[0].resolution == 0.0
    assert "resolution" in error_of(manifest(PERF + "resolution = 1.5\n"))
    assert "resolution" in error_of(manifest(PERF + "resolution = -0.1\n"))


def test_one_pair_of_brackets_for_benchmarks_names_the_two_it_needs() -> None:
    """``[benchmarks]`` is one table, not the list ``[[benchmarks]]`` makes: the error says so
    instead of printing the whole table back."""
    text = (PROJECT + "[benchmarks]\nname = \"speed\"\n").encode()
    with pytest.raises(ManifestError) as refused:
        parse_manifest(text)
    assert str(refused.value) == ("bench/manifest.toml: benchmarks must be a list of tables: "
                                  "write each as [[benchmarks]], with two brackets")
    env_table = PROJECT.replace('name = "p"', 'name = "p"\nenv = {FOO = "x"}')
    with pytest.raises(ManifestError) as other:
        parse_manifest(manifest(PERF, project=env_table))
    assert "project.env must be a list (got" in str(other.value) and "[[" not in str(other.value)
