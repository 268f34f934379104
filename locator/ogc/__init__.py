"""OGC API - Features: the collection's items, bbox, CQL2 filters, queryables, sorting.

It translates the OGC vocabulary onto the one filter model of ``locator.query`` and the
registry's row shape. It may import ``locator.query``, ``locator.registry`` and
``locator.db``.
"""
