"""What an import of an agency's file answers, be it points in bulk or opening hours: how
many rows it had, what they did (or, in a dry run, would do), and each bad row's problem.

Every import counts rows the same way: row 1 is the file's first data row (the header is
not counted), the row a spreadsheet shows as 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one row, in which field, and what to do about it."""

    row: int  # 1 = the first data row (the header is not counted)
    field: str
    message: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    # a bulk import's rows saved over the pin check: row, point_id and flags
    overridden: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def changed(self) -> int:
        """The points the import created or updated (in a dry run: would have)."""
        return self.created + self.updated

    def as_dict(self) -> dict[str, Any]:
        """The report as the API answers it (its problems under ``errors``)."""
        return {
            "dry_run": self.dry_run, "written": self.written, "rows": self.rows,
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "errors": [{"row": e.row, "field": e.field, "message": e.message}
                       for e in self.problems],
            "overridden": self.overridden,
        }  # fmt: skip
