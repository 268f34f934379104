"""The query parameters of each route, declared once as models FastAPI reads
(``Annotated[NearestQuery, Query()]``): the shared point filters (``locator.query.filters``)
plus what each route adds.

Fields whose bounds come from the settings are declared in ``request_models``, which
builds each app's subclasses from the settings handed to ``create_app``: the bounds then
hold for that app and appear in its OpenAPI document. The classes here carry the other
fields and the types the checker reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from locator.api.schemas import RatingCreate
from locator.ogc.cql import MAX_FILTER_LENGTH
from locator.query.filters import PointFilter
from locator.query.name_search import SEARCHABLE
from locator.settings import Settings


class NearestQuery(PointFilter):
    lat: float = Field(ge=-90, le=90, description="latitude, WGS84 degrees")
    lon: float = Field(ge=-180, le=180, description="longitude, WGS84 degrees")
    k: int | None
    radius_m: float | None
    limit: int
    offset: int = Field(
        default=0, ge=0, description="within-radius pages: points to skip (see next_offset)"
    )
    rank: Literal["distance", "travel_time"] = Field(
        default="distance",
        description="`travel_time`: the nearest candidates by distance re-ranked by the trip's "
        "duration on the roads (one routing-engine call); with `open_now`, open is judged at "
        "each point's arrival time. Needs `k` (or the default k), not within-radius pages",
    )
    mode: Literal["drive", "walk"] = Field(
        default="drive", description="with `rank=travel_time`: how the trip is made"
    )


class SearchQuery(PointFilter):
    q: str
    lat: float | None = Field(default=None, ge=-90, le=90, description="order by distance")
    lon: float | None = Field(default=None, ge=-180, le=180, description="order by distance")
    limit: int


class ItemsQuery(PointFilter):
    bbox: str | None
    limit: int
    offset: int = Field(default=0, ge=0, description="features to skip (the next link has it)")
    f: Literal["json", "geojson"] | None = Field(default=None, description="output format")
    filter: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_FILTER_LENGTH,
        description="CQL2 text over the queryables (GET .../queryables), ANDed with the other "
        "filters: comparisons, AND/OR/NOT, LIKE, IN, BETWEEN, IS NULL, CASEI, S_INTERSECTS "
        "with a BBOX or any geometry (longitude latitude). A filter naming `status` lifts the "
        "default `status=active`",
        examples=["kind IN ('police_station', 'post_office') AND wheelchair = true"],
    )
    filter_lang: Literal["cql2-text", "cql-text"] = Field(
        default="cql2-text",
        alias="filter-lang",
        description="the filter's encoding: CQL2 text (`cql-text`, the draft's name that "
        "GDAL up to 3.6 sends, is read the same way)",
    )
    filter_crs: Literal["http://www.opengis.net/def/crs/OGC/1.3/CRS84"] | None = Field(
        default=None, alias="filter-crs", description="the CRS of the filter's geometries"
    )
    sortby: str | None = Field(
        default=None,
        max_length=300,
        description="comma-separated sortables (GET .../sortables), `-` before a name for "
        "descending order; ties are broken by id",
        examples=["name_en,-id"],
    )
    properties: str | None = Field(
        default=None,
        max_length=300,
        description="comma-separated feature properties to return (empty: none)",
        examples=["name_en,kind"],
    )


class RouteQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    from_: str = Field(
        alias="from",
        min_length=3,
        max_length=60,
        description="where the trip starts: lat,lon (WGS84 degrees)",
        examples=["13.7466,100.5347"],
    )
    to: str = Field(
        min_length=1,
        max_length=60,
        description="where it ends: a service point's id, or lat,lon",
        examples=["1", "13.7563,100.5018"],
    )
    mode: Literal["drive", "walk"] = Field(default="drive", description="how the trip is made")
    steps: bool = Field(default=False, description="turn-by-turn steps too")


class IsochroneQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, description="where the trip starts: latitude, WGS84 degrees")
    lon: float = Field(ge=-180, le=180, description="longitude, WGS84 degrees")
    minutes: float
    mode: Literal["drive", "walk"] = Field(default="drive", description="how the trip is made")


class CoverageQuery(PointFilter):
    """Coverage gaps for the points the shared filters select (issue 13)."""

    thresholds: str = Field(
        default="5,10,20",
        pattern=r"^\s*[0-9]+(\.[0-9]+)?(\s*,\s*[0-9]+(\.[0-9]+)?){0,4}\s*$",
        max_length=60,
        description="up to five thresholds, comma-separated: km (`mode=distance`) or minutes "
        "(`mode=travel_time`), each above 0 and at most 1,000",
        examples=["5,10,20"],
    )
    mode: Literal["distance", "travel_time"] = Field(
        default="distance",
        description="`distance`: geodesic km to the nearest point; `travel_time`: minutes by "
        "car on the imported road network (units it does not cover are counted as unknown)",
    )
    level: Literal["tambon", "district", "province"] = Field(
        default="district", description="the areas the people are counted by"
    )
    sites: int = Field(
        default=0, ge=0, le=20, description="suggest this many new sites (greedy maximal coverage)"
    )
    worst: int = Field(default=10, ge=0, le=100, description="the worst tambons to list")
    format: Literal["json", "geojson"] = Field(
        default="json",
        description="`json`: the summary, the areas as rows, the worst tambons and the sites; "
        "`geojson`: the areas as polygons (simplified) with the same properties",
    )

    def threshold_values(self) -> list[float]:
        """The numbers as given: ``analysis.coverage`` checks them, for both doors."""
        return [float(v) for v in self.thresholds.split(",")]


@dataclass(frozen=True)
class RequestModels:
    """One app's request models, bounded by its settings."""

    nearest: type[NearestQuery]
    search: type[SearchQuery]
    items: type[ItemsQuery]
    route: type[RouteQuery]
    isochrone: type[IsochroneQuery]
    coverage: type[CoverageQuery]
    rating: type[RatingCreate]


