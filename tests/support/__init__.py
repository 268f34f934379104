"""What the tests share, and what the benchmarks (bench/) borrow from them, one job each:

- ``cli``: the ``locator`` command; ``ports``: free loopback ports; ``servers``: a server
  in a subprocess, started, waited for and stopped;
- ``database``: throwaway databases; ``api``: the API in process (``BASE_URL``,
  ``with_settings``); ``fuzz``: schemathesis' configuration and checks;
- ``places`` and ``place_names``: coordinates, OSM extracts and spellings the tests share;
- ``chromium``, ``browser`` (fixtures, registered by tests/conftest.py), ``web_a11y``,
  ``web_perf``, ``web_tiles``: the browser tests' tools; ``osm_samples``: real extracts.

It may import ``locator`` and third-party packages, never a test module, a conftest or
bench/; test modules import their shared helpers from here, never from one another.
"""
