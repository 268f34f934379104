"""Reference geodata: what an analyst and the registry builder stand on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from locator.errors import ConfigurationError
from locator.ingest.reference import load_reference, reference_paths
from locator.settings import get_settings
from tests.support.cli import LOCATOR


def _counts(conn) -> dict[str, tuple[int, int]]:
    rows = conn.execute(
        text("SELECT level, count(*), sum(population) FROM admin_area GROUP BY level")
    ).all()
    return {level: (n, int(p)) for level, n, p in rows}


def test_levels_counts_and_population(connection) -> None:
    counts = _counts(connection)
    assert counts["province"][0] == 77
    assert counts["district"][0] == 928
    assert 7400 <= counts["tambon"][0] <= 7440
    assert 65_000_000 <= counts["tambon"][1] <= 66_000_000
    assert counts["province"][1] == 66_171_439  # DOPA national total, 31 Dec 2021


def test_every_area_has_a_valid_polygon_and_a_parent(connection) -> None:
    bad = connection.execute(
        text(
            "SELECT count(*) FROM admin_area WHERE geom IS NULL OR NOT ST_IsValid(geom) "
            "OR (level <> 'province' AND parent_code IS NULL)"
        )
    ).scalar_one()
    assert bad == 0


def test_thai_names_and_postcodes(connection) -> None:
    row = connection.execute(
        text("SELECT name_th, name_en, postcodes, population FROM admin_area WHERE code='100101'")
    ).one()
    assert row.name_th == "พระบรมมหาราชวัง"
    assert row.name_en == "Phra Borom Maha Ratchawang"
    assert row.postcodes == ["10200"]
    assert row.population > 0
    chiang_mai = connection.execute(
        text("SELECT name_th FROM admin_area WHERE level='province' AND name_en='Chiang Mai'")
    ).scalar_one()
    assert chiang_mai == "เชียงใหม่"
    ao_nang = connection.execute(
        text("SELECT postcodes FROM admin_area WHERE code = '810116'")
    ).scalar_one()
    assert ao_nang == ["81000", "81180", "81210"]  # a tambon can span several postcodes
    with_postcode = connection.execute(
        text(
            "SELECT count(*) FROM admin_area WHERE level = 'tambon' AND cardinality(postcodes) > 0"
            " AND postcodes <@ (SELECT array_agg(p) FROM unnest(postcodes) p"
            " WHERE p ~ '^[0-9]{5}$')"
        )
    ).scalar_one()
    assert with_postcode >= 7420


def test_point_in_polygon_finds_the_right_tambon(connection) -> None:
    """The Grand Palace lies in Phra Borom Maha Ratchawang, Phra Nakhon, Bangkok."""
    codes = connection.execute(
        text(
            "SELECT level, code FROM admin_area "
            "WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(100.4913, 13.7500), 4326))"
        )
    ).all()
    assert dict(codes) == {"province": "10", "district": "1001", "tambon": "100101"}


def test_loading_twice_leaves_one_copy(engine) -> None:
    load_reference(engine, get_settings().data_dir)
    with engine.connect() as conn:
        counts = _counts(conn)
        dupes = conn.execute(
            text("SELECT count(*) - count(DISTINCT code) FROM admin_area")
        ).scalar_one()
    assert counts["province"][0] == 77 and counts["district"][0] == 928
    assert dupes == 0


def test_missing_folder_names_the_file_and_its_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        reference_paths(tmp_path / "nowhere")
    message = info.value.message
    assert "th_subdistricts_cod2019_simplified.gpkg" in message
    assert "OCHA" in message and "LOCATOR_DATA_DIR" in message


def test_cli_reports_a_missing_file_clearly(tmp_path: Path, cli_env: dict[str, str]) -> None:
    data = get_settings().data_dir
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("th_provinces_ne10m.gpkg", "th_districts_cod2019_simplified.gpkg"):
        (partial / name).symlink_to(data / name)
    env = {**cli_env, "LOCATOR_DATA_DIR": str(partial)}
    out = subprocess.run(
        [LOCATOR, "load", "reference"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2
    assert "th_population_dopa2021.csv" in out.stderr
    assert "Ahoerstemeier/tambon" in out.stderr
    assert "Traceback" not in out.stderr
