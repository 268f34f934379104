"""Least privilege: the roles the API reads and writes as (see locator.db.roles).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

from locator.db import roles

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    roles.create_roles(conn)
    roles.grant(conn)


def downgrade() -> None:
    roles.revoke(op.get_bind())
