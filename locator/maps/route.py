"""The map of one route (``locator map route``): the line, both ends, where each end
joins the road, time and distance; a straight-line estimate is labelled as one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import folium
from sqlalchemy import text

from locator.db.engine import Executor
from locator.maps.base import (
    Bounds,
    area_background,
    distance_words,
    duration_words,
    legend,
    offline_map,
    padded,
    road_background,
    static_lines,
    text_popup,
)
from locator.settings import Settings
from locator.travel.modes import PROFILES, Mode
from locator.travel.places import Place, parse_place, resolve
from locator.travel.route import route as find_route

# folium's vector layers take untyped **kwargs (Leaflet's path options)
_PolyLine = cast(Any, folium.PolyLine)
_CircleMarker = cast(Any, folium.CircleMarker)

MODE_WORDS: dict[Mode, tuple[str, str]] = {
    "drive": ("เส้นทางรถยนต์", "by car"),
    "walk": ("เส้นทางเดินเท้า", "on foot"),
}


def _latlon(lon_lat: list[float]) -> list[float]:
    return [lon_lat[1], lon_lat[0]]


@dataclass(frozen=True)
class Destination:
    """What the route leads to, in words: a service point, or a place."""

    lines: list[str]
    tooltip: str


def describe_destination(db: Executor, dest: Place) -> Destination:
    where = f"{dest.lat:.5f}, {dest.lon:.5f}"
    if dest.point_id is None:
        return Destination(["Destination", where], where)
    row = db.execute(
        text(
            "SELECT name_th, name_en, kind, source, status, address_en "
            "FROM service_point WHERE id = :id"
        ),
        {"id": dest.point_id},
    ).one()
    lines = [
        str(row.name_en or row.name_th),
        str(row.name_th),
        f"{str(row.kind).replace('_', ' ')} · service point {dest.point_id}",
    ]
    if row.source == "generated":
        lines.append("generated for the demo: not a real office")
    if row.status != "active":
        lines.append(f"status: {str(row.status).replace('_', ' ')}")
    if row.address_en:
        lines.append(str(row.address_en))
    lines.append(where)
    return Destination(lines, str(row.name_en or row.name_th))


def route_map(
    route: dict[str, Any],
    origin: Place,
    dest: Place,
    destination: Destination,
    backgrounds: list[tuple[str, dict[str, Any]]] | None = None,
) -> folium.Map:
    """The map of a route answered by ``locator.travel.route.route``: the line, both ends
    with popups, where each end joins the road (a dashed line to it), time and distance
    in the legend and the title; a straight-line estimate is labelled as one."""
    mode: Mode = route["mode"]
    estimate = route["method"] == "straight_line"
    th, en = MODE_WORDS[mode]
    distance = distance_words(route["distance_m"])
    duration = duration_words(route["duration_s"])
    if estimate:
        title = f"Straight-line estimate, not a road route: {distance}, about {duration}"
    else:
        title = f"{th} · Route {en}: {distance}, {duration}"

    line = [_latlon(c) for c in route["geometry"]["coordinates"]]
    snapped = {end: _latlon(route["snapped"][end]) for end in ("from", "to")}
    ends = {"from": [origin.lat, origin.lon], "to": [dest.lat, dest.lon]}
    lats = [p[0] for p in [*line, *ends.values(), *snapped.values()]]
    lons = [p[1] for p in [*line, *ends.values(), *snapped.values()]]
    bounds: Bounds = (min(lons), min(lats), max(lons), max(lats))

    m = offline_map(title)
    for name, background in backgrounds or []:
        style = (
            {"color": "#9aa3ad", "weight": 2, "opacity": 0.9}
            if name == "roads"
            else {"color": "#8a8f98", "weight": 1, "opacity": 0.8, "dashArray": "2 4"}
        )
        static_lines(m, background, style)

    route_line = _PolyLine(
        line,
        color="#b26b00" if estimate else "#1f5fbf",
        weight=5,
        opacity=0.9,
        dash_array="10 8" if estimate else None,
        class_name="locator-route" + (" locator-estimate" if estimate else ""),
    ).add_to(m)
    text_popup(
        route_line,
        [
            "Straight line (an estimate)" if estimate else f"Route {en}",
            f"{distance}, {duration}",
        ],
        f"{distance}, {duration}",
    )

    if not estimate:  # where OSRM joined each end to the road
        for end, word in (("from", "start"), ("to", "destination")):
            metres = route["snap_distance_m"][end]
            _PolyLine(
                [ends[end], snapped[end]],
                color="#5b6470",
                weight=3,
                dash_array="4 6",
                class_name="locator-snap-line",
            ).add_to(m)
            snap = _CircleMarker(
                snapped[end],
                radius=5,
                color="#1b1f24",
                weight=2,
                fill=True,
                fill_color="#ffffff",
                fill_opacity=1,
                class_name="locator-snap",
            ).add_to(m)
            text_popup(
                snap,
                [
                    f"Where the {word} joins the road",
                    f"{metres:.0f} m from the {word}",
                    f"{snapped[end][0]:.5f}, {snapped[end][1]:.5f}",
                ],
                f"the {word} joins the road here ({metres:.0f} m)",
            )

    start = folium.Marker(
        ends["from"],
        icon=folium.DivIcon(
            html="A", icon_size=(26, 26), icon_anchor=(13, 13), class_name="locator-end"
        ),
        title="Start",
        alt="Start",
    ).add_to(m)
    text_popup(start, ["Start", f"{origin.lat:.5f}, {origin.lon:.5f}"], "start")
    finish = folium.Marker(ends["to"], title=destination.tooltip, alt="Destination").add_to(m)
    text_popup(finish, destination.lines, destination.tooltip)

    lines = [f"{distance} · {duration}"]
    if estimate:
        speed = route["estimate"]["assumed_speed_kmh"]
        lines.append(f"as the crow flies, at an assumed {speed:g} km/h")
        warning = (
            "A straight-line estimate, not a road route: "
            f"{route['estimate']['reason']}. The real way by road is longer."
        )
        key = [("estimate", "straight line between the two ends")]
    else:
        lines.append(f"on the imported roads (OSRM, {PROFILES[mode]} profile)")
        lines.append(
            f"ends joined to the road {route['snap_distance_m']['from']:.0f} m and "
            f"{route['snap_distance_m']['to']:.0f} m away"
        )
        warning = None
        key = [("", "the route"), ("dashed", "from each end to where it joins the road")]
    lines.append(f"to: {destination.tooltip}")
    legend(
        m,
        "ค่าประมาณเส้นตรง · Straight-line estimate" if estimate else f"{th} · Route {en}",
        lines,
        key=key,
        warning=warning,
    )
    w, s, e, n = bounds
    # the legend takes the top right corner: the route is fitted beside it
    m.fit_bounds([[s, w], [n, e]], padding_top_left=(40, 40), padding_bottom_right=(380, 40))
    return m


def make_route_map(
    db: Executor, settings: Settings, from_: str, to: str, mode: Mode
) -> tuple[folium.Map, dict[str, Any]]:
    """Parse both ends (``lat,lon``; ``to`` may be a point id), route, draw. Returns the
    map and the route as ``/v1/route`` would answer it."""
    origin = parse_place(from_, "from")
    dest = resolve(db, parse_place(to, "to"))
    route = find_route(settings, origin, dest, mode)
    route["destination_point_id"] = dest.point_id
    coords = [*route["geometry"]["coordinates"], *route["snapped"].values()]
    view = padded(
        (
            min(c[0] for c in coords),
            min(c[1] for c in coords),
            max(c[0] for c in coords),
            max(c[1] for c in coords),
        )
    )
    backgrounds = []
    for name, fetch in (("areas", area_background), ("roads", road_background)):
        found = fetch(db, view)
        if found is not None:
            backgrounds.append((name, found))
    m = route_map(route, origin, dest, describe_destination(db, dest), backgrounds)
    return m, route
