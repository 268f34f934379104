"""The hand-written catalogue in ``data/``: document types, agencies, services, point kinds.

Each YAML file is validated into pydantic models on read, and cross-references (a
service's documents, a kind's services and agency) are checked, so a typo in the data
is a clear error naming the file and the entry, not a foreign-key failure later.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field
from sqlalchemy import Connection, text

from locator.errors import ConfigurationError
from locator.registry.data_files import Strict, read_document, read_entries
from locator.registry.kinds import KINDS_FILE, PointKindIn, read_point_kinds

Category = Literal[
    "civil_registration",
    "identity_documents",
    "land",
    "construction",
    "business",
    "transport",
    "health",
    "social_welfare",
    "employment",
    "police_justice",
    "tax",
    "postal",
    "local_services",
]
CATEGORIES: tuple[str, ...] = get_args(Category)


class DocumentTypeIn(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_th: str
    name_en: str
    issued_by_government: bool = False


class AgencyIn(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_th: str
    name_en: str
    children: list[AgencyIn] = Field(default_factory=list)


class StepIn(Strict):
    th: str
    en: str
    minutes: int | None = Field(default=None, ge=0)


class RequiredDocumentIn(Strict):
    code: str
    original: bool = True
    note_th: str | None = None
    note_en: str | None = None


class ServiceIn(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_th: str
    name_en: str
    category: Category
    agency: str
    description_th: str | None = None
    description_en: str | None = None
    steps: list[StepIn] = Field(min_length=1)
    processing_minutes: int | None = Field(default=None, ge=0)
    fee_thb: Decimal | None = Field(default=None, ge=0)
    fee_note_th: str | None = None
    fee_note_en: str | None = None
    documents: list[RequiredDocumentIn] = Field(default_factory=list)
    link: str | None = None


# Units from the largest to the smallest: an office's `extra` unit is finer than its own.
UNIT_ORDER = ("province", "district", "tambon", "village")


class ExtraIn(Strict):
    """Where a kind's offices beyond one per unit go, and what they are called."""

    per: Literal["district", "tambon", "village"]
    name_th: str
    name_en: str


class BangkokIn(Strict):
    """Bangkok's own offices of a kind that exists everywhere (area offices, khets)."""

    count: int = Field(ge=1)
    per: Literal["province", "district", "tambon"]
    name_th: str
    name_en: str
    extra: ExtraIn | None = None


class KindRuleIn(Strict):
    """How many offices of a generated kind exist, where, and their names
    (data/generation.yaml explains each field)."""

    kind: str
    count: int = Field(ge=1)
    source: str = Field(min_length=10)
    approximate: bool = False
    per: Literal["province", "district", "tambon", "village", "listed"]
    where: Literal["everywhere", "outside_bangkok", "bangkok"]
    provinces: list[str] = Field(default_factory=list)
    name_th: str
    name_en: str
    extra: ExtraIn | None = None
    bangkok: BangkokIn | None = None
    skip_units_with: str | None = None


class DistanceIn(Strict):
    median_m: float = Field(gt=0)
    sigma: float = Field(ge=0)
    max_m: float = Field(gt=0)


class PlacementIn(Strict):
    round_decimals: int = Field(ge=4, le=8)
    min_spacing_m: float = Field(ge=0)
    province: DistanceIn
    district: DistanceIn
    tambon: DistanceIn


class GenerationIn(Strict):
    placement: PlacementIn
    kinds: list[KindRuleIn]

    def rule(self, kind: str) -> KindRuleIn:
        for r in self.kinds:
            if r.kind == kind:
                return r
        raise KeyError(kind)


class AdoptionIn(Strict):
    still_copies: float = Field(ge=0, le=1)
    waves: list[dt.date] = Field(min_length=1)


