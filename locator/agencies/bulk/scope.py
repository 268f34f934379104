"""Which agencies an import or export reaches: the agency named and every agency below
it, and whether the caller may act for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from locator.agencies.accounts import Account
from locator.db.engine import Executor
from locator.errors import NotFound
from locator.registry.agency_tree import ancestry_cte, subtree_cte


@dataclass
class AgencyScope:
    """An agency and those below it: the points an import or export may touch."""

    agency_id: int
    code: str
    codes: dict[str, int]  # code -> id, every agency in scope
    ancestors: dict[int, set[str]]  # agency id -> its own code and every code above it


def agency_scope(db: Executor, code: str) -> AgencyScope:
    """The agency ``code`` names with those below it, and each one's ancestors (whose
    kinds of point it may pin); NotFound for an unknown code."""
    rows = db.execute(
        text(
            f"""
            WITH RECURSIVE {subtree_cte("code = :code", "down")},
            {ancestry_cte("SELECT id FROM down", "up")}
            SELECT d.id, d.code, array_agg(DISTINCT up.code) AS above
            FROM down d JOIN up ON up.start = d.id GROUP BY d.id, d.code
            """
        ),
        {"code": code},
    ).all()
    if not rows:
        raise NotFound(
            f"no agency {code!r}: a code such as dopa (a department), dopa_50 (its office in "
            "one province) or rtp"
        )
    codes = {r.code: int(r.id) for r in rows}
    return AgencyScope(codes[code], code, codes, {int(r.id): set(r.above) for r in rows})


def check_acts_for(db: Executor, account: Account, code: str) -> None:
    """An account acts for its own agency and those below it (a platform admin for any);
    another agency is not found, as its points are not."""
    if account.is_platform_admin:
        agency_scope(db, code)  # 404 for an unknown code
        return
    ours = agency_scope(db, account.agency_code or "")
    if code not in ours.codes:
        raise NotFound(f"no agency {code!r} of yours: you act for {account.agency_code} "
                       "and the agencies below it")  # fmt: skip
