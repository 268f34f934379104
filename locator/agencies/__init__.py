"""The agencies' writes: accounts and keys (``accounts``), pinning and editing points
(``pinning``), points in bulk, imported and exported (``bulk``), opening hours as CSV
(``hours_csv``), and what an import answers (``report``).

Every write an agency makes passes the registry's pin check and leaves an audit row. It
may import ``locator.query``, ``locator.registry`` and ``locator.db``.
"""
