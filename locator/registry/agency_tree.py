"""The agency tree: a ministry above its departments, a department above its provincial
offices, DLA above its local governments.

An agency stands for itself and every agency below it: a filter by agency finds its
offices' points, an account may write its sub-agencies' points, an import or export
reaches them. Those all walk down the tree with this one SQL, so they cannot disagree
on what "below" means. The walk up is here too: a kind of point belongs to a department,
and an agency pins the kinds of the agencies above it.
"""

from __future__ import annotations


def subtree_cte(anchor: str, name: str = "subtree") -> str:
    """A recursive CTE to follow ``WITH RECURSIVE``: ``name(id, code)``, the agency the
    SQL condition ``anchor`` picks (e.g. ``code = :agency``) and every agency below it.
    For queries that go on to use the tree; to filter by it, ``subtree_ids``."""
    return (
        f"{name}(id, code) AS ("
        f"SELECT id, code FROM agency WHERE {anchor}"
        f" UNION ALL SELECT a.id, a.code FROM agency a JOIN {name} ON a.parent_id = {name}.id)"
    )


def subtree_ids(anchor: str) -> str:
    """A subquery for ``agency_id IN (...)``: the ids of the agency ``anchor`` picks and
    of every agency below it."""
    return f"WITH RECURSIVE {subtree_cte(anchor)} SELECT id FROM subtree"


def ancestry_cte(starts: str, name: str = "ancestry") -> str:
    """A recursive CTE to follow ``WITH RECURSIVE``: ``name(start, id, parent_id, code)``,
    for each agency id the SQL ``starts`` gives (a subquery or a parameter), the agency
    itself and every agency above it, each row tagged with the agency it started from."""
    return (
        f"{name}(start, id, parent_id, code) AS ("
        f"SELECT a.id, a.id, a.parent_id, a.code FROM agency a WHERE a.id IN ({starts})"
        f" UNION ALL SELECT {name}.start, a.id, a.parent_id, a.code"
        f" FROM {name} JOIN agency a ON a.id = {name}.parent_id)"
    )
