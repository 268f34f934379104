"""The citizens' door: nearest points, search, details, the catalogue, ratings.

Routes only translate HTTP to the domain (``locator.search``, ``locator.ratings``) and
back. Every parameter's bounds come from the settings and appear in the OpenAPI schema.
"""

import hashlib
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from locator import ratings, search
from locator.api.deps import ReaderDep, SettingsDep, WriterDep
from locator.api.errors import error_responses
from locator.errors import InvalidInput
from locator.schemas import (
    CODE,
    DIGITS_ONLY,
    MAX_ID,
    Moment,
    NearestResponse,
    PointDetail,
    RatingCreate,
    RatingCreated,
    SearchResponse,
    ServiceDetail,
    ServiceList,
)
from locator.settings import Settings


class FilterQuery(BaseModel):
    """Filters shared by nearest and search. Unknown parameters are rejected (a typo in
    a filter name must not silently return unfiltered results)."""

    model_config = ConfigDict(extra="forbid")

    service: str | None = Field(
        default=None, pattern=CODE, max_length=64, description="catalogue code, /v1/services"
    )
    no_copy: bool | None = Field(
        default=None,
        description="true: only where no photocopies are needed (for `service`, or for every "
        "offering when no service is given)",
    )
    agency: str | None = Field(
        default=None, pattern=CODE, max_length=64, description="agency code, with sub-agencies"
    )
    kind: str | None = Field(default=None, pattern=CODE, max_length=64, description="point kind")
    open_now: bool | None = Field(
        default=None, description="open at `at` (default: now), Asia/Bangkok"
    )
    at: Moment | None = Field(
        default=None, description="ISO 8601 time for `open_now` (no offset = Bangkok time)"
    )
    wheelchair: bool | None = Field(default=None, description="step-free access")
    priority_lane: bool | None = Field(
        default=None, description="priority lane for the elderly and disabled"
    )
    gecc: bool | None = Field(default=None, description="GECC-certified office")

    def filters(self) -> search.PointFilters:
        return search.PointFilters(
            service=self.service,
            no_copy=self.no_copy,
            agency=self.agency,
            kind=self.kind,
            open_now=self.open_now,
            at=self.at,
            wheelchair=self.wheelchair,
            priority_lane=self.priority_lane,
            gecc=self.gecc,
        )


def query_models(settings: Settings) -> tuple[type[FilterQuery], type[FilterQuery]]:
    """The nearest and search parameter models, with this deployment's limits."""
    nearest = create_model(
        "NearestQuery",
        __base__=FilterQuery,
        lat=(float, Field(ge=-90, le=90, description="latitude, WGS84 degrees")),
        lon=(float, Field(ge=-180, le=180, description="longitude, WGS84 degrees")),
        k=(int, Field(default=settings.default_k, ge=1, le=settings.max_k,
                      description="how many points")),
        radius_m=(float | None, Field(default=None, gt=0, le=settings.max_radius_m,
                                      description="only points within this radius, metres")),
    )  # fmt: skip
    text = create_model(
        "SearchQuery",
        __base__=FilterQuery,
        q=(str, Field(min_length=1, max_length=settings.max_query_length,
                      description="words of the name, Thai or English; one of them of 3 or "
                      "more letters or digits (punctuation and symbols only separate words)")),
        lat=(float | None, Field(default=None, ge=-90, le=90, description="bias: near here")),
        lon=(float | None, Field(default=None, ge=-180, le=180, description="bias: near here")),
        limit=(int, Field(default=settings.default_k * 2, ge=1, le=settings.max_k)),
    )  # fmt: skip
    return nearest, text


