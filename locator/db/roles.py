"""The database roles the API runs as, and what each may do (least privilege).

The owner (the embedded cluster's ``locator`` superuser, or whoever runs ``locator
migrate``) creates and loads everything. The API never connects as the owner:

- ``locator_reader`` answers the public read routes: SELECT on the public tables only
  (not accounts, keys, the change log, nor who rated), on read-only connections;
- ``locator_api`` also writes what the API's doors write: today, ratings.

They are group roles, fixed by name and granted table by table in the migrations, so a
new table is private until a migration says otherwise. The embedded cluster lets them log
in (by operating-system user, see ``locator.db.cluster``); a deployment logs in as members
of them (``GRANT locator_api TO app_login``) and names those logins in
``LOCATOR_API_DATABASE_URL`` and ``LOCATOR_READ_DATABASE_URL``.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

API_ROLE = "locator_api"
READER_ROLE = "locator_reader"
ROLES = (READER_ROLE, API_ROLE)

# readable by both: the registry, the catalogue, the areas and the road network
PUBLIC_TABLES = (
    "admin_area",
    "agency",
    "document_type",
    "service",
    "service_document",
    "service_point",
    "offering",
    "road_vertex",
    "road_edge",
    "alembic_version",
    "public_holiday",
    "qa_flag",
)
# the agencies' door (issue 12): the API role finds the account behind a key (and notes
# when the key was last used) and writes an agency's points, their offerings, the change
# log and the pin check's flags; the reader role never sees accounts, keys or the log
API_WRITES = {
    "account": "SELECT",
    "api_key": "SELECT, UPDATE",
    "service_point": "INSERT, UPDATE",
    "offering": "INSERT, UPDATE, DELETE",
    "change": "SELECT, INSERT",
    "qa_flag": "INSERT, UPDATE, DELETE",
}
# what the API counts to limit an account's bulk imports (issue 20); apart from
# API_WRITES, whose revision (0011) revokes exactly those tables on its way down
API_LIMITS = {"import_attempt": "SELECT, INSERT, DELETE"}
API_SEQUENCES = (
    "rating_id_seq",
    "service_point_id_seq",
    "change_id_seq",
    "qa_flag_id_seq",
    "import_attempt_id_seq",
)
# ratings: what the summaries show, never the hashed client
RATING_PUBLIC_COLUMNS = ("id", "point_id", "service_code", "score", "comment", "created_at")


def create_roles(conn: Connection) -> None:
    """The two group roles, if the cluster has none yet (roles are cluster-wide)."""
    for role in ROLES:
        conn.execute(
            text(
                f"""
                DO $$ BEGIN
                  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} NOLOGIN;
                  END IF;
                END $$
                """
            )
        )


def grant(conn: Connection) -> None:
    """Grant each role its privileges in this database (idempotent). Only on the tables
    that exist: an early migration grants what is there then, the latest all of it, and
    a restore (``locator.ops.backup``) everything again."""
    existing = set(
        conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
    )
    sequences = set(
        conn.execute(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        ).scalars()
    )
    tables = ", ".join(t for t in PUBLIC_TABLES if t in existing)
    columns = ", ".join(RATING_PUBLIC_COLUMNS)
    for role in ROLES:
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT SELECT ON {tables} TO {role}"))
        conn.execute(text(f"GRANT SELECT ({columns}) ON rating TO {role}"))
    # the rate limit reads who rated
    conn.execute(text(f"GRANT SELECT, INSERT ON rating TO {API_ROLE}"))
    for table, privileges in (API_WRITES | API_LIMITS).items():
        if table in existing:
            conn.execute(text(f"GRANT {privileges} ON {table} TO {API_ROLE}"))
    for sequence in API_SEQUENCES:
        if sequence in sequences:
            conn.execute(text(f"GRANT USAGE ON SEQUENCE {sequence} TO {API_ROLE}"))


def revoke(conn: Connection) -> None:
    """Take every privilege in this database back (the roles stay: other databases of
    the cluster may use them)."""
    for role in ROLES:
        conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"))
        conn.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}"))
        conn.execute(text(f"REVOKE ALL ON SCHEMA public FROM {role}"))
