"""Operating a deployment: what state the database is in (``status``) and dump and
restore with a manifest that proves every table came back (``backup``).

Both read the whole schema (``locator.registry.models``), so they stand above the
registry rather than in ``locator.db``, which knows connections and clusters but no
tables. It may import ``locator.registry`` and ``locator.db``.
"""
