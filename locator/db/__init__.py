"""The database: engines and sessions, the embedded cluster, roles, migrations, backups.

Owns every connection to PostgreSQL (the three engines, the API's two behind a
``locator.failfast`` gate; the public reads' routing over read replicas), the local
PostGIS cluster the demo and the tests start and its replicas, the
least-privilege roles, the Alembic runner and the bulk COPY helper (dump, restore and
status, which read the schema, are ``locator.ops``).
It may import only ``locator.settings``, ``locator.errors``, ``locator.progress`` and
``locator.failfast``: everything else stands on it.
"""
