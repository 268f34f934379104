"""Mixed open-loop load, overload and a database restart, against a real server.

Run by hand:  .venv/bin/python -m bench.load [--seconds 60] [--workers 2]

What it answers: does the API hold its service at its saturation rate, refuse the
excess quickly when offered twice that, come back the moment the overload stops, and
survive PostgreSQL restarting under it (503, not 500, while it is down; normal again
within seconds; no acknowledged rating or agency write lost)?

Set-up: a scratch copy of the registry on the same cluster (``CREATE DATABASE ...
TEMPLATE locator`` when nobody is connected to the demo database, otherwise migrate +
reference + registry, which takes about 35 s), dropped at the end; or, with
``--private-cluster``, a throwaway cluster of its own, so that the restart in (e)
cuts off nobody else using the shared one (another engineer's tests); ``locator serve``
started as a subprocess against it, trusting X-Forwarded-For from 127.0.0.1 so each
rating can come from its own client address (the 3-per-client-per-point-per-day limit
is not what is measured). With the server up, one editor account per agency that writes
(below) is created in the scratch database (``accounts.create``), its key kept by the
client.

The mix, like citizens' use plus the agencies' upkeep: nearest 50 % (random origins in
Thailand's box, a third with a catalogue ``service``, half of those ``no_copy=true``; a
quarter ranked by ``rank=travel_time``, as the citizen page asks), search 15 % (English
and Thai place names and words of real point names fetched from the API), detail 12.5 %
(random existing ids), coverage 0.5 % (``GET /v1/coverage`` of a random catalogue
service, by district, province or tambon, half of them no-copy, a fifth with 3 suggested
sites: an analyst's national question among the citizens' traffic), OGC items 5 % (small
random boxes, limit 10), ratings 5 %, routes 5 % (between random junctions of a real
road network, ``--roads``, Liechtenstein's by default, which is imported for the run and
routed by OSRM; a fifth on foot), isochrones 2 % (from random junctions, 5 to 30
minutes, a fifth on foot, on the same network's graph), agency writes 5 %.

Agency writes (``Authorization: Bearer <key>``, ``If-Match``): about 400 points of 12
provinces drawn at set-up (district offices, police stations, land and revenue offices,
health-promoting hospitals; pins well inside their own tambon, no pin-check finding), each
edited with its agency's key: ``patch`` 62 % of the writes (``PATCH /v1/points/{id}``:
new phones, always, plus in half of them the pin moved 2-20 m from where it was at the
start, so it stays in its tambon, in 30 % other opening hours, in 30 % wheelchair),
``offering`` 32 % (``PUT /v1/points/{id}/offerings/{service}`` of a service the point
offers: ``copies_required`` [] or, in 40 %, one of the service's documents; a note),
``create`` 6 % (``POST /v1/points``: a district office with a unique name by the
province's DOPA office, in one of its tambons, well inside it and 300 m or more from any
district office; edited afterwards like the others). The
ETag: the client keeps each point's last ETag from the answers it got (a write's 2xx, a
412's current one); a point whose ETag it does not know (at first, or after a write whose
outcome it cannot know: a 503, a timeout, a broken connection) is read first, ``GET
/v1/points/{id}`` (kind ``etag_get``, in the writes' 5 %), and edited at the next write.
So a write never sends ``If-Match: *``, and one point has one write in flight, but for
about 3 % of the writes: a colleague editing a point already being edited, with the same
ETag (of the two at most one wins, the other gets a 412). 409, 412 and 422 are counted
and reported, not errors; any other 4xx to a write is a failed target.
Every write answered 2xx (its point, version and values, and a marker: the phone number,
the offering's note, the new office's name) is checked in the database after the run:
the version at least the acknowledged one, the marker's row in the change log, and, where
no later write landed on that point, the values themselves.

Phases: (a) closed loop, 16 connections: its 2xx throughput is the saturation rate R;
(b) open loop at R; (c) at 2R; (d) at 0.7R, right after (c): the recovery; then (e)
at 0.5R with PostgreSQL stopped at ``--fault-at`` and started again ``--down`` seconds
later; (f) at 0.5R with the routing engine stopped (``locator roads stop``) at
``--fault-at`` and started again ``--down`` seconds later: routes get a quick 503,
the travel-time ranking falls back to the labelled distance order, nothing else
notices. (b), (c) and (d) follow each other without a gap. A probe asks ``/healthz``
every 100 ms on its own connection throughout. The load generator is ``bench.loadgen``
(asyncio + uvloop, latency counted from each request's scheduled time).

Prints tables and the pass/fail of each target; writes everything as JSON to
``bench/output/load-<time>.json``, and the server's own log beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import uvloop
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.common import BENCH_KEY, free_port, free_port_pair
from bench.loadgen import (
    Pool,
    Record,
    Request,
    closed_loop,
    get,
    lag_monitor,
    open_loop,
    post_json,
    send_json,
)
from bench.nearest import CpuMeter
from locator.agencies import accounts
from locator.db import migrate
from locator.db.cluster import LocalCluster
from locator.db.engine import database_url, with_database
from locator.ingest.reference import load_reference
from locator.ingest.registry import load_registry
from locator.query.name_search import MIN_TERM, search_terms
from locator.registry import hours
from locator.settings import Settings, get_settings

OUTPUT = Path(__file__).resolve().parent / "output"
LOCATOR = str(Path(sys.executable).parent / "locator")
HOST = "127.0.0.1"
THAILAND = {"lat": (5.6, 20.5), "lon": (97.3, 105.7)}
MIX = {
    "nearest": 0.50,
    "search": 0.15,
    "detail": 0.125,
    "coverage": 0.005,  # an analyst's national question: GET /v1/coverage
    "ogc": 0.05,
    "rating": 0.05,
    "route": 0.05,
    "isochrone": 0.02,
    "write": 0.05,  # agency writes: one of WRITE_SHARE, or the read of an unknown ETag
}
WRITE_SHARE = {"patch": 0.62, "offering": 0.32, "create": 0.06}
WRITE_KINDS = (*WRITE_SHARE, "etag_get")
REPORT_KINDS = (*(k for k in MIX if k != "write"), *WRITE_KINDS)
WRITE_EXPECTED_4XX = (409, 412, 422)  # honest races and the pin check: counted, no error
LIECHTENSTEIN = "liechtenstein-2013-08-03.osm.pbf"
# searched words besides those of real point names: what people type, typos included
# fmt: off
PLACE_WORDS = (
    "Bangkok", "Chiang Mai", "Khon Kaen", "Phuket", "Hat Yai", "Nakhon Ratchasima",
    "Udon Thani", "Pattaya", "Ayutthaya", "Sukhothai", "Chiang Rai", "Surat Thani",
    "Nonthaburi", "Lampang", "Ubon", "Korat", "Chaing Mai", "Bangkokk", "district office",
    "hospital", "police", "post office", "land office", "municipality",
    "กรุงเทพ", "เชียงใหม่", "ขอนแก่น", "ภูเก็ต", "หาดใหญ่", "นครราชสีมา", "อุดรธานี",
    "อยุธยา", "อำเภอ", "เทศบาล", "โรงพยาบาล", "สถานีตำรวจ", "ไปรษณีย์", "ที่ดิน", "อบต",
)
# fmt: on


# --- the scratch registry -----------------------------------------------------------------
@contextlib.contextmanager
def scratch_registry(mode: str, settings: Settings) -> Iterator[tuple[str, str]]:
    """A scratch copy of the registry on the cluster: (owner URL, how it was made).

    ``template`` clones the demo database (a few seconds; PostgreSQL refuses while any
    session is connected to it), then applies any newer migration; ``build`` migrates
    and loads reference and registry (about 35 s); ``auto`` tries the first, then the
    second. Dropped afterwards.
    """
    server = database_url(settings)
    name = f"locator_load_{uuid.uuid4().hex[:8]}"
    # no pool: the fault phase restarts PostgreSQL, and a pooled connection would be dead
    admin = create_engine(
        with_database(server, "postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    how = ""
    try:
        if mode in ("auto", "template"):
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{settings.db_name}"'))
                engine = create_engine(with_database(server, name))
                migrate.upgrade(engine)  # the demo database may lag behind the code
                engine.dispose()
                how = f"cloned from {settings.db_name!r} (CREATE DATABASE ... TEMPLATE)"
            except Exception as exc:  # most often: the demo database is in use
                if mode == "template":
                    raise
                said = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                print(f"cannot clone {settings.db_name!r} ({said}); building instead", flush=True)
        if not how:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            started = time.perf_counter()
            engine = create_engine(with_database(server, name))
            migrate.upgrade(engine)
            load_reference(engine, settings.data_dir)
            load_registry(engine, settings.data_dir, settings.catalogue_dir)
            engine.dispose()
            how = f"built: migrate + reference + registry ({time.perf_counter() - started:.0f} s)"
        yield with_database(server, name), how
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def private_cluster() -> Iterator[tuple[Settings, dict[str, str]]]:
    """A throwaway embedded cluster of our own (its own folder and socket port): the
    restart in (e) then cuts off nobody else. Yields its settings and the environment
    that points the ``locator`` command at it."""
    state = Path(tempfile.mkdtemp(prefix="locator-load-"))
    state.chmod(0o755)  # as root the server runs as `postgres`, which must reach it
    settings = Settings(state_dir=state, db_port=free_port(), database_url=None)
    cluster = LocalCluster(settings)
    cluster.start()
    try:
        yield settings, {"LOCATOR_STATE_DIR": str(state), "LOCATOR_DB_PORT": str(settings.db_port)}
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def imported_roads(url: str, pbf: Path) -> Iterator[dict[str, str]]:
    """``pbf`` imported (OSRM data in a state folder of its own, the graph into the
    scratch database); yields the environment that points ``locator`` at it. The server
    starts the engines itself; they are stopped afterwards."""
    state = Path(tempfile.mkdtemp(prefix="locator-load-roads-"))
    port = free_port_pair()
    env = {"LOCATOR_STATE_DIR": str(state), "LOCATOR_OSRM_PORT": str(port)}
    full = {**os.environ, "LOCATOR_DATABASE_URL": url, **env}
    try:
        started = time.perf_counter()
        out = subprocess.run(
            [LOCATOR, "roads", "import", str(pbf)], env=full, capture_output=True, text=True
        )
        if out.returncode:
            raise RuntimeError(f"locator roads import {pbf} failed: {out.stderr.strip()}")
        print(
            f"roads: {pbf.name} imported in {time.perf_counter() - started:.1f} s: "
            + out.stdout.strip().splitlines()[-1],
            flush=True,
        )
        yield env
    finally:
        subprocess.run([LOCATOR, "roads", "stop"], env=full, capture_output=True)
        shutil.rmtree(state, ignore_errors=True)


def start_server(
    url: str, port: int, workers: int, log: Path, extra_env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """``locator serve`` on loopback against ``url``; its output goes to ``log``."""
    env = {
        **os.environ,
        "LOCATOR_DATABASE_URL": url,
        "LOCATOR_TRUSTED_PROXIES": HOST,
        "LOCATOR_CLIENT_HASH_KEY": BENCH_KEY,
        **extra_env,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                LOCATOR,
                "serve",
                "--host",
                HOST,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--no-access-log",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    proc.terminate()
    raise RuntimeError(f"the server did not become ready; see {log}")


# --- agency writes -------------------------------------------------------------------------
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


# --- the traffic ---------------------------------------------------------------------------
@dataclass
class Mix:
    """What the requests are drawn from, fetched from the running server and database."""

    host: str
    services: list[str]
    words: list[str]
    ids: list[int]
    junctions: list[tuple[float, float]] = field(default_factory=list)
    """Road junctions (lat, lon) of the imported network, the routes' ends."""
    rng: random.Random = field(default_factory=lambda: random.Random(2021))
    agencies: Agencies | None = None
    """The agency staff making the writes (none: their share goes to the rest)."""

    def request(self) -> Request:
        rng = self.rng
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "write":
            return self.agencies.request() if self.agencies else self.request()
        if kind == "nearest":
            lat = rng.uniform(*THAILAND["lat"])
            lon = rng.uniform(*THAILAND["lon"])
            path = f"/v1/points/nearest?lat={lat:.5f}&lon={lon:.5f}"
            if rng.random() < 1 / 3:
                path += f"&service={rng.choice(self.services)}"
                if rng.random() < 0.5:
                    path += "&no_copy=true"
            if rng.random() < 1 / 4:
                path += "&rank=travel_time"
            return Request(kind, get(self.host, path))
        if kind == "coverage":
            path = f"/v1/coverage?service={rng.choice(self.services)}&worst=5"
            path += rng.choice(("&level=district", "&level=province", "&level=tambon"))
            if rng.random() < 0.5:
                path += "&no_copy=true"
            if rng.random() < 0.2:
                path += "&sites=3"
            return Request(kind, get(self.host, path))
        if kind == "isochrone":
            if not self.junctions:
                return self.request()
            lat, lon = rng.choice(self.junctions)
            mode = "walk" if rng.random() < 0.2 else "drive"
            minutes = rng.choice((5, 10, 15, 30))
            path = f"/v1/isochrone?lat={lat:.6f}&lon={lon:.6f}&minutes={minutes}&mode={mode}"
            return Request(kind, get(self.host, path))
        if kind == "route":
            if not self.junctions:
                return self.request()  # no roads imported: the rest of the mix
            (a_lat, a_lon), (b_lat, b_lon) = rng.sample(self.junctions, 2)
            mode = "walk" if rng.random() < 0.2 else "drive"
            path = f"/v1/route?from={a_lat:.6f},{a_lon:.6f}&to={b_lat:.6f},{b_lon:.6f}&mode={mode}"
            return Request(kind, get(self.host, path))
        if kind == "search":
            return Request(
                kind, get(self.host, f"/v1/points/search?q={quote(rng.choice(self.words))}")
            )
        if kind == "detail":
            return Request(kind, get(self.host, f"/v1/points/{rng.choice(self.ids)}"))
        if kind == "ogc":
            w, h = rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.4)
            lon = rng.uniform(THAILAND["lon"][0], THAILAND["lon"][1] - w)
            lat = rng.uniform(THAILAND["lat"][0], THAILAND["lat"][1] - h)
            bbox = f"{lon:.4f},{lat:.4f},{lon + w:.4f},{lat + h:.4f}"
            return Request(
                kind, get(self.host, f"/collections/service_points/items?bbox={bbox}&limit=10")
            )
        # a rating from a random client address (198.18.0.0/15: the benchmarking range)
        client = f"198.{rng.randint(18, 19)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        return Request(
            kind,
            post_json(
                self.host,
                f"/v1/points/{rng.choice(self.ids)}/ratings",
                {"score": rng.randint(1, 5)},
                {"X-Forwarded-For": client},
            ),
        )

    def batch(self, n: int) -> list[Request]:
        return [self.request() for _ in range(n)]


