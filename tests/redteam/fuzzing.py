"""Bad input, fuzzed: hypothesis feeds the manifest loader and the result parser arbitrary TOML,
JSON and bytes. The property: each either returns a valid model or raises its own error class
(ManifestError, ProtocolError) with a one-line message. Anything else is a bug.

The strategies and checks live here so that tests/test_fuzz.py and ``make redteam`` share them;
:data:`EXAMPLES` counts what every check was fed.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchstone.errors import ManifestError, ProtocolError
from benchstone.project.manifest import BenchmarkSpec, Manifest, ProjectSpec, parse_manifest
from benchstone.run.protocol import ProjectResult, parse_result, read_result

EXAMPLES: Counter[str] = Counter()

VALID_MANIFEST = b"""\
[project]
name = "fuzz"
invocation = "python3 bench/runner.py --config={config_path} --output={output_path}"

[[benchmarks]]
name = "speed"
tier = "performance"
metric_direction = "minimize"
repetitions = 5
baseline_seeds = [1, 2, 3, 4, 5]
memory = "512m"
timeout_seconds = 30

[[benchmarks]]
name = "output"
tier = "correctness"
corpus_path = "data/input.bin"
corpus_hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
"""
VALID_RESULT = b'{"status": "ok", "metric": 1.5, "metadata": {"seed": 1}, "wall_clock_seconds": 0.2}'


# ---- strategies ------------------------------------------------------------------------------

def _toml_key(key: str) -> str:
    bare = key and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in key)
    return key if bare else json.dumps(key)


def toml_value(value: Any) -> str:
    """TOML for a JSON-like value (floats include inf and nan, as TOML allows)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: dict[str, Any]) -> bytes:
    lines = []
    for table in ("project",):
        if isinstance(data.get(table), dict):
            lines.append(f"[{table}]")
            lines += [f"{_toml_key(k)} = {toml_value(v)}" for k, v in data[table].items()]
    for bench in data.get("benchmarks") or []:
        lines.append("[[benchmarks]]")
        lines += [f"{_toml_key(k)} = {toml_value(v)}" for k, v in bench.items()]
    for key, value in data.items():
        if key not in ("project", "benchmarks"):
            lines.insert(0, f"{_toml_key(key)} = {toml_value(value)}")
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


EDGE_STRINGS = ["", " ", "\0", "../../x", "bench/**", "{entry_point}", "sha256:" + "a" * 64,
                "512m", "2g", "0", "-1", "1e400g", "9" * 400 + "t", "0.0000001k", "1 GiB", "inf",
                "nan", "\ud800", "\x1b[2J", "a" * 200]
SCALARS = st.one_of(
    st.booleans(), st.integers(), st.integers(-2**80, 2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), st.sampled_from(EDGE_STRINGS),
)
VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12)
SIZES = st.from_regex(r"\s?[0-9]{1,400}(\.[0-9]{1,5})?\s?[kmgtKMGT]?(i?[bB])?\s?", fullmatch=True)


def _kinds(annotation: Any) -> list[Any]:
    """The leaf types of an annotation: Literal values, int, float, str, bool, list, None."""
    origin = get_origin(annotation)
    if origin is Literal:
        return [("literal", get_args(annotation))]
    if origin in (list, dict):
        return [origin]
    arguments = get_args(annotation)
    if arguments:
        return [kind for argument in arguments for kind in _kinds(argument)]
    return [annotation]


def plausible(name: str, annotation: Any) -> st.SearchStrategy[Any]:
    """Values for one manifest field: well-typed edge cases most of the time, noise otherwise."""
    options: list[st.SearchStrategy[Any]] = [VALUES]
    for kind in _kinds(annotation):
        if isinstance(kind, tuple):
            options.append(st.sampled_from(kind[1]))
        elif kind is bool:
            options.append(st.booleans())
        elif kind is int:
            options.append(st.integers(-5, 10**6) | st.integers())
        elif kind is float:
            options.append(st.floats(allow_nan=True, allow_infinity=True) | st.integers(0, 10**20))
        elif kind is str:
            options.append(SIZES if name in ("memory", "tmpfs_size", "scratch_size")
                           else st.sampled_from(EDGE_STRINGS) | st.text(max_size=20))
        elif kind is list:
            options.append(st.lists(st.integers(-1, 2**64) | st.text(max_size=10), max_size=6))
    return st.one_of(options)


