"""What an import answers: how many rows, what they did, and each bad row's problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1 = the first data row (the header is not counted)
    field: str
    message: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowProblem] = field(default_factory=list)
    overridden: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "written": self.written, "rows": self.rows,
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "errors": [{"row": e.row, "field": e.field, "message": e.message}
                       for e in self.errors],
            "overridden": self.overridden,
        }  # fmt: skip
