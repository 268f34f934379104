"""Travel: how far and how long from a place to a point, by car or on foot.

One module per concept: ``modes`` (the travel modes), ``places`` (a trip's two ends),
``estimate`` (the straight-line estimate used when no road answers), ``roads`` (importing
the OpenStreetMap roads into PostGIS), ``graph`` (that road graph in memory),
``snapping`` (places onto the graph), ``osrm`` (preparing, running and calling the routing
engine), ``route`` (a route between two places), ``rank`` (ranking by travel time) and
``isochrone``. It may import ``locator.query``, ``locator.registry``, ``locator.db`` and
``locator.geo``.
"""
