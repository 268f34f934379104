"""Progress reporting that the domain can call without knowing who is watching.

Long work (loads, imports, builds) reports stages through this protocol; the CLI shows
them as rich progress bars, tests and the API pass nothing and see nothing.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class Reporter(Protocol):
    def stage(self, description: str, total: int | None = None) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


class NullReporter:
    def stage(self, description: str, total: int | None = None) -> None:
        return None

    def advance(self, amount: int = 1) -> None:
        return None


class RichReporter:
    """One bar per stage; the previous stage is marked complete when the next starts."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichReporter:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish_current()
        self._progress.stop()

    def _finish_current(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[self._task]
            total = task.total if task.total is not None else 1
            self._progress.update(self._task, total=total, completed=total)

    def stage(self, description: str, total: int | None = None) -> None:
        self._finish_current()
        self._task = self._progress.add_task(description, total=total or 1)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)