def searchable(word: str) -> bool:
    """Whether the search takes ``word`` (it needs one term of MIN_TERM letters or digits)."""
    return not word.isdigit() and any(len(t) >= MIN_TERM for t in search_terms(word))


def fetch_mix(base: str, url: str) -> Mix:
    """Catalogue codes and name words from the API itself; ids from the scratch database."""
    with httpx.Client(base_url=base, timeout=30) as client:
        services = [s["code"] for s in client.get("/v1/services").json()["services"]]
        rng = random.Random(7)
        words: set[str] = set()
        for _ in range(40):
            found = client.get(
                "/v1/points/nearest",
                params={
                    "lat": rng.uniform(*THAILAND["lat"]),
                    "lon": rng.uniform(*THAILAND["lon"]),
                    "k": 10,
                },
            ).json()["results"]
            for point in found:
                for name in (point["name_th"], point["name_en"]):
                    # words the search accepts (a word like "(38)" is a 422, rightly)
                    words.update(w for w in name.split() if searchable(w))
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = list(conn.execute(text("SELECT id FROM service_point")).scalars())
        junctions = [
            (float(lat), float(lon))
            for lat, lon in conn.execute(
                text(
                    "SELECT ST_Y(v.geom), ST_X(v.geom) FROM road_vertex v "
                    "WHERE EXISTS (SELECT 1 FROM road_edge e WHERE e.source = v.id "
                    "AND e.cost >= 0) ORDER BY v.id"
                )
            )
        ]
    engine.dispose()
    junctions = random.Random(3).sample(junctions, min(2000, len(junctions)))
    # half the searches use the everyday words, half words of real names
    named = sorted(words)
    everyday = list(PLACE_WORDS) * max(1, len(named) // len(PLACE_WORDS))
    host = base.removeprefix("http://")
    agencies = agency_writers(host, url)
    return Mix(host, services, everyday + named, ids, junctions, agencies=agencies)


# --- running the phases ----------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    label: str
    rate: float  # offered requests/s (closed loop: the measured throughput)
    start: float
    end: float
    records: list[Record]
    cpu: dict[str, float] = field(default_factory=dict)
    peak_connections: int = 0
    events: dict[str, float] = field(default_factory=dict)  # fault times, phase-relative


async def periodic(pool: Pool, kind: str, raw: bytes, interval: float, out: list[Record]) -> None:
    """A probe at fixed times: a tick whose connection is still busy is a ``backlog``."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        rec = Record(kind, due)
        out.append(rec)
        pool.fire(rec, raw)
        due += interval


async def run_command(args: list[str], extra_env: dict[str, str]) -> tuple[int, str]:
    """A command without blocking the event loop (the load goes on meanwhile)."""
    env = {k: v for k, v in os.environ.items() if k != "LOCATOR_DATABASE_URL"} | extra_env
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()


def cluster_users(url: str) -> dict[str, int]:
    """Sessions per database of everyone else on the cluster (not ours, not the server's)."""
    engine = create_engine(with_database(url, "postgres"), poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT datname, count(*) FROM pg_stat_activity WHERE datname IS NOT NULL "
                "AND datname <> :ours AND pid <> pg_backend_pid() GROUP BY datname"
            ),
            {"ours": make_url(url).database},
        ).all()
    return {name: n for name, n in rows}


def postmaster_started(url: str) -> float:
    """When PostgreSQL last started (epoch seconds)."""
    engine = create_engine(with_database(url, "postgres"), poolclass=NullPool)
    with engine.connect() as conn:
        started = conn.execute(text("SELECT pg_postmaster_start_time()")).scalar_one()
    return float(started.timestamp())


def _grown(before: dict[int, int], after: dict[int, int]) -> int:
    """Ticks used between two per-process samples (a process that exited takes its own)."""
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items())


