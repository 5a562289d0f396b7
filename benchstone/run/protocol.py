"""The JSON-over-files protocol between the harness and a project's runner.

The harness writes an :class:`InvocationConfig` to ``{config_path}``; the runner writes a
:class:`ProjectResult` to ``{output_path}``. Both have exactly the original benchstone's fields.
:func:`read_result` turns every way a result file can be wrong into a :class:`ProtocolError`
with a one-line message, which the runner records on the run row.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from benchstone.errors import ProtocolError

MAX_NESTING = 64  # deeper documents are refused: storing and showing them must never recurse out


class InvocationConfig(BaseModel):
    """What the runner is told about one repetition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    benchmark: str
    seed: int
    corpus_path: str
    repetition_index: int
    repetition_total: int
    artifact_path: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), sort_keys=True, indent=2) + "\n"


class ProjectResult(BaseModel):
    """What the runner reports. ``ok`` needs a finite metric, ``error`` a non-empty message."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["ok", "error"]
    metric: float | None = None
    metric_components: dict[str, Any] | None = None
    wall_clock_seconds: float | None = None
    metadata: dict[str, Any] | None = None
    message: str | None = None

    @field_validator("metric", "wall_clock_seconds", mode="before")
    @classmethod
    def _a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """With ``strict_numbers`` (a gated metric), a JSON number and nothing else: ``true``
        and ``"1.5"`` are not metrics. Without, the original's coercion (``float(value)``), which
        correctness runners rely on (``"metric": true``)."""
        if value is None or not (info.context or {}).get("strict_numbers"):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a JSON number (got {type(value).__name__})")
        try:
            return float(value)
        except OverflowError:
            raise ValueError("must be a finite number") from None

    @model_validator(mode="after")
    def _status_rules(self) -> ProjectResult:
        if self.status == "ok":
            if self.metric is None:
                raise ValueError("status 'ok' needs a metric")
            if not math.isfinite(self.metric):
                raise ValueError("metric must be a finite number")
        elif not (self.message or "").strip():
            raise ValueError("status 'error' needs a non-empty message")
        if self.wall_clock_seconds is not None and not math.isfinite(self.wall_clock_seconds):
            raise ValueError("wall_clock_seconds must be a finite number")
        return self


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def read_limited(path: Path, limit: int, what: str) -> bytes:
    """Read a regular file of at most ``limit`` bytes without following a symlink.

    The file was written by untrusted code, so it may be a symlink, a FIFO (which would block an
    ordinary open), a directory or enormous; each is a ProtocolError.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ProtocolError(f"the runner wrote no {what}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ProtocolError(f"the {what} is a symlink, not a file") from None
        raise ProtocolError(f"the {what} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ProtocolError(f"the {what} is not a regular file")
        if info.st_size > limit:
            raise ProtocolError(f"the {what} is {info.st_size} bytes, over the {limit}-byte limit")
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise ProtocolError(f"the {what} is over the {limit}-byte limit")
        return data
    finally:
        os.close(fd)


def _depth(document: Any) -> int:
    """How deeply ``document`` (parsed JSON) nests lists and objects; iterative, never recursive."""
    deepest = 0
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_result(data: bytes, *, strict_numbers: bool = False) -> ProjectResult:
    """Validate result bytes; every failure is a one-line ProtocolError. ``strict_numbers``
    refuses a metric that is not a JSON number (the harness asks it for gated metrics)."""
    if not data.strip():
        raise ProtocolError("the result file is empty")
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ProtocolError("the result file is not UTF-8") from None
    except ValueError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "invalid JSON"
        raise ProtocolError(f"the result file is not valid JSON ({reason})") from None
    except RecursionError:
        raise ProtocolError("the result file is nested too deeply") from None
    if not isinstance(document, dict):
        raise ProtocolError(f"the result file holds a JSON {type(document).__name__}, not an object")
    if _depth(document) > MAX_NESTING:
        raise ProtocolError(f"the result file nests more than {MAX_NESTING} levels deep")
    try:
        return ProjectResult.model_validate(document,
                                            context={"strict_numbers": strict_numbers})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ProtocolError(
            f"the result file is invalid: {where + ': ' if where else ''}{message}"
        ) from None


def read_result(path: Path, limit: int, *, strict_numbers: bool = False) -> ProjectResult:
    """Read and validate the result file at ``path`` (at most ``limit`` bytes)."""
    return parse_result(read_limited(path, limit, "result file"), strict_numbers=strict_numbers)
