"""Thai names searched without their tone marks: ``locator_fold_th`` and a trigram index
on the folded Thai name, in place of the one on the name as written.

In the database's C.UTF-8 locale pg_trgm reads the Thai tone marks and the other signs
above a letter (U+0E47-U+0E4C, U+0E4E: mai taikhu, the four tone marks, thanthakhat,
yamakkan) as it reads a space: "น่าน" is the words "น" and "าน", neither a trigram, so a
search for Nan (and for บ้าน, แม่สา and most Thai names) could only scan every name.
Folded out of both the name and the query, "น่าน" is "นาน", which the index looks up;
a wrong or missing tone mark (a common typing mistake) then matches too. The index on
the unfolded name had no other user (the duplicate check's similarity is computed on
pairs already found by distance), so it goes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the Thai signs pg_trgm does not count as letters in C.UTF-8 (U+0E47-U+0E4C, U+0E4E);
# locator.query.name_search.FOLDED is the same set, for the query
_FOLD = """
CREATE OR REPLACE FUNCTION locator_fold_th(name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT translate(name, U&'\\0E47\\0E48\\0E49\\0E4A\\0E4B\\0E4C\\0E4E', '')
$$;
COMMENT ON FUNCTION locator_fold_th(text) IS
    'The text without the Thai signs pg_trgm reads as spaces (tone marks, U+0E47-U+0E4C, '
    'U+0E4E): what name search matches Thai names on (migration 0014)';
"""


def upgrade() -> None:
    op.execute(_FOLD)
    op.drop_index("ix_service_point_name_th_trgm", table_name="service_point")
    op.execute(
        "CREATE INDEX ix_service_point_name_th_fold_trgm ON service_point "
        "USING gin (locator_fold_th(name_th) gin_trgm_ops)"
    )


def downgrade() -> None:
    op.drop_index("ix_service_point_name_th_fold_trgm", table_name="service_point")
    op.create_index(
        "ix_service_point_name_th_trgm",
        "service_point",
        ["name_th"],
        postgresql_using="gin",
        postgresql_ops={"name_th": "gin_trgm_ops"},
    )
    op.execute("DROP FUNCTION locator_fold_th(text)")
