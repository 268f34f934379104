"""Analysis: coverage gaps, siting suggestions, the agencies' progress and registry stats.

The analysts' questions, answered once for every door (API, CLI, notebooks, maps):
``coverage`` computes, ``run`` is the one coverage run the doors call, ``stats`` counts
what the registry holds, ``agency_progress`` how far the agencies' pinning has come. It
may import ``locator.travel``, ``locator.query``, ``locator.registry``, ``locator.db`` and
``locator.geo``.
"""
