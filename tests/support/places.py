"""Places the tests share: coordinates in the registry's Thailand, and Monaco's roads.

Monaco and Liechtenstein are the real road networks the routing tests import, from the
shared OSM extracts (the registry is Thai, so a service point is put in Monaco for them:
conftest's ``monaco_point``).
"""

from __future__ import annotations

from locator.settings import get_settings

BANGKOK = (13.7563, 100.5018)  # lat, lon: Sanam Luang / the old city
MONACO = get_settings().osm_dir / "monaco.osm.pbf"
LIECHTENSTEIN = get_settings().osm_dir / "liechtenstein-2013-08-03.osm.pbf"
MONACO_OFFICE = (43.7315, 7.4206)  # lat, lon: by the Prince's Palace, metres from a road