def _machine_busy_ticks() -> int:
    """Busy CPU ticks of the whole machine, all cores (``/proc/stat``)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq + steal


async def others_per_second(meter: Meter, out: list[tuple[float, float]]) -> None:
    """Every second: (time, core-seconds the machine was busy with anything but the
    client, the server and our PostgreSQL backends), to tell a dip of the server from a
    neighbour's burst on this shared box."""
    loop = asyncio.get_running_loop()
    last = (_machine_busy_ticks(), meter.watched(), time.process_time())
    while True:
        await asyncio.sleep(1)
        now = (_machine_busy_ticks(), meter.watched(), time.process_time())
        ours = sum(t - last[1][pid] for pid, t in now[1].items() if pid in last[1])
        hz = meter.cpu.hz
        out.append((loop.time(), max(0.0, (now[0] - last[0] - ours) / hz - (now[2] - last[2]))))
        last = now


class Meter:
    """CPU seconds per phase: the load generator, the server's processes, PostgreSQL's
    backends serving the scratch database, all of PostgreSQL, and the whole machine.

    This box may be shared (another engineer's test run): ``others_s``, the machine's
    busy time that is none of ours, says how much a phase's figures were disturbed.
    """

    def __init__(self, server_pid: int, database: str) -> None:
        self.cpu = CpuMeter(server_pid)
        self.database = database
        self.ours: dict[int, bool] = {}
        self.last = self._sample()

    def _is_ours(self, pid: int) -> bool:
        if pid not in self.ours:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                return False
            self.ours[pid] = f" {self.database} " in cmdline
        return self.ours[pid]

    def _sample(self) -> tuple[float, dict[int, int], dict[int, int], dict[int, int], int]:
        api, pg = self.cpu.sample()
        ours = {pid: ticks for pid, ticks in pg.items() if self._is_ours(pid)}
        return time.process_time(), api, pg, ours, _machine_busy_ticks()

    def watched(self) -> dict[int, int]:
        """CPU ticks of the server's processes and our PostgreSQL backends, as last seen
        by a full sample (a cheap read of a few files, for the per-second figure)."""
        out = {}
        for pid in (*self.last[1], *self.last[3]):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[pid] = int(fields[11]) + int(fields[12])
        return out

    def lap(self) -> dict[str, float]:
        now, last, hz = self._sample(), self.last, self.cpu.hz
        self.last = now
        used = {
            "client_s": now[0] - last[0],
            "server_s": _grown(last[1], now[1]) / hz,
            "postgres_ours_s": _grown(last[3], now[3]) / hz,
            "postgres_all_s": _grown(last[2], now[2]) / hz,
            "machine_busy_s": (now[4] - last[4]) / hz,
        }
        used["others_s"] = max(
            0.0,
            used["machine_busy_s"] - used["client_s"] - used["server_s"] - used["postgres_all_s"],
        )
        used["others_s"] += used["postgres_all_s"] - used["postgres_ours_s"]
        return used


async def engine_restart(
    args: argparse.Namespace, pool: Pool, mix: Mix, rate: float, meter: Meter
) -> Phase:
    """(f): 0.5R with the routing engines stopped at ``--fault-at`` for ``--down`` s."""
    loop = asyncio.get_running_loop()
    r, seconds = 0.5 * rate, max(args.seconds, args.fault_at + args.down + 20)
    batch = mix.batch(math.ceil(r * seconds))
    start = loop.time() + 0.2
    events: dict[str, float] = {}
    output: dict[str, str] = {}

    async def fault() -> None:
        await asyncio.sleep(start + args.fault_at - loop.time())
        events["stop_called"] = loop.time() - start
        _, output["stop"] = await run_command([LOCATOR, "roads", "stop"], args.roads_env)
        events["stop_returned"] = loop.time() - start
        await asyncio.sleep(args.down)
        events["start_called"] = loop.time() - start
        _, output["start"] = await run_command([LOCATOR, "roads", "start"], args.roads_env)
        events["start_returned"] = loop.time() - start

    meter.lap()
    pool.peak = pool.open_count
    faulting = loop.create_task(fault())
    recs = await open_loop(pool, batch, r, start)
    await faulting
    await pool.drain(args.timeout + 1)
    print(
        f"(f) 0.5R with a routing engine restart: {len(recs)} requests at {r:.0f}/s sent; "
        + ", ".join(f"{k} {v:.2f} s" for k, v in events.items())
        + f"; roads stop said {output.get('stop')!r}, roads start said {output.get('start')!r}",
        flush=True,
    )
    return Phase(
        "f",
        "0.5R, engine restart",
        r,
        start,
        start + seconds,
        recs,
        meter.lap(),
        pool.peak,
        events,
    )


