"""The pin check's findings: ``qa_flag``, one row per (point, flag, detail).

A point needs review while it has an unresolved flag (``resolved_at`` is null). One row
per finding, not a boolean column, so the review map draws a layer per flag and the
agencies' review queue (issue 12) lists, resolves and audits each finding on its own.
``locator load registry`` fills it for the real offices (``locator.registry.pincheck``); the
public roles may read it (the review map and ``/v1/stats`` show it).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from locator.db import roles

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QA_FLAGS = (
    "outside_tambon",
    "postcode_mismatch",
    "wrong_province",
    "duplicate",
    "tao_misaddressed",
)


def upgrade() -> None:
    op.create_table(
        "qa_flag",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "point_id",
            sa.BigInteger(),
            sa.ForeignKey("service_point.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("flag", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column(
            "measured",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "other_point_id",
            sa.BigInteger(),
            sa.ForeignKey("service_point.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "flag IN (" + ", ".join(f"'{f}'" for f in QA_FLAGS) + ")", name="qa_flag_flag_check"
        ),
    )
    op.create_index("ix_qa_flag_point", "qa_flag", ["point_id"])
    op.create_index("ix_qa_flag_flag", "qa_flag", ["flag"])
    for role in roles.ROLES:
        op.execute(f"GRANT SELECT ON qa_flag TO {role}")


def downgrade() -> None:
    op.drop_table("qa_flag")
