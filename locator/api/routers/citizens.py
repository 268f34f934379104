"""The citizens' door: nearest points, search, details, the catalogue, ratings.

Routes only translate HTTP to the domain (``locator.query.search``,
``locator.registry.catalogue``, ``locator.registry.areas``, ``locator.registry.ratings``)
and back. Their query parameters are the models of ``locator.api.queries``, whose bounds
come from the settings and appear in the OpenAPI document.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from locator.api.deps import ReaderDep, SettingsDep, WriterDep
from locator.api.errors import error_responses
from locator.api.queries import NearestQuery, RouteQuery, SearchQuery
from locator.errors import InvalidInput
from locator.query import search
from locator.registry import areas, catalogue, ratings
from locator.registry.gazetteer import PlaceMatch
from locator.schemas import (
    CODE,
    DIGITS_ONLY,
    MAX_ID,
    Moment,
    NearestResponse,
    PointDetail,
    RatingCreate,
    RatingCreated,
    RouteResponse,
    SearchResponse,
    ServiceDetail,
    ServiceList,
)
from locator.travel.places import parse_place, resolve
from locator.travel.rank import nearest_by_travel_time
from locator.travel.route import route as find_route

router = APIRouter(prefix="/v1", tags=["citizens"], responses=error_responses(400, 422, 503))

PointId = Annotated[int, Path(ge=1, le=MAX_ID, description="service point id"), DIGITS_ONLY]


def _json_default(value: object) -> object:
    """What orjson does not know (it writes datetimes itself, as ISO 8601)."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(body: object, headers: dict[str, str] | None = None) -> Response:
    """JSON straight from the domain's dicts.

    The hot read routes skip FastAPI's re-validation against the response model (which
    costs more than the query); the models still document the shape in OpenAPI, and the
    tests validate real responses against them. orjson writes UTF-8 bytes directly: a
    tenth of the API's CPU per nearest request went to the standard json module.
    """
    return Response(
        orjson.dumps(body, default=_json_default),
        media_type="application/json",
        headers=headers,
    )


def detail_etag(version: int, body: bytes) -> str:
    return f'"v{version}.{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or a list of tags, compared weakly (``W/`` ignored)."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def _client(request: Request) -> str:
    """Who the abuse limit counts: the peer's address, or the one a trusted proxy
    reports (``trusted_proxies``; nobody else can choose it with X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


@router.get(
    "/points/nearest",
    response_model=NearestResponse,
    summary="The nearest service points, by geodesic distance",
)
def nearest(
    reader: ReaderDep, settings: SettingsDep, p: Annotated[NearestQuery, Query()]
) -> Response:
    k = p.k if p.k is not None or p.radius_m is not None else settings.default_k
    if p.rank == "travel_time":
        if k is None:
            raise InvalidInput(
                "rank=travel_time ranks the k nearest: give k (with or without radius_m), "
                "not within-radius pages",
                parameter="rank",
            )
        with reader() as db:
            ranked = nearest_by_travel_time(db, settings, p.lat, p.lon, p, k, p.radius_m, p.mode)
        return json_response(
            {
                "origin": {"lat": p.lat, "lon": p.lon},
                "count": len(ranked.results),
                "total": None,
                "next_offset": None,
                "ranking": ranked.info,
                "results": ranked.results,
            }
        )
    with reader() as db:
        page = search.nearest(db, p.lat, p.lon, p, k, p.radius_m, p.limit, p.offset)
    return json_response(
        {
            "origin": {"lat": p.lat, "lon": p.lon},
            "count": len(page.results),
            "total": page.total,
            "next_offset": page.next_offset,
            "ranking": {"by": "distance"},
            "results": page.results,
        }
    )


@router.get(
    "/points/search",
    response_model=SearchResponse,
    summary="Search points by Thai or English name",
)
def text_search(
    reader: ReaderDep, settings: SettingsDep, p: Annotated[SearchQuery, Query()]
) -> Response:
    if (p.lat is None) != (p.lon is None):
        raise InvalidInput("lat and lon: give both or neither", parameter="lat")
    with reader() as db:
        found = search.text_search(db, p.q, p.limit, p, p.lat, p.lon, settings.search_candidates)
    return json_response(
        {
            "q": p.q,
            "count": len(found.results),
            "truncated": found.truncated,
            "places": [
                {
                    "code": m.code,
                    "level": m.level,
                    "name_th": m.name_th,
                    "name_en": m.name_en,
                    "score": round(m.score, 1),
                    "how": m.how,
                }
                for m in found.places
            ],
            "results": found.results,
        }
    )


def _place(m: PlaceMatch) -> dict[str, object]:
    return {
        "code": m.code,
        "level": m.level,
        "name_th": m.name_th,
        "name_en": m.name_en,
        "score": round(m.score, 1),
        "how": m.how,
    }


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
    with reader() as db:
        detail = search.point_detail(db, point_id, at)
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
def route(reader: ReaderDep, settings: SettingsDep, p: Annotated[RouteQuery, Query()]) -> Response:
    origin = parse_place(p.from_, "from")
    dest = parse_place(p.to, "to")
    if dest.point_id is not None:
        with reader() as db:
            dest = resolve(db, dest)
    body = find_route(settings, origin, dest, p.mode, p.steps)
    body["destination_point_id"] = dest.point_id
    return json_response(body)


@router.post(
    "/points/{point_id}/ratings",
    response_model=RatingCreated,
    status_code=201,
    summary="Rate a service point after a visit",
    responses=error_responses(404, 413, 429),
)
def rate(
    writer: WriterDep,
    settings: SettingsDep,
    point_id: PointId,
    body: RatingCreate,
    request: Request,
) -> dict[str, object]:
    # the whole transaction (lock, check, insert, commit) runs here, in this thread
    with writer() as session:
        return ratings.add_rating(
            session,
            point_id,
            body.score,
            body.comment,
            body.service,
            _client(request),
            settings,
        )


@router.get("/services", response_model=ServiceList, summary="The service catalogue")
def services(
    reader: ReaderDep,
    category: Annotated[str | None, Query(pattern=CODE, max_length=64)] = None,
) -> dict[str, object]:
    with reader() as db:
        items = catalogue.list_services(db, category)
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
    with reader() as db:
        return catalogue.service_detail(db, code)


@router.get(
    "/areas/{level}",
    summary="Simplified admin polygons (GeoJSON), the offline background of maps",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def admin_areas(
    reader: ReaderDep, settings: SettingsDep, level: Literal["province", "district"]
) -> Response:
    with reader() as db:
        body = areas.areas_geojson(db, level, settings.areas_simplify_deg)
    return Response(
        orjson.dumps(body),
        media_type="application/geo+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )
