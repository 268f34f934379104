"""The registry: what a service point is and what is known about it.

Owns the service-point model (the schema's tables in ``models``, a point's column list and
row shape in ``points``, the shapes of its values in ``fields``, its ETags in ``etags``),
provenance (which values are real, which generated), point kinds (``kinds``), the
registry's words in Thai and English (``vocabulary``), the agency tree (``agency_tree``),
the data files' reader (``data_files``), the service catalogue, administrative areas,
opening hours and public holidays, the place gazetteer, ratings and the pin check.
It may import ``locator.db`` and the shared top-level modules, never the query, travel,
analysis, agency or door packages.
"""
