"""Loading data: the Thai reference geodata, the catalogue, and the demo registry (real
offices plus generated points, every generated value marked).

It may import ``locator.registry`` and ``locator.db``.
"""
