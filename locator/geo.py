"""Measuring on the Earth: the one WGS84 ellipsoid, and the mean sphere for fast search.

Distances the service reports are geodesic metres on WGS84 (``GEOD``). Searching many
places at once (coverage's nearest points, the snapping of hundreds of thousands of places
to road vertices) is done on the mean sphere instead: on unit-sphere coordinates the
chord is monotonic in the great-circle distance, so a KD-tree over them finds the nearest
places, which are then measured on the ellipsoid. Top level, beside ``settings``, because
both ``locator.travel`` and ``locator.analysis`` measure, and neither owns the Earth.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from pyproj import Geod

Floats = NDArray[np.float64]

GEOD = Geod(ellps="WGS84")
EARTH_RADIUS_M = 6_371_008.8
"""The mean radius of the Earth (IUGG), for the sphere."""


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Metres between two places on the WGS84 ellipsoid."""
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def distances_m(lon1: Floats, lat1: Floats, lon2: Floats, lat2: Floats) -> Floats:
    """``distance_m`` pairwise over arrays (none for empty ones)."""
    if len(lon1) == 0:
        return np.zeros(0)
    _, _, d = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(d, dtype=np.float64)


def unit_xyz(lon: Floats, lat: Floats) -> Floats:
    """Unit-sphere coordinates: the chord between two is monotonic in their
    great-circle distance, so a KD-tree over them finds nearest points on the sphere."""
    lo, la = np.radians(lon), np.radians(lat)
    c = np.cos(la)
    return np.column_stack([c * np.cos(lo), c * np.sin(lo), np.sin(la)])


def chord(metres: float) -> float:
    """The chord (unit sphere) of a great-circle distance in metres."""
    return 2.0 * math.sin(min(metres / EARTH_RADIUS_M, math.pi) / 2.0)


def arc_m(chords: Floats) -> Floats:
    """The great-circle metres of chords on the unit sphere (``chord``'s inverse)."""
    return np.asarray(2.0 * np.arcsin(np.minimum(chords, 2.0) / 2.0) * EARTH_RADIUS_M)
