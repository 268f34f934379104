"""The analysts' door: isochrones (what can be reached from a place within so many
minutes), coverage gaps (who lives beyond N km or N minutes of a service) and the
registry's counts. The routes translate HTTP to the domain (``locator.travel.isochrone``,
``locator.analysis.coverage``, ``locator.analysis.stats``) and back."""

import json
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import shapely
from fastapi import APIRouter, Query, Request, Response

from locator.analysis import coverage
from locator.analysis.run import run_coverage
from locator.analysis.stats import registry_stats
from locator.api.deps import ReaderDep, SettingsDep, work_slots
from locator.api.errors import error_responses
from locator.api.queries import CoverageQuery, IsochroneQuery, request_models
from locator.api.responses import json_response
from locator.api.schemas import IsochroneResponse
from locator.errors import Busy
from locator.query.filters import PointFilter
from locator.settings import Settings
from locator.travel import isochrone

# a coverage run takes a core for a fraction of a second (a travel-time one longer, and
# its first reads the road graph): COVERAGE_RUNS at a time per app; one more waits up to
# COVERAGE_WAIT_S for a slot (in its worker thread), then gets a 503
COVERAGE_RUNS = 2


COVERAGE_WAIT_S = 1.0


# polygons simplified for the answer (degrees; ~500 m for districts and provinces)
SIMPLIFY_DEG = {"tambon": 0.001, "district": 0.005, "province": 0.005}


def _records(frame: Any) -> list[dict[str, Any]]:
    """Rows as JSON values (NaN and missing as null), geometry left out."""
    flat = frame.drop(columns="geometry")
    return list(json.loads(flat.to_json(orient="records", double_precision=6)))


def _with_lat_lon(frame: Any) -> list[dict[str, Any]]:
    rows = _records(frame)
    for row, point in zip(rows, frame.geometry, strict=True):
        row["lat"], row["lon"] = round(point.y, 6), round(point.x, 6)
    return rows


def build_router(settings: Settings) -> APIRouter:
    """The analysts' routes; the isochrone's bound comes from ``settings``."""
    models = request_models(settings)
    if TYPE_CHECKING:  # the checker reads the base models, FastAPI this app's own
        Isochrone: TypeAlias = IsochroneQuery
    else:
        Isochrone = models.isochrone
    router = APIRouter(prefix="/v1", tags=["analysis"], responses=error_responses(400, 422, 503))

    @router.get(
        "/isochrone",
        response_model=IsochroneResponse,
        summary="The area reachable within so many minutes by road or on foot (GeoJSON), "
        "or a labelled estimate",
    )
    def isochrone_area(
        reader: ReaderDep, settings: SettingsDep, p: Annotated[Isochrone, Query()]
    ) -> Response:
        body = reader(lambda db: isochrone.isochrone(settings, db, p.lat, p.lon, p.minutes, p.mode))
        return json_response(body)

    @router.get(
        "/stats",
        response_model=dict[str, Any],
        summary="What the registry holds: points by kind (real, generated) and province, the "
        "synthetic share, No-Copy share, and the pin check's counts per QA flag",
    )
    def stats(reader: ReaderDep) -> Response:
        body = reader(registry_stats)
        return json_response(body)

    @router.get(
        "/coverage",
        response_model=dict[str, Any],
        summary="Coverage gaps: the people beyond N km (or N minutes) of a point offering a "
        "service, by tambon, district or province, the worst tambons and suggested new sites",
        responses=error_responses(404),
    )
    def coverage_gaps(
        request: Request,
        reader: ReaderDep,
        settings: SettingsDep,
        q: Annotated[CoverageQuery, Query()],
    ) -> Response:
        thresholds = q.threshold_values()
        f = PointFilter(**{name: getattr(q, name) for name in PointFilter.model_fields})
        slots = work_slots(request, "coverage_slots", COVERAGE_RUNS)
        if not slots.acquire(timeout=COVERAGE_WAIT_S):
            raise Busy("two coverage runs are in progress; try again in a moment",
                       retry_after_s=settings.retry_after_s)  # fmt: skip
        try:
            run = reader(lambda db: run_coverage(db, settings, f, thresholds=thresholds,
                                                 mode=q.mode, level=q.level, sites=q.sites,
                                                 with_polygons=q.format == "geojson"))  # fmt: skip
        finally:
            slots.release()
        summary, areas, siting = run.summary, run.areas, run.siting
        sites = None
        if siting is not None:
            sites = {
                "threshold": siting.threshold, "covered_before": siting.covered_before,
                "covered_after": siting.covered_after, "population": siting.population,
                "sites": _with_lat_lon(siting.sites),
            }  # fmt: skip
        if q.format == "geojson":
            tolerance = SIMPLIFY_DEG[q.level]
            shapes = shapely.set_precision(
                shapely.simplify(areas.geometry.to_numpy(), tolerance, preserve_topology=True), 1e-5
            )
            features = [
                {"type": "Feature", "id": row["code"], "properties": row,
                 "geometry": shapely.geometry.mapping(shape) if shape is not None else None}
                for row, shape in zip(_records(areas), shapes, strict=True)
            ]  # fmt: skip
            response = json_response(
                {"type": "FeatureCollection", "summary": summary, "level": q.level,
                 "sites": sites, "features": features}
            )  # fmt: skip
            response.headers["Content-Type"] = "application/geo+json"
            return response
        body = {
            "summary": summary, "level": q.level, "areas": _records(areas),
            "worst": _with_lat_lon(coverage.worst_units(run.result, q.worst)) if q.worst else [],
            "sites": sites,
        }  # fmt: skip
        return json_response(body)

    return router
