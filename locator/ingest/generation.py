"""The generated offices: which exist, where, and what they are called.

The rules are data (``data/generation.yaml``): once per province at the provincial
seat, once per district in its town, once per tambon, once per real village, and
Bangkok's own kinds. This module only applies them. Planning decides the offices (a
unit and a name each) with no randomness except the choice of villages, so the
national counts are exact; placement then puts each office near its unit's real
anchor office (a province hall, a district office, a TAO or municipality office),
inside its unit's tambons and the province's land, at a phone pin's precision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree  # type: ignore[import-untyped]

from locator.errors import ConfigurationError
from locator.ingest.catalogue import BangkokIn, DistanceIn, ExtraIn, GenerationIn, KindRuleIn

BANGKOK = "10"
LOCAL_OFFICE_KINDS = ("tao_office", "municipality_office")
CANDIDATES_PER_ROUND = 8
ROUNDS = 8


@dataclass(frozen=True)
class Planned:
    """One office to place: its kind, the unit it serves and its name."""

    kind: str
    level: str  # province | district | tambon | village
    code: str  # the unit's code; a village's is its tambon's
    name_th: str
    name_en: str
    moo: int | None = None


@dataclass(frozen=True)
class Placed:
    kind: str
    tambon_code: str
    x: float
    y: float
    name_th: str
    name_en: str
    moo: int | None
    near_anchor: bool


@dataclass
class GenerationReport:
    """What planning and placement did, per kind: the reader checks counts here."""

    planned: dict[str, int] = field(default_factory=dict)
    # offices whose anchor could not take them (an anchor outside its own unit, a
    # unit too thin near it): placed at random inside the unit instead
    placed_at_random: dict[str, int] = field(default_factory=dict)
    # pairs of one kind still closer than min_spacing_m after re-placing (should be 0)
    too_close: int = 0


class Geography:
    """The reference areas and real anchor offices that the rules are applied to."""

    def __init__(
        self,
        tambons: gpd.GeoDataFrame,
        districts: gpd.GeoDataFrame,
        provinces: gpd.GeoDataFrame,
        villages: dict[str, list[tuple[str, str, int]]],
        real: gpd.GeoDataFrame,
    ) -> None:
        """``tambons`` carries name, population and parent columns (the registry
        builder's), ``real`` the real offices with ``kind``, ``tambon_code`` and
        ``external_ref``."""
        self.tambons = tambons
        self.villages = villages
        self.provinces = provinces
        self.districts = districts
        # a district's land is the union of its tambons, so a point inside it is inside
        # one of them (the district and tambon polygons were simplified apart)
        geoms = tambons.geometry.to_numpy()
        by_district = pd.Series(np.arange(len(tambons))).groupby(
            tambons["district_code"].to_numpy()
        )
        self.district_land: dict[str, Any] = {
            str(code): shapely.union_all(geoms[rows.to_numpy()]) for code, rows in by_district
        }
        self.tambon_geom: dict[str, Any] = dict(zip(tambons.index, tambons.geometry, strict=True))
        self.province_geom: dict[str, Any] = dict(
            zip(provinces.index, provinces.geometry, strict=True)
        )
        # land: the provinces' coverage (Natural Earth), which the simplified tambon
        # polygons overshoot into the sea in places
        self.land = shapely.union_all(provinces.geometry.to_numpy())
        for geom in [*self.district_land.values(), *self.tambon_geom.values(),
                     *self.province_geom.values(), self.land]:  # fmt: skip
            shapely.prepare(geom)
        self.population = {
            "province": tambons.groupby("province_code")["population"].sum().to_dict(),
            "district": tambons.groupby("district_code")["population"].sum().to_dict(),
            "tambon": tambons["population"].to_dict(),
        }
        self._anchors(real)

    def _inside(self, geom: Any, x: float, y: float) -> bool:
        return bool(shapely.contains_xy(geom, x, y))

    def _anchors(self, real: gpd.GeoDataFrame) -> None:
        """The real office each unit's generated offices gather around."""
        xs = real.geometry.x.to_numpy(dtype=float).tolist()
        ys = real.geometry.y.to_numpy(dtype=float).tolist()
        refs = real["external_ref"].fillna("").to_numpy()
        kinds = real["kind"].to_numpy()
        tambon_codes = real["tambon_code"].to_numpy()
        self.district_anchor: dict[str, tuple[float, float]] = {}
        self.tambon_anchor: dict[str, tuple[float, float]] = {}
        halls: dict[str, tuple[float, float]] = {}
        for x, y, ref, kind, tambon in zip(xs, ys, refs, kinds, tambon_codes, strict=True):
            office_type, _, code = str(ref).partition(":")
            if office_type == "ProvinceHall" and code in self.province_geom:
                halls[code] = (x, y)
            elif office_type == "DistrictOffice" and code in self.district_land:
                if self._inside(self.district_land[code], x, y):
                    self.district_anchor.setdefault(code, (x, y))
            elif (
                kind in LOCAL_OFFICE_KINDS
                and tambon in self.tambon_geom
                and self._inside(self.tambon_geom[tambon], x, y)
            ):
                self.tambon_anchor.setdefault(str(tambon), (x, y))
        bangkok_hall = real[real["name_th"] == "ศาลาว่าการกรุงเทพมหานคร"]
        if len(bangkok_hall):
            halls[BANGKOK] = (float(bangkok_hall.geometry.x.iloc[0]),
                              float(bangkok_hall.geometry.y.iloc[0]))  # fmt: skip
        # the provincial seat: the district holding the province hall, else the most
        # populous district
        self.seat: dict[str, str] = {}
        self.province_anchor: dict[str, tuple[float, float]] = {}
        for province in self.province_geom:
            districts = self.units("district", [province])
            if not districts:
                continue
            seat = next(
                (d for d in districts if province in halls
                 and self._inside(self.district_land[d], *halls[province])),
                districts[0],
            )  # fmt: skip
            self.seat[province] = seat
            if province in halls and self._inside(self.district_land[seat], *halls[province]):
                self.province_anchor[province] = halls[province]

    # units ------------------------------------------------------------------------
    def units(self, level: str, provinces: Iterable[str]) -> list[str]:
        """Unit codes of the provinces, most populous first (ties by code)."""
        wanted = set(provinces)
        if level == "province":
            codes = [
                c for c in self.province_geom if c in wanted and c in self.population["province"]
            ]
        elif level == "district":
            codes = [c for c in self.district_land if c[:2] in wanted]
        else:
            codes = [str(c) for c in self.tambons.index if str(c)[:2] in wanted]
        pop = self.population[level]
        return sorted(codes, key=lambda c: (-float(pop.get(c, 0)), c))

    def village_choice(
        self, provinces: Iterable[str], n: int, rng: np.random.Generator,
        exclude: set[tuple[str, int]],
    ) -> list[tuple[str, str, str, int]]:  # fmt: skip
        """``n`` real villages (tambon, name_th, name_en, moo), weighted by their
        tambon's population per village, without repeats."""
        wanted = set(provinces)
        rows: list[tuple[str, str, str, int]] = []
        weights: list[float] = []
        for tambon in sorted(self.villages):
            if tambon[:2] not in wanted or tambon not in self.tambon_geom:
                continue
            listed = self.villages[tambon]
            share = float(self.population["tambon"].get(tambon, 0)) / len(listed)
            for name_th, name_en, moo in listed:
                if (tambon, moo) in exclude:
                    continue
                rows.append((tambon, name_th, name_en, moo))
                weights.append(share + 1.0)
        if n > len(rows):
            raise ConfigurationError(
                f"generation.yaml asks for {n} village offices but only {len(rows)} real, "
                "named villages are left"
            )
        w = np.asarray(weights)
        # in the order drawn, so a caller that must skip one takes the next draw
        picks = rng.choice(len(rows), size=n, replace=False, p=w / w.sum())
        return [rows[i] for i in picks]

    def fields(self, level: str, code: str) -> dict[str, Any]:
        """The name fields of a unit (a province's district is its seat)."""
        province = code[:2]
        p = self.provinces.loc[province]
        values: dict[str, Any] = {"province_th": p["name_th"], "province_en": p["name_en"]}
        district = self.seat.get(province, "") if level == "province" else code[:4]
        if district in self.districts.index:
            d = self.districts.loc[district]
            values["district_th"] = d["bare_th"]
            values["district_en"] = d["name_en"]
        if level in ("tambon", "village"):
            t = self.tambons.loc[code]
            values["tambon_th"] = t["name_th"]
            values["tambon_en"] = t["name_en"]
        return values


# --- planning -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Part:
    """A rule applied to one region (Bangkok, the rest, or everywhere)."""

    count: int
    per: str
    provinces: list[str]
    name_th: str
    name_en: str
    extra: ExtraIn | None
    listed: bool = False


def _parts(rule: KindRuleIn, provinces: list[str]) -> list[_Part]:
    outside = [p for p in provinces if p != BANGKOK]
    if rule.per == "listed":
        listed = [p for p in rule.provinces if p in provinces]
        base = _Part(rule.count, "province", listed, rule.name_th, rule.name_en, rule.extra, True)
    else:
        region = {"everywhere": provinces, "outside_bangkok": outside, "bangkok": [BANGKOK]}
        base = _Part(rule.count, rule.per, region[rule.where], rule.name_th, rule.name_en,
                     rule.extra)  # fmt: skip
    bangkok: BangkokIn | None = rule.bangkok
    if bangkok is None:
        return [base]
    inner = _Part(bangkok.count, bangkok.per, [BANGKOK], bangkok.name_th, bangkok.name_en,
                  bangkok.extra)  # fmt: skip
    rest = [p for p in base.provinces if p != BANGKOK]
    outer = _Part(rule.count - bangkok.count, base.per, rest, base.name_th, base.name_en,
                  base.extra, base.listed)  # fmt: skip
    return [outer, inner]


def _name(pattern: str, values: dict[str, Any], rule: KindRuleIn) -> str:
    try:
        name = pattern.format(**values)
    except KeyError as exc:
        raise ConfigurationError(
            f"generation.yaml {rule.kind}: the name {pattern!r} uses {exc}, which this "
            "kind's unit does not have"
        ) from exc
    return name.replace("จังหวัดกรุงเทพมหานคร", "กรุงเทพมหานคร")


def plan(
    generation: GenerationIn, geo: Geography, rng: np.random.Generator
) -> tuple[list[Planned], GenerationReport]:
    """Every generated office, kind by kind in the file's order (a kind may skip the
    units another, earlier one already took)."""
    provinces = sorted(geo.province_geom)
    report = GenerationReport()
    planned: list[Planned] = []
    # kind -> district codes where it has an office (for skip_units_with)
    districts_of: dict[str, set[str]] = {}
    for rule in generation.kinds:
        offices: list[Planned] = []
        for part in _parts(rule, provinces):
            offices += _plan_part(rule, part, geo, rng, districts_of)
        if len(offices) != rule.count:
            raise ConfigurationError(
                f"generation.yaml {rule.kind}: the rule gives {len(offices)} offices, "
                f"its count is {rule.count}"
            )
        districts_of[rule.kind] = {
            geo.seat.get(o.code, "") if o.level == "province" else o.code[:4] for o in offices
        }
        report.planned[rule.kind] = len(offices)
        planned += offices
    return planned, report


def _plan_part(
    rule: KindRuleIn,
    part: _Part,
    geo: Geography,
    rng: np.random.Generator,
    districts_of: dict[str, set[str]],
) -> list[Planned]:
    skip = districts_of.get(rule.skip_units_with or "", set())
    if part.listed:
        units = part.provinces
    elif part.per == "village":
        units = []
    else:
        units = geo.units(part.per, part.provinces)
        if part.per == "district":
            units = [u for u in units if u not in skip]
    out: list[Planned] = []
    names: set[tuple[str, str]] = set()

    def add(level: str, code: str, pattern_th: str, pattern_en: str, moo: int | None = None,
            extra: dict[str, Any] | None = None) -> bool:  # fmt: skip
        values = {**geo.fields(level, code), **(extra or {}), "n": len(out) + 1}
        name_th = _name(pattern_th, values, rule)
        # one name once per district (two provinces' or districts' tambons share names)
        key = (code[:2] if level == "province" else code[:4], name_th)
        if key in names:
            return False
        names.add(key)
        out.append(Planned(rule.kind, level, code, name_th, _name(pattern_en, values, rule), moo))
        return True

    if part.per == "village":
        spare = part.count + part.count // 50 + 10  # a few share a name: take the next
        for tambon, v_th, v_en, moo in geo.village_choice(part.provinces, spare, rng, set()):
            if len(out) == part.count:
                break
            add("village", tambon, part.name_th, part.name_en, moo,
                {"village_th": v_th, "village_en": v_en, "moo": moo})  # fmt: skip
        return out
    # the least populous units go without when the count is under one per unit
    for code in units[: part.count]:
        add(part.per, code, part.name_th, part.name_en)
    need = part.count - len(out)
    if need <= 0:
        return out
    if part.extra is None:
        raise ConfigurationError(
            f"generation.yaml {rule.kind}: {part.count} offices in {len(units)} units need "
            "an `extra` rule for the rest"
        )
    extra = part.extra
    if extra.per == "village":
        have = {(o.code, -1) for o in out}
        for tambon, v_th, v_en, moo in geo.village_choice(part.provinces, need * 2, rng, have):
            if len(out) == part.count:
                break
            add("village", tambon, extra.name_th, extra.name_en, moo,
                {"village_th": v_th, "village_en": v_en, "moo": moo})  # fmt: skip
    else:
        taken = {o.code for o in out}
        if part.per == "province":  # the seat districts already have the main office
            taken |= {geo.seat.get(o.code, "") for o in out}
        for code in geo.units(extra.per, part.provinces):
            if len(out) == part.count:
                break
            if code in taken or code[:4] in skip:
                continue
            add(extra.per, code, extra.name_th, extra.name_en)
    if len(out) < part.count:
        raise ConfigurationError(
            f"generation.yaml {rule.kind}: only {len(out)} of {part.count} offices found "
            f"units with distinct names"
        )
    return out


def rescale(planned: list[Planned], scale: float, rng: np.random.Generator) -> list[Planned]:
    """A smaller registry keeps a share of each kind (tests); a larger one adds copies
    named as such (benchmarks): neither is a demo registry."""
    if scale == 1.0:
        return planned
    by_kind: dict[str, list[Planned]] = {}
    for p in planned:
        by_kind.setdefault(p.kind, []).append(p)
    out: list[Planned] = []
    for offices in by_kind.values():
        if scale < 1.0:
            keep = max(1, round(len(offices) * scale))
            picks = sorted(rng.choice(len(offices), size=keep, replace=False))
            out += [offices[i] for i in picks]
            continue
        total = round(len(offices) * scale)
        out += offices
        for i in range(total - len(offices)):
            o = offices[i % len(offices)]
            copy = 2 + i // len(offices)
            out.append(Planned(o.kind, o.level, o.code, f"{o.name_th} (สำเนาทดสอบ {copy})",
                               f"{o.name_en} (benchmark copy {copy})", o.moo))  # fmt: skip
    return out


# --- placement ------------------------------------------------------------------------
def place(
    planned: list[Planned],
    geo: Geography,
    generation: GenerationIn,
    rng: np.random.Generator,
    report: GenerationReport,
) -> list[Placed]:
    """Each office near its anchor, inside its unit's tambons and its province's land."""
    rules = generation.placement
    n = len(planned)
    accept = np.empty(n, dtype=object)
    land = np.empty(n, dtype=object)
    anchor = np.full((n, 2), np.nan)
    median = np.zeros(n)
    sigma = np.zeros(n)
    cap = np.zeros(n)
    for i, p in enumerate(planned):
        province = p.code[:2]
        land[i] = geo.land
        distance: DistanceIn | None = None
        if p.level == "province":
            accept[i] = geo.district_land[geo.seat[province]]
            a = geo.province_anchor.get(province) or geo.district_anchor.get(geo.seat[province])
            distance = rules.province
        elif p.level == "district":
            accept[i] = geo.district_land[p.code]
            a = geo.district_anchor.get(p.code)
            distance = rules.district
        elif p.level == "tambon":
            accept[i] = geo.tambon_geom[p.code]
            a = geo.tambon_anchor.get(p.code)
            if a is None:
                inner = shapely.point_on_surface(accept[i])
                a = (inner.x, inner.y)
            distance = rules.tambon
        else:  # a village: no coordinates, anywhere in its tambon
            accept[i] = geo.tambon_geom[p.code]
            a = None
        if a is not None and distance is not None:
            anchor[i] = a
            median[i], sigma[i], cap[i] = distance.median_m, distance.sigma, distance.max_m
    decimals = rules.round_decimals
    xy = np.full((n, 2), np.nan)
    near = np.zeros(n, dtype=bool)

    def draw(which: np.ndarray) -> None:
        """New pins for the offices ``which``: near their anchor, else anywhere in the unit."""
        pending = which[~np.isnan(anchor[which, 0])]
        xy[which] = np.nan
        for _ in range(ROUNDS):
            if not len(pending):
                break
            k = CANDIDATES_PER_ROUND
            owners = np.repeat(pending, k)
            metres = np.minimum(
                np.exp(rng.normal(np.log(median[owners]), sigma[owners])), cap[owners]
            )
            bearing = rng.uniform(0, 2 * math.pi, len(owners))
            lat = anchor[owners, 1]
            east = metres * np.sin(bearing) / (111_320 * np.cos(np.radians(lat)))
            x = np.round(anchor[owners, 0] + east, decimals)
            y = np.round(lat + metres * np.cos(bearing) / 110_574, decimals)
            ok = shapely.contains_xy(accept[owners], x, y) & shapely.contains_xy(land[owners], x, y)
            ok = ok.reshape(len(pending), k)
            found = ok.any(axis=1)
            chosen = np.arange(len(pending))[found] * k + ok.argmax(axis=1)[found]
            xy[pending[found]] = np.column_stack([x[chosen], y[chosen]])
            pending = pending[~found]
        near[which] = ~np.isnan(xy[which, 0])
        rest = which[np.isnan(xy[which, 0])]
        if len(rest):
            xy[rest] = uniform_in(accept[rest], land[rest], rng, decimals)

    draw(np.arange(n))
    # two offices of one kind are never closer than min_spacing_m (the pin check would
    # rightly call them duplicates): the later one of a pair is placed again
    kinds = np.array([p.kind for p in planned])
    for _ in range(10):
        crowded = _crowded(xy, kinds, rules.min_spacing_m)
        if not len(crowded):
            break
        draw(crowded)
    report.too_close = len(_crowded(xy, kinds, rules.min_spacing_m))
    for kind in kinds[~near & ~np.isnan(anchor[:, 0])]:
        report.placed_at_random[str(kind)] = report.placed_at_random.get(str(kind), 0) + 1
    tambons = _tambon_of(xy, planned, geo)
    return [
        Placed(p.kind, t, float(px), float(py), p.name_th, p.name_en, p.moo, bool(nr))
        for p, t, (px, py), nr in zip(planned, tambons, xy, near, strict=True)
    ]


def _crowded(xy: np.ndarray, kinds: np.ndarray, metres: float) -> np.ndarray:
    """The later office of each pair of one kind closer than ``metres``."""
    lat = np.radians(np.nanmean(xy[:, 1]))
    local = np.column_stack([xy[:, 0] * 111_320 * np.cos(lat), xy[:, 1] * 110_574])
    pairs = cKDTree(local).query_pairs(metres * 1.02, output_type="ndarray")
    if not len(pairs):
        return np.empty(0, dtype=np.int64)
    same = kinds[pairs[:, 0]] == kinds[pairs[:, 1]]
    return np.unique(pairs[same].max(axis=1))


def uniform_in(
    polygons: np.ndarray, lands: np.ndarray, rng: np.random.Generator, decimals: int
) -> np.ndarray:
    """One point uniformly inside each polygon and its land polygon, rounded to
    ``decimals`` and still inside after rounding. Rejection sampling in the bounding
    boxes, vectorised over all polygons at once."""
    bounds = shapely.bounds(polygons)
    out = np.full((len(polygons), 2), np.nan)
    pending = np.arange(len(polygons))
    # a tambon the land coverage misses (a small island Natural Earth leaves out) gets
    # a second pass where its own polygon is the only land there is
    for on_land in (True, False):
        for _ in range(200):
            if not len(pending):
                break
            owners = np.repeat(pending, 16)
            x = np.round(rng.uniform(bounds[owners, 0], bounds[owners, 2]), decimals)
            y = np.round(rng.uniform(bounds[owners, 1], bounds[owners, 3]), decimals)
            ok = shapely.contains_xy(polygons[owners], x, y)
            if on_land:
                ok &= shapely.contains_xy(lands[owners], x, y)
            ok = ok.reshape(len(pending), 16)
            found = ok.any(axis=1)
            chosen = np.arange(len(pending))[found] * 16 + ok.argmax(axis=1)[found]
            out[pending[found]] = np.column_stack([x[chosen], y[chosen]])
            pending = pending[~found]
    if len(pending):  # a sliver too thin to hit: its inner point
        inner = shapely.point_on_surface(polygons[pending])
        out[pending] = np.column_stack([shapely.get_x(inner), shapely.get_y(inner)])
    return out


def _tambon_of(xy: np.ndarray, planned: list[Planned], geo: Geography) -> list[str]:
    """The tambon each placed office stands in, which its address names."""
    codes = np.array([str(c) for c in geo.tambons.index])
    tree = shapely.STRtree(geo.tambons.geometry.to_numpy())
    points = shapely.points(xy[:, 0], xy[:, 1])
    hits = pd.DataFrame(tree.query(points, predicate="within").T, columns=["point", "tambon"])
    hits["code"] = codes[hits["tambon"].to_numpy()]
    found: dict[int, list[str]] = {}
    for point, code in zip(hits["point"], hits["code"], strict=True):
        found.setdefault(int(point), []).append(str(code))
    out: list[str] = []
    for i, p in enumerate(planned):
        if p.level in ("tambon", "village"):
            out.append(p.code)
            continue
        prefix = geo.seat[p.code[:2]] if p.level == "province" else p.code
        inside = [c for c in found.get(i, []) if c.startswith(prefix)]
        if not inside:  # on a shared edge of two tambons: the nearest of the unit's
            inside = sorted(c for c in codes if c.startswith(prefix))[:1]
        out.append(inside[0])
    return out
