"""What ``api.run`` and ``api.establish_baseline`` return: the run set's rows as a plain list of
:class:`~benchstone.store.records.Run`, as the original's API did, carrying the richer report
(the run set, the ok count, the baseline pointer) as attributes.

A script written for the original iterates the list; one written for the report reads
``.run_set``, ``.runs``, ``.ok``, ``.report`` and ``.pointer``. ``.model`` is the pydantic
object (what ``--json`` prints).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchstone.store.records import Run

if TYPE_CHECKING:
    from benchstone.run.baseline import BaselineResult
    from benchstone.run.runner import RunSetReport
    from benchstone.store.records import BaselinePointer, RunSet


class RunList(list[Run]):
    """The rows one run set recorded, in order, with its report as attributes."""

    def __init__(self, report: RunSetReport) -> None:
        super().__init__(report.runs)
        self.report = report

    @property
    def model(self) -> RunSetReport | BaselineResult:
        return self.report

    @property
    def run_set(self) -> RunSet:
        return self.report.run_set

    @property
    def runs(self) -> list[Run]:
        return self.report.runs

    @property
    def ok(self) -> int:
        """How many repetitions succeeded."""
        return self.report.ok

    def __repr__(self) -> str:
        return f"RunList(run_set={self.run_set.id}, runs={len(self)}, ok={self.ok})"


class BaselineRuns(RunList):
    """The rows of a baseline's run set, with the pointer it set (None when every one failed)."""

    def __init__(self, result: BaselineResult) -> None:
        super().__init__(result.report)
        self.result = result

    @property
    def model(self) -> BaselineResult:
        return self.result

    @property
    def pointer(self) -> BaselinePointer | None:
        return self.result.pointer

    def __repr__(self) -> str:
        moved = self.pointer.git_sha[:10] if self.pointer else None
        return f"BaselineRuns(run_set={self.run_set.id}, runs={len(self)}, ok={self.ok}, " \
               f"pointer={moved})"
