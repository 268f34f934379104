"""The citizens' door: nearest points, search, details, the catalogue, ratings.

Routes only translate HTTP to the domain (``locator.query``,
``locator.registry.catalogue``, ``locator.registry.areas``, ``locator.registry.ratings``)
and back. Their query parameters are the models of ``locator.api.queries``, whose bounds
come from the settings and appear in the OpenAPI document.
"""

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from locator.api.deps import (
    WROTE_COOKIE,
    ReaderDep,
    SettingsDep,
    WriterDep,
    remember_write,
)
from locator.api.errors import error_responses
from locator.api.params import PointId
from locator.api.queries import NearestQuery, RouteQuery, SearchQuery, request_models
from locator.api.responses import json_response
from locator.api.schemas import (
    NearestResponse,
    PointDetail,
    RatingCreate,
    RatingCreated,
    RouteResponse,
    SearchResponse,
    ServiceDetail,
    ServiceList,
)
from locator.errors import InvalidInput
from locator.query import name_search
from locator.query import nearest as nearest_points
from locator.query.detail import point_detail
from locator.registry import areas, catalogue, ratings
from locator.registry.etags import detail_etag, etag_matches
from locator.registry.fields import CODE, Moment
from locator.registry.gazetteer import PlaceMatch
from locator.settings import Settings
from locator.travel.places import parse_place, resolve
from locator.travel.rank import nearest_by_travel_time
from locator.travel.route import route as find_route


