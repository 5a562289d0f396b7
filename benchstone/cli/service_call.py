"""One Python API call for the harness service, in a child process under the service's user:
``{"function": ..., "args": {...}}`` on stdin, the encoded result on stdout.

The server accepts only the functions of its allow-list; the result is JSON (a pydantic model
as its ``model_dump``, with its class named for the client to rebuild it). An error of
benchstone's family comes back as its class name, message and fix.
"""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any

from pydantic import BaseModel

from benchstone import api
from benchstone.errors import BenchstoneError


def encode(value: Any) -> Any:
    if isinstance(value, BaseModel):
        kind = type(value)
        return {"model": f"{kind.__module__}:{kind.__qualname__}",
                "data": value.model_dump(mode="json")}
    if isinstance(value, list) and isinstance(getattr(type(value), "model", None), property):
        # a run's rows (RunList and its kinds): the model they are built from, and their class
        kind = type(value)
        return {"rows_of": encode(value.model), "as": f"{kind.__module__}:{kind.__qualname__}"}
    if isinstance(value, list | tuple):
        return {"list": [encode(item) for item in value]}
    return {"value": value}


def main() -> int:
    call = json.loads(sys.stdin.read())
    function = getattr(api, call["function"])
    try:
        inspect.signature(function).bind(**call["args"])
    except TypeError as exc:  # arguments the function does not take
        answer = {"error": {"type": "InvalidArgument", "message": str(exc), "fix": None}}
    else:
        try:
            answer = {"result": encode(function(**call["args"]))}
        except BenchstoneError as exc:
            answer = {"error": {"type": type(exc).__name__, "message": str(exc),
                                "fix": exc.fix}}
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
