"""The agencies' writes in the mix: editor keys, ETags, and what each write acknowledged."""

from __future__ import annotations

import math
import random
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import create_engine, text

from bench.loadgen import (
    Record,
    Request,
    get,
    send_json,
)
from locator.agencies import accounts

WRITE_SHARE = {"patch": 0.62, "offering": 0.32, "create": 0.06}
WRITE_KINDS = (*WRITE_SHARE, "etag_get")
WRITE_EXPECTED_4XX = (409, 412, 422)  # honest races and the pin check: counted, no error
EDIT_KINDS = (
    "district_office",
    "police_station",
    "land_office",
    "revenue_office",
    "health_promoting_hospital",
)
EDIT_PROVINCES = 12
EDIT_POINTS_PER_KIND = 80
MOVE_M = (2.0, 20.0)  # a move: this far from the pin's place at the start, any bearing
RACE_SHARE = 0.03
HOURS_CHOICES = (
    "Mo-Fr 08:30-16:30; PH off",
    "Mo-Fr 08:00-16:00; PH off",
    "Mo-Fr 08:30-16:30; Sa 09:00-12:00; PH off",
    "Mo-Fr 07:30-15:30; PH off",
    "Mo-Sa 08:30-15:30; PH off",
)
# a pin 60 m (0.0006 degrees) or more inside its tambon, no other tambon's polygon that
# near (the simplified polygons overlap), no other point of its kind within 150 m, no
# pin-check finding, a postcode of its tambon: a move of up to 20 m stays in the tambon
_EDITABLE_SQL = """
SELECT p.id, g.code AS agency, p.kind, ST_Y(p.geog::geometry) AS lat,
       ST_X(p.geog::geometry) AS lon,
       array(SELECT o.service_code FROM offering o WHERE o.point_id = p.id ORDER BY 1)
           AS services
FROM service_point p
JOIN agency g ON g.id = p.agency_id
JOIN admin_area t ON t.code = p.tambon_code AND t.level = 'tambon'
WHERE p.status = 'active' AND p.kind = ANY(CAST(:kinds AS text[]))
  AND left(p.tambon_code, 2) = ANY(CAST(:provinces AS text[]))
  AND right(g.code, 2) = left(p.tambon_code, 2)
  AND NOT EXISTS (SELECT 1 FROM qa_flag q WHERE q.point_id = p.id AND q.resolved_at IS NULL)
  AND (cardinality(t.postcodes) = 0 OR p.postcode = ANY(t.postcodes))
  AND ST_Contains(t.geom, ST_Buffer(p.geog::geometry, 0.0006))
  AND NOT EXISTS (SELECT 1 FROM admin_area o WHERE o.level = 'tambon' AND o.code <> t.code
                  AND ST_DWithin(o.geom, p.geog::geometry, 0.0006))
  AND NOT EXISTS (SELECT 1 FROM service_point s WHERE s.kind = p.kind AND s.id <> p.id
                  AND ST_DWithin(s.geog, p.geog, 150))
ORDER BY p.id
"""
# where a new district office may go: a point well inside a tambon (as above), 300 m or
# more from any district office; one site per tambon, so two new ones are far apart too
_SITES_SQL = """
SELECT t.code, t.name_th, t.name_en, ST_Y(s.pt) AS lat, ST_X(s.pt) AS lon
FROM admin_area t, LATERAL (SELECT ST_PointOnSurface(t.geom) AS pt) s
WHERE t.level = 'tambon' AND left(t.code, 2) = ANY(CAST(:provinces AS text[]))
  AND ST_Contains(t.geom, ST_Buffer(s.pt, 0.0006))
  AND NOT EXISTS (SELECT 1 FROM admin_area o WHERE o.level = 'tambon' AND o.code <> t.code
                  AND ST_DWithin(o.geom, s.pt, 0.0006))
  AND NOT EXISTS (SELECT 1 FROM service_point p WHERE p.kind = 'district_office'
                  AND ST_DWithin(p.geog, s.pt::geography, 300))
ORDER BY t.code
"""
_ETAG = re.compile(rb"\r\netag:[ \t]*([^\r\n]+)")
_LOCATION = re.compile(rb"\r\nlocation:[ \t]*/v1/points/(\d+)")
_VERSION = re.compile(r'^(?:w/)?"v(\d+)')


@dataclass
class Editable:
    """A point the agencies edit, as the client knows it."""

    id: int
    agency: str
    lat: float  # where the pin was at the start: every move stays within 20 m of it
    lon: float
    services: list[str]
    etag: str | None = None  # the last ETag the client saw; None: read it first
    inflight: int = 0


