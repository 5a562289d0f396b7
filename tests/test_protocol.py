"""The result protocol: every way a result file can be wrong is a one-line ProtocolError."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchstone.errors import ProtocolError
from benchstone.run.protocol import InvocationConfig, ProjectResult, parse_result, read_result

LIMIT = 1024 * 1024


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def protocol_error(path: Path, limit: int = LIMIT) -> str:
    with pytest.raises(ProtocolError) as info:
        read_result(path, limit)
    message = str(info.value)
    assert message and "\n" not in message
    return message


# ---- the seed's fields and rules -------------------------------------------------------------


def test_the_seed_example_result_is_read(tmp_path: Path) -> None:
    document = {"status": "ok", "metric": 1.0413, "metric_components": {"a": 1},
                "wall_clock_seconds": 1031.1, "metadata": {"seed": 4}, "message": None}
    result = read_result(write(tmp_path / "r.json", json.dumps(document)), LIMIT)
    assert result == ProjectResult(**document)


def test_the_minimal_runner_output_is_read(tmp_path: Path) -> None:
    result = read_result(write(tmp_path / "r.json", '{"metric": 3, "status": "ok"}'), LIMIT)
    assert (result.status, result.metric, result.message) == ("ok", 3.0, None)


def test_extra_fields_are_ignored(tmp_path: Path) -> None:
    result = read_result(write(tmp_path / "r.json", '{"status": "ok", "metric": 1, "x": [1]}'), LIMIT)
    assert result.metric == 1.0


def test_invocation_config_has_exactly_the_seed_fields() -> None:
    config = InvocationConfig(benchmark="b", seed=42, corpus_path="", repetition_index=0,
                              repetition_total=5, artifact_path=None)
    assert json.loads(config.to_json()) == {
        "benchmark": "b", "seed": 42, "corpus_path": "", "repetition_index": 0,
        "repetition_total": 5, "artifact_path": None}


@pytest.mark.parametrize("document", [
    {"status": "ok"},
    {"status": "ok", "metric": None},
    {"status": "ok", "message": "fine"},
])
def test_ok_needs_a_metric(tmp_path: Path, document: dict) -> None:
    message = protocol_error(write(tmp_path / "r.json", json.dumps(document)))
    assert message == "the result file is invalid: status 'ok' needs a metric"


@pytest.mark.parametrize("document", [
    {"status": "error"},
    {"status": "error", "message": None},
    {"status": "error", "message": ""},
    {"status": "error", "message": "   \n\t"},
])
def test_error_needs_a_non_empty_message(tmp_path: Path, document: dict) -> None:
    message = protocol_error(write(tmp_path / "r.json", json.dumps(document)))
    assert message == "the result file is invalid: status 'error' needs a non-empty message"


def test_error_with_a_message_is_a_valid_result(tmp_path: Path) -> None:
    result = read_result(write(tmp_path / "r.json", '{"status": "error", "message": "boom"}'), LIMIT)
    assert (result.status, result.metric, result.message) == ("error", None, "boom")


@pytest.mark.parametrize("status", ['"OK"', '"failed"', "null", "1", "true"])
def test_status_must_be_ok_or_error(tmp_path: Path, status: str) -> None:
    message = protocol_error(write(tmp_path / "r.json", f'{{"status": {status}, "metric": 1}}'))
    assert message.startswith("the result file is invalid: status: ")


@pytest.mark.parametrize("text", [
    '{"status": "ok", "metric": NaN}',
    '{"status": "ok", "metric": Infinity}',
    '{"status": "ok", "metric": -Infinity}',
    '{"status": "ok", "metric": 1, "metadata": {"deep": [NaN]}}',
])
def test_nan_and_infinity_literals_are_refused(tmp_path: Path, text: str) -> None:
    message = protocol_error(write(tmp_path / "r.json", text))
    assert message.startswith("the result file is not valid JSON (")
    assert "is not allowed" in message


@pytest.mark.parametrize("metric", ["1e400", "-1e400", '"nan"', '"inf"', '"-Infinity"'])
def test_metric_must_be_finite(tmp_path: Path, metric: str) -> None:
    message = protocol_error(write(tmp_path / "r.json", f'{{"status": "ok", "metric": {metric}}}'))
    assert message == "the result file is invalid: metric must be a finite number"


@pytest.mark.parametrize("value", ["1e999", '"inf"'])
def test_wall_clock_seconds_must_be_finite(tmp_path: Path, value: str) -> None:
    text = f'{{"status": "ok", "metric": 1, "wall_clock_seconds": {value}}}'
    assert protocol_error(write(tmp_path / "r.json", text)) == (
        "the result file is invalid: wall_clock_seconds must be a finite number")


@pytest.mark.parametrize("metric", ['"fast"', "[1]", '{"a": 1}'])
def test_metric_must_be_a_number(tmp_path: Path, metric: str) -> None:
    message = protocol_error(write(tmp_path / "r.json", f'{{"status": "ok", "metric": {metric}}}'))
    assert message.startswith("the result file is invalid: metric: ")


def test_metric_as_numeric_string_or_bool_is_coerced_like_the_seed(tmp_path: Path) -> None:
    # The seed did float(metric): "1.5" and true (a correctness runner's favourite) were accepted.
    assert read_result(write(tmp_path / "a.json", '{"status": "ok", "metric": "1.5"}'), LIMIT).metric == 1.5
    assert read_result(write(tmp_path / "b.json", '{"status": "ok", "metric": true}'), LIMIT).metric == 1.0


def test_huge_integers_are_a_protocol_error(tmp_path: Path) -> None:
    huge = str(10**400)
    assert protocol_error(write(tmp_path / "a.json", f'{{"status": "ok", "metric": {huge}}}')).startswith(
        "the result file is invalid: metric: ")
    longer = "9" * 5000  # beyond Python's int-string conversion limit
    assert protocol_error(write(tmp_path / "b.json", f'{{"status": "ok", "metric": {longer}}}')).startswith(
        "the result file is not valid JSON (")


# ---- what is not a result file ---------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert protocol_error(tmp_path / "absent.json") == "the runner wrote no result file"


@pytest.mark.parametrize("data", [b"", b"   \n\t "])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    assert protocol_error(write(tmp_path / "r.json", data)) == "the result file is empty"


@pytest.mark.parametrize("data", [b"{", b"status: ok", b"{'status': 'ok'}", b"\xef\xbb\xbf{}"])
def test_not_json(tmp_path: Path, data: bytes) -> None:
    assert protocol_error(write(tmp_path / "r.json", data)).startswith("the result file is not valid JSON")


def test_not_utf8(tmp_path: Path) -> None:
    assert protocol_error(write(tmp_path / "r.json", b'{"status": "\xff"}')) == (
        "the result file is not UTF-8")


@pytest.mark.parametrize(("text", "kind"), [
    ("[1, 2]", "list"), ('"ok"', "str"), ("1.5", "float"), ("null", "NoneType"), ("true", "bool")])
def test_not_an_object(tmp_path: Path, text: str, kind: str) -> None:
    assert protocol_error(write(tmp_path / "r.json", text)) == (
        f"the result file holds a JSON {kind}, not an object")


def test_deeply_nested(tmp_path: Path) -> None:
    assert protocol_error(write(tmp_path / "r.json", "[" * 200_000)) == (
        "the result file is nested too deeply")


def test_size_limit(tmp_path: Path) -> None:
    document = b'{"status": "ok", "metric": 1, "message": "' + b"x" * 2000 + b'"}'
    path = write(tmp_path / "r.json", document)
    assert read_result(path, len(document)).metric == 1.0
    assert protocol_error(path, len(document) - 1) == (
        f"the result file is {len(document)} bytes, over the {len(document) - 1}-byte limit")


def test_default_limit_is_one_mebibyte(tmp_path: Path) -> None:
    from benchstone.project.manifest import DEFAULT_RESULT_MAX

    assert DEFAULT_RESULT_MAX == 1024 * 1024
    path = write(tmp_path / "r.json", b'{"status": "ok", "metric": 1}' + b" " * DEFAULT_RESULT_MAX)
    assert "over the 1048576-byte limit" in protocol_error(path, DEFAULT_RESULT_MAX)


def test_symlink_is_refused_and_not_followed(tmp_path: Path) -> None:
    target = write(tmp_path / "real.json", '{"status": "ok", "metric": 1}')
    link = tmp_path / "r.json"
    link.symlink_to(target)
    assert protocol_error(link) == "the result file is a symlink, not a file"
    dangling = tmp_path / "d.json"
    dangling.symlink_to(tmp_path / "nowhere")
    assert protocol_error(dangling) == "the result file is a symlink, not a file"


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "r.json"
    os.mkfifo(fifo)
    assert protocol_error(fifo) == "the result file is not a regular file"


def test_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r.json").mkdir()
    assert protocol_error(tmp_path / "r.json") == "the result file is not a regular file"


# ---- property: anything a runner can write gives a result or a ProtocolError --------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children,
                                                                      max_size=4),
    max_leaves=20,
)
RESULT_LIKE = st.fixed_dictionaries(
    {"status": st.sampled_from(["ok", "error", "OK", ""]) | JSON},
    optional={"metric": JSON, "message": JSON, "metric_components": JSON, "metadata": JSON,
              "wall_clock_seconds": JSON},
)


def check_result_or_protocol_error(data: bytes) -> None:
    try:
        result = parse_result(data)
    except ProtocolError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    if result.status == "ok":
        assert result.metric is not None and abs(result.metric) < float("inf")
    else:
        assert result.message and result.message.strip()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_result_or_a_protocol_error(data: bytes) -> None:
    check_result_or_protocol_error(data)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(RESULT_LIKE)
def test_arbitrary_json_gives_a_result_or_a_protocol_error(document: dict) -> None:
    check_result_or_protocol_error(json.dumps(document, allow_nan=True).encode())