async def run_all(
    args: argparse.Namespace, port: int, url: str, mix: Mix, meter: Meter
) -> dict[str, Any]:
    """Every phase in turn, the probe throughout; returns the phases and the probe."""
    loop = asyncio.get_running_loop()
    pool = Pool(HOST, port, args.max_connections, timeout_s=args.timeout)
    probe_pool = Pool(HOST, port, 1, timeout_s=args.timeout)
    probes: list[Record] = []
    probe = loop.create_task(periodic(probe_pool, "healthz", get(HOST, "/healthz"), 0.1, probes))
    lags: list[tuple[float, float]] = []
    monitor = loop.create_task(lag_monitor(lags))
    others: list[tuple[float, float]] = []
    sampler = loop.create_task(others_per_second(meter, others))
    phases: list[Phase] = []
    db_down = False
    try:
        await closed_loop(pool, mix.request, args.connections, 3)  # warm-up, not counted
        await pool.drain(args.timeout)
        meter.lap()
        gc.collect()
        gc.freeze()
        gc.disable()  # a full collection over 10^5 records would stall the client

        if args.rate:
            rate = args.rate
            print(f"(a) skipped: R = {rate:.0f}/s given", flush=True)
        else:
            start = loop.time()
            recs = await closed_loop(pool, mix.request, args.connections, args.saturation_seconds)
            await pool.drain(args.timeout)
            end = start + args.saturation_seconds
            ok = sum(1 for r in recs if 200 <= r.status < 300)
            rate = ok / (loop.time() - start)
            phases.append(
                Phase(
                    "a",
                    f"closed loop, {args.connections} conn.",
                    rate,
                    start,
                    end,
                    recs,
                    meter.lap(),
                    pool.peak,
                )
            )
            print(
                f"(a) saturation: {len(recs)} requests in {args.saturation_seconds:g} s, "
                f"{ok} 2xx: R = {rate:.0f}/s",
                flush=True,
            )
            if args.saturation_only:
                return {"phases": phases, "probes": probes, "lags": lags, "others": others}
            await asyncio.sleep(2)

        plan = [
            ("b", "R", rate, args.seconds),
            ("c", "2R", 2 * rate, args.seconds),
            ("d", f"{args.recovery_rate:g}R", args.recovery_rate * rate, args.recovery_seconds),
        ]
        batches = [mix.batch(math.ceil(r * s)) for _, _, r, s in plan]
        start = loop.time() + 0.2
        meter.lap()
        for (name, label, r, seconds), batch in zip(plan, batches, strict=True):
            pool.peak = pool.open_count
            recs = await open_loop(pool, batch, r, start)
            phases.append(
                Phase(name, label, r, start, start + seconds, recs, meter.lap(), pool.peak)
            )
            print(f"({name}) {label}: {len(recs)} requests at {r:.0f}/s sent", flush=True)
            start += seconds
        await pool.drain(args.timeout + 1)
        gc.enable()
        gc.collect()
        gc.disable()

        if args.no_fault:
            return {"phases": phases, "probes": probes, "lags": lags, "others": others}
        await asyncio.sleep(args.settle)
        neighbours = cluster_users(url)
        if neighbours:
            print(
                f"note: the restart in (e) also cuts off other users of the cluster: {neighbours}"
            )
        # long enough to see the recovery, whatever --seconds says
        r, seconds = 0.5 * rate, max(args.seconds, args.fault_at + args.down + 20)
        batch = mix.batch(math.ceil(r * seconds))
        start = loop.time() + 0.2
        wall_start = time.time() + (start - loop.time())
        events: dict[str, float] = {}
        output: dict[str, str] = {}

        async def fault() -> None:
            nonlocal db_down
            await asyncio.sleep(start + args.fault_at - loop.time())
            events["stop_called"] = loop.time() - start
            db_down = True
            code, output["stop"] = await run_command([LOCATOR, "db", "stop"], args.cluster_env)
            events["stop_returned"] = loop.time() - start
            await asyncio.sleep(args.down)
            events["start_called"] = loop.time() - start
            code, output["start"] = await run_command([LOCATOR, "db", "start"], args.cluster_env)
            db_down = code != 0
            events["start_returned"] = loop.time() - start

        meter.lap()
        pool.peak = pool.open_count
        faulting = loop.create_task(fault())
        recs = await open_loop(pool, batch, r, start)
        await faulting
        await pool.drain(args.timeout + 1)
        # anything else using the cluster (a test run) starts it on demand, maybe before
        # our `db start`: when PostgreSQL really came back is the postmaster's start time
        events["postmaster_started"] = postmaster_started(url) - wall_start
        phases.append(
            Phase(
                "e",
                "0.5R, database restart",
                r,
                start,
                start + seconds,
                recs,
                meter.lap(),
                pool.peak,
                events,
            )
        )
        print(
            f"(e) 0.5R with a database restart: {len(recs)} requests at {r:.0f}/s sent; "
            + ", ".join(f"{k} {v:.2f} s" for k, v in events.items())
            + f"; db stop said {output.get('stop')!r}, db start said {output.get('start')!r}",
            flush=True,
        )
        if args.roads_env:
            await asyncio.sleep(args.settle)
            phases.append(await engine_restart(args, pool, mix, rate, meter))
        return {"phases": phases, "probes": probes, "lags": lags, "others": others}
    finally:
        gc.enable()
        probe.cancel()
        for task in (monitor, sampler):
            if task.done() and not task.cancelled() and task.exception():
                print(f"note: a helper task failed: {task.exception()!r}")
            task.cancel()
        pool.close()
        probe_pool.close()
        if db_down:  # never leave the shared cluster stopped
            await run_command([LOCATOR, "db", "start"], args.cluster_env)


# --- the report --------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (the value q of the way up the sorted list); NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(value: float) -> str:
    return (
        "-"
        if math.isnan(value)
        else f"{value * 1000:.0f}"
        if value >= 0.1
        else f"{value * 1000:.1f}"
    )


def is_error(r: Record) -> bool:
    """An error in the targets' sense: any 5xx but 503, or no HTTP answer at all."""
    return r.error is not None or (r.status >= 500 and r.status != 503)