@dataclass
class Site:
    """Where a new district office may be pinned."""

    agency: str
    tambon: str
    name_th: str
    name_en: str
    lat: float
    lon: float


@dataclass
class Write:
    """One agency request (a record's ``ctx``): what it wrote and how it was answered."""

    op: str  # patch, offering, create, etag_get
    point: Editable | None  # None for a create
    values: dict[str, Any]
    marker: str  # what tells this write's row in the change log from any other's
    service: str | None = None
    agency: str = ""  # a create's: whose key made it
    point_id: int | None = None  # a create's: from its answer
    version: int | None = None  # the version a 2xx acknowledged
    refusal: str | None = None  # a non-2xx answer's error code and message

    @property
    def target(self) -> int:
        """The point written (-1: a create whose answer named none)."""
        if self.point is not None:
            return self.point.id
        return self.point_id if self.point_id is not None else -1


def _version(tag: str | None) -> int | None:
    m = _VERSION.match(tag or "")
    return int(m.group(1)) if m else None


class Agencies:
    """Agency staff editing their points: builds each write when it is sent (with the
    ETag last seen) and learns from each answer (its hook)."""

    def __init__(
        self,
        host: str,
        keys: dict[str, str],
        points: list[Editable],
        sites: list[Site],
        documents: dict[str, list[str]],
    ) -> None:
        self.host, self.keys, self.points = host, keys, points
        self.sites, self.documents = sites, documents
        self.rng = random.Random(12)
        self.ready: deque[Editable] = deque()  # read just now: edited at the next write
        self.busy: dict[int, Editable] = {}  # a write in flight
        self.seq = 0

    def request(self) -> Request:
        return Request("write", b"", self.build)

    def build(self, rec: Record) -> bytes:
        rng = self.rng
        self.seq += 1
        op = rng.choices(list(WRITE_SHARE), weights=list(WRITE_SHARE.values()))[0]
        if op == "create" and self.sites:
            return self._create(rec, self.sites.pop())
        point = self._pick()
        if point.etag is None:
            return self._start(rec, Write("etag_get", point, {}, ""), get(
                self.host, f"/v1/points/{point.id}"
            ))  # fmt: skip
        if op == "offering" and point.services:
            return self._offering(rec, point)
        return self._patch(rec, point)

    def _pick(self) -> Editable:
        """The point just read, else a colleague's point in flight (a race, now and
        then), else a random one with no write in flight."""
        while self.ready:
            point = self.ready.popleft()
            if point.etag is not None and not point.inflight:
                return point
        if self.busy and self.rng.random() < RACE_SHARE:
            racing = [p for p in self.busy.values() if p.etag is not None]
            if racing:
                return self.rng.choice(racing)
        point = self.rng.choice(self.points)
        for _ in range(50):
            if not point.inflight:
                break
            point = self.rng.choice(self.points)
        return point

    def _auth(self, agency: str, point: Editable | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[agency]}"}
        if point is not None:
            assert point.etag is not None
            headers["If-Match"] = point.etag
        return headers

    def _patch(self, rec: Record, point: Editable) -> bytes:
        rng, marker = self.rng, f"09{self.seq:08d}"
        values: dict[str, Any] = {"phones": [marker]}
        if rng.random() < 0.5:
            metres, bearing = rng.uniform(*MOVE_M), rng.uniform(0, 2 * math.pi)
            values["lat"] = round(point.lat + metres * math.cos(bearing) / 111_320, 7)
            values["lon"] = round(
                point.lon
                + metres * math.sin(bearing) / (111_320 * math.cos(math.radians(point.lat))),
                7,
            )
        if rng.random() < 0.3:
            values["opening_hours"] = rng.choice(HOURS_CHOICES)
        if rng.random() < 0.3:
            values["wheelchair"] = rng.random() < 0.5
        raw = send_json(
            "PATCH",
            self.host,
            f"/v1/points/{point.id}",
            values,
            self._auth(point.agency, point),
        )
        return self._start(rec, Write("patch", point, values, marker), raw)

    def _offering(self, rec: Record, point: Editable) -> bytes:
        rng = self.rng
        service = rng.choice(point.services)
        documents = self.documents.get(service) or []
        copies = [rng.choice(documents)] if documents and rng.random() < 0.4 else []
        marker = f"load write {self.seq}"
        values = {"copies_required": copies, "notes": marker}
        raw = send_json(
            "PUT",
            self.host,
            f"/v1/points/{point.id}/offerings/{service}",
            values,
            self._auth(point.agency, point),
        )
        return self._start(rec, Write("offering", point, values, marker, service), raw)

    def _create(self, rec: Record, site: Site) -> bytes:
        name_th = f"ศูนย์บริการประชาชน{site.name_th} หน่วยที่ {self.seq}"
        values = {
            "kind": "district_office",
            "name_th": name_th,
            "name_en": f"{site.name_en} Service Centre {self.seq}",
            "tambon_code": site.tambon,
            "lat": round(site.lat, 7),
            "lon": round(site.lon, 7),
            "phones": [f"09{self.seq:08d}"],
            "opening_hours": self.rng.choice(HOURS_CHOICES),
        }
        raw = send_json("POST", self.host, "/v1/points", values, self._auth(site.agency, None))
        write = Write("create", None, values, name_th, agency=site.agency)
        return self._start(rec, write, raw)

    def _start(self, rec: Record, write: Write, raw: bytes) -> bytes:
        rec.kind, rec.ctx, rec.hook = write.op, write, self.done
        if write.point is not None:
            write.point.inflight += 1
            self.busy[write.point.id] = write.point
        return raw

    def done(self, rec: Record) -> None:
        """What the answer teaches: the point's new ETag, or that it is unknown."""
        write: Write = rec.ctx
        point = write.point
        if point is not None:
            point.inflight -= 1
            if not point.inflight:
                self.busy.pop(point.id, None)
        reply, rec.reply = rec.reply, None
        if reply is None:  # no answer: whether the write happened is unknown
            if point is not None and write.op != "etag_get":
                point.etag = None
            return
        head, body = reply
        found = _ETAG.search(head)
        tag = found.group(1).decode().strip() if found else None
        status = rec.status
        if 200 <= status < 300:
            if write.op == "etag_get":
                assert point is not None
                point.etag = tag
                self.ready.append(point)
                return
            write.version = _version(tag)
            if write.op == "create":
                made = _LOCATION.search(head)
                write.point_id = int(made.group(1)) if made else None
                if write.point_id is not None:
                    lat, lon = float(write.values["lat"]), float(write.values["lon"])
                    made_point = Editable(write.point_id, write.agency, lat, lon, [], tag)
                    self.points.append(made_point)
            else:
                assert point is not None
                point.etag = tag
            return
        try:
            error = orjson.loads(body)["error"]
            write.refusal = f"{error['code']}: {str(error['message'])[:300]}"
        except (orjson.JSONDecodeError, KeyError, TypeError):
            write.refusal = body[:300].decode(errors="replace")
        if point is None or write.op == "etag_get":
            return
        if status == 412:
            point.etag = tag  # the current one: the client knows it now
        elif status not in (409, 422):  # a 503, any 5xx: whether it happened is unknown
            point.etag = None


