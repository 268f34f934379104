"""The registry: what a service point is and what is known about it.

Owns the service-point model (its tables, column list and row shape), provenance (which
values are real, which generated), point kinds, the service catalogue, administrative
areas, opening hours and public holidays, the place gazetteer, ratings and the pin check.
It may import ``locator.db`` and the shared top-level modules, never the query, travel,
analysis, agency or door packages.
"""