def _client(request: Request) -> str:
    """Who the abuse limit counts: the peer's address, or the one a trusted proxy
    reports (``trusted_proxies``; nobody else can choose it with X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


def _place(m: PlaceMatch) -> dict[str, object]:
    return {
        "code": m.code,
        "level": m.level,
        "name_th": m.name_th,
        "name_en": m.name_en,
        "score": round(m.score, 1),
        "how": m.how,
    }


def _nearest_answer(
    p: NearestQuery,
    results: list[dict[str, Any]],
    total: int | None,
    next_offset: int | None,
    ranking: dict[str, Any],
) -> Response:
    return json_response(
        {
            "origin": {"lat": p.lat, "lon": p.lon},
            "count": len(results),
            "total": total,
            "next_offset": next_offset,
            "ranking": ranking,
            "results": results,
        }
    )


def build_router(settings: Settings) -> APIRouter:
    """The citizens' routes; their query bounds come from ``settings``."""
    models = request_models(settings)
    if TYPE_CHECKING:  # the checker reads the base models, FastAPI this app's own
        Nearest: TypeAlias = NearestQuery
        Search: TypeAlias = SearchQuery
        Rating: TypeAlias = RatingCreate
    else:
        Nearest, Search, Rating = models.nearest, models.search, models.rating
    router = APIRouter(prefix="/v1", tags=["citizens"], responses=error_responses(400, 422, 503))

    @router.get(
        "/points/nearest",
        response_model=NearestResponse,
        summary="The nearest service points, by geodesic distance",
    )
    def nearest(
        reader: ReaderDep, settings: SettingsDep, p: Annotated[Nearest, Query()]
    ) -> Response:
        k = p.k if p.k is not None or p.radius_m is not None else settings.default_k
        if p.rank == "travel_time":
            if k is None:
                raise InvalidInput(
                    "rank=travel_time ranks the k nearest: give k (with or without radius_m), "
                    "not within-radius pages",
                    parameter="rank",
                )
            ranked = reader(
                lambda db: nearest_by_travel_time(
                    db, settings, p.lat, p.lon, p, k, p.radius_m, p.mode
                )
            )
            return _nearest_answer(p, ranked.results, None, None, ranked.info)
        page = reader(
            lambda db: nearest_points.nearest(
                db,
                p.lat,
                p.lon,
                p,
                k,
                p.radius_m,
                p.limit,
                p.offset,
                max_gap_m=settings.max_origin_gap_m,
            )
        )
        return _nearest_answer(p, page.results, page.total, page.next_offset, {"by": "distance"})

    @router.get(
        "/points/search",
        response_model=SearchResponse,
        summary="Search points by Thai or English name",
    )
    def text_search(
        reader: ReaderDep, settings: SettingsDep, p: Annotated[Search, Query()]
    ) -> Response:
        if (p.lat is None) != (p.lon is None):
            raise InvalidInput("lat and lon: give both or neither", parameter="lat")
        found = reader(
            lambda db: name_search.text_search(
                db,
                p.q,
                p.limit,
                p,
                p.lat,
                p.lon,
                settings.search_candidates,
                max_gap_m=settings.max_origin_gap_m,
            )
        )
        return json_response(
            {
                "q": p.q,
                "count": len(found.results),
                "truncated": found.truncated,
                "places": [_place(m) for m in found.places],
                "results": found.results,
            }
        )

    @router.get(
        "/points/{point_id}",
        response_model=PointDetail,
        summary="Everything about one service point",
        responses={304: {"description": "Not modified (If-None-Match)"}, **error_responses(404)},
    )
    def point(
        reader: ReaderDep,
        point_id: PointId,
        request: Request,
        at: Annotated[Moment | None, Query(description="judge open_now at this time")] = None,
    ) -> Response:
        detail = reader(lambda db: point_detail(db, point_id, at))
        response = json_response(detail)
        # The ETag is the point's version and the body's own hash: the detail also holds the
        # rating summary and "open now", which change while the point's row does not, so a
        # cache needs the hash; an agency's edit (If-Match) needs only the version part.
        etag = detail_etag(detail["version"], bytes(response.body))
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers={"ETag": etag})
        response.headers["ETag"] = etag
        return response

    @router.get(
        "/route",
        response_model=RouteResponse,
        summary="A route to a service point (or any place) by road, or a labelled estimate",
        responses=error_responses(404),
    )
    def route(
        reader: ReaderDep, settings: SettingsDep, p: Annotated[RouteQuery, Query()]
    ) -> Response:
        origin = parse_place(p.from_, "from")
        dest = parse_place(p.to, "to")
        if dest.point_id is not None:
            place = dest
            dest = reader(lambda db: resolve(db, place))
        body = find_route(settings, origin, dest, p.mode, p.steps)
        body["destination_point_id"] = dest.point_id
        return json_response(body)

    @router.post(
        "/points/{point_id}/ratings",
        response_model=RatingCreated,
        status_code=201,
        summary="Rate a service point after a visit",
        responses={
            201: {
                "description": "Rated",
                "headers": {
                    "Set-Cookie": {
                        "description": f"`{WROTE_COOKIE}`, for a few seconds, where the "
                        "deployment has read replicas: the rater's next reads show the rating",
                        "schema": {"type": "string"},
                    }
                },
            },
            **error_responses(404, 413, 429),
        },
    )
    def rate(
        writer: WriterDep,
        settings: SettingsDep,
        point_id: PointId,
        body: Rating,
        request: Request,
        response: Response,
    ) -> dict[str, object]:
        # the whole transaction (lock, check, insert, commit) runs here, in this thread
        with writer() as session:
            created = ratings.add_rating(
                session,
                point_id,
                body.score,
                body.comment,
                body.service,
                _client(request),
                settings,
            )
        remember_write(response, settings)  # the rater's next reads show it (replicas)
        return created

    @router.get("/services", response_model=ServiceList, summary="The service catalogue")
    def services(
        reader: ReaderDep,
        category: Annotated[str | None, Query(pattern=CODE, max_length=64)] = None,
    ) -> dict[str, object]:
        items = reader(lambda db: catalogue.list_services(db, category))
        return {"count": len(items), "services": items}

    @router.get(
        "/services/{code}",
        response_model=ServiceDetail,
        summary="One catalogue service",
        responses=error_responses(404),
    )
    def service(
        reader: ReaderDep,
        code: Annotated[str, Path(pattern=CODE, max_length=64, description="catalogue code")],
    ) -> dict[str, object]:
        return reader(lambda db: catalogue.service_detail(db, code))

    @router.get(
        "/areas/{level}",
        summary="Simplified admin polygons (GeoJSON), the offline background of maps",
        response_class=Response,
        responses={200: {"content": {"application/geo+json": {}}}},
    )
    def admin_areas(
        reader: ReaderDep, settings: SettingsDep, level: Literal["province", "district"]
    ) -> Response:
        body = reader(lambda db: areas.areas_geojson(db, level, settings.areas_simplify_deg))
        return Response(
            orjson.dumps(body),
            media_type="application/geo+json",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return router
