"""Finding points: the one filter model (``filters``), ``nearest``, ``name_search`` and a
point's ``detail``, all answering in the shape of ``results``.

Every door that selects points (the API, the OGC items, coverage, maps, the CLI) builds
its selection through ``query.filters``. It may import ``locator.registry`` and
``locator.db``.
"""
