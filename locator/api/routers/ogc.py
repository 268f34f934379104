"""OGC API - Features facade, read-only: Part 1 (Core, GeoJSON), Part 3 (queryables and
CQL2 text filters), and the drafts of Part 6 (``properties``) and Part 8 (``sortby``).

One collection, ``service_points``, over the registry. GIS clients (QGIS, GDAL's OAPIF
driver, ArcGIS, OWSLib) read it directly: ``ogrinfo OAPIF:http://127.0.0.1:8000``. The
queries are ``locator.ogc`` (items, bbox, cql, queryables, sorting); this module adds
links, media types and content negotiation.

``/`` is shared with the citizen page: every client gets the landing page as JSON
(OWSLib sends ``Accept: */*``, GDAL ``application/json``) unless it prefers HTML, as
browsers do; those are redirected to ``/app``.
"""

import time
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from locator.api.deps import Reader, ReaderDep, SettingsDep
from locator.api.errors import error_responses
from locator.api.queries import ItemsQuery, request_models
from locator.errors import NotFound
from locator.ogc.bbox import CRS84, parse_bbox
from locator.ogc.cql import parse_filter
from locator.ogc.items import (
    COLLECTION_ID,
    FeaturePage,
    ItemQuery,
    data_extent,
    filters_with,
    get_feature,
    list_features,
    parse_properties,
)
from locator.ogc.queryables import queryables_schema
from locator.ogc.sorting import parse_sortby
from locator.settings import Settings

JSON = "application/json"
GEOJSON = "application/geo+json"
SCHEMA_JSON = "application/schema+json"
HTML = "text/html"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.1"  # what FastAPI writes

# Exactly what is implemented. Not "oas30": that class requires an OpenAPI 3.0
# definition, and FastAPI writes 3.1. Parts 6 (property selection) and 8 (sorting) are
# drafts (OGC 24-019, 24-030): their URIs are the drafts' own.
_FEATURES = "http://www.opengis.net/spec/ogcapi-features-{part}/1.0/conf/{name}"
_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/{name}"
CONFORMANCE = [
    *(_FEATURES.format(part=1, name=n) for n in ("core", "geojson")),
    *(_FEATURES.format(part=3, name=n) for n in ("queryables", "filter", "features-filter")),
    *(
        _CQL2.format(name=n)
        for n in (
            "cql2-text",
            "basic-cql2",
            "advanced-comparison-operators",
            "case-insensitive-comparison",
            "basic-spatial-functions",
            "basic-spatial-functions-plus",
        )
    ),
    *(_FEATURES.format(part=6, name=n) for n in ("properties", "properties-features")),
    *(_FEATURES.format(part=8, name=n) for n in ("sortables", "sorting", "features-sorting")),
]

TITLE = "locator: Thai government service points"
DESCRIPTION = (
    "Government service points in Thailand (district offices, subdistrict and municipal "
    "offices, health-promoting hospitals, police stations, post offices, land offices, ...) "
    "with the Citizen's Manual services each offers and its No-Copy status, as OGC API - "
    "Features."
)
COLLECTION_TITLE = "Service points"
COLLECTION_DESCRIPTION = (
    "Every pinned government service point, one feature each: Thai and English names, kind, "
    "agency, address, status, accessibility and whether it asks for no photocopies "
    "(no_copy). Filter by service (a catalogue code) to get that service's copies_required."
)

REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
REL_SORTABLES = "http://www.opengis.net/def/rel/ogc/1.0/sortables"

# how long the collection's extent (one ST_Extent over the registry) is reused
EXTENT_TTL_S = 300.0


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


# --- helpers ------------------------------------------------------------------------------
def _base(request: Request) -> str:
    """Where links point: the configured public address, else this request's own (whose
    Host the guards have checked against ``allowed_hosts``)."""
    configured: str | None = request.app.state.settings.public_base_url
    return configured or str(request.base_url).rstrip("/")