def _entries(model: Any, required: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    optional = {name: plausible(name, field.annotation) for name, field in model.model_fields.items()
                if name not in required}
    known = st.fixed_dictionaries({key: st.just(value) | plausible(key, model.model_fields[key].annotation)
                                   for key, value in required.items()}, optional=optional)
    noise = st.dictionaries(st.text(max_size=10), VALUES, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, known, noise)


manifest_data = st.fixed_dictionaries({
    "project": _entries(ProjectSpec, {"name": "fuzz", "invocation": "sh run.sh {output_path}"}),
    "benchmarks": st.lists(_entries(BenchmarkSpec, {"name": "b", "tier": "performance",
                                                    "metric_direction": "minimize"}), max_size=3),
}, optional={"extra": VALUES})


@st.composite
def deep_toml(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1, 6000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b"{a=", b"}")]))
    middle = b"1" if opener != b"[" else b""
    return b"a = " + opener * depth + middle + closer * depth + b"\n"


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` with a few bytes inserted, deleted or replaced."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
            [b"[", b"]", b"{", b"=", b'"', b"\n", b"[[benchmarks]]\n", b"nan", b"inf", b"\\u0000",
             b"\xff", b"'''", b"9" * 30]))
        if action == "insert":
            data[position:position] = chunk
        elif action == "delete":
            del data[position:position + len(chunk)]
        else:
            data[position:position + len(chunk)] = chunk
    return bytes(data)


manifest_bytes = st.one_of(
    manifest_data.map(toml_document), manifest_data.map(toml_document), mutated(VALID_MANIFEST),
    deep_toml(), st.binary(max_size=300),
    st.text(max_size=300).map(lambda text: text.encode("utf-8", "surrogatepass")),
)

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                         st.sampled_from(["ok", "error", "", " ", "\ud800", "\x1b[2J"]))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=15)
RESULT_KEYS = st.sampled_from(sorted(ProjectResult.model_fields)) | st.text(max_size=8)
result_documents = st.one_of(
    st.dictionaries(RESULT_KEYS, JSON_VALUES, max_size=7),
    st.fixed_dictionaries({"status": st.sampled_from(["ok", "error", "OK", None, 1]),
                           "metric": JSON_SCALARS}, optional={"message": JSON_SCALARS,
                                                              "metadata": JSON_VALUES,
                                                              "wall_clock_seconds": JSON_SCALARS}),
    JSON_VALUES,
)


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, allow_nan=True).encode()


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1, 3000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    inner = opener * depth + b"1" + closer * depth if opener != b"[" else opener * depth + closer * depth
    return b'{"status": "ok", "metric": 1, "metadata": {"x": ' + inner + b"}}"


result_bytes = st.one_of(
    result_documents.map(_json_bytes), mutated(VALID_RESULT), st.binary(max_size=300), deep(),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
)

FILE_KINDS = ["regular", "symlink", "fifo", "directory", "missing", "oversized", "dangling"]


# ---- the properties --------------------------------------------------------------------------

def _one_line(exc: Exception) -> None:
    message = str(exc)
    assert message and "\n" not in message and "\r" not in message, repr(message)


def check_manifest(data: bytes) -> None:
    EXAMPLES["manifest"] += 1
    try:
        manifest = parse_manifest(data)
    except ManifestError as exc:
        _one_line(exc)
        return
    assert isinstance(manifest, Manifest)
    for warning in manifest.warnings:
        assert "\n" not in warning
    for bench in manifest.benchmarks:  # what a run reads from a loaded manifest must be usable
        assert math.isfinite(bench.timeout) and 0 < bench.timeout <= 10**7, bench.timeout
        assert bench.memory_bytes > 0 and bench.run_repetitions >= 0 and bench.entry


def check_result(data: bytes) -> None:
    EXAMPLES["result"] += 1
    try:
        result = parse_result(data)
    except ProtocolError as exc:
        _one_line(exc)
        return
    assert isinstance(result, ProjectResult)
    if result.status == "ok":
        assert result.metric is not None and math.isfinite(result.metric)


def check_result_file(kind: str, data: bytes, limit: int) -> None:
    EXAMPLES["result file"] += 1
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "result.json"
        target = Path(directory) / "elsewhere.json"
        target.write_bytes(data)
        if kind == "regular":
            path.write_bytes(data)
        elif kind == "symlink":
            path.symlink_to(target)
        elif kind == "dangling":
            path.symlink_to(Path(directory) / "nowhere")
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "directory":
            path.mkdir()
        elif kind == "oversized":
            path.write_bytes(data + b" " * (limit + 1))
        try:
            result = read_result(path, limit)
        except ProtocolError as exc:
            _one_line(exc)
            return
        assert kind == "regular" and stat.S_ISREG(path.lstat().st_mode)
        assert len(data) <= limit and isinstance(result, ProjectResult)


# ---- running the properties with hypothesis ----------------------------------------------------

def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def fuzz_manifest(examples: int) -> None:
    given(manifest_bytes)(_settings(examples)(check_manifest))()


def fuzz_result(examples: int) -> None:
    given(result_bytes)(_settings(examples)(check_result))()


def fuzz_result_file(examples: int) -> None:
    given(st.sampled_from(FILE_KINDS), result_bytes, st.integers(1, 4096))(
        _settings(examples)(check_result_file))()


def campaign(examples: int) -> Counter[str]:
    """Run every property with up to ``examples`` examples each; returns what each was fed."""
    EXAMPLES.clear()
    fuzz_manifest(examples)
    fuzz_result(examples)
    fuzz_result_file(max(examples // 4, 10))
    return Counter(EXAMPLES)
