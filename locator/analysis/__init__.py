"""Analysis: coverage gaps, siting suggestions, the agencies' progress and registry stats.

The analysts' questions, answered once for every door (API, CLI, notebooks, maps). It
may import ``locator.travel``, ``locator.query``, ``locator.registry``, ``locator.db`` and
``locator.geo``.
"""
