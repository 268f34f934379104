"""The national registry: about 60,000 service points, real wherever real data exists.

Real offices (province halls, PAOs, district offices, municipalities, TAOs) keep their
real coordinates and names (``source = pinned``). Kinds without public locations are
generated inside tambon polygons, allocated by 2021 population and named after the real
tambons and villages (``source = generated``). Everything random comes from one seeded
generator and every input is sorted first, so one seed always gives one registry.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml
from sqlalchemy import Connection, Engine, text

from locator import hours as oh
from locator import pincheck
from locator.errors import ConfigurationError, Conflict
from locator.ingest.catalogue import Catalogue, PointKindIn, load_catalogue, read_catalogue
from locator.ingest.copy import bulk_load, copy_frame
from locator.progress import NullReporter, Reporter
from locator.settings import get_settings

OFFICES_FILE = "th_gov_offices_hoerstemeier.csv"
VILLAGES_FILE = "th_muban_villages_hoerstemeier.csv"
BANGKOK = "10"
# Real offices lie up to a few km outside the simplified coastline / river polygons.
BORDER_TOLERANCE_M = 10_000

# Names of real offices: (office_type, entity_type) -> Thai and English patterns.
REAL_NAMES: dict[tuple[str, str], tuple[str, str]] = {
    ("ProvinceHall", "Changwat"): ("ศาลากลางจังหวัด{th}", "{en} Provincial Hall"),
    ("PAOOffice", "Changwat"): (
        "องค์การบริหารส่วนจังหวัด{th}",
        "{en} Provincial Administrative Organization",
    ),
    ("DistrictOffice", "Amphoe"): ("ที่ว่าการอำเภอ{th}", "{en} District Office"),
    ("DistrictOffice", "Khet"): ("สำนักงานเขต{th}", "{en} District Office"),
    ("MunicipalityOffice", "Bangkok"): ("ศาลาว่าการกรุงเทพมหานคร", "Bangkok City Hall"),
    ("MunicipalityOffice", "Mueang"): ("ศาลาว่าการเมือง{th}", "{en} City Hall"),
    ("MunicipalityOffice", "ThesabanNakhon"): (
        "สำนักงานเทศบาลนคร{th}",
        "{en} City Municipality Office",
    ),
    ("MunicipalityOffice", "ThesabanMueang"): (
        "สำนักงานเทศบาลเมือง{th}",
        "{en} Town Municipality Office",
    ),
    ("MunicipalityOffice", "ThesabanTambon"): (
        "สำนักงานเทศบาลตำบล{th}",
        "{en} Subdistrict Municipality Office",
    ),
    ("MunicipalityOffice", "Tambon"): (
        "สำนักงานเทศบาลตำบล{th}",
        "{en} Subdistrict Municipality Office",
    ),
    ("TAOOffice", "Tambon"): (
        "องค์การบริหารส่วนตำบล{th}",
        "{en} Subdistrict Administrative Organization",
    ),
    ("TAOOffice", "ThesabanTambon"): (
        "องค์การบริหารส่วนตำบล{th}",
        "{en} Subdistrict Administrative Organization",
    ),
    ("SubdistrictHeadmanOffice", "Tambon"): ("ที่ทำการกำนันตำบล{th}", "{en} Kamnan Office"),
    ("VillageHeadmanOffice", "Muban"): ("ที่ทำการผู้ใหญ่บ้าน{th}", "{en} Village Headman Office"),
}

POINT_COLUMNS = [
    "id", "agency_id", "kind", "name_th", "name_en", "geog", "address_th", "address_en",
    "tambon_code", "postcode", "phones", "opening_hours", "wheelchair", "priority_lane",
    "gecc", "status", "source", "external_ref",
]  # fmt: skip
OFFERING_COLUMNS = [
    "point_id",
    "service_code",
    "copies_required",
    "no_copy_since",
    "notes",
    "opening_hours",
]
OFFERING_COPY_COLUMNS = [*OFFERING_COLUMNS, "geog"]
AGENCY_COLUMNS = ["id", "code", "name_th", "name_en", "parent_id", "level", "province_code"]


@dataclass
class BuildReport:
    seed: int
    points: int = 0
    offerings: int = 0
    agencies: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)
    real_offices_read: int = 0
    real_offices_skipped: dict[str, int] = field(default_factory=dict)
    real_outside_polygons: list[dict[str, Any]] = field(default_factory=list)
    real_code_mismatches: list[dict[str, Any]] = field(default_factory=list)
    no_copy_share: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)
    # the pin check on the real offices (locator.pincheck): findings per flag, and how
    # many points it leaves needing review
    qa: dict[str, int] = field(default_factory=dict)
    qa_points_flagged: int = 0


@dataclass
class Registry:
    catalogue: Catalogue
    agencies: pd.DataFrame
    points: gpd.GeoDataFrame
    offerings: pd.DataFrame
    report: BuildReport


# --- inputs ---------------------------------------------------------------------------
def read_areas(conn: Connection) -> gpd.GeoDataFrame:
    """The admin areas as loaded by `locator load reference`."""
    areas = gpd.read_postgis(
        "SELECT code, level, parent_code, name_th, name_en, postcodes, "
        "coalesce(population, 0) AS population, geom FROM admin_area ORDER BY code",
        conn,
        geom_col="geom",
    )
    if (areas["level"] == "tambon").sum() < 7000:
        raise ConfigurationError(
            "the reference geodata is not loaded; load it first", action="load_reference"
        )
    return areas


def _read_csv(data_dir: Path, name: str) -> pd.DataFrame:
    path = data_dir / name
    if not path.is_file():
        raise ConfigurationError(
            f"{name} missing in {data_dir} (GitHub Ahoerstemeier/tambon, AHTambonData); "
            "set LOCATOR_DATA_DIR to the folder that holds it"
        )
    return pd.read_csv(path, dtype={"geocode": str, "tambon": str}, encoding="utf-8")


def _area_codes(catalogue_dir: Path) -> dict[str, str]:
    codes: dict[str, str] = yaml.safe_load(
        (catalogue_dir / "phone_area_codes.yaml").read_text(encoding="utf-8")
    )
    return codes


# --- small helpers ----------------------------------------------------------------------
def _records(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Rows by their (code) index, without the geometry, as plain dicts."""
    rows = frame.drop(columns="geom").to_dict("index")
    return {str(code): {str(k): v for k, v in row.items()} for code, row in rows.items()}