def summarise(records: list[Record], seconds: float) -> dict[str, Any]:
    """Counts by outcome and latency percentiles (from the scheduled time; everything but
    the backlog, which was never sent, timeouts included at their timeout)."""
    status = Counter(r.status for r in records if r.error is None)
    errors = Counter(r.error for r in records if r.error is not None)
    latency = [r.latency for r in records if r.error != "backlog"]
    ok = [r.latency for r in records if 200 <= r.status < 300]
    busy = [r.latency for r in records if r.status == 503]
    sent = [r.sent - r.sched for r in records if r.error != "backlog" and r.sent]
    return {
        "count": len(records),
        "rate": len(records) / seconds if seconds else math.nan,
        "ok": sum(n for s, n in status.items() if 200 <= s < 300),
        "4xx": {str(s): n for s, n in sorted(status.items()) if 400 <= s < 500},
        "503": status.get(503, 0),
        "5xx_other": {str(s): n for s, n in sorted(status.items()) if s >= 500 and s != 503},
        "client_errors": {k: n for k, n in errors.items() if k != "timeout"},
        "timeouts": errors.get("timeout", 0),
        "errors": sum(1 for r in records if is_error(r)),
        "p50": pct(latency, 0.5),
        "p90": pct(latency, 0.9),
        "p99": pct(latency, 0.99),
        "max": max(latency, default=math.nan),
        "ok_p50": pct(ok, 0.5),
        "ok_p99": pct(ok, 0.99),
        "503_p50": pct(busy, 0.5),
        "503_p99": pct(busy, 0.99),
        "503_max": max(busy, default=math.nan),
        "503_codes": dict(Counter(r.code for r in records if r.status == 503)),
        "503_without_retry_after": sum(1 for r in records if r.status == 503 and not r.retry_after),
        "5xx_codes": dict(Counter(r.code for r in records if r.status >= 500 and r.status != 503)),
        "send_lag_p99": pct(sent, 0.99),
    }


def timeline(phase: Phase, others: list[tuple[float, float]]) -> list[dict[str, Any]]:
    """Per second of the phase, by scheduled time: sent, 2xx, 503, errors, p99; ``done``:
    2xx answers completed in that second (the throughput as it happened); ``others``:
    core-seconds the machine spent on anything but this benchmark in that second."""
    seconds = max(1, math.ceil(phase.end - phase.start - 1e-9))
    rows: list[dict[str, Any]] = [
        {"s": s, "sent": 0, "ok": 0, "503": 0, "err": 0, "lat": [], "done": 0}
        for s in range(seconds)
    ]
    for r in phase.records:
        s = int(r.sched - phase.start)
        if 0 <= s < seconds:
            row = rows[s]
            row["sent"] += r.error != "backlog"
            row["ok"] += 200 <= r.status < 300
            row["503"] += r.status == 503
            row["err"] += is_error(r)
            if r.error != "backlog":
                row["lat"].append(r.latency)
        d = int(r.done - phase.start)
        if 0 <= d < seconds and 200 <= r.status < 300:
            rows[d]["done"] += 1
    for row in rows:
        row["p99"] = pct(row.pop("lat"), 0.99)
        row["others"] = math.nan
    for t, busy in others:
        s = int(t - 0.5 - phase.start)  # the sample covers the second before t
        if 0 <= s < seconds:
            rows[s]["others"] = busy
    return rows


def recovery_second(ok_per_second: list[int], threshold: float, window: int = 3) -> int | None:
    """The first second from which the 2xx rate, as a ``window``-second mean, never falls
    below ``threshold`` again (a mean: one slow second of a shared box is no relapse)."""
    n = len(ok_per_second)
    means = [statistics.mean(ok_per_second[s : min(n, s + window)]) for s in range(n)]
    return next((s for s in range(n) if all(m >= threshold for m in means[s:])), None)


def fault_analysis(phase: Phase) -> dict[str, Any]:
    """When the 503s began and ended, and when the answers were 2xx again: the first one
    (to a request sent after `db stop` returned), and steadily (the scheduled time from
    which every request was answered without a 503 or an error). Given from ``db start``
    returning (the target's reference) and from the postmaster's start (when PostgreSQL
    really took connections again; negative: before that reference)."""
    ev = {k: phase.start + v for k, v in phase.events.items()}
    if "start_returned" not in ev:
        return {"note": "the fault did not run to its end"}
    recs = [r for r in phase.records if r.error != "backlog"]
    bad = [r for r in recs if r.status == 503 or is_error(r)]
    first_bad = min((r.done for r in bad if r.done >= ev["stop_called"]), default=math.nan)
    last_bad = max((r.done for r in bad), default=math.nan)
    # `db stop` has returned: the database is down, so a 2xx to a request sent after that
    # was served by the restarted one
    first_ok = min(
        (r.done for r in recs if 200 <= r.status < 300 and r.sent >= ev["stop_returned"]),
        default=math.nan,
    )
    steady = ev["stop_called"]
    for r in recs:  # in scheduled order
        if (r.status == 503 or is_error(r)) and r.sched >= steady:
            steady = r.sched + 1e-6
    out: dict[str, Any] = {
        "events_s": phase.events,
        "first_bad_after_stop_called_s": first_bad - ev["stop_called"],
    }
    for ref in ("start_returned", "postmaster_started"):
        back = ev.get(ref, math.nan)
        out[f"last_bad_answer_after_{ref}_s"] = last_bad - back
        out[f"first_2xx_after_{ref}_s"] = first_ok - back
        out[f"steady_2xx_after_{ref}_s"] = steady - back
    window = [r for r in recs if ev["stop_called"] <= r.sched < steady]
    out["outcomes_while_down"] = dict(Counter(r.error or str(r.status) for r in window))
    return out


def engine_fault_analysis(phase: Phase) -> dict[str, Any]:
    """Routes' 503s while the engine is down, whether any other kind noticed, and when
    routes were steadily answered again."""
    ev = {k: phase.start + v for k, v in phase.events.items()}
    if "start_returned" not in ev:
        return {"note": "the fault did not run to its end"}
    recs = [r for r in phase.records if r.error != "backlog"]
    routes = [r for r in recs if r.kind == "route"]
    busy = [r for r in routes if r.status == 503]
    steady = ev["stop_called"]
    for r in routes:  # in scheduled order
        if (r.status == 503 or is_error(r)) and r.sched >= steady:
            steady = r.sched + 1e-6
    down = [r for r in recs if ev["stop_called"] <= r.sched < steady]
    return {
        "events_s": phase.events,
        "route_503": len(busy),
        "route_503_p99_ms": round(pct([r.latency for r in busy], 0.99) * 1000, 1),
        "route_503_without_retry_after": sum(1 for r in busy if not r.retry_after),
        "others_503_while_down": sum(1 for r in down if r.kind != "route" and r.status == 503),
        "routes_steady_after_start_returned_s": round(steady - ev["start_returned"], 2),
        "outcomes_while_down": dict(Counter(f"{r.kind}:{r.error or r.status}" for r in down)),
    }


def check_ratings(url: str, phases: list[Phase]) -> dict[str, Any]:
    """Every rating acknowledged with 201 must be in the database (queried as owner)."""
    out: dict[str, Any] = {}
    engine = create_engine(url)
    with engine.connect() as conn:
        for phase in phases:
            ids = [r.rating_id for r in phase.records if r.status == 201 and r.rating_id]
            found = (
                set(
                    conn.execute(text("SELECT id FROM rating WHERE id = ANY(:ids)"), {"ids": ids})
                    .scalars()
                    .all()
                )
                if ids
                else set()
            )
            out[phase.name] = {
                "acknowledged": len(ids),
                "missing": sorted(set(ids) - found),
            }
    engine.dispose()
    return out


def acknowledged_writes(phase: Phase) -> list[Write]:
    """The phase's agency writes answered 2xx (reads of an ETag are no writes)."""
    return [
        r.ctx
        for r in phase.records
        if isinstance(r.ctx, Write) and r.ctx.op != "etag_get" and 200 <= r.status < 300
    ]