class NoCopyModelIn(Strict):
    """The synthetic No-Copy adoption model (data/no_copy.yaml says why each part)."""

    policy_start: dt.date
    policy_last: dt.date
    wave_days: int = Field(ge=0)
    province_sd: float = Field(ge=0)
    gecc_factor: float = Field(ge=0, le=1)
    default: AdoptionIn
    agencies: dict[str, AdoptionIn]
    never_copy: dict[str, list[str]]

    def adoption(self, agency: str) -> AdoptionIn:
        return self.agencies.get(agency, self.default)


@dataclass(frozen=True)
class Catalogue:
    document_types: list[DocumentTypeIn]
    agencies: list[AgencyIn]
    services: list[ServiceIn]
    kinds: list[PointKindIn]
    no_copy: NoCopyModelIn
    generation: GenerationIn

    def departments(self) -> Iterator[tuple[AgencyIn, AgencyIn | None]]:
        """Every agency with its parent, parents first."""

        def walk(
            node: AgencyIn, parent: AgencyIn | None
        ) -> Iterator[tuple[AgencyIn, AgencyIn | None]]:
            yield node, parent
            for child in node.children:
                yield from walk(child, node)

        for top in self.agencies:
            yield from walk(top, None)

    def kind(self, name: str) -> PointKindIn:
        for k in self.kinds:
            if k.kind == name:
                return k
        raise KeyError(name)

    def service(self, code: str) -> ServiceIn:
        for s in self.services:
            if s.code == code:
                return s
        raise KeyError(code)


FILES = {
    "document_types": "document_types.yaml",
    "agencies": "agencies.yaml",
    "services": "services.yaml",
    "kinds": KINDS_FILE,
    "no_copy": "no_copy.yaml",
    "generation": "generation.yaml",
}


def _check_references(cat: Catalogue) -> None:
    problems: list[str] = []
    docs = {d.code for d in cat.document_types}
    agencies = [a.code for a, _ in cat.departments()]
    if len(agencies) != len(set(agencies)):
        problems.append("agencies.yaml: duplicate agency codes")
    services = {s.code for s in cat.services}
    if len(services) != len(cat.services):
        problems.append("services.yaml: duplicate service codes")
    for s in cat.services:
        problems += [
            f"services.yaml {s.code}: unknown document {d.code}"
            for d in s.documents
            if d.code not in docs
        ]
        if s.agency not in agencies:
            problems.append(f"services.yaml {s.code}: unknown agency {s.agency}")
    offered: set[str] = set()
    for k in cat.kinds:
        if k.agency not in agencies:
            problems.append(f"point_kinds.yaml {k.kind}: unknown agency {k.agency}")
        problems += [
            f"point_kinds.yaml {k.kind}: unknown service {c}"
            for c in k.services
            if c not in services
        ]
        offered |= set(k.services)
        if k.source == "real" and not k.office_types:
            problems.append(f"point_kinds.yaml {k.kind}: a real kind needs office_types")
    problems += _check_generation(cat)
    problems += [
        f"no_copy.yaml: unknown agency {code}"
        for code in cat.no_copy.agencies
        if code not in agencies
    ]
    for service, never in cat.no_copy.never_copy.items():
        if service not in services:
            problems.append(f"no_copy.yaml never_copy: unknown service {service}")
        problems += [
            f"no_copy.yaml never_copy {service}: unknown document {d}"
            for d in never
            if d not in docs
        ]
    unoffered = sorted(services - offered)
    if unoffered:
        problems.append(f"services offered by no kind: {', '.join(unoffered)}")
    if problems:
        raise ConfigurationError("catalogue problems:\n  " + "\n  ".join(problems))


