"""Bad input, fuzzed: the manifest loader and the result parser never raise anything but their
own one-line errors, whatever TOML, JSON or bytes they are fed (see redteam/fuzzing.py)."""

from __future__ import annotations

import pytest
from redteam import fuzzing

EXAMPLES_PER_PROPERTY = 400


@pytest.mark.slow
def test_manifest_loader_fuzzed() -> None:
    fuzzing.EXAMPLES.clear()
    fuzzing.fuzz_manifest(EXAMPLES_PER_PROPERTY)
    assert fuzzing.EXAMPLES["manifest"] >= EXAMPLES_PER_PROPERTY // 2


@pytest.mark.slow
def test_result_parser_fuzzed() -> None:
    fuzzing.EXAMPLES.clear()
    fuzzing.fuzz_result(EXAMPLES_PER_PROPERTY)
    assert fuzzing.EXAMPLES["result"] >= EXAMPLES_PER_PROPERTY // 2


def test_result_file_reader_fuzzed() -> None:
    fuzzing.EXAMPLES.clear()
    fuzzing.fuzz_result_file(EXAMPLES_PER_PROPERTY // 4)
    assert fuzzing.EXAMPLES["result file"] >= EXAMPLES_PER_PROPERTY // 8


@pytest.mark.parametrize("data", [
    b"a=" + b"[" * 5000 + b"]" * 5000,
    b'[project]\nname="p"\ninvocation="x"\n[[benchmarks]]\nname="b"\ntier="correctness"\n'
    b'memory="' + b"9" * 400 + b'g"\n',
    b'[project]\nname="p"\ninvocation="x"\n[[benchmarks]]\nname="b"\ntier="correctness"\n'
    b"timeout_seconds=inf\n",
], ids=["nested_5000_deep", "size_overflows_float", "infinite_timeout"])
def test_manifest_inputs_the_fuzzer_found(data: bytes) -> None:
    fuzzing.check_manifest(data)
    with pytest.raises(fuzzing.ManifestError):
        fuzzing.parse_manifest(data)


@pytest.mark.parametrize("data", [
    b'{"status": "ok", "metric": 1, "metadata": {"a": ' + b"[" * 900 + b"]" * 900 + b"}}",
], ids=["metadata_900_deep"])
def test_result_inputs_the_fuzzer_found(data: bytes) -> None:
    with pytest.raises(fuzzing.ProtocolError, match="levels deep"):
        fuzzing.parse_result(data)
