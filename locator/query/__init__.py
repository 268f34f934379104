"""Finding points: the one filter model, nearest, text search and a point's details.

Every door that selects points (the API, the OGC items, coverage, maps, the CLI) builds
its selection through ``query.filters``. It may import ``locator.registry`` and
``locator.db``.
"""
