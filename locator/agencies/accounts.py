"""Accounts and API keys: one account per person, in one agency, with a role.

The registry this imitates was pinned with one shared login per agency, so nobody knew
who moved a pin. Here every write names its account. A key is shown once, when it is
made; only its SHA-256 is kept (the keys are 256 random bits, so a slow password hash
would add nothing but latency to every write), found by its public prefix and compared
in constant time. Revoking an account revokes its keys; rotating replaces them.

Key format: ``lk_<prefix>_<secret>``, the prefix 10 lowercase base-32 characters, the
secret 43 URL-safe characters.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import Conflict, InvalidInput, NotFound, Unauthorized
from locator.registry.models import ROLES

KEY_PATTERN = re.compile(r"^lk_([a-z2-7]{10})_([A-Za-z0-9_-]{43})$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{2,63}$")
# a key's last use is written at most this often, so a busy key is not a write per request
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Account:
    """Who is calling: what a write is scoped to and recorded as."""

    id: int
    username: str
    role: str
    agency_id: int | None
    agency_code: str | None

    @property
    def is_platform_admin(self) -> bool:
        return self.role == "platform_admin"


@dataclass(frozen=True)
class IssuedKey:
    account: Account
    key: str  # shown once


def _new_key() -> tuple[str, str]:
    prefix = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:10]
    return prefix, f"lk_{prefix}_{secrets.token_urlsafe(32)}"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _account(conn: Executor, where: str, params: dict[str, Any]) -> Account | None:
    row = conn.execute(
        text(
            "SELECT a.id, a.username, a.role, a.agency_id, g.code AS agency_code "
            f"FROM account a LEFT JOIN agency g ON g.id = a.agency_id WHERE {where}"
        ),
        params,
    ).first()
    if row is None:
        return None
    return Account(row.id, row.username, row.role, row.agency_id, row.agency_code)


def _issue(conn: Executor, account: Account, label: str | None) -> IssuedKey:
    prefix, key = _new_key()
    conn.execute(
        text(
            "INSERT INTO api_key (account_id, prefix, key_hash, label) "
            "VALUES (:account, :prefix, :hash, :label)"
        ),
        {"account": account.id, "prefix": prefix, "hash": _hash(key), "label": label},
    )
    return IssuedKey(account, key)


def create(
    conn: Executor,
    username: str,
    agency_code: str | None,
    role: str,
    display_name: str | None = None,
) -> IssuedKey:
    """A new account and its first key. A platform admin belongs to no agency; everyone
    else to exactly one."""
    if not USERNAME.match(username):
        raise InvalidInput(
            f"username {username!r}: 3-64 characters of a-z, 0-9, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    if role not in ROLES:
        raise InvalidInput(f"role {role!r}: one of {', '.join(ROLES)}")
    agency_id = None
    if role == "platform_admin":
        if agency_code:
            raise InvalidInput("a platform admin belongs to no agency: leave --agency out")
    else:
        if not agency_code:
            raise InvalidInput(f"a {role} belongs to one agency: give --agency CODE")
        agency_id = conn.execute(
            text("SELECT id FROM agency WHERE code = :code"), {"code": agency_code}
        ).scalar()
        if agency_id is None:
            raise NotFound(f"no agency {agency_code!r} (see the agency codes in data/)")
    taken = conn.execute(text("SELECT 1 FROM account WHERE username = :u"), {"u": username}).first()
    if taken:
        raise Conflict(f"an account {username!r} exists already: rotate its key instead")
    new_id = conn.execute(
        text(
            "INSERT INTO account (username, display_name, agency_id, role) "
            "VALUES (:u, :d, :a, :r) RETURNING id"
        ),
        {"u": username, "d": display_name, "a": agency_id, "r": role},
    ).scalar_one()
    account = Account(new_id, username, role, agency_id, agency_code)
    return _issue(conn, account, "first key")


def find_active(conn: Executor, username: str) -> Account | None:
    """The account of that username if it is active, else None."""
    return _account(conn, "a.username = :u AND a.active", {"u": username})


def _active(conn: Executor, username: str) -> Account:
    account = find_active(conn, username)
    if account is None:
        raise NotFound(f"no active account {username!r}")
    return account


def rotate(conn: Executor, username: str) -> IssuedKey:
    """A new key for the account; its old keys stop working at once."""
    account = _active(conn, username)
    conn.execute(
        text("UPDATE api_key SET revoked_at = now() WHERE account_id = :id AND revoked_at IS NULL"),
        {"id": account.id},
    )
    return _issue(conn, account, "rotated")


def revoke(conn: Executor, username: str) -> Account:
    """The account can no longer sign in: it and every key of it are revoked (kept, so
    the change log still names who did what)."""
    account = _active(conn, username)
    conn.execute(text("UPDATE account SET active = false WHERE id = :id"), {"id": account.id})
    conn.execute(
        text("UPDATE api_key SET revoked_at = now() WHERE account_id = :id AND revoked_at IS NULL"),
        {"id": account.id},
    )
    return account


def list_accounts(conn: Executor, agency_code: str | None = None) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            """
            SELECT a.username, a.display_name, a.role, g.code AS agency, a.active,
                   a.created_at,
                   count(k.id) FILTER (WHERE k.revoked_at IS NULL) AS live_keys,
                   max(k.last_used_at) AS last_used_at
            FROM account a
            LEFT JOIN agency g ON g.id = a.agency_id
            LEFT JOIN api_key k ON k.account_id = a.id
            WHERE CAST(:agency AS text) IS NULL OR g.code = :agency
            GROUP BY a.id, g.code ORDER BY g.code NULLS FIRST, a.username
            """
        ),
        {"agency": agency_code},
    )
    return [dict(r._mapping) for r in rows]


def authenticate(conn: Executor, key: str | None) -> Account:
    """The account behind a bearer key, or Unauthorized saying what is wrong with it."""
    if not key:
        raise Unauthorized("this needs an API key: send Authorization: Bearer <key>")
    match = KEY_PATTERN.match(key)
    if match is None:
        raise Unauthorized("that is not a locator API key (lk_<prefix>_<secret>)")
    row = conn.execute(
        text(
            "SELECT k.id, k.key_hash, k.revoked_at, k.last_used_at, a.active, a.id AS account_id "
            "FROM api_key k JOIN account a ON a.id = k.account_id WHERE k.prefix = :prefix"
        ),
        {"prefix": match.group(1)},
    ).first()
    # the same comparison whether or not the prefix exists, so timing tells nothing
    stored = row.key_hash if row is not None else _hash("lk_" + "a" * 10 + "_" + "a" * 43)
    if not hmac.compare_digest(stored, _hash(key)) or row is None:
        raise Unauthorized("unknown API key")
    if row.revoked_at is not None or not row.active:
        raise Unauthorized("this API key was revoked: ask your agency admin for a new one")
    now = dt.datetime.now(dt.UTC)
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        conn.execute(text("UPDATE api_key SET last_used_at = now() WHERE id = :id"), {"id": row.id})
    account = _account(conn, "a.id = :id", {"id": row.account_id})
    assert account is not None
    return account


def agency_of(conn: Executor, account: Account) -> dict[str, Any] | None:
    """The agency the account acts for, by code and names (None: a platform admin acts
    for none)."""
    if account.agency_id is None:
        return None
    row = conn.execute(
        text("SELECT code, name_th, name_en FROM agency WHERE id = :id"),
        {"id": account.agency_id},
    ).one()
    return dict(row._mapping)