def allocate(total: int, weights: np.ndarray, at_least_one: bool) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder)."""
    n = len(weights)
    base = np.ones(n, dtype=np.int64) if at_least_one and total >= n else np.zeros(n, np.int64)
    rest = total - int(base.sum())
    w = weights.astype(float)
    w = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
    exact = w * rest
    share = np.floor(exact).astype(np.int64)
    remainder = rest - int(share.sum())
    if remainder:
        order = np.argsort(-(exact - share), kind="stable")[:remainder]
        share[order] += 1
    result: np.ndarray = base + share
    return result


def _province_th(code: str, name: str) -> str:
    return name if code == BANGKOK else f"จังหวัด{name}"


def _district_bare(code: str, name: str) -> str:
    return name.removeprefix("เขต") if code.startswith(BANGKOK) else name


def _address(tambon: dict[str, Any], moo: int | None) -> tuple[str, str]:
    postcode = tambon["postcode"] or ""
    if tambon["province_code"] == BANGKOK:
        th = f"แขวง{tambon['name_th']} เขต{tambon['district_bare_th']} กรุงเทพมหานคร {postcode}"
        en = (
            f"{tambon['name_en']} Subdistrict, {tambon['district_en']} District, Bangkok {postcode}"
        )
    else:
        th = (
            f"ตำบล{tambon['name_th']} อำเภอ{tambon['district_th']} "
            f"จังหวัด{tambon['province_th']} {postcode}"
        )
        en = (
            f"{tambon['name_en']} Subdistrict, {tambon['district_en']} District, "
            f"{tambon['province_en']} {postcode}"
        )
    if moo:
        th = f"หมู่ที่ {moo} " + th
        en = f"Moo {moo}, " + en
    return th.strip(), en.strip()


def _phone(rng: np.random.Generator, area: str) -> str:
    digits = 8 - len(area)
    number = f"{int(rng.integers(10 ** (digits - 1) * 2, 10**digits)):0{digits}d}"
    if area == "2":
        return f"0 2{number[:3]} {number[3:]}"
    return f"0 {area}{number[:2]} {number[2:]}"


OUTPATIENT_HOURS = oh.weekly(
    [("08:00", "16:00")],
    note_en="Outpatient hours",
    note_th="เวลาผู้ป่วยนอก",
    closed_on_public_holidays=True,
)
"""A hospital's services but its emergency room: the outpatient department's hours."""
ALWAYS_OPEN_SERVICES = {"emergency_care"}


def _hours(kind: PointKindIn, rng: np.random.Generator) -> dict[str, Any]:
    office = [("08:30", "16:30")]
    saturday = [("09:00", "12:00")]
    if kind.hours == "always":
        day = [("00:00", "24:00")]
        return oh.weekly(day, day, day, note_en="Open 24 hours", note_th="เปิดตลอด 24 ชั่วโมง")
    if kind.hours == "hospital":
        # the point is open whenever its emergency room is; its outpatient services carry
        # their own hours (OUTPATIENT_HOURS on the offering)
        day = [("00:00", "24:00")]
        return oh.weekly(
            day,
            day,
            day,
            note_en="Emergency room 24 hours; outpatient services Mon-Fri 08:00-16:00",
            note_th="ห้องฉุกเฉินเปิดตลอด 24 ชั่วโมง บริการผู้ป่วยนอก จันทร์-ศุกร์ 08:00-16:00",
        )
    weekdays, sat = office, saturday if kind.hours in ("extended", "post") else []
    if rng.random() < kind.weekend_share:
        if rng.random() < 0.5:
            sat = [("08:30", "12:00")]
        else:
            weekdays = [("08:30", "19:00")]
    return oh.weekly(
        weekdays,
        sat,
        note_en="Closed on public holidays",
        note_th="ปิดวันหยุดนักขัตฤกษ์",
        closed_on_public_holidays=True,
    )


def sample_in_polygons(
    polygons: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> list[list[shapely.Point]]:
    """``counts[i]`` uniform random points strictly inside ``polygons[i]``.

    Rejection sampling in each bounding box, vectorised over all polygons at once
    (shapely's elementwise ``contains_xy``), so 55,000 points take well under a second.
    """
    shapely.prepare(polygons)
    bounds = shapely.bounds(polygons)
    out: list[list[shapely.Point]] = [[] for _ in range(len(polygons))]
    need = counts.astype(np.int64).copy()
    while need.sum() > 0:
        owners = np.repeat(np.arange(len(polygons)), need * 3)
        x = rng.uniform(bounds[owners, 0], bounds[owners, 2])
        y = rng.uniform(bounds[owners, 1], bounds[owners, 3])
        inside = shapely.contains_xy(polygons[owners], x, y)
        for owner, px, py in zip(owners[inside], x[inside], y[inside], strict=True):
            if need[owner] > 0:
                out[owner].append(shapely.Point(px, py))
                need[owner] -= 1
    return out


# --- the builder ----------------------------------------------------------------------
class _Builder:
    def __init__(
        self,
        areas: gpd.GeoDataFrame,
        offices: pd.DataFrame,
        villages: pd.DataFrame,
        catalogue: Catalogue,
        area_codes: dict[str, str],
        seed: int,
        scale: float = 1.0,
    ) -> None:
        self.cat = catalogue
        self.scale = scale
        self.rng = np.random.default_rng(seed)
        self.report = BuildReport(seed=seed)
        self.area_codes = area_codes
        self.offices = offices
        self._prepare_areas(areas)
        self._prepare_villages(villages)
        self.agency_rows: list[dict[str, Any]] = []
        self.agency_ids: dict[str, int] = {}
        self.points: list[dict[str, Any]] = []
        self.point_geoms: list[Any] = []

    # areas with everything an address needs, indexed by code
    def _prepare_areas(self, areas: gpd.GeoDataFrame) -> None:
        prov = areas[areas.level == "province"].set_index("code")
        dist = areas[areas.level == "district"].set_index("code")
        tam = areas[areas.level == "tambon"].set_index("code").copy()
        tam["district_code"] = tam["parent_code"]
        tam["province_code"] = tam.index.str[:2]
        tam["district_th"] = tam["district_code"].map(dist["name_th"])
        tam["district_en"] = tam["district_code"].map(dist["name_en"])
        tam["district_bare_th"] = [
            _district_bare(c, n)
            for c, n in zip(tam["district_code"], tam["district_th"], strict=True)
        ]
        tam["province_th"] = tam["province_code"].map(prov["name_th"])
        tam["province_en"] = tam["province_code"].map(prov["name_en"])
        tam["postcode"] = tam["postcodes"].map(lambda p: p[0] if p else None)
        self.provinces, self.districts, self.tambons = prov, dist, tam
        # plain dicts: a pandas row lookup per point costs more than the whole COPY
        self.tambon_info: dict[str, dict[str, Any]] = _records(tam)
        self.province_info: dict[str, dict[str, Any]] = _records(prov)
        # tambon codes of each district / province, most populous first, with populations
        self.tambons_by_unit: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        ordered = tam.sort_values(["population"], ascending=False, kind="stable")
        for key in ("district_code", "province_code"):
            groups: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for unit, idx in ordered.groupby(key, sort=True).indices.items():
                groups[str(unit)] = (
                    ordered.index.to_numpy()[idx],
                    ordered["population"].to_numpy(dtype=float)[idx],
                )
            self.tambons_by_unit[key] = groups

    def _prepare_villages(self, villages: pd.DataFrame) -> None:
        v = villages.dropna(subset=["tambon"]).copy()
        v["moo"] = v["geocode"].str[-2:].astype(int)
        named = ~v["name_th"].str.startswith("หมู่")
        v = v[named].sort_values("geocode")
        self.villages: dict[str, list[tuple[str, str, int]]] = {}
        for tambon, name_th, name_en, moo in zip(
            v["tambon"], v["name_th"], v["name_en"], v["moo"], strict=True
        ):
            self.villages.setdefault(tambon, []).append((name_th, name_en, int(moo)))

    # agencies -----------------------------------------------------------------------
    def _add_agency(
        self,
        code: str,
        name_th: str,
        name_en: str,
        parent: str | None,
        level: str,
        province_code: str | None = None,
    ) -> int:
        if code in self.agency_ids:
            return self.agency_ids[code]
        agency_id = len(self.agency_rows) + 1
        self.agency_rows.append({
            "id": agency_id, "code": code, "name_th": name_th, "name_en": name_en,
            "parent_id": self.agency_ids[parent] if parent else None, "level": level,
            "province_code": province_code,
        })  # fmt: skip
        self.agency_ids[code] = agency_id
        return agency_id

    def build_agencies(self) -> None:
        for agency, parent in self.cat.departments():
            self._add_agency(agency.code, agency.name_th, agency.name_en,
                             parent.code if parent else None,
                             "ministry" if parent is None else "department")  # fmt: skip
        self.departments = {a.code: a for a, _ in self.cat.departments()}

    def provincial_office(self, department: str, province: str) -> int:
        code = f"{department}_{province}"
        if code in self.agency_ids:
            return self.agency_ids[code]
        dept = self.departments[department]
        prov = self.province_info[province]
        return self._add_agency(
            f"{department}_{province}",
            f"{dept.name_th} {_province_th(province, prov['name_th'])}",
            f"{dept.name_en}, {prov['name_en']}",
            department,
            "provincial_office",
            province,
        )

    # points -------------------------------------------------------------------------
    def _add_point(
        self,
        kind: PointKindIn,
        geom: Any,
        tambon_code: str,
        name_th: str,
        name_en: str,
        source: str,
        agency_id: int,
        moo: int | None,
        external_ref: str | None,
    ) -> None:
        tambon = self.tambon_info[tambon_code]
        address_th, address_en = _address(tambon, moo)
        rng = self.rng
        area = self.area_codes.get(tambon["province_code"], "2")
        phones = [_phone(rng, area)] + ([_phone(rng, area)] if rng.random() < 0.3 else [])
        self.points.append({
            "id": len(self.points) + 1, "agency_id": agency_id, "kind": kind.kind,
            "name_th": name_th, "name_en": name_en, "address_th": address_th,
            "address_en": address_en, "tambon_code": tambon_code,
            "postcode": tambon["postcode"], "phones": phones,
            "opening_hours": json.dumps(_hours(kind, rng), ensure_ascii=False),
            "wheelchair": bool(rng.random() < kind.wheelchair_share),
            "priority_lane": bool(rng.random() < kind.priority_lane_share),
            "gecc": bool(rng.random() < kind.gecc_share),
            "status": "temporarily_closed" if rng.random() < 0.003 else "active",
            "source": source, "external_ref": external_ref,
        })  # fmt: skip
        self.point_geoms.append(geom)

    def build_real(self) -> None:
        kinds_by_type = {t: k for k in self.cat.kinds if k.source == "real" for t in k.office_types}
        offices = self.offices.sort_values(["office_type", "geocode", "name_th"], kind="stable")
        self.report.real_offices_read = len(offices)
        active = offices["obsolete"].isna() | (offices["obsolete"] == 0)
        skipped = offices[~active]
        if len(skipped):
            self.report.real_offices_skipped["obsolete"] = len(skipped)
        offices = offices[active]
        unknown = ~offices["office_type"].isin(kinds_by_type)
        for office_type, n in offices[unknown]["office_type"].value_counts().items():
            self.report.real_offices_skipped[f"no kind for {office_type}"] = int(n)
        offices = offices[~unknown]
        pts = gpd.GeoDataFrame(
            offices, geometry=gpd.points_from_xy(offices.lon, offices.lat), crs=4326
        )
        tambon_polys = gpd.GeoDataFrame(
            {"tambon_code": self.tambons.index}, geometry=self.tambons.geometry.values, crs=4326
        )
        joined = gpd.sjoin(pts, tambon_polys, how="left", predicate="within")
        joined = joined[~joined.index.duplicated(keep="first")]
        outside = joined["tambon_code"].isna()
        if outside.any():
            # Metres in UTM 47N, which covers most of Thailand well enough for "how far".
            near = gpd.sjoin_nearest(
                pts[outside].to_crs(32647),
                tambon_polys.to_crs(32647),
                how="left",
                distance_col="distance_m",
            )
            near = near[~near.index.duplicated(keep="first")]
            joined.loc[outside, "tambon_code"] = near["tambon_code"]
            for idx, row in near.iterrows():
                self.report.real_outside_polygons.append({
                    "name_en": row["name_en"], "office_type": row["office_type"],
                    "geocode": row["geocode"], "nearest_tambon": joined.at[idx, "tambon_code"],
                    "distance_m": round(float(row["distance_m"]), 1),
                })  # fmt: skip
        for idx, office in joined.iterrows():
            kind = kinds_by_type[office["office_type"]]
            tambon_code = str(office["tambon_code"])
            self._check_code(office, tambon_code)
            th_pat, en_pat = REAL_NAMES.get(
                (office["office_type"], office["entity_type"]),
                (f"{kind.name_th}{{th}}", f"{{en}} {kind.name_en}"),
            )
            name_th = th_pat.format(th=office["name_th"])
            name_en = en_pat.format(en=office["name_en"])
            province = tambon_code[:2]
            if kind.own_agency:
                agency_id = self._add_agency(
                    f"{kind.kind}_{office['geocode']}", name_th.removeprefix("สำนักงาน"),
                    name_en.removesuffix(" Office"), kind.agency, "local_government", province,
                )  # fmt: skip
            else:
                agency_id = self.provincial_office(kind.agency, province)
            self._add_point(
                kind,
                pts.geometry.loc[cast(int, idx)],
                tambon_code,
                name_th,
                name_en,
                "pinned",
                agency_id,
                None,
                f"{office['office_type']}:{office['geocode']}",
            )

    def _check_code(self, office: pd.Series, tambon_code: str) -> None:
        """Report a real office whose own code says another area than its polygon."""
        code = str(office["geocode"])
        if office["office_type"] == "MunicipalityOffice" and len(code) == 4:
            code = code[:2]  # municipalities carry their own codes; only the province is comparable
        expected = {6: tambon_code, 4: tambon_code[:4], 2: tambon_code[:2]}.get(len(code))
        if len(code) == 8:
            expected = tambon_code
            code = code[:6]
        if expected is not None and code != expected:
            self.report.real_code_mismatches.append({
                "name_en": office["name_en"], "office_type": office["office_type"],
                "geocode": office["geocode"], "polygon_tambon": tambon_code,
            })  # fmt: skip

    def _units(self, placement: str, exclude_provinces: list[str]) -> pd.DataFrame:
        tam = self.tambons[~self.tambons["province_code"].isin(exclude_provinces)]
        if placement == "tambon":
            return pd.DataFrame({"population": tam["population"]}, index=tam.index)
        key = "district_code" if placement == "district" else "province_code"
        return tam.groupby(key, sort=True)["population"].sum().to_frame()

    def build_generated(self) -> None:
        tam = self.tambons
        for kind in self.cat.kinds:
            if kind.source != "generated":
                continue
            assert kind.count and kind.placement
            units = self._units(kind.placement, kind.exclude_provinces)
            count = round(kind.count * self.scale)
            per_unit = allocate(count, units["population"].to_numpy(), at_least_one=True)
            per_tambon: dict[str, int] = {}
            for unit, n in zip(units.index, per_unit, strict=True):
                if n == 0:
                    continue
                if kind.placement == "tambon":
                    per_tambon[unit] = per_tambon.get(unit, 0) + int(n)
                    continue
                key = "district_code" if kind.placement == "district" else "province_code"
                inside, population = self.tambons_by_unit[key][unit]
                first = inside[0]  # the main office sits in the most populous tambon
                per_tambon[first] = per_tambon.get(first, 0) + 1
                if n > 1:
                    weights = population + 1
                    picks = self.rng.choice(inside, size=int(n) - 1, p=weights / weights.sum())
                    for code in picks:
                        per_tambon[code] = per_tambon.get(code, 0) + 1
            codes = sorted(per_tambon)
            sizes = np.array([per_tambon[c] for c in codes])
            sampled = sample_in_polygons(tam.loc[codes].geometry.to_numpy(), sizes, self.rng)
            seen: dict[str, int] = {}
            for code, geoms in zip(codes, sampled, strict=True):
                villages = self.villages.get(code, [])
                for i, geom in enumerate(geoms):
                    village = villages[i % len(villages)] if villages else None
                    self._add_generated(kind, code, geom, village, seen)

    def _add_generated(
        self,
        kind: PointKindIn,
        tambon_code: str,
        geom: Any,
        village: tuple[str, str, int] | None,
        seen: dict[str, int],
    ) -> None:
        t = self.tambon_info[tambon_code]
        village_th = village[0] if village else f"บ้าน{t['name_th']}".replace("บ้านบ้าน", "บ้าน")
        village_en = village[1] if village else f"Ban {t['name_en']}".replace("Ban Ban ", "Ban ")
        values = {
            "tambon_th": t["name_th"], "tambon_en": t["name_en"],
            "district_th": t["district_bare_th"], "district_en": t["district_en"],
            "province_th": t["province_th"], "province_en": t["province_en"],
            "village_th": village_th, "village_en": village_en,
        }  # fmt: skip
        assert kind.name_pattern_th and kind.name_pattern_en
        name_th = kind.name_pattern_th.format(**values).replace("จังหวัดกรุงเทพมหานคร", "กรุงเทพมหานคร")
        name_en = kind.name_pattern_en.format(**values)
        seen[name_th] = seen.get(name_th, 0) + 1
        if seen[name_th] > 1:
            name_th, name_en = f"{name_th} แห่งที่ {seen[name_th]}", f"{name_en} ({seen[name_th]})"
        agency_id = self.provincial_office(kind.agency, tambon_code[:2])
        self._add_point(
            kind,
            geom,
            tambon_code,
            name_th,
            name_en,
            "generated",
            agency_id,
            int(village[2]) if village else None,
            None,
        )

    # offerings ----------------------------------------------------------------------
    def build_offerings(self, points: pd.DataFrame) -> pd.DataFrame:
        """Each point's offerings, with No-Copy statuses from the synthetic adoption
        model of ``data/no_copy.yaml``: whether an office still demands copies depends
        on its agency, its province and GECC certification; it adopted once, in one of
        its agency's waves, the date of all its no-copy offerings; and no service asks a
        copy of the document it renews."""
        gov_docs = {d.code for d in self.cat.document_types if d.issued_by_government}
        model = self.cat.no_copy
        docs_by_service = {
            s.code: [
                d.code
                for d in s.documents
                if d.code in gov_docs and d.code not in model.never_copy.get(s.code, [])
            ]
            for s in self.cat.services
        }
        kinds = {k.kind: k for k in self.cat.kinds}
        outpatient = json.dumps(OUTPATIENT_HOURS, ensure_ascii=False)
        rng = self.rng
        provinces = sorted({str(code)[:2] for code in points["tambon_code"].dropna()})
        province_effect = dict(
            zip(provinces, rng.normal(0.0, model.province_sd, len(provinces)), strict=True)
        )
        rows: list[tuple[Any, ...]] = []
        for point_id, kind_name, tambon, gecc in zip(
            points["id"], points["kind"], points["tambon_code"], points["gecc"], strict=True
        ):
            kind = kinds[kind_name]
            adoption = model.adoption(kind.agency)
            odds = adoption.still_copies / max(1e-9, 1 - adoption.still_copies)
            odds *= math.exp(province_effect.get(str(tambon)[:2], 0.0))
            if gecc:
                odds *= model.gecc_factor
            # Compliance is an office habit: an office that still wants copies wants them
            # for most of its services, and mostly of the ID card and house registration.
            demands = rng.random() < odds / (1 + odds)
            wave = adoption.waves[int(rng.integers(0, len(adoption.waves)))]
            adopted = min(
                max(wave, model.policy_start)
                + dt.timedelta(days=int(rng.integers(0, model.wave_days + 1))),
                model.policy_last,
            )
            for service in kind.services:
                wanted = docs_by_service[service]
                copies: list[str] = []
                if demands and wanted:
                    for doc in wanted:
                        p = {"id_card": 0.85, "house_registration": 0.6}.get(doc, 0.15)
                        if rng.random() < p:
                            copies.append(doc)
                since = None if copies else adopted
                hours = None  # the point's own
                if kind.hours == "hospital" and service not in ALWAYS_OPEN_SERVICES:
                    hours = outpatient
                rows.append((point_id, service, copies, since, None, hours))
        return pd.DataFrame(rows, columns=OFFERING_COLUMNS)


def build_registry(
    areas: gpd.GeoDataFrame,
    data_dir: Path,
    catalogue_dir: Path,
    seed: int = 2021,
    reporter: Reporter | None = None,
    scale: float = 1.0,
) -> Registry:
    """The whole registry in memory. ``scale`` multiplies the generated kinds' counts
    (benchmarks use it for a 600,000-point registry); real offices stay as they are."""
    reporter = reporter or NullReporter()
    reporter.stage("Reading catalogue and real offices")
    catalogue = read_catalogue(catalogue_dir)
    builder = _Builder(
        areas,
        _read_csv(data_dir, OFFICES_FILE),
        _read_csv(data_dir, VILLAGES_FILE),
        catalogue,
        _area_codes(catalogue_dir),
        seed,
        scale,
    )
    builder.build_agencies()
    reporter.stage("Placing real offices")
    builder.build_real()
    reporter.stage("Generating service points")
    builder.build_generated()
    points = gpd.GeoDataFrame(builder.points, geometry=builder.point_geoms, crs=4326)
    points = points.rename_geometry("geog")
    reporter.stage("Offerings and No-Copy status")
    offerings = builder.build_offerings(points)
    agencies = pd.DataFrame(builder.agency_rows, columns=AGENCY_COLUMNS)
    agencies["parent_id"] = agencies["parent_id"].astype("Int64")

    report = builder.report
    report.points, report.offerings, report.agencies = len(points), len(offerings), len(agencies)
    report.by_kind = {str(k): int(v) for k, v in points["kind"].value_counts().sort_index().items()}
    report.by_source = {str(k): int(v) for k, v in points["source"].value_counts().items()}
    report.no_copy_share = float((offerings["copies_required"].map(len) == 0).mean())
    return Registry(catalogue, agencies, points, offerings, report)


def write_registry(conn: Connection, registry: Registry, reporter: Reporter | None = None) -> None:
    """Replace the registry inside the caller's transaction (all or nothing)."""
    reporter = reporter or NullReporter()
    reporter.stage("Clearing the registry")
    conn.execute(text("TRUNCATE offering, rating, change, service_point RESTART IDENTITY CASCADE"))
    conn.execute(text("UPDATE account SET agency_id = NULL"))
    conn.execute(text("TRUNCATE agency RESTART IDENTITY CASCADE"))
    reporter.stage("Writing the catalogue")
    load_catalogue(conn, registry.catalogue)
    reporter.stage("Copying agencies", total=len(registry.agencies))
    copy_frame(conn, "agency", registry.agencies, AGENCY_COLUMNS)
    reporter.advance(len(registry.agencies))
    with bulk_load(conn, ["service_point", "offering"]):
        reporter.stage("Copying service points", total=len(registry.points))
        copy_frame(conn, "service_point", registry.points, POINT_COLUMNS,
                   array_columns=["phones"], geometry_columns=["geog"])  # fmt: skip
        reporter.advance(len(registry.points))
        # the offering trigger is off: the copy of the point's position travels with the row
        offerings = registry.offerings.join(registry.points.set_index("id")["geog"], on="point_id")
        reporter.stage("Copying offerings", total=len(offerings))
        chunk = 50_000
        for start in range(0, len(offerings), chunk):
            part = offerings.iloc[start : start + chunk]
            copy_frame(conn, "offering", part, OFFERING_COPY_COLUMNS,
                       array_columns=["copies_required"], geometry_columns=["geog"])  # fmt: skip
            reporter.advance(len(part))
        reporter.stage("Building indexes")
    drift = conn.execute(
        text(
            "SELECT count(*) FROM offering o JOIN service_point p ON p.id = o.point_id "
            "WHERE NOT ST_Equals(o.geog::geometry, p.geog::geometry)"
        )
    ).scalar_one()
    if drift:
        raise RuntimeError(f"{drift} offerings do not sit at their point")  # rolls back
    for table in ("agency", "service_point"):
        conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 1) FROM {table}))"
        ))  # fmt: skip


