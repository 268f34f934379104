"""The registry: what a service point is and what is known about it.

Owns the service-point model (its tables in ``models``, its column list and row shape in
``points``), provenance (which values are real, which generated), point kinds (``kinds``),
the registry's words in Thai and English (``vocabulary``), the data files' reader, the
service catalogue, administrative areas, opening hours and public holidays, the place
gazetteer, ratings and the pin check.
It may import ``locator.db`` and the shared top-level modules, never the query, travel,
analysis, agency or door packages.
"""
