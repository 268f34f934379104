"""One coverage run as a door asks for it: the computation, its areas at one level, the
suggested sites and the summary, in one call (`GET /v1/coverage` and `locator coverage`).

The doors translate their own parameters (the API's comma-separated thresholds and
``mode``, the command line's ``--threshold-km`` or ``--threshold-min``) and shape the
answer (JSON or GeoJSON, tables, files, a map); what is computed, and every check of the
input (the filter's codes, then the thresholds, each once), happens here and in
``locator.analysis.coverage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd

from locator import metrics
from locator.analysis import coverage
from locator.db.engine import Executor
from locator.errors import InvalidInput
from locator.query.filters import PointFilter
from locator.settings import Settings


@dataclass
class CoverageRun:
    """A run and what the doors show of it: ``areas`` (``coverage.aggregate`` at the
    asked level), ``siting`` (None unless sites were asked for) and ``summary``."""

    result: coverage.CoverageResult
    areas: gpd.GeoDataFrame
    siting: coverage.SitingResult | None
    summary: dict[str, Any]


@metrics.counted_run(metrics.COVERAGE_RUNS, metrics.COVERAGE_SECONDS)
def run_coverage(
    db: Executor,
    settings: Settings,
    f: PointFilter,
    *,
    thresholds: Sequence[float],
    mode: coverage.Measure,
    level: coverage.Level,
    sites: int = 0,
    with_polygons: bool = False,
) -> CoverageRun:
    """Coverage of the points ``f`` selects, aggregated by ``level`` (with the areas'
    polygons when ``with_polygons``), and ``sites`` suggested new sites at the largest
    threshold. An unknown code or unusable thresholds raise ``InvalidInput``."""
    try:
        result = coverage.coverage(db, settings, f, thresholds=thresholds, mode=mode)
    except coverage.ThresholdError as exc:
        raise InvalidInput(str(exc), parameter="thresholds") from None
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    areas = coverage.aggregate(result, level, db, with_polygons=with_polygons)
    siting = coverage.suggest_sites(result, sites) if sites else None
    return CoverageRun(result, areas, siting, coverage.summary(result))
