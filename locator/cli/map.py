"""`locator map ...`: maps as single HTML files that open with no internet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from locator.cli.common import console, friendly, migrated_engine
from locator.query.filters import PointFilter
from locator.settings import get_settings
from locator.travel.modes import Mode

map_app = typer.Typer(
    help="Maps as single HTML files that open with no internet.", no_args_is_help=True
)

# the maps pull in folium, GeoPandas and the ORM (two seconds and more): each command
# imports them when it runs, so that `locator --help` does not wait for them


@map_app.command("route")
@friendly
def map_route(
    from_: Annotated[str, typer.Option("--from", help="Where the route starts: LAT,LON.")],
    to: Annotated[str, typer.Option("--to", help="A service point's id, or LAT,LON.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")],
    mode: Annotated[Mode, typer.Option(help="How the trip is made.")] = "drive",
) -> None:
    """A map of the route (the line, both ends, where they join the road, time and
    distance), or of the labelled straight-line estimate where no imported road network
    covers the place."""
    from locator.maps.base import distance_words, duration_words, save
    from locator.maps.route import make_route_map

    settings = get_settings()
    engine = migrated_engine()
    with engine.connect() as conn:
        m, route = make_route_map(conn, settings, from_, to, mode)
    save(m, output)
    how = (
        f"a straight-line estimate ({route['estimate']['reason']})"
        if route["method"] == "straight_line"
        else f"on the roads (OSRM, {route['mode']})"
    )
    console.print(
        f"wrote {output}: {distance_words(route['distance_m'])}, "
        f"{duration_words(route['duration_s'])}, {how}",
        highlight=False,
    )


@map_app.command("review")
@friendly
def map_review(
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")],
    province: Annotated[
        str | None,
        typer.Option(help="Only this province: its 2-digit code, Thai or English name."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="Only this kind of point, e.g. land_office.")
    ] = None,
    source: Annotated[
        Literal["real", "generated"] | None,
        typer.Option(help="Only real (pinned or imported) or only generated points."),
    ] = None,
    status: Annotated[
        Literal["active", "temporarily_closed", "closed", "any"],
        typer.Option(help="Operating status; every point by default."),
    ] = "any",
) -> None:
    """Every selected point (by default the whole registry) on one map for review: real
    and generated points and each QA flag as layers, a popup with the point's facts and
    provenance; one HTML file that opens with no internet."""
    from locator.maps.base import save
    from locator.maps.review import review_map

    engine = migrated_engine()
    with engine.connect() as conn:
        m, summary = review_map(conn, province=province, kind=kind, source=source, status=status)
    save(m, output)
    size = output.stat().st_size / 1e6
    flags = f", {summary.flagged:,} flagged ({', '.join(summary.flags)})" if summary.flags else ""
    console.print(
        f"wrote {output}: {summary.points:,} points ({summary.real:,} real, "
        f"{summary.generated:,} generated{flags}), {size:.1f} MB",
        highlight=False,
    )


@map_app.command("no-copy")
@friendly
def map_no_copy(
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")],
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service's offerings.")
    ] = None,
) -> None:
    """No-Copy share by province: offerings that need no photocopies, as a choropleth
    that says the statuses are generated; one HTML file that opens with no internet."""
    from locator.maps.base import save
    from locator.maps.no_copy import no_copy_map

    engine = migrated_engine()
    with engine.connect() as conn:
        m = no_copy_map(conn, PointFilter(service=service, status="any"))
    save(m, output)
    console.print(f"wrote {output}: {output.stat().st_size / 1e6:.1f} MB", highlight=False)