def request_models(settings: Settings) -> RequestModels:
    """This app's subclasses: each declares the fields whose bounds, defaults or wording
    come from ``settings``."""

    class Nearest(NearestQuery):
        k: int | None = Field(
            default=None,
            ge=1,
            le=settings.max_k,
            description=f"how many points (default {settings.default_k}; with `radius_m` and "
            "no `k`: every point within the radius, a page at a time)",
        )
        radius_m: float | None = Field(
            default=None,
            gt=0,
            le=settings.max_radius_m,
            description="only points within this radius, metres",
        )
        limit: int = Field(
            default=settings.default_page_size,
            ge=1,
            le=settings.max_page_size,
            description="within-radius pages: points per page",
        )

    class Search(SearchQuery):
        q: str = Field(
            min_length=1,
            max_length=settings.max_query_length,
            # the search's own check, whose 422 says what to type, enforces the pattern
            json_schema_extra={"pattern": SEARCHABLE},
            description="words of the name, Thai or English; one of them with 3 or more "
            "letters or digits in a row (punctuation, symbols and tone marks only separate "
            "words)",
        )
        limit: int = Field(default=settings.default_k * 2, ge=1, le=settings.max_k)

    class Items(ItemsQuery):
        bbox: str | None = Field(
            default=None,
            description="minLon,minLat,maxLon,maxLat in degrees (CRS84), or the 3D form "
            "minLon,minLat,minHeight,maxLon,maxLat,maxHeight (the heights are ignored); at "
            f"most {settings.max_bbox_area_deg2:g} square degrees",
            examples=["100.3,13.5,100.9,14.0"],
        )
        limit: int = Field(
            default=settings.default_page_size,
            ge=1,
            le=settings.max_page_size,
            description="features per page",
        )

    class Isochrone(IsochroneQuery):
        minutes: float = Field(
            gt=0,
            le=settings.max_isochrone_minutes,
            description=f"travel time, minutes (at most {settings.max_isochrone_minutes:g})",
            examples=[15],
        )

    # made by name: the OpenAPI document calls the rating body RatingCreate
    rating = create_model(
        "RatingCreate",
        __base__=RatingCreate,
        comment=(
            str | None,
            Field(
                default=None,
                max_length=settings.max_rating_comment,
                description="plain text; stored and returned as text, never as HTML",
            ),
        ),
    )
    return RequestModels(
        nearest=Nearest,
        search=Search,
        items=Items,
        route=RouteQuery,
        isochrone=Isochrone,
        coverage=CoverageQuery,
        rating=rating,
    )