def _lost(write: Write, row: Any, markers: set[tuple[int, str, str]], offer: Any) -> str | None:
    """Why an acknowledged write is not in the database (None: it is)."""
    what = f"{write.op} of point {write.target} acknowledged as v{write.version}"
    if row is None:
        return f"{what}: no such point"
    if write.version is None or row.version < write.version:
        return f"{what}: the point is at v{row.version}"
    field = {"patch": "phones", "offering": f"offerings.{write.service}", "create": "create"}
    if (row.id, field[write.op], write.marker) not in markers:
        return f"{what}: no change-log row {field[write.op]} = {write.marker!r}"
    if row.version != write.version:
        return None  # a later write landed there: its values may have replaced these
    values = write.values
    if write.op == "create":
        wrong = [] if row.name_th == values["name_th"] else ["name_th"]
    elif write.op == "offering":
        if offer is None:
            wrong = ["offering (none)"]
        else:
            found = {"copies_required": list(offer.copies), "notes": offer.notes}
            wrong = [name for name, value in values.items() if found[name] != value]
    else:
        checks = {
            "phones": lambda v: list(row.phones) == v,
            "wheelchair": lambda v: row.wheelchair == v,
            "opening_hours": lambda v: row.opening_hours == hours.from_osm(v),
            "lat": lambda v: abs(row.lat - v) < 1e-6,
            "lon": lambda v: abs(row.lon - v) < 1e-6,
        }
        wrong = [name for name, value in values.items() if not checks[name](value)]
    return (
        f"{what}: the database, at that version, differs in {', '.join(wrong)}" if wrong else None
    )


