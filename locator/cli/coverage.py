"""`locator coverage`: who lives beyond N km (or N minutes) of a service, as tables,
files and a map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, cast

import typer
from rich.table import Table

from locator.cli.common import console, err, friendly, migrated_engine
from locator.errors import LocatorError
from locator.query.filters import PointFilter
from locator.registry.catalogue import service_names
from locator.settings import get_settings

COVERAGE_FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".parquet": "parquet", ".csv": "csv"}


def write_areas(areas: Any, path: Path) -> None:
    """An aggregated coverage table in the format its extension names. CSV carries no
    polygons: each area's representative point as lat/lon instead."""
    suffix = path.suffix.lower()
    if suffix not in COVERAGE_FORMATS:
        raise LocatorError(f"{path.name}: write a {', '.join(COVERAGE_FORMATS)} file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        areas.to_parquet(path)
    elif suffix == ".csv":
        points = areas.geometry.representative_point()
        flat = areas.drop(columns="geometry").assign(lat=points.y.round(6), lon=points.x.round(6))
        flat.to_csv(path, index=False, encoding="utf-8")
    else:
        if path.exists():
            path.unlink()  # GDAL would add a layer to an old GeoPackage
        areas.to_file(path, driver=COVERAGE_FORMATS[suffix], engine="pyogrio")


@friendly
def coverage(
    service: Annotated[
        str | None, typer.Option("--service", help="A catalogue code; left out: any service.")
    ] = None,
    no_copy: Annotated[
        bool, typer.Option("--no-copy", help="Only offerings that need no photocopies.")
    ] = False,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind of point.")] = None,
    agency: Annotated[
        str | None, typer.Option("--agency", help="Only this agency's points (and below).")
    ] = None,
    threshold_km: Annotated[
        list[float] | None,
        typer.Option("--threshold-km", help="Distance thresholds, km (repeat; default 5 10 20)."),
    ] = None,
    threshold_min: Annotated[
        list[float] | None,
        typer.Option(
            "--threshold-min",
            help="Travel-time thresholds, minutes, on the imported road network (repeat).",
        ),
    ] = None,
    level: Annotated[
        str, typer.Option("--level", help="tambon, district or province.")
    ] = "district",
    sites: Annotated[
        int, typer.Option("--sites", min=0, max=200, help="Suggest this many new sites.")
    ] = 0,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The areas as .gpkg, .geojson, .parquet or .csv."),
    ] = None,
    worst: Annotated[int, typer.Option("--worst", min=0, help="Worst tambons to list.")] = 10,
    map_file: Annotated[
        Path | None,
        typer.Option(
            "--map",
            help="Also a choropleth of the largest threshold (.html, opens offline), with "
            "the worst tambons and the suggested sites as layers.",
        ),
    ] = None,
) -> None:
    """Coverage gaps: people beyond N km (or N minutes) of a point offering a service."""
    # the analysis pulls in GeoPandas and SciPy, the maps folium (two seconds and more):
    # imported when the command runs (the maps only for --map), not by `locator --help`
    from locator.analysis import coverage as cov
    from locator.analysis.run import run_coverage

    if threshold_km and threshold_min:
        raise LocatorError("give --threshold-km or --threshold-min, not both")
    if level not in ("tambon", "district", "province"):
        raise LocatorError(f"--level {level!r}: tambon, district or province")
    mode: Literal["distance", "travel_time"] = "travel_time" if threshold_min else "distance"
    thresholds = threshold_min or threshold_km or [5.0, 10.0, 20.0]
    try:
        f = PointFilter(service=service, no_copy=True if no_copy else None, kind=kind,
                        agency=agency)  # fmt: skip
    except ValueError as exc:
        raise LocatorError(str(exc).splitlines()[-1]) from None
    engine = migrated_engine()
    with engine.connect() as conn:
        run = run_coverage(conn, get_settings(), f, thresholds=thresholds, mode=mode,
                           level=cast(cov.Level, level), sites=sites,
                           with_polygons=output is not None or map_file is not None)  # fmt: skip
        result, areas, siting = run.result, run.areas, run.siting
        if map_file is not None:
            from locator.maps.base import save
            from locator.maps.coverage import coverage_map, demo_data_warning

            if level == "province":
                raise LocatorError("--map draws districts or tambons: give --level district")
            largest = max(result.thresholds)
            unit_word: Literal["km", "min"] = "km" if mode == "distance" else "min"
            service_th, service_en = service_names(conn, service) or ("ทุกบริการ", "any service")
            m = coverage_map(
                areas, largest, worst=cov.worst_units(result, worst or 10), sites=siting,
                title_th=f"ประชากรที่อยู่ห่างเกิน {largest:g} {unit_word}: {service_th}"
                + (" (ไม่ต้องใช้สำเนา)" if no_copy else ""),
                title_en=f"People beyond {largest:g} {unit_word}: {service_en}"
                + (" (no photocopies)" if no_copy else ""),
                unit=unit_word, level=level, warning=demo_data_warning(conn),
            )  # fmt: skip
            save(m, map_file)
    s = run.summary
    unit = s["unit"]
    what = f"{service or 'any service'}{' (no photocopies)' if no_copy else ''}"
    console.print(
        f"coverage of {what}: {s['points']:,} points, {s['units']:,} populated tambons, "
        f"{s['population']:,} people ({s['seconds']:.2f} s)",
        highlight=False,
    )
    table = Table("beyond", "people", "share")
    for b in s["beyond"]:
        table.add_row(f"{b['threshold']:g} {unit}", f"{b['people']:,}", f"{b['share']:.1%}")
    console.print(table)
    for note in s["notes"]:
        console.print(f"note: {note}", highlight=False)
    if worst:
        top = f"share_beyond_{max(result.thresholds):g}"
        shown = areas.sort_values([top, "population"], ascending=False).head(worst)
        t = Table(level, "name", "people", f"beyond {max(result.thresholds):g} {unit}",
                  title=f"the worst {level}s")  # fmt: skip
        for _, r in shown.iterrows():
            t.add_row(str(r["code"]), f"{r['name_th']} {r['name_en']}",
                      f"{int(r['population']):,}", f"{r[top]:.1%}")  # fmt: skip
        console.print(t)
    if siting is not None:
        t = Table("#", "tambon", "people brought within reach",
                  title=f"{sites} suggested sites ({siting.threshold:g} {unit})")  # fmt: skip
        for _, r in siting.sites.iterrows():
            t.add_row(str(r["order"]), f"{r['code']} {r['name_th']} {r['name_en']}",
                      f"{int(r['people_gained']):,}")  # fmt: skip
        console.print(t)
        console.print(
            f"covered: {siting.covered_before:,} -> {siting.covered_after:,} of "
            f"{siting.population:,} people",
            highlight=False,
        )
    if output is not None:
        write_areas(areas, output)
        err.print(f"{len(areas):,} {level}s written to {output}", highlight=False)
    if map_file is not None:
        err.print(f"map written to {map_file}", highlight=False)
