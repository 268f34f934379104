"""The review map (``locator map review``): every point of a selection on one map.

The points travel once, as one gzip-compressed JSON document of columns (base64 in a
<script> element that is not run), and a small script (``assets/review.js``) draws them
on canvas tiles (an ``L.GridLayer`` per layer, each tile drawn with one path from a
precomputed Web Mercator position per point): no marker objects, no DOM node per point.
A click finds the nearest drawn point and opens a popup built from text. Layers: real
and generated points, and one per QA flag found in the data (``qa_flags``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

import folium
from branca.element import Element
from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import InvalidInput
from locator.maps.base import (
    THAILAND,
    Bounds,
    ScriptCall,
    area_background,
    inline_assets,
    kind_words,
    legend,
    offline_map,
    padded,
    page,
    static_lines,
)
from locator.query.filters import PointFilter, Status, check_codes, conditions
from locator.registry.models import POINT_STATUSES
from locator.registry.provenance import REAL_SOURCES
from locator.registry.vocabulary import POINT_SOURCES, SOURCE_WORDS

ReviewSource = Literal["real", "generated"]

STATUS_WORDS: dict[str, tuple[str, str]] = {
    "active": ("เปิดให้บริการ", "active"),
    "temporarily_closed": ("ปิดชั่วคราว", "temporarily closed"),
    "closed": ("ปิดถาวร", "closed"),
}


def find_province(db: Executor, province: str) -> tuple[str, str, str]:
    """A province by its 2-digit code, or its Thai or English name (any case):
    (code, name_th, name_en); an unknown one is a mistake to name."""
    row = db.execute(
        text(
            "SELECT code, name_th, name_en FROM admin_area WHERE level = 'province' "
            "AND (code = :p OR lower(name_en) = lower(:p) OR name_th = :p) LIMIT 1"
        ),
        {"p": province.strip()},
    ).first()
    if row is None:
        raise InvalidInput(
            f"province: no province {province!r}; give its 2-digit code or its Thai or "
            "English name (e.g. 50, Chiang Mai, เชียงใหม่)",
            parameter="province",
        )
    return str(row.code), str(row.name_th), str(row.name_en)


def qa_flags(db: Executor) -> dict[int, list[tuple[str, str]]]:
    """The unresolved findings of the pin check per point, (flag, detail), from the
    ``qa_flag`` table (``locator.registry.pincheck``: one row per finding, ``resolved_at`` null
    while it needs review). The map reads whatever flags the data holds, so a flag added
    later gets its layer with no change here; without the table (a schema before it),
    no point is flagged."""
    columns = set(
        db.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'qa_flag'"
            )
        ).scalars()
    )
    if not {"point_id", "flag"} <= columns:
        return {}
    detail = "detail" if "detail" in columns else "''"
    unresolved = "resolved_at IS NULL" if "resolved_at" in columns else "TRUE"
    flags: dict[int, list[tuple[str, str]]] = {}
    for point_id, flag, said in db.execute(
        text(
            f"SELECT point_id, flag, coalesce({detail}, '') FROM qa_flag "
            f"WHERE {unresolved} ORDER BY point_id, flag"
        )
    ):
        flags.setdefault(int(point_id), []).append((str(flag), str(said)))
    return flags


@dataclass(frozen=True)
class ReviewSummary:
    points: int
    real: int
    generated: int
    flagged: int
    flags: list[str]
    scope: list[str]
    """What the selection is, in words (for the legend and the command's answer)."""


def _hours_words(hours: dict[str, Any] | None) -> str:
    from locator.registry.hours import to_osm

    words = to_osm(hours)
    notes = [n for n in ((hours or {}).get("note_th"), (hours or {}).get("note_en")) if n]
    return words + (" (" + " · ".join(str(n) for n in notes) + ")" if notes else "")


def review_points(
    db: Executor,
    *,
    province: str | None = None,
    kind: str | None = None,
    source: ReviewSource | None = None,
    status: Status = "any",
) -> tuple[dict[str, Any], ReviewSummary, Bounds]:
    """The selected points as the review map's columns, what they are, and their extent.

    Points are selected through ``locator.query.filters`` (the API's ``kind`` and ``status``,
    checked the same way), narrowed to a province (by the tambon code of the point's
    address) and to real (pinned or imported) or generated points."""
    f = PointFilter(kind=kind, status=status)
    check_codes(db, f)
    c = conditions(f)
    where, params = [c.sql()], dict(c.params)
    scope = []
    if province is not None:
        code, name_th, name_en = find_province(db, province)
        where.append("left(p.tambon_code, 2) = :province")
        params["province"] = code
        scope.append(
            f"จังหวัด{name_th} · {name_en} province" if code != "10" else "กรุงเทพมหานคร · Bangkok"
        )
    if kind is not None:
        th, en = kind_words(kind)
        scope.append(f"{th} · {en}")
    if source is not None:
        where.append("p.source " + ("<> 'generated'" if source == "real" else "= 'generated'"))
        scope.append(
            "จุดจริงเท่านั้น · real points only"
            if source == "real"
            else "จุดสมมุติเท่านั้น · generated points only"
        )
    if status != "any":
        th, en = STATUS_WORDS.get(status, (status, status))
        scope.append(f"{th} · {en}")
    rows = db.execute(
        text(
            "SELECT p.id, p.kind, p.name_th, p.name_en, p.address_th, p.address_en, p.phones, "
            "p.opening_hours, p.source, p.status, a.name_th AS agency_th, "
            "a.name_en AS agency_en, ST_Y(p.geog::geometry) AS lat, ST_X(p.geog::geometry) AS lon "
            f"FROM {c.source} JOIN agency a ON a.id = p.agency_id "
            f"WHERE {' AND '.join(where)} ORDER BY p.id"
        ),
        params,
    ).all()
    flags_of = qa_flags(db)
    flag_names = sorted({flag for row in rows for flag, _ in flags_of.get(int(row.id), [])})
    flag_index = {name: i for i, name in enumerate(flag_names)}
    kinds: dict[str, int] = {}
    agencies: dict[tuple[str, str], int] = {}
    hours: dict[str, int] = {}
    sources = {s: i for i, s in enumerate(POINT_SOURCES)}
    statuses = {s: i for i, s in enumerate(POINT_STATUSES)}
    names = [
        "id",
        "lat",
        "lon",
        "kind",
        "agency",
        "source",
        "status",
        "name_th",
        "name_en",
        "address_th",
        "address_en",
        "phones",
        "hours",
        "flags",
        "flag_details",
    ]
    cols: dict[str, list[Any]] = {name: [] for name in names}
    for row in rows:
        hours_text = _hours_words(row.opening_hours)
        cols["id"].append(int(row.id))
        cols["lat"].append(round(float(row.lat) * 1e5))
        cols["lon"].append(round(float(row.lon) * 1e5))
        cols["kind"].append(kinds.setdefault(str(row.kind), len(kinds)))
        agency = (str(row.agency_th or ""), str(row.agency_en or ""))
        cols["agency"].append(agencies.setdefault(agency, len(agencies)))
        cols["source"].append(sources.setdefault(str(row.source), len(sources)))
        cols["status"].append(statuses.setdefault(str(row.status), len(statuses)))
        cols["name_th"].append(row.name_th or "")
        cols["name_en"].append(row.name_en or "")
        cols["address_th"].append(row.address_th or "")
        cols["address_en"].append(row.address_en or "")
        cols["phones"].append(", ".join(row.phones or []))
        cols["hours"].append(hours.setdefault(hours_text, len(hours)))
        own = flags_of.get(int(row.id))
        cols["flags"].append([flag_index[flag] for flag, _ in own] if own else 0)
        cols["flag_details"].append([said for _, said in own] if own else 0)
    data = {
        "columns": cols,
        "kinds": [[k, *kind_words(k)] for k in kinds],
        "agencies": [list(a) for a in agencies],
        "hours": list(hours),
        "sources": [[s, *SOURCE_WORDS.get(s, (s, s))] for s in sources],
        "statuses": [[s, *STATUS_WORDS.get(s, (s, s))] for s in statuses],
        "flags": flag_names,
    }
    generated = sum(1 for r in rows if r.source == "generated")
    summary = ReviewSummary(
        points=len(rows),
        real=len(rows) - generated,
        generated=generated,
        flagged=sum(1 for r in rows if int(r.id) in flags_of),
        flags=flag_names,
        scope=scope,
    )
    if rows:
        lats, lons = cols["lat"], cols["lon"]
        bounds: Bounds = (min(lons) / 1e5, min(lats) / 1e5, max(lons) / 1e5, max(lats) / 1e5)
    else:
        bounds = THAILAND
    return data, summary, bounds


_STYLES = {
    "generated": {
        "radius": 2.2,
        "fill": "#e08a00",
        "fillOpacity": 0.6,
        "weight": 0.6,
        "color": "#8a4b00",
    },
    "real": {
        "radius": 3.2,
        "fill": "#1f5fbf",
        "fillOpacity": 0.95,
        "weight": 1,
        "color": "#ffffff",
    },
    "flag": {"radius": 5.5, "fill": None, "fillOpacity": 0, "weight": 2, "color": "#d00000"},
}


def review_map(
    db: Executor,
    *,
    province: str | None = None,
    kind: str | None = None,
    source: ReviewSource | None = None,
    status: Status = "any",
) -> tuple[folium.Map, ReviewSummary]:
    """The review map of the selected points (by default every point of the registry):
    real and generated points and each QA flag as layers, a popup of facts and
    provenance on a click, the province (or district) outlines as the background."""
    import gzip
    import json

    data, summary, bounds = review_points(
        db, province=province, kind=kind, source=source, status=status
    )
    title = "แผนที่ตรวจทานทะเบียน · Registry review map"
    if summary.scope:
        title += ": " + ", ".join(s.split(" · ")[-1] for s in summary.scope)
    m = offline_map(title, prefer_canvas=True)
    inline_assets(m, "review")
    payload = gzip.compress(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 6
    )
    blob = base64.b64encode(payload).decode("ascii")
    page(m).html.add_child(
        Element(
            f'<script type="application/octet-stream" id="locator-review-data">{blob}</script>'
        ),
        name="locator_review_data",
    )
    view = padded(bounds, 0.05, 0.02)
    background = area_background(db, view)
    if background is not None:
        static_lines(m, background, {"color": "#8a8f98", "weight": 1, "opacity": 0.8})
    layers: list[dict[str, Any]] = [
        {
            "key": "generated",
            "label": "จุดสมมุติ ไม่ใช่ข้อเท็จจริง · Generated, not facts",
            "flag": None,
            "sources": [i for i, s in enumerate(data["sources"]) if s[0] not in REAL_SOURCES],
            "style": _STYLES["generated"],
        },
        {
            "key": "real",
            "label": "สำนักงานจริง · Real offices",
            "flag": None,
            "sources": [i for i, s in enumerate(data["sources"]) if s[0] in REAL_SOURCES],
            "style": _STYLES["real"],
        },
    ]
    for i, flag in enumerate(summary.flags):
        layers.append(
            {
                "key": f"flag:{flag}",
                "label": f"ต้องตรวจสอบ · QA: {flag}",
                "flag": i,
                "sources": [],
                "style": _STYLES["flag"],
            }
        )
    m.add_child(
        ScriptCall("locatorReview.start", {"element": "locator-review-data", "layers": layers})
    )
    lines = [
        f"{summary.points:,} จุด · points: {summary.real:,} จริง · real, "
        f"{summary.generated:,} สมมุติ · generated",
        *summary.scope,
        "คลิกที่จุดเพื่อดูรายละเอียด · Click a point for its facts and provenance",
    ]
    if summary.flags:
        lines.append(f"{summary.flagged:,} ต้องตรวจสอบ · flagged for review")
    key = [
        ("review-dot review-real", "สำนักงานจริง · real office"),
        ("review-dot review-generated", "จุดสมมุติ · generated (not a real office)"),
    ]
    if summary.flags:
        key.append(("review-flag", "ต้องตรวจสอบ · flagged by the QA"))
    legend(
        m,
        "แผนที่ตรวจทานทะเบียน · Registry review map",
        lines,
        key=key,
        warning=(
            "จุดสีส้มสร้างขึ้นเพื่อการสาธิต ไม่ใช่สำนักงานจริง · Orange points are generated "
            "for the demo: not real offices, and nothing about them is a fact."
            if summary.generated
            else None
        ),
        position="bottomleft",
    )
    w, s, e, n = padded(bounds, 0.02, 0.01)
    m.fit_bounds([[s, w], [n, e]])
    return m, summary
