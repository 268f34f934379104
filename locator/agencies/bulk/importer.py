"""Running an import: all-or-nothing, in the caller's transaction.

Why the rows are written before the pin check, inside a savepoint: the check is the one
SQL the loader and the single writes use (``locator.registry.pincheck``), run once over every
written point, so a new row is compared with the registry *and* with the other rows of
the same file (two rows pinning one office twice are duplicates), in one pass. A refused
import, or a dry run, rolls the savepoint back. Measured on the whole 60,000-point
registry: bench/HISTORY.md (import).
"""

from __future__ import annotations

import time
from collections import defaultdict

from sqlalchemy import text

from locator import metrics
from locator.agencies.bulk.formats import Table, too_many_rows
from locator.agencies.bulk.plan import (
    PlannedRow,
    fill_from_pins,
    outside_thailand,
    pin_tambons,
    plan_rows,
)
from locator.agencies.bulk.scope import agency_scope
from locator.agencies.bulk.write import insert, log_changes, store_overrides, update
from locator.agencies.pinning import BLOCKING_FLAGS, PIN_FIELDS
from locator.agencies.report import ImportReport, RowProblem
from locator.db.engine import Executor
from locator.errors import InvalidInput
from locator.progress import NullReporter, Reporter
from locator.registry import pincheck
from locator.settings import Settings

MAX_REPORTED_PROBLEMS = 1000


def _pin_check(
    db: Executor,
    settings: Settings,
    checked: list[PlannedRow],
    report: ImportReport,
    override: bool,
    confirm_duplicates: bool,
) -> list[pincheck.Finding]:
    """The shared pin check over the written points: refusals become row problems;
    returns the findings overridden (stored as QA flags, so the points need review)."""
    if not checked:
        return []
    row_of = {int(p.point_id or 0): p.row for p in checked}
    findings = pincheck.check_points(db, settings, list(row_of))
    away = {int(f.point_id or 0) for f in findings if f.flag == "outside_tambon"}
    if away:
        plans = [p for p in checked if int(p.point_id or 0) in away]
        abroad = set()
        for p, (code, distance) in zip(plans, pin_tambons(db, plans), strict=True):
            if code is None or distance > settings.pin_tambon_tolerance_m:
                report.problems.append(outside_thailand(p, distance))
                abroad.add(int(p.point_id or 0))
        findings = [f for f in findings if int(f.point_id or 0) not in abroad]
    overridden = []
    blocking: dict[int, list[pincheck.Finding]] = defaultdict(list)
    for f in findings:
        row = row_of[int(f.point_id or 0)]
        if f.flag in BLOCKING_FLAGS:
            if override:
                overridden.append(f)
            else:
                blocking[row].append(f)
        elif f.flag == "duplicate" and not confirm_duplicates:
            other = int(f.other_point_id or 0)
            where = f"row {row_of[other]}" if other in row_of else f"point {other}"
            report.problems.append(RowProblem(row, "name_th", f"a duplicate of {where}: "
                f"{f.detail}. Give that point's external_ref to update it; if this is "
                "another office, import with confirm_duplicates"))  # fmt: skip
    for row, found in blocking.items():
        report.problems.append(RowProblem(row, "lat", "the pin and the address disagree: "
            + "; ".join(f"{f.flag}: {f.detail}" for f in found)
            + ". Move the pin or correct the address; if both are right, import with "
            "override and the point will be reviewed"))  # fmt: skip
    return overridden


def limit_import_statements(db: Executor, settings: Settings) -> None:
    """The statement time limit of an import through the API, for the rest of the
    caller's transaction: longer than a single write's, still bounded."""
    db.execute(text(f"SET LOCAL statement_timeout = {int(settings.import_statement_timeout_ms)}"))


def _outcome(report: ImportReport) -> str:
    if report.problems:
        return "rejected"
    return "dry_run" if report.dry_run else "written"


@metrics.counted_run(metrics.IMPORT_RUNS, metrics.IMPORT_SECONDS, _outcome)
def import_points(
    db: Executor,
    settings: Settings,
    agency_code: str,
    table: Table,
    *,
    account_id: int | None = None,
    dry_run: bool = False,
    override: bool = False,
    confirm_duplicates: bool = False,
    reporter: Reporter | None = None,
) -> ImportReport:
    """Import ``table`` as ``agency_code``'s points inside the caller's transaction, at a
    savepoint that is kept only when every row is good and this is no dry run. The caller
    has checked that the account may act for the agency."""
    report = ImportReport(rows=len(table.rows), dry_run=dry_run)
    if not table.rows:
        raise InvalidInput("the file has no rows")
    if len(table.rows) > settings.max_import_rows:  # a table not read with the cap
        raise too_many_rows(settings.max_import_rows)
    reporter = reporter or NullReporter()
    started = time.perf_counter()
    savepoint = db.begin_nested()
    try:
        scope = agency_scope(db, agency_code)
        planned = plan_rows(db, settings, scope, table, report.problems, reporter)
        report.seconds["rows"] = time.perf_counter() - started
        reporter.stage("finding the tambons of pins")
        mark = time.perf_counter()
        planned = fill_from_pins(db, settings, planned, report.problems)
        report.seconds["fill"] = time.perf_counter() - mark
        created = [p for p in planned if p.point_id is None]
        updated = [p for p in planned if p.point_id is not None and p.changed]
        report.unchanged = len(planned) - len(created) - len(updated)
        reporter.stage("writing the points", len(created) + len(updated))
        mark = time.perf_counter()
        insert(db, created)
        update(db, updated)
        report.seconds["write"] = time.perf_counter() - mark
        reporter.advance(len(created) + len(updated))
        mark = time.perf_counter()
        checked = created + [p for p in updated if PIN_FIELDS & set(p.changed)]
        reporter.stage("the pin check", len(checked))
        overridden = _pin_check(db, settings, checked, report, override, confirm_duplicates)
        report.seconds["pin_check"] = time.perf_counter() - mark
        reporter.advance(len(checked))
        report.problems.sort(key=lambda e: (e.row, e.field))
        if report.problems:
            del report.problems[MAX_REPORTED_PROBLEMS:]
            savepoint.rollback()
            return report
        reporter.stage("the change log")
        mark = time.perf_counter()
        log_changes(db, account_id, created, updated)
        store_overrides(db, account_id, overridden, report, checked)
        report.seconds["log"] = time.perf_counter() - mark
        report.created, report.updated = len(created), len(updated)
        if dry_run:
            savepoint.rollback()
        else:
            savepoint.commit()
            report.written = True
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    report.seconds["total"] = time.perf_counter() - started
    return report
