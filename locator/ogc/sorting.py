"""``sortby`` (the OGC API Features Part 8 draft): sortables in order, as ORDER BY."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from locator.errors import InvalidInput
from locator.ogc.queryables import QUERYABLES

AGENCY_CODE = "(SELECT ag.code FROM agency ag WHERE ag.id = p.agency_id)"
"""The point's agency code as a value, for ordering (filters test the agency table)."""


@dataclass(frozen=True)
class SortKey:
    name: str
    descending: bool = False


def parse_sortby(value: str | None) -> tuple[SortKey, ...]:
    """``name_en,-id``: sortables, each at most once, ``-`` for descending (``+`` or
    nothing for ascending; a ``+`` left unencoded in a URL arrives as a space)."""
    if value is None:
        return ()
    keys: list[SortKey] = []
    for raw in value.split(","):
        item = raw.strip()
        descending = item.startswith("-")
        name = item[1:].strip() if item[:1] in "+-" and item else item
        q = QUERYABLES.get(name)
        if q is None or not q.sortable:
            sortable = ", ".join(q.name for q in QUERYABLES.values() if q.sortable)
            raise InvalidInput(
                f"sortby: {name or raw!r} is not sortable; give comma-separated names, "
                f"'-' before one for descending order, from: {sortable}",
                parameter="sortby",
            )
        if any(k.name == name for k in keys):
            raise InvalidInput(f"sortby: {name} is given twice", parameter="sortby")
        keys.append(SortKey(name, descending))
    return tuple(keys)


def order_by(keys: Iterable[SortKey]) -> str:
    """ORDER BY over ``p``: the keys, then the id, so a page boundary never splits ties
    differently from one request to the next."""
    terms = []
    has_id = False
    for key in keys:
        has_id = has_id or key.name == "id"
        expression = AGENCY_CODE if key.name == "agency" else f"p.{key.name}"
        terms.append(expression + (" DESC" if key.descending else ""))
    if not has_id:
        terms.append("p.id")
    return ", ".join(terms)
