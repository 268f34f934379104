"""Administrative areas as map backgrounds: provinces and districts, simplified."""

from __future__ import annotations

from typing import Any

import shapely
import shapely.geometry
from sqlalchemy import text

from locator.db.engine import Executor


def areas_geojson(db: Executor, level: str, tolerance_deg: float) -> dict[str, Any]:
    """Simplified admin polygons: the offline background of the citizen page.

    Simplified as one coverage (GEOS through shapely), so neighbours keep one shared
    border: simplifying each polygon on its own (``ST_SimplifyPreserveTopology``) left
    gaps and overlaps along every border when zoomed in. PostGIS has
    ``ST_CoverageSimplify`` only from 3.4; Debian 12 ships 3.3.
    """
    rows = db.execute(
        text(
            "SELECT code, name_th, name_en, population, ST_AsBinary(geom) AS wkb "
            "FROM admin_area WHERE level = :level ORDER BY code"
        ),
        {"level": level},
    ).all()
    geoms = shapely.from_wkb([bytes(r.wkb) for r in rows])
    if tolerance_deg > 0 and len(geoms):
        geoms = shapely.coverage_simplify(geoms, tolerance_deg)
    geoms = shapely.set_precision(geoms, 1e-5)  # about a metre: enough for a background
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r.code,
                "geometry": shapely.geometry.mapping(g),
                "properties": {
                    "code": r.code,
                    "name_th": r.name_th,
                    "name_en": r.name_en,
                    "population": r.population,
                },
            }
            for r, g in zip(rows, geoms, strict=True)
        ],
    }
