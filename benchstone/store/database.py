"""sqlite-utils' ``Database`` and ``Migrations``, imported without numpy and pandas.

sqlite-utils imports numpy and pandas whenever they are installed, only to map their scalar
types to column types when it infers a table's schema. The store never lets it infer one: the
migrations create every table in SQL and rows hold plain Python values. numpy alone is most of
the start of a command that opens the store (``bench list``), so the import that sqlite-utils
makes is declined, in the importing thread only and only while sqlite-utils loads.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType

_UNNEEDED = frozenset({"numpy", "pandas"})


class _DeclineUnneeded(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in _UNNEEDED and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _import_sqlite_utils() -> None:
    finder = _DeclineUnneeded()
    sys.meta_path.insert(0, finder)
    try:
        importlib.import_module("sqlite_utils")
    finally:
        sys.meta_path.remove(finder)


_import_sqlite_utils()
# Loaded above: this only binds the names.
from sqlite_utils import Database, Migrations  # noqa: E402

__all__ = ["Database", "Migrations"]