def _link(href: str, rel: str, type_: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": type_, "title": title}


def _with_params(url: str, params: list[tuple[str, str]]) -> str:
    return f"{url}?{urlencode(params, safe=',:')}" if params else url


CollectionId = Annotated[
    str, Path(alias="collectionId", description="The collection: service_points.")
]


def _check_collection(collection_id: str) -> None:
    if collection_id != COLLECTION_ID:
        raise NotFound(
            f"no collection {collection_id!r}; the only collection is "
            f"{COLLECTION_ID!r} (GET /collections)",
            collection=collection_id,
        )


def _accept_prefers_html(accept: str) -> bool:
    """True when the Accept header ranks text/html above application/json, as a
    browser's does. Wildcards count for neither, so ``*/*`` (OWSLib, curl) and no header
    at all get JSON; on a tie the type listed first wins."""
    best: dict[str, tuple[float, int]] = {}
    for position, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        kind = {JSON: "json", HTML: "html", "application/xhtml+xml": "html"}.get(media)
        if kind and (kind not in best or q > best[kind][0]):
            best[kind] = (q, position)
    html_q, html_pos = best.get("html", (0.0, 0))
    json_q, json_pos = best.get("json", (0.0, 0))
    if html_q <= 0:
        return False
    return html_q > json_q or (html_q == json_q and html_pos < json_pos)


def _extent(request: Request, reader: Reader) -> list[float] | None:
    """The data's bbox, recomputed at most every EXTENT_TTL_S seconds per app."""
    state = request.app.state
    cached = getattr(state, "ogc_extent", None)
    now = time.monotonic()
    if cached is not None and now - cached[0] < EXTENT_TTL_S:
        extent: list[float] | None = cached[1]
        return extent
    bbox = reader(data_extent)
    state.ogc_extent = (now, bbox)
    return bbox


def _collection(request: Request, reader: Reader) -> dict[str, Any]:
    base = _base(request)
    url = f"{base}/collections/{COLLECTION_ID}"
    extent: dict[str, Any] = {
        # no time dimension: an interval unbounded at both ends, as the spec writes it
        "temporal": {"interval": [[None, None]]},
    }
    bbox = _extent(request, reader)
    if bbox is not None:
        extent["spatial"] = {"bbox": [bbox], "crs": CRS84}
    return {
        "id": COLLECTION_ID,
        "title": COLLECTION_TITLE,
        "description": COLLECTION_DESCRIPTION,
        "extent": extent,
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            _link(url, "self", JSON, "This collection"),
            _link(f"{url}/items", "items", GEOJSON, "The service points as GeoJSON"),
            _link(f"{url}/queryables", REL_QUERYABLES, SCHEMA_JSON, "What a filter may name"),
            _link(f"{url}/sortables", REL_SORTABLES, SCHEMA_JSON, "What sortby may name"),
        ],
    }


def _schema_response(request: Request, body: dict[str, Any]) -> JSONResponse:
    """``application/schema+json``, as Part 3 asks, unless the client lists plain JSON
    and not that (GDAL accepts only JSON and GeoJSON)."""
    accept = request.headers.get("accept", "")
    plain = JSON in accept and SCHEMA_JSON not in accept
    return JSONResponse(body, media_type=JSON if plain else SCHEMA_JSON)


_SCHEMA_CONTENT: dict[str, Any] = {"content": {SCHEMA_JSON: {}, JSON: {}}}


def _item_query(q: ItemsQuery, max_bbox_area_deg2: float) -> ItemQuery:
    """The parameters, each checked and parsed (a 422 names the one to fix)."""
    bbox = None if q.bbox is None else parse_bbox(q.bbox, max_bbox_area_deg2)
    cql = None
    if q.filter is not None:
        cql = parse_filter(q.filter, q.filter_lang, q.filter_crs)
    return ItemQuery(
        filters=filters_with(q, cql, status_given="status" in q.model_fields_set),
        bbox=bbox,
        cql=cql,
        sortby=parse_sortby(q.sortby),
        properties=parse_properties(q.properties),
        limit=q.limit,
        offset=q.offset,
    )


def _page_links(request: Request, page: FeaturePage) -> list[dict[str, str]]:
    """self, collection, and next/prev that keep every other parameter (the filter too)."""
    base = _base(request)
    url = f"{base}/collections/{COLLECTION_ID}/items"
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")]
    kept.append(("limit", str(page.limit)))
    links = [
        _link(_with_params(url, request.query_params.multi_items()), "self", GEOJSON, "This page"),
        _link(f"{base}/collections/{COLLECTION_ID}", "collection", JSON, "The collection"),
    ]
    if page.has_next:
        params = [*kept, ("offset", str(page.offset + page.limit))]
        links.append(_link(_with_params(url, params), "next", GEOJSON, "Next page"))
    if page.has_prev:
        params = [*kept, ("offset", str(max(0, page.offset - page.limit)))]
        links.append(_link(_with_params(url, params), "prev", GEOJSON, "Previous page"))
    return links


