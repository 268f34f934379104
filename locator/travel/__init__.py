"""Travel: how far and how long from a place to a point, by car or on foot.

Owns the travel modes, the straight-line estimate used when no road answers, the road
network imported from OpenStreetMap (into PostGIS for isochrones and coverage, into OSRM
for routes), the in-memory road graph with its snapping, routes, ranking by travel time
and isochrones. It may import ``locator.query``, ``locator.registry`` and ``locator.db``.
"""