def _check_generation(cat: Catalogue) -> list[str]:
    problems: list[str] = []
    generated = [k.kind for k in cat.kinds if k.source == "generated"]
    ruled = [r.kind for r in cat.generation.kinds]
    problems += [
        f"generation.yaml: no rule for the generated kind {k}" for k in generated if k not in ruled
    ]
    problems += [
        f"generation.yaml: {k} is not a generated kind of point_kinds.yaml"
        for k in ruled
        if k not in generated
    ]
    problems += [f"generation.yaml: {k} has two rules" for k in set(ruled) if ruled.count(k) > 1]
    for i, r in enumerate(cat.generation.kinds):
        where = f"generation.yaml {r.kind}"
        if r.per == "listed" and not r.provinces:
            problems.append(f"{where}: per: listed needs provinces")
        if r.per != "listed" and r.provinces:
            problems.append(f"{where}: provinces are only for per: listed")
        if r.bangkok and r.where != "everywhere":
            problems.append(f"{where}: a bangkok block needs where: everywhere")
        if r.skip_units_with and r.skip_units_with not in ruled[:i]:
            problems.append(
                f"{where}: skip_units_with {r.skip_units_with} must be a kind ruled above it"
            )
        own = "province" if r.per == "listed" else r.per
        for extra, base in (
            (r.extra, own),
            (r.bangkok.extra if r.bangkok else None, r.bangkok.per if r.bangkok else own),
        ):
            if extra and UNIT_ORDER.index(extra.per) <= UNIT_ORDER.index(base):
                problems.append(f"{where}: extra.per {extra.per} must be finer than {base}")
        if r.bangkok and r.bangkok.count > r.count:
            problems.append(f"{where}: bangkok.count is more than count")
    return problems


def read_catalogue(folder: Path) -> Catalogue:
    cat = Catalogue(
        document_types=read_entries(folder / FILES["document_types"], DocumentTypeIn),
        agencies=read_entries(folder / FILES["agencies"], AgencyIn),
        services=read_entries(folder / FILES["services"], ServiceIn),
        kinds=read_point_kinds(folder),
        no_copy=read_document(folder / FILES["no_copy"], NoCopyModelIn),
        generation=read_document(folder / FILES["generation"], GenerationIn),
    )
    _check_references(cat)
    return cat


def load_catalogue(conn: Connection, cat: Catalogue) -> None:
    """Upsert document types and services; a service's documents are replaced whole."""
    conn.execute(
        text(
            "INSERT INTO document_type (code, name_th, name_en, issued_by_government) "
            "VALUES (:code, :name_th, :name_en, :issued_by_government) "
            "ON CONFLICT (code) DO UPDATE SET name_th = EXCLUDED.name_th, "
            "name_en = EXCLUDED.name_en, issued_by_government = EXCLUDED.issued_by_government"
        ),
        [d.model_dump() for d in cat.document_types],
    )
    columns = [
        "code", "name_th", "name_en", "category", "agency_code", "description_th",
        "description_en", "steps", "processing_minutes", "fee_thb", "fee_note_th",
        "fee_note_en", "link",
    ]  # fmt: skip
    rows = []
    for service in cat.services:
        row = service.model_dump(exclude={"documents", "agency", "steps"})
        row["agency_code"] = service.agency
        row["steps"] = json.dumps([st.model_dump() for st in service.steps], ensure_ascii=False)
        rows.append(row)
    values = ", ".join("CAST(:steps AS jsonb)" if c == "steps" else f":{c}" for c in columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "code")
    conn.execute(
        text(
            f"INSERT INTO service ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT (code) DO UPDATE SET {updates}"
        ),
        rows,
    )
    conn.execute(
        text("DELETE FROM service_document WHERE service_code = ANY(:codes)"),
        {"codes": [s.code for s in cat.services]},
    )
    doc_rows = [
        {
            "service_code": s.code,
            "document_code": d.code,
            "position": i,
            "original": d.original,
            "note": d.note_en,
        }
        for s in cat.services
        for i, d in enumerate(s.documents)
    ]
    if doc_rows:
        conn.execute(
            text(
                "INSERT INTO service_document (service_code, document_code, position, "
                "original, note) VALUES (:service_code, :document_code, :position, "
                ":original, :note)"
            ),
            doc_rows,
        )