def build_router(settings: Settings) -> APIRouter:
    """The OGC API - Features routes; their query bounds come from ``settings``."""
    models = request_models(settings)
    if TYPE_CHECKING:  # the checker reads the base models, FastAPI this app's own
        Items: TypeAlias = ItemsQuery
    else:
        Items = models.items
    # --- the router ---------------------------------------------------------------------------
    router = APIRouter(tags=["OGC API Features"], responses=error_responses(400, 422, 503))

    @router.get(
        "/",
        summary="Landing page (JSON, unless the client prefers HTML: then the citizen page)",
        response_class=JSONResponse,
        responses={
            200: {"description": "The OGC API landing page", "content": {JSON: {}}},
            307: {"description": "Redirect to the citizen page /app (HTML clients)"},
        },
    )
    def landing(
        request: Request,
        f: Annotated[
            Literal["json", "html"] | None,
            Query(description="Output format; default from the Accept header (HTML: /app)."),
        ] = None,
    ) -> Response:
        wants_json = f == "json" or (
            f is None and not _accept_prefers_html(request.headers.get("accept", ""))
        )
        base = _base(request)
        if not wants_json:
            return RedirectResponse(f"{base}/app", headers={"Vary": "Accept"})
        body = {
            "title": TITLE,
            "description": DESCRIPTION,
            "links": [
                _link(f"{base}/", "self", JSON, "This document"),
                _link(f"{base}/app", "alternate", HTML, "The citizen map page"),
                _link(f"{base}/openapi.json", "service-desc", OPENAPI_JSON, "The API definition"),
                _link(f"{base}/docs", "service-doc", HTML, "The API documentation"),
                _link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
                _link(f"{base}/collections", "data", JSON, "The feature collections"),
            ],
        }
        return JSONResponse(body, headers={"Vary": "Accept"})

    @router.get("/conformance", summary="Conformance classes this API implements")
    def conformance(
        f: Annotated[Literal["json"] | None, Query(description="Output format.")] = None,
    ) -> dict[str, Any]:
        return {"conformsTo": CONFORMANCE}

    @router.get("/collections", summary="The feature collections (one: service_points)")
    def collections(
        request: Request,
        reader: ReaderDep,
        f: Annotated[Literal["json"] | None, Query(description="Output format.")] = None,
    ) -> dict[str, Any]:
        base = _base(request)
        return {
            "links": [_link(f"{base}/collections", "self", JSON, "The feature collections")],
            "collections": [_collection(request, reader)],
        }

    @router.get(
        "/collections/{collectionId}",
        summary="One feature collection",
        responses=error_responses(404),
    )
    def collection(
        request: Request,
        reader: ReaderDep,
        collection_id: CollectionId,
        f: Annotated[Literal["json"] | None, Query(description="Output format.")] = None,
    ) -> dict[str, Any]:
        _check_collection(collection_id)
        return _collection(request, reader)

    @router.get(
        "/collections/{collectionId}/queryables",
        summary="The properties a CQL2 filter may name (JSON Schema)",
        response_class=JSONResponse,
        responses={
            200: {"description": "The queryables as JSON Schema", **_SCHEMA_CONTENT},
            **error_responses(404),
        },
    )
    def queryables(
        request: Request,
        collection_id: CollectionId,
        f: Annotated[Literal["json"] | None, Query(description="Output format.")] = None,
    ) -> JSONResponse:
        _check_collection(collection_id)
        url = f"{_base(request)}/collections/{COLLECTION_ID}/queryables"
        return _schema_response(request, queryables_schema(url))

    @router.get(
        "/collections/{collectionId}/sortables",
        summary="The properties sortby may name (JSON Schema)",
        response_class=JSONResponse,
        responses={
            200: {"description": "The sortables as JSON Schema", **_SCHEMA_CONTENT},
            **error_responses(404),
        },
    )
    def sortables(
        request: Request,
        collection_id: CollectionId,
        f: Annotated[Literal["json"] | None, Query(description="Output format.")] = None,
    ) -> JSONResponse:
        _check_collection(collection_id)
        url = f"{_base(request)}/collections/{COLLECTION_ID}/sortables"
        return _schema_response(request, queryables_schema(url, sortables=True))

    @router.get(
        "/collections/{collectionId}/items",
        summary="Service points, a page at a time: filtered (CQL2 too), sorted, by id by default",
        responses={
            200: {"description": "A GeoJSON FeatureCollection", "content": {GEOJSON: {}}},
            **error_responses(404),
        },
    )
    def items(
        request: Request,
        reader: ReaderDep,
        settings: SettingsDep,
        collection_id: CollectionId,
        q: Annotated[Items, Query()],
    ) -> GeoJSONResponse:
        _check_collection(collection_id)
        query = _item_query(q, settings.max_bbox_area_deg2)
        page = reader(lambda db: list_features(db, query, settings.max_page_size))
        return GeoJSONResponse(
            {
                "type": "FeatureCollection",
                "features": page.features,
                "numberMatched": page.number_matched,
                "numberReturned": page.number_returned,
                "timeStamp": page.time_stamp,
                "links": _page_links(request, page),
            }
        )

    @router.get(
        "/collections/{collectionId}/items/{featureId}",
        summary="One service point",
        responses={
            200: {"description": "A GeoJSON Feature", "content": {GEOJSON: {}}},
            **error_responses(404),
        },
    )
    def item(
        request: Request,
        reader: ReaderDep,
        collection_id: CollectionId,
        feature_id: Annotated[
            str, Path(alias="featureId", description="The service point's id (an integer).")
        ],
        f: Annotated[Literal["json", "geojson"] | None, Query(description="Output format.")] = None,
        properties: Annotated[
            str | None,
            Query(max_length=300, description="comma-separated properties to return (empty: none)"),
        ] = None,
    ) -> GeoJSONResponse:
        _check_collection(collection_id)
        chosen = parse_properties(properties)
        feature = reader(lambda db: get_feature(db, feature_id, chosen))
        collection_url = f"{_base(request)}/collections/{COLLECTION_ID}"
        feature["links"] = [
            _link(f"{collection_url}/items/{feature['id']}", "self", GEOJSON, "This feature"),
            _link(collection_url, "collection", JSON, "The collection"),
        ]
        return GeoJSONResponse(feature)

    return router
