"""English names as words: a full-text index for word-prefix name search.

A Latin search word must match the start of a word ("district" is not "Subdistrict").
The trigram index cannot say where a word starts, so "district" made it fetch and
re-check the 41,000 "Subdistrict" names (80 ms); the words index answers exactly.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_service_point_name_en_words ON service_point "
        "USING gin (to_tsvector('simple'::regconfig, name_en))"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_service_point_name_en_words")