def query_dependency(model: type[BaseModel]) -> tuple[Any, dict[str, Any]]:
    """Parse the query string into ``model`` in one pydantic call, and describe it.

    FastAPI re-inspects every parameter's annotation on every request, which on the
    hot nearest route cost more than the database query; validating the whole query
    string at once with pydantic-core is an order of magnitude cheaper. The returned
    ``openapi_extra`` lists the same parameters, bounds included, in the OpenAPI schema.
    """

    async def parse(request: Request) -> BaseModel:
        # async: pure CPU, so it runs on the event loop instead of a threadpool hop
        raw = request.query_params
        data = {key: (raw.getlist(key) if len(raw.getlist(key)) > 1 else raw[key])
                for key in raw}  # fmt: skip
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**err, "loc": ("query", *err["loc"])} for err in exc.errors(include_url=False)]
            ) from None

    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required,
                                 "schema": prop}  # fmt: skip
        if description:
            param["description"] = description
        parameters.append(param)
    return parse, {"parameters": parameters}


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


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["citizens"], responses=error_responses(400, 422, 503))
    NearestQuery, SearchQuery = query_models(settings)
    parse_nearest, nearest_doc = query_dependency(NearestQuery)
    parse_search, search_doc = query_dependency(SearchQuery)
    PointId = Annotated[int, Path(ge=1, le=MAX_ID, description="service point id"), DIGITS_ONLY]

    @router.get(
        "/points/nearest",
        response_model=NearestResponse,
        summary="The nearest service points, by geodesic distance",
        openapi_extra=nearest_doc,
    )
    def nearest(
        reader: ReaderDep, query: Annotated[FilterQuery, Depends(parse_nearest)]
    ) -> Response:
        p: Any = query
        with reader() as db:
            results = search.nearest(db, p.lat, p.lon, p.k, p.filters(), p.radius_m)
        return json_response(
            {"origin": {"lat": p.lat, "lon": p.lon}, "count": len(results), "results": results}
        )

    @router.get(
        "/points/search",
        response_model=SearchResponse,
        summary="Search points by Thai or English name",
        openapi_extra=search_doc,
    )
    def text_search(
        reader: ReaderDep, query: Annotated[FilterQuery, Depends(parse_search)]
    ) -> Response:
        p: Any = query
        if (p.lat is None) != (p.lon is None):
            raise InvalidInput("lat and lon: give both or neither", parameter="lat")
        with reader() as db:
            found = search.text_search(
                db, p.q, p.limit, p.filters(), p.lat, p.lon, settings.search_candidates
            )
        return json_response(
            {
                "q": p.q,
                "count": len(found.results),
                "truncated": found.truncated,
                "results": found.results,
            }
        )

    @router.get(
        "/points/{point_id}",
        response_model=PointDetail,
        summary="Everything about one service point",
        responses={
            304: {"description": "Not modified (If-None-Match)"},
            **error_responses(404),
        },
    )
    def point(
        reader: ReaderDep,
        point_id: PointId,
        request: Request,
        at: Annotated[Moment | None, Query(description="judge open_now at this time")] = None,
    ) -> object:
        with reader() as db:
            detail = search.point_detail(db, point_id, at)
        response = json_response(detail)
        # The ETag is the body's own hash: the detail also holds the rating summary and
        # "open now", which change while the point's row (its version) does not.
        etag = f'"{hashlib.blake2b(response.body, digest_size=12).hexdigest()}"'
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers={"ETag": etag})
        response.headers["ETag"] = etag
        return response

    RatingIn = create_model(
        "RatingIn",
        __base__=RatingCreate,
        comment=(
            str | None,
            Field(
                default=None,
                max_length=settings.max_rating_comment,
                description="plain text; stored and returned as text, never as HTML",
            ),
        ),
        service=(str | None, Field(default=None, pattern=CODE, max_length=64)),
    )

    @router.post(
        "/points/{point_id}/ratings",
        response_model=RatingCreated,
        status_code=201,
        summary="Rate a service point after a visit",
        responses=error_responses(404, 413, 429),
    )
    def rate(
        writer: WriterDep,
        settings_: SettingsDep,
        point_id: PointId,
        body: RatingIn,  # type: ignore[valid-type]
        request: Request,
    ) -> dict[str, object]:
        # the whole transaction (lock, check, insert, commit) runs here, in this thread
        with writer() as session:
            return ratings.add_rating(
                session,
                point_id,
                body.score,  # type: ignore[attr-defined]
                body.comment,  # type: ignore[attr-defined]
                body.service,  # type: ignore[attr-defined]
                _client(request),
                settings_,
            )

    @router.get("/services", response_model=ServiceList, summary="The service catalogue")
    def services(
        reader: ReaderDep,
        category: Annotated[str | None, Query(pattern=CODE, max_length=64)] = None,
    ) -> dict[str, object]:
        with reader() as db:
            items = search.list_services(db, category)
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
            return search.service_detail(db, code)

    @router.get(
        "/areas/{level}",
        summary="Simplified admin polygons (GeoJSON), the offline background of maps",
        response_class=Response,
        responses={200: {"content": {"application/geo+json": {}}}},
    )
    def areas(reader: ReaderDep, level: Literal["province", "district"]) -> Response:
        with reader() as db:
            body = search.areas_geojson(db, level, settings.areas_simplify_deg)
        return Response(
            orjson.dumps(body),
            media_type="application/geo+json",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return router
