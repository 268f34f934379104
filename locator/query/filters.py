"""The one read model: which service points a request means, and that as SQL.

Nearest, name search, the OGC items and (later) coverage and maps all select points
through ``PointFilter``: one declaration of the filters (FastAPI reads it as the query
parameters of every door), one translation to SQL (``conditions``), one rule for status
(active points unless ``status`` says otherwise), for agencies (an agency includes its
sub-agencies) and for no-copy (for the requested service, or else for every offering).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from locator.db.engine import Executor
from locator.errors import InvalidInput
from locator.registry.agency_tree import subtree_ids
from locator.registry.fields import CODE, Moment
from locator.registry.hours import BANGKOK

Status = Literal["active", "temporarily_closed", "closed", "any"]


class PointFilter(BaseModel):
    """Filters every door shares. Unknown parameters are refused: a typo in a filter's
    name must not silently answer unfiltered results."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str | None = Field(
        default=None,
        pattern=CODE,
        max_length=64,
        description="only points offering this service (a catalogue code)",
    )
    no_copy: bool | None = Field(
        default=None,
        description="true: only where no photocopies are needed (for `service`, or for every "
        "offering of the point when no service is given); false: the opposite",
    )
    agency: str | None = Field(
        default=None,
        pattern=CODE,
        max_length=64,
        description="only points of this agency or of any agency below it",
    )
    kind: str | None = Field(
        default=None, pattern=CODE, max_length=64, description="point kind, e.g. land_office"
    )
    status: Status = Field(default="active", description="operating status; `any` for every point")
    open_now: bool | None = Field(
        default=None, description="open at `at` (default: now), Asia/Bangkok"
    )
    at: Moment | None = Field(
        default=None, description="ISO 8601 time for `open_now` (no offset: Bangkok time)"
    )
    wheelchair: bool | None = Field(default=None, description="step-free access")
    priority_lane: bool | None = Field(
        default=None, description="priority lane for the elderly and disabled"
    )
    gecc: bool | None = Field(default=None, description="GECC-certified office")

    def moment(self) -> dt.datetime:
        """The time "open" is judged at: ``at`` (naive = Bangkok time) or now, in UTC
        (the database then never meets an offset it does not know)."""
        if self.at is None:
            return dt.datetime.now(dt.UTC)
        at = self.at.replace(tzinfo=BANGKOK) if self.at.tzinfo is None else self.at
        return at.astimezone(dt.UTC)


@dataclass
class Conditions:
    """SQL over ``p`` (service_point) and, with a service, ``o`` (its offering)."""

    source: str
    """FROM: the points, or with a service its offerings joined to their points."""
    geog: str
    """Where the position is: ``o.geog`` with a service (the composite GiST index
    (service_code, geog) answers both at once), else ``p.geog``."""
    where: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def sql(self) -> str:
        return " AND ".join(self.where) if self.where else "TRUE"

    @property
    def offering(self) -> bool:
        return self.geog == "o.geog"

    @property
    def hours(self) -> str:
        """The hours "open" is judged by: with a service, the offering's own where it has
        them (a hospital's outpatient services), else the point's."""
        return "coalesce(o.opening_hours, p.opening_hours)" if self.offering else "p.opening_hours"


NO_COPY_POINT = (
    "NOT EXISTS (SELECT 1 FROM offering x WHERE x.point_id = p.id "
    "AND cardinality(x.copies_required) > 0)"
)
"""A point that asks for no photocopy for any of its services."""


def conditions(f: PointFilter) -> Conditions:
    """The filters as SQL: every door's WHERE clause comes from here."""
    if f.service is not None:
        c = Conditions("offering o JOIN service_point p ON p.id = o.point_id", "o.geog")
        c.where.append("o.service_code = :service")
        c.params["service"] = f.service
        if f.no_copy is not None:
            c.where.append("cardinality(o.copies_required) " + ("= 0" if f.no_copy else "> 0"))
    else:
        c = Conditions("service_point p", "p.geog")
        if f.no_copy is not None:
            c.where.append(NO_COPY_POINT if f.no_copy else f"NOT {NO_COPY_POINT}")
    if f.status != "any":
        c.where.append("p.status = :status")
        c.params["status"] = f.status
    if f.kind is not None:
        c.where.append("p.kind = :kind")
        c.params["kind"] = f.kind
    if f.agency is not None:
        # the agency itself or any agency below it (a ministry finds all its offices)
        c.where.append(f"p.agency_id IN ({subtree_ids('code = :agency')})")
        c.params["agency"] = f.agency
    for flag in ("wheelchair", "priority_lane", "gecc"):
        value = getattr(f, flag)
        if value is not None:
            c.where.append(f"p.{flag} = :{flag}")
            c.params[flag] = value
    if f.open_now is not None:
        c.where.append(("" if f.open_now else "NOT ") + f"locator_is_open({c.hours}, :at)")
    c.params["at"] = f.moment()  # also for the answer's own open_now
    return c


def check_codes(db: Executor, f: PointFilter) -> None:
    """An unknown code is a mistake to name, not an empty answer (422 on every door)."""
    if f.service is not None and not _exists(
        db, "SELECT 1 FROM service WHERE code = :v", f.service
    ):
        raise InvalidInput(
            f"service: unknown service code {f.service!r}; the catalogue lists the codes",
            parameter="service",
        )
    if f.agency is not None and not _exists(db, "SELECT 1 FROM agency WHERE code = :v", f.agency):
        raise InvalidInput(f"agency: unknown agency code {f.agency!r}", parameter="agency")
    if f.kind is not None and not _exists(
        db, "SELECT 1 FROM service_point WHERE kind = :v LIMIT 1", f.kind
    ):
        kinds = db.execute(text("SELECT DISTINCT kind FROM service_point ORDER BY 1")).scalars()
        raise InvalidInput(
            f"kind: no service point has kind {f.kind!r}; the kinds are: {', '.join(kinds)}",
            parameter="kind",
        )


def _exists(db: Executor, statement: str, value: str) -> bool:
    return db.execute(text(statement), {"v": value}).first() is not None
