"""The mix of requests: citizens' reads, an analyst's coverage, ratings, routes."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from sqlalchemy import create_engine, text

from bench.loadgen import (
    Request,
    get,
    post_json,
)
from bench.mixed_load.writes import WRITE_KINDS, Agencies, agency_writers
from locator.query.name_search import search_terms
from locator.query.name_search import searchable as search_takes

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
REPORT_KINDS = (*(k for k in MIX if k != "write"), *WRITE_KINDS)
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
    """Whether the search takes ``word`` (its own rule), digits alone left out: a word of
    the mix names a point, not a number."""
    return not word.isdigit() and search_takes(search_terms(word))


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