def agency_writers(host: str, url: str) -> Agencies:
    """One editor account per agency that writes, created in the scratch database; the
    points they edit and the sites of new offices, drawn from 12 provinces."""
    rng = random.Random(5)
    engine = create_engine(url)
    with engine.begin() as conn:
        provinces = sorted(
            conn.execute(text("SELECT code FROM admin_area WHERE level = 'province'")).scalars()
        )
        provinces = sorted(rng.sample(provinces, EDIT_PROVINCES))
        rows = conn.execute(
            text(_EDITABLE_SQL), {"kinds": list(EDIT_KINDS), "provinces": provinces}
        ).all()
        points: list[Editable] = []
        for kind in EDIT_KINDS:
            mine = [r for r in rows if r.kind == kind]
            for r in rng.sample(mine, min(EDIT_POINTS_PER_KIND, len(mine))):
                points.append(Editable(r.id, r.agency, r.lat, r.lon, list(r.services)))
        agency_codes = set(conn.execute(text("SELECT code FROM agency")).scalars())
        sites = [
            Site(f"dopa_{r.code[:2]}", r.code, r.name_th, r.name_en, r.lat, r.lon)
            for r in conn.execute(text(_SITES_SQL), {"provinces": provinces})
            if f"dopa_{r.code[:2]}" in agency_codes
        ]
        rng.shuffle(sites)
        documents: dict[str, list[str]] = {}
        for service, document in conn.execute(
            text("SELECT service_code, document_code FROM service_document ORDER BY 1, 2")
        ):
            documents.setdefault(service, []).append(document)
        used = sorted({p.agency for p in points} | {s.agency for s in sites})
        keys = {a: accounts.create(conn, f"load_{a}", a, "editor").key for a in used}
    engine.dispose()
    return Agencies(host, keys, points, sites, documents)