def write_report(report: BuildReport, folder: Path) -> Path:
    """The whole build report as JSON, for review (mismatching real offices are listed)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "registry-build.json"
    path.write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def load_registry(
    engine: Engine,
    data_dir: Path,
    catalogue_dir: Path,
    *,
    seed: int = 2021,
    replace: bool = False,
    reporter: Reporter | None = None,
    scale: float = 1.0,
) -> BuildReport:
    reporter = reporter or NullReporter()
    started = time.perf_counter()
    with engine.connect() as conn:
        existing = conn.execute(text("SELECT count(*) FROM service_point")).scalar_one()
        if existing and not replace:
            raise Conflict(
                f"the registry already holds {existing:,} service points; rebuilding it "
                "deletes edits, ratings and the change log, so say so explicitly",
                action="replace",
            )
        areas = read_areas(conn)
    registry = build_registry(areas, data_dir, catalogue_dir, seed, reporter, scale)
    built = time.perf_counter()
    with engine.begin() as conn:
        write_registry(conn, registry, reporter)
        written = time.perf_counter()
        # in the same transaction: a real office is never loaded without its check
        reporter.stage("Pin check of the real offices")
        qa = pincheck.check_registry(conn, get_settings())
        pincheck.store(conn, qa)
        registry.report.qa, registry.report.qa_points_flagged = qa.counts, qa.points_flagged
    checked = time.perf_counter()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        reporter.stage("Analyzing")
        for table in ("agency", "service_point", "offering", "service", "service_document"):
            conn.execute(text(f"ANALYZE {table}"))
    registry.report.seconds = {
        "build": round(built - started, 2),
        "write": round(written - built, 2),
        "qa": round(checked - written, 2),
        "total": round(time.perf_counter() - started, 2),
    }
    return registry.report
