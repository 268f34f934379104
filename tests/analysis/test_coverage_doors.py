"""Coverage gaps as analysts meet them: GET /v1/coverage and `locator coverage`, over the
session's registry (the computation itself is tested in test_coverage.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from tests.support.cli import LOCATOR

PASSPORTS = {"service": "passport_issue", "thresholds": "10,50", "level": "province"}


def test_the_summary_areas_worst_and_sites_agree(client) -> None:
    r = client.get("/v1/coverage", params={**PASSPORTS, "sites": 3, "worst": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    summary = body["summary"]
    assert summary["service"] == "passport_issue" and summary["unit"] == "km"
    assert summary["thresholds"] == [10.0, 50.0] and 0 < summary["points"] < 100
    areas = body["areas"]
    assert len(areas) == 77 and {a["code"] for a in areas} >= {"10", "50", "96"}
    # the provinces add up to the nation the summary counts, for people and for gaps
    assert sum(a["population"] for a in areas) == summary["population"] > 60_000_000
    for i, t in enumerate(("10", "50")):
        assert sum(a[f"population_beyond_{t}"] for a in areas) == summary["beyond"][i]["people"]
    assert summary["beyond"][0]["people"] >= summary["beyond"][1]["people"]
    bangkok = next(a for a in areas if a["code"] == "10")
    assert bangkok["name_th"] == "กรุงเทพมหานคร" and bangkok["share_beyond_50"] == 0
    worst = body["worst"]
    assert len(worst) == 5 and all(w["distance_m"] > 50_000 for w in worst)
    assert {"lat", "lon", "name_th", "name_en", "nearest_point_id"} <= set(worst[0])
    sites = body["sites"]
    assert len(sites["sites"]) == 3 and sites["threshold"] == 50
    assert sites["covered_after"] > sites["covered_before"]
    gained = [s["people_gained"] for s in sites["sites"]]
    assert gained == sorted(gained, reverse=True)
    assert sites["covered_after"] - sites["covered_before"] == sum(gained)


def test_no_copy_offices_leave_at_least_as_many_people_out(client) -> None:
    plain = client.get("/v1/coverage", params={"service": "land_title_transfer", "worst": 0})
    strict = client.get(
        "/v1/coverage", params={"service": "land_title_transfer", "no_copy": "true", "worst": 0}
    )
    assert plain.status_code == strict.status_code == 200
    a, b = plain.json()["summary"], strict.json()["summary"]
    assert b["no_copy"] is True and b["points"] < a["points"]
    for x, y in zip(a["beyond"], b["beyond"], strict=True):
        assert y["people"] >= x["people"]


def test_the_areas_as_geojson_polygons(client) -> None:
    r = client.get("/v1/coverage", params={**PASSPORTS, "format": "geojson"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    doc = r.json()
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 77
    shapes = {f["geometry"]["type"] for f in doc["features"]}
    assert shapes <= {"Polygon", "MultiPolygon"}
    assert doc["summary"]["population"] == sum(
        f["properties"]["population"] for f in doc["features"]
    )
    # simplified for the wire: the national province layer stays small
    assert len(r.content) < 2_000_000


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"thresholds": "0"}, "above 0"),
        ({"thresholds": "5,abc"}, "thresholds"),
        ({"thresholds": "1,2,3,4,5,6"}, "thresholds"),
        ({"service": "no_such_service"}, "unknown service"),
        ({"level": "village"}, "level"),
        ({"sites": 21}, "sites"),
        ({"colour": "red"}, "unknown query parameter"),
    ],
)
def test_bad_questions_are_422s_that_say_what_to_fix(client, params: dict, says: str) -> None:
    r = client.get("/v1/coverage", params=params)
    assert r.status_code == 422, r.text
    assert says in r.text


def test_both_doors_refuse_the_same_thresholds(client, cli_env: dict[str, str]) -> None:
    """One rule for thresholds (each above 0, at most 1,000), whichever door asks."""
    api = client.get("/v1/coverage", params={"service": "passport_issue", "thresholds": "1500"})
    assert api.status_code == 422 and "at most 1,000" in api.text
    assert api.json()["error"]["details"]["parameter"] == "thresholds"
    cli = subprocess.run(
        [LOCATOR, "coverage", "--service", "passport_issue", "--threshold-km", "1500"],
        env=cli_env, capture_output=True, text=True,
    )  # fmt: skip
    assert cli.returncode == 2 and "at most 1,000" in cli.stderr


def test_the_command_line_writes_every_format(cli_env: dict[str, str], tmp_path: Path) -> None:
    for suffix in (".gpkg", ".geojson", ".parquet", ".csv"):
        out = tmp_path / f"districts{suffix}"
        run = subprocess.run(
            [LOCATOR, "coverage", "--service", "land_title_transfer", "--threshold-km", "10",
             "--threshold-km", "20", "--level", "district", "--sites", "2", "-o", str(out)],
            env=cli_env, capture_output=True, text=True,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert "beyond" in run.stdout and "suggested sites" in run.stdout
        if suffix == ".csv":
            frame = pd.read_csv(out, dtype={"code": str})
            assert {"lat", "lon", "share_beyond_10", "share_beyond_20"} <= set(frame.columns)
        elif suffix == ".parquet":
            frame = gpd.read_parquet(out)
        else:
            frame = gpd.read_file(out)
            assert frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
        assert 900 < len(frame) <= 928, suffix
        assert frame["name_th"].str.len().min() > 0
    bad = subprocess.run([LOCATOR, "coverage", "--service", "nope"], env=cli_env,
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "unknown service" in bad.stderr


def test_the_maps_from_the_command_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    from locator.maps.base import remote_resources

    gaps = tmp_path / "gaps.html"
    run = subprocess.run(
        [LOCATOR, "coverage", "--service", "land_title_transfer", "--no-copy",
         "--threshold-km", "20", "--sites", "2", "--map", str(gaps)],
        env=cli_env, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    page = gaps.read_text(encoding="utf-8")
    assert "People beyond 20 km: Land sale and transfer" in page and "(no photocopies)" in page
    assert "<title>ประชากรที่อยู่ห่างเกิน 20 km: การจดทะเบียนสิทธิ" in page
    assert "generated, not real offices, so the gaps shown are not facts" in page
    assert remote_resources(page) == []
    no_copy = tmp_path / "no-copy.html"
    run = subprocess.run([LOCATOR, "map", "no-copy", "-o", str(no_copy)], env=cli_env,
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    page = no_copy.read_text(encoding="utf-8")
    assert "Generated data, not a fact" in page and remote_resources(page) == []
    refused = subprocess.run(
        [LOCATOR, "coverage", "--level", "province", "--map", str(tmp_path / "p.html")],
        env=cli_env, capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 2 and "districts or tambons" in refused.stderr