def check_writes(url: str, phases: list[Phase]) -> dict[str, Any]:
    """Every agency write answered 2xx must be in the database (queried as owner): the
    point's version at least the acknowledged one, the write's marker in the change log
    (its phone number, its offering's note, the new office's name), and, when the point
    is still at that version (no later write landed), the values it wrote."""
    writes = {phase.name: acknowledged_writes(phase) for phase in phases}
    every = [w for ws in writes.values() for w in ws]
    ids = sorted({w.target for w in every})
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(
                text(
                    "SELECT id, version, name_th, phones, wheelchair, opening_hours, "
                    "ST_Y(geog::geometry) AS lat, ST_X(geog::geometry) AS lon "
                    "FROM service_point WHERE id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        }
        offers = {
            (r.point_id, r.service_code): r
            for r in conn.execute(
                text(
                    "SELECT point_id, service_code, copies_required AS copies, notes "
                    "FROM offering WHERE point_id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        }
        markers: set[tuple[int, str, str]] = set()
        for record, action, name, new in conn.execute(
            text(
                "SELECT record_id, action, field, new_value FROM change "
                "WHERE table_name = 'service_point' AND record_id = ANY(:ids) "
                "AND (action = 'create' OR field = 'phones' OR field LIKE 'offerings.%')"
            ),
            {"ids": [str(i) for i in ids]},
        ):
            if action == "create":
                markers.add((int(record), "create", str((new or {}).get("name_th"))))
            elif name == "phones":
                markers.update((int(record), "phones", str(p)) for p in new or [])
            else:
                markers.add((int(record), name, str((new or {}).get("notes"))))
    engine.dispose()
    out: dict[str, Any] = {}
    for name, acked in writes.items():
        lost = []
        for w in acked:
            why = _lost(w, rows.get(w.target), markers, offers.get((w.target, w.service or "")))
            if why:
                lost.append(why)
        out[name] = {
            "acknowledged": len(acked),
            "by_op": dict(Counter(w.op for w in acked)),
            "values_checked": sum(
                1 for w in acked if w.target in rows and rows[w.target].version == w.version
            ),
            "lost": lost,
        }
    return out


def write_outcomes(phase: Phase) -> dict[str, Any]:
    """The agency requests' answers by operation, and a few refusals' messages."""
    recs = [r for r in phase.records if isinstance(r.ctx, Write)]
    outcomes = Counter(f"{r.kind}:{r.error or r.status}" for r in recs)
    refusals = Counter(
        f"{r.kind} {r.status} {r.ctx.refusal}"
        for r in recs
        if r.ctx.refusal and 400 <= r.status < 500
    )
    unexpected = sum(
        1 for r in recs if 400 <= r.status < 500 and r.status not in WRITE_EXPECTED_4XX
    )
    return {
        "outcomes": dict(sorted(outcomes.items())),
        "expected_4xx": {str(s): sum(1 for r in recs if r.status == s) for s in WRITE_EXPECTED_4XX},
        "unexpected_4xx": unexpected,
        "refusals": dict(refusals.most_common(8)),
    }


def print_report(
    phases: list[Phase],
    probes: list[Record],
    lags: list[tuple[float, float]],
    others: list[tuple[float, float]],
    ratings: dict[str, Any],
    writes: dict[str, Any],
    rate: float,
) -> dict[str, Any]:
    """The tables and the pass/fail of each target; returns the same as data."""
    report: dict[str, Any] = {"phases": {}, "checks": {}}
    print(
        "\nper phase and kind (latency in ms from the scheduled time; 'cli' = backlog, "
        "connect and connection errors)"
    )
    head = (
        f"{'phase':24s} {'kind':8s} {'n':>6s} {'/s':>6s} {'2xx':>6s} {'4xx':>10s} "
        f"{'503':>5s} {'5xx':>9s} {'cli':>5s} {'t/o':>4s} {'p50':>6s} {'p90':>6s} "
        f"{'p99':>6s} {'max':>6s}"
    )
    print(head)
    for phase in phases:
        seconds = phase.end - phase.start
        data: dict[str, Any] = {
            "label": phase.label,
            "rate_offered": phase.rate,
            "seconds": seconds,
            "cpu": phase.cpu,
            "peak_connections": phase.peak_connections,
            "kinds": {},
        }
        for kind in (*REPORT_KINDS, "all"):
            recs = [r for r in phase.records if kind in ("all", r.kind)]
            s = summarise(recs, seconds)
            data["kinds"][kind] = s
            four = " ".join(f"{k}:{v}" for k, v in s["4xx"].items()) or "0"
            five = " ".join(f"{k}:{v}" for k, v in s["5xx_other"].items()) or "0"
            print(
                f"{phase.name + ' ' + phase.label:24.24s} {kind:8s} {s['count']:6d} "
                f"{s['rate']:6.0f} {s['ok']:6d} {four:>10s} {s['503']:5d} {five:>9s} "
                f"{sum(s['client_errors'].values()):5d} {s['timeouts']:4d} {ms(s['p50']):>6s} "
                f"{ms(s['p90']):>6s} {ms(s['p99']):>6s} {ms(s['max']):>6s}"
            )
        hz = [r for r in probes if phase.start <= r.sched < phase.end]
        # from the send: the probe measures the server, not the client's own lateness
        hz_lat = [r.done - r.sent for r in hz if r.error is None]
        stalls = [lag for t, lag in lags if phase.start <= t < phase.end]
        data["client_stall"] = {"p99": pct(stalls, 0.99), "max": max(stalls, default=math.nan)}
        data["healthz"] = {
            "count": len(hz),
            "p50": pct(hz_lat, 0.5),
            "p99": pct(hz_lat, 0.99),
            "max": max(hz_lat, default=math.nan),
            "missed": sum(1 for r in hz if r.error is not None),
        }
        report["phases"][phase.name] = data
    print(
        "\nper phase: 2xx and 503 latency (ms), 503 error codes, healthz (every 100 ms; ms "
        "from the send), CPU seconds, the client's own lateness (send lag: scheduled to sent; "
        "stall: its event loop waking late)"
    )
    for phase in phases:
        data = report["phases"][phase.name]
        s, hz, cpu = data["kinds"]["all"], data["healthz"], data["cpu"]
        capacity = (os.cpu_count() or 1) * (phase.end - phase.start)
        print(
            f"({phase.name}) 2xx p50/p99 {ms(s['ok_p50'])}/{ms(s['ok_p99'])}; 503 "
            f"p50/p99/max {ms(s['503_p50'])}/{ms(s['503_p99'])}/{ms(s['503_max'])} "
            f"{s['503_codes'] or ''} (no Retry-After: {s['503_without_retry_after']}); "
            f"5xx codes {s['5xx_codes'] or '-'}; healthz n={hz['count']} p50/p99/max "
            f"{ms(hz['p50'])}/{ms(hz['p99'])}/{ms(hz['max'])} missed {hz['missed']}; CPU "
            f"client {cpu['client_s']:.1f} server {cpu['server_s']:.1f} postgres "
            f"{cpu['postgres_ours_s']:.1f} (all of it {cpu['postgres_all_s']:.1f}), others "
            f"{cpu['others_s']:.1f} of {capacity:.0f} core-s; send lag p99 "
            f"{ms(s['send_lag_p99'])}, stall p99/max {ms(data['client_stall']['p99'])}/"
            f"{ms(data['client_stall']['max'])}; peak conn. {data['peak_connections']}"
        )

    by_name = {p.name: p for p in phases}
    for name in ("b", "c", "d", "e", "f"):
        if name not in by_name:
            continue
        phase = by_name[name]
        rows = timeline(phase, others)
        report["phases"][name]["timeline"] = rows
        if name == "b":
            continue  # kept in the JSON, not printed: (b) is the baseline
        marks = {int(v): k for k, v in phase.events.items()}
        print(
            f"\n({name}) {phase.label}, per second by scheduled time (done: 2xx completed "
            "in that second; others: core-seconds of anything else on the machine, of "
            f"{os.cpu_count()})"
        )
        print(
            f"{'s':>3s} {'sent':>6s} {'ok':>6s} {'503':>6s} {'err':>5s} {'p99 ms':>7s} "
            f"{'done':>6s} {'others':>6s}"
        )
        for row in rows:
            print(
                f"{row['s']:3d} {row['sent']:6d} {row['ok']:6d} {row['503']:6d} "
                f"{row['err']:5d} {ms(row['p99']):>7s} {row['done']:6d} {row['others']:6.2f}  "
                f"{marks.get(row['s'], '')}"
            )

    checks: dict[str, tuple[bool, str]] = {}
    if "b" in by_name:
        s = report["phases"]["b"]["kinds"]["all"]
        checks["b: at R, no errors (5xx but 503, client errors, timeouts)"] = (
            s["errors"] == 0,
            f"errors {s['errors']} (503 separately: {s['503']}), p99 {ms(s['p99'])} ms",
        )
    if "c" in by_name:
        s = report["phases"]["c"]["kinds"]["all"]
        hz = report["phases"]["c"]["healthz"]
        checks["c: at 2R, the excess gets a quick 503 (503 p99 < 1 s, with Retry-After)"] = (
            s["503"] > 0 and s["503_p99"] < 1.0 and not s["503_without_retry_after"],
            f"{s['503']} 503s, p99 {ms(s['503_p99'])} ms, max {ms(s['503_max'])} ms, "
            f"{s['503_without_retry_after']} without Retry-After",
        )
        checks["c: at 2R, nobody waits without bound (no timeouts or client errors, p99 < 2 s)"] = (
            s["errors"] == 0 and s["p99"] < 2.0,
            f"errors {s['errors']} ({s['timeouts']} timeouts, client {s['client_errors']}), "
            f"p99 of all {ms(s['p99'])} ms",
        )
        checks["c: at 2R, healthz p99 < 100 ms"] = (
            hz["p99"] < 0.1 and hz["missed"] == 0,
            f"p99 {ms(hz['p99'])} ms, max {ms(hz['max'])} ms, missed {hz['missed']}",
        )
    if "d" in by_name:
        d = by_name["d"]
        offered = d.rate
        # whole seconds only: a last partial second offers less than the rate
        d_rows = report["phases"]["d"]["timeline"][: max(1, int(d.end - d.start + 1e-9))]
        d_ok = [row["ok"] for row in d_rows]
        recovered = recovery_second(d_ok, 0.95 * offered)
        shed_after = sum(row["503"] for row in d_rows[(recovered or 0) :])
        checks["d: the moment 2R stops, everything offered is served again (within 2 s)"] = (
            recovered is not None and recovered <= 2,
            f"at {offered:.0f}/s ({d.label}): 3-second mean of 2xx/s >= 95 % of it from "
            f"second {recovered} on, {shed_after} 503s from then on; 2xx per second: "
            + " ".join(str(ok) for ok in d_ok[:8])
            + (" ..." if len(d_ok) > 8 else ""),
        )
    if "e" in by_name:
        phase = by_name["e"]
        s = report["phases"]["e"]["kinds"]["all"]
        fa = fault_analysis(phase)
        report["phases"]["e"]["fault"] = fa
        print(
            "\n(e) database restart, seconds from the phase's start: "
            + ", ".join(f"{k} {v:.2f}" for k, v in fa.get("events_s", {}).items())
        )
        for key, value in fa.items():
            if key.endswith("_s") and key != "events_s":
                print(f"  {key.removesuffix('_s').replace('_', ' ')}: {value:.2f} s")
        print(
            "  outcomes of the requests scheduled from `db stop` to the steady 2xx: "
            f"{fa.get('outcomes_while_down')}"
        )
        checks["e: 503 with Retry-After (not 500, no client errors or timeouts) while down"] = (
            s["errors"] == 0 and s["503"] > 0 and not s["503_without_retry_after"],
            f"503 {s['503']} {s['503_codes']} ({s['503_without_retry_after']} without "
            f"Retry-After), 5xx other {s['5xx_other'] or 0} {s['5xx_codes'] or ''}, "
            f"client {s['client_errors'] or 0}, timeouts {s['timeouts']}",
        )
        steady = fa.get("steady_2xx_after_start_returned_s", math.nan)
        checks["e: normal again within 5 s of `db start` returning"] = (
            steady <= 5.0,
            f"first 2xx {fa.get('first_2xx_after_start_returned_s', math.nan):.2f} s, steady "
            f"2xx {steady:.2f} s after `db start` returned",
        )
    if "f" in by_name:
        fa = engine_fault_analysis(by_name["f"])
        report["phases"]["f"]["fault"] = fa
        print(
            "\n(f) routing engine restart, seconds from the phase's start: "
            + ", ".join(f"{k} {v:.2f}" for k, v in fa.get("events_s", {}).items())
        )
        for key, value in fa.items():
            if key != "events_s":
                print(f"  {key.replace('_', ' ')}: {value}")
        s = report["phases"]["f"]["kinds"]["all"]
        checks["f: no errors (5xx but 503, client errors, timeouts) across the restart"] = (
            s["errors"] == 0,
            f"errors {s['errors']}, 5xx other {s['5xx_other'] or 0}, timeouts {s['timeouts']}",
        )
        checks["f: routes get 503 with Retry-After while the engine is down, quickly"] = (
            fa.get("route_503", 0) > 0 and fa.get("route_503_p99_ms", math.inf) < 1000,
            f"{fa.get('route_503')} route 503s, p99 {fa.get('route_503_p99_ms')} ms",
        )
        checks["f: nothing but routes notices (no 503 on other kinds while down)"] = (
            fa.get("others_503_while_down", 1) == 0,
            f"{fa.get('others_503_while_down')} 503s on other kinds while the engine was down",
        )
        back = fa.get("routes_steady_after_start_returned_s", math.nan)
        checks["f: routes normal again within 2 s of `roads start` returning"] = (
            back <= 2.0,
            f"steady 2xx routes {back:.2f} s after `roads start` returned",
        )
    if ratings:
        missing = {k: v["missing"] for k, v in ratings.items() if v["missing"]}
        acked = {k: v["acknowledged"] for k, v in ratings.items()}
        print(
            f"\nratings acknowledged with 201, per phase: {acked}; "
            f"missing={sum(len(v) for v in missing.values())} {missing or ''}"
        )
        if "e" in ratings:
            checks["e: every rating acknowledged with 201 is in the database"] = (
                not ratings["e"]["missing"],
                f"{ratings['e']['acknowledged']} acknowledged, missing="
                f"{len(ratings['e']['missing'])} {ratings['e']['missing'][:20] or ''}",
            )
    if writes:
        print(
            "\nagency writes per phase: acknowledged (2xx) and lost (not in the database "
            "after the run); the writes' answers; the refusals most often seen"
        )
        for phase in phases:
            if phase.name not in writes:
                continue
            w, seen = writes[phase.name], write_outcomes(phase)
            report["phases"][phase.name]["writes"] = {**w, **seen}
            print(
                f"({phase.name}) acknowledged agency writes: {w['acknowledged']} "
                f"{w['by_op']}, lost: {len(w['lost'])} (values compared at the acknowledged "
                f"version: {w['values_checked']}); 409/412/422: "
                + "/".join(str(n) for n in seen["expected_4xx"].values())
                + f", other 4xx: {seen['unexpected_4xx']}; answers {seen['outcomes']}"
            )
            for why in w["lost"][:10]:
                print(f"    LOST {why}")
            for refusal, n in seen["refusals"].items():
                print(f"    {n} x {refusal}")
        if "e" in writes:
            checks["e: every agency write acknowledged with 2xx is in the database"] = (
                not writes["e"]["lost"] and writes["e"]["acknowledged"] > 0,
                f"acknowledged agency writes: {writes['e']['acknowledged']}, lost: "
                f"{len(writes['e']['lost'])} {writes['e']['lost'][:5] or ''}",
            )
        rest = [k for k in writes if k != "e"]
        lost = [why for k in rest for why in writes[k]["lost"]]
        checks["every agency write acknowledged in the other phases is in the database"] = (
            not lost,
            f"acknowledged agency writes: {sum(writes[k]['acknowledged'] for k in rest)} "
            f"in ({', '.join(rest)}), lost: {len(lost)} {lost[:5] or ''}",
        )
        unexpected = {p.name: n for p in phases if (n := write_outcomes(p)["unexpected_4xx"])}
        checks["agency writes: no 4xx but 409, 412 and 422 (honest races, the pin check)"] = (
            not unexpected,
            f"other 4xx per phase: {unexpected or 0}",
        )
    print("\ntargets")
    for name, (passed, detail) in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {name}: {detail}")
    report["checks"] = {k: {"pass": v[0], "detail": v[1]} for k, v in checks.items()}
    report["ratings"] = ratings
    return report


def code_version() -> str:
    """The commit the server ran, and whether its code had uncommitted changes (another
    engineer may be changing it while this runs)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "locator", "migrations"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60, help="length of (b), (c) and (e)")
    parser.add_argument(
        "--recovery-seconds",
        type=float,
        default=None,
        help="length of (d); default a third of --seconds",
    )
    parser.add_argument("--saturation-seconds", type=float, default=12, help="length of (a)")
    parser.add_argument(
        "--recovery-rate",
        type=float,
        default=0.7,
        help="(d)'s rate as a share of R: a rate the server can carry, so that (d) shows "
        "whether it serves everything again once the overload stops",
    )
    parser.add_argument(
        "--saturation-only", action="store_true", help="stop after (a) (to compare --workers)"
    )
    parser.add_argument("--connections", type=int, default=16, help="closed-loop clients in (a)")
    parser.add_argument("--rate", type=float, default=None, help="skip (a): R in requests/s")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--fault-at",
        type=float,
        default=None,
        help="second of (e) at which PostgreSQL stops; default a third of it",
    )
    parser.add_argument("--down", type=float, default=3, help="seconds PostgreSQL stays down")
    parser.add_argument("--no-fault", action="store_true", help="skip (e) and (f)")
    parser.add_argument(
        "--roads",
        type=Path,
        default=get_settings().osm_dir / LIECHTENSTEIN,
        help="the OSM extract imported for the routes (default: Liechtenstein's)",
    )
    parser.add_argument(
        "--no-roads", action="store_true", help="no road network: no routes, no (f)"
    )
    parser.add_argument("--settle", type=float, default=5, help="pause before (e), seconds")
    parser.add_argument("--timeout", type=float, default=10, help="client timeout, seconds")
    parser.add_argument(
        "--max-connections",
        type=int,
        default=2048,
        help="the client's connection cap; beyond it a request is 'backlog'",
    )
    parser.add_argument(
        "--clone",
        choices=("auto", "template", "build"),
        default="auto",
        help="how the scratch registry is made (see scratch_registry)",
    )
    parser.add_argument(
        "--private-cluster",
        action="store_true",
        help="run on a throwaway cluster of our own (built, about a minute), so that the "
        "restart in (e) disturbs nobody else using the shared one",
    )
    args = parser.parse_args()
    args.recovery_seconds = args.recovery_seconds or max(1, round(args.seconds / 3))
    args.fault_at = args.fault_at if args.fault_at is not None else args.seconds / 3
    if not args.no_fault and not args.private_cluster and get_settings().database_url:
        sys.exit(
            "LOCATOR_DATABASE_URL is set: the fault phase restarts the embedded cluster "
            "only; unset it, or pass --private-cluster or --no-fault"
        )

    OUTPUT.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log = OUTPUT / f"load-{stamp}-server.log"
    with contextlib.ExitStack() as stack:
        if args.private_cluster:
            settings, args.cluster_env = stack.enter_context(private_cluster())
            print(f"private cluster in {settings.state_dir}", flush=True)
            mode = "build"  # nothing there to clone
        else:
            settings, args.cluster_env, mode = get_settings(), {}, args.clone
        url, how = stack.enter_context(scratch_registry(mode, settings))
        print(f"scratch registry: {how}", flush=True)
        args.roads_env = {}
        if not args.no_roads:
            args.roads_env = stack.enter_context(imported_roads(url, args.roads))
        port = free_port()
        server = start_server(url, port, args.workers, log, args.roads_env)
        try:
            mix = fetch_mix(f"http://{HOST}:{port}", url)
            print(
                f"server ({code_version()}): {args.workers} worker(s) on port {port}; mix "
                f"from {len(mix.services)} services, {len(mix.words)} search words, "
                f"{len(mix.ids):,} ids, {len(mix.junctions):,} road junctions",
                flush=True,
            )
            meter = Meter(server.pid, make_url(url).database or "")
            result = uvloop.run(run_all(args, port, url, mix, meter))
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        phases: list[Phase] = result["phases"]
        rate = next((p.rate for p in phases if p.name == "b"), args.rate or math.nan)
        ratings = check_ratings(url, [p for p in phases if p.name != "a"])
        writes = check_writes(url, phases)
        report = print_report(
            phases, result["probes"], result["lags"], result["others"], ratings, writes, rate
        )
        report["config"] = {
            **vars(args),
            "R": rate,
            "scratch": how,
            "server_log": str(log),
            "code": code_version(),
        }
        path = OUTPUT / f"load-{stamp}.json"
        path.write_bytes(orjson.dumps(report, default=str, option=orjson.OPT_INDENT_2))
        print(f"\nwritten: {path}; server log: {log}")


if __name__ == "__main__":
    main()
