"""The agencies' door: account roles as issue 12 names them, and the API role's grants.

Roles: ``editor`` (pins and edits its agency's points), ``agency_admin`` (also its
agency's bulk imports), ``platform_admin`` (every agency: moderation and the review
queue). No account existed before this revision, so the old names are simply replaced.
The API role (``locator_api``) may now read accounts and keys (to authenticate a key),
note a key's last use, and write points, offerings, the change log and QA flags; the
reader role still sees none of accounts, keys or the log (``locator.db.roles``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from locator.db import roles

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_ROLES = ("editor", "agency_admin", "platform_admin")
OLD_ROLES = ("agency_editor", "agency_admin", "analyst", "admin")


def _check(values: tuple[str, ...]) -> str:
    return "role IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.drop_constraint("account_role_check", "account", type_="check")
    op.execute("UPDATE account SET role = 'editor' WHERE role = 'agency_editor'")
    op.execute("UPDATE account SET role = 'platform_admin' WHERE role IN ('admin', 'analyst')")
    op.create_check_constraint("account_role_check", "account", _check(NEW_ROLES))
    op.create_index("ix_api_key_account", "api_key", ["account_id"])
    op.create_index("ix_change_changed_at", "change", ["changed_at"])
    roles.grant(op.get_bind())


def downgrade() -> None:
    for table, _ in roles.API_WRITES.items():
        op.execute(f"REVOKE INSERT, UPDATE, DELETE ON {table} FROM {roles.API_ROLE}")
    op.execute(f"REVOKE SELECT ON account, api_key, change FROM {roles.API_ROLE}")
    op.drop_index("ix_change_changed_at", "change")
    op.drop_index("ix_api_key_account", "api_key")
    op.drop_constraint("account_role_check", "account", type_="check")
    op.execute("UPDATE account SET role = 'agency_editor' WHERE role = 'editor'")
    op.execute("UPDATE account SET role = 'admin' WHERE role = 'platform_admin'")
    op.create_check_constraint("account_role_check", "account", _check(OLD_ROLES))
