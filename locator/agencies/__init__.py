"""The agencies' writes: accounts and keys, pinning and editing points, bulk import and
export, opening-hours import.

Every write an agency makes passes the registry's pin check and leaves an audit row. It
may import ``locator.query``, ``locator.registry`` and ``locator.db``.
"""
