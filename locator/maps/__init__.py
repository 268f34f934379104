"""Maps: single HTML files that open with no internet (folium on the vendored Leaflet).

Owns every exported map and what they share: the offline base and its helpers
(``base``: Leaflet inlined, popups and legends from plain text, backgrounds from the
database, the check that nothing is fetched from elsewhere), the route map (``route``),
the review map of the registry's points (``review``), the choropleth machinery
(``choropleth``) and its two maps, coverage gaps (``coverage``) and the No-Copy share
(``no_copy``), and their scripts and style sheets (``assets/*.js``, ``assets/*.css``).
It may import ``locator.analysis``, ``locator.travel``, ``locator.query``,
``locator.registry`` and ``locator.db``.
"""
