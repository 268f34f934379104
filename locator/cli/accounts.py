"""`locator accounts ...`: agency accounts and their API keys (the agencies' door)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from locator.cli.common import console, friendly, migrated_engine

if TYPE_CHECKING:
    from locator.agencies.accounts import IssuedKey

accounts_app = typer.Typer(
    help="Agency accounts and their API keys (the agencies' door).", no_args_is_help=True
)

# the accounts pull in the ORM (half a second): each command imports them when it runs,
# so that `locator --help` does not wait for them


def _print_key(issued: IssuedKey, what: str) -> None:
    a = issued.account
    console.print(
        f"{what} {a.username} ({a.role}{', ' + a.agency_code if a.agency_code else ''}). "
        "Its API key, shown this once (keep it secret; only its hash is stored):",
        highlight=False,
    )
    print(issued.key)


@accounts_app.command("create")
@friendly
def accounts_create(
    username: Annotated[str, typer.Argument(help="One person's login, e.g. somchai.k@dopa.")],
    role: Annotated[str, typer.Option(help="editor, agency_admin or platform_admin.")] = "editor",
    agency: Annotated[
        str | None, typer.Option(help="The agency's code (none for a platform admin).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """A new account and its first API key (printed once)."""
    from locator.agencies import accounts

    engine = migrated_engine()
    with engine.begin() as conn:
        issued = accounts.create(conn, username, agency, role, name)
    _print_key(issued, "created")


@accounts_app.command("list")
@friendly
def accounts_list(
    agency: Annotated[str | None, typer.Option(help="Only this agency's accounts.")] = None,
) -> None:
    """Every account: agency, role, whether active, live keys, last use."""
    from locator.agencies import accounts

    engine = migrated_engine()
    with engine.connect() as conn:
        rows = accounts.list_accounts(conn, agency)
    table = Table("username", "agency", "role", "active", "live keys", "last used")
    for r in rows:
        last = r["last_used_at"].strftime("%Y-%m-%d %H:%M") if r["last_used_at"] else "never"
        table.add_row(r["username"], r["agency"] or "-", r["role"], "yes" if r["active"] else "no",
                      str(r["live_keys"]), last)  # fmt: skip
    console.print(table)


@accounts_app.command("revoke")
@friendly
def accounts_revoke(username: Annotated[str, typer.Argument()]) -> None:
    """The account and all its keys stop working at once (kept for the change log)."""
    from locator.agencies import accounts

    engine = migrated_engine()
    with engine.begin() as conn:
        account = accounts.revoke(conn, username)
    console.print(f"revoked {account.username} and its keys", highlight=False)


@accounts_app.command("rotate")
@friendly
def accounts_rotate(username: Annotated[str, typer.Argument()]) -> None:
    """A new API key for the account (printed once); its old keys stop working."""
    from locator.agencies import accounts

    engine = migrated_engine()
    with engine.begin() as conn:
        issued = accounts.rotate(conn, username)
    _print_key(issued, "rotated the key of")
