"""Fuzz the whole API at scale: schemathesis, in process, over every operation of the
OpenAPI document, against the real app over a scratch copy of the registry.

    .venv/bin/python -m bench.fuzz --examples 1000

The same configuration and checks as ``tests/api/test_fuzz.py`` (both take them from
``tests/support/fuzz.py``; the test runs 30 cases per operation), here at ``--examples``
fuzzed cases per operation, after schemathesis' explicit-example and coverage phases.
Unlike the test, nothing is rolled back: ratings are committed to the scratch database,
so the abuse limit's 429 is reached too. The database is dropped at the end.

Prints, per operation, the cases run, how many were answered below 400 (proof that the
dictionaries get past the lookups), how many 503s (allowed with Retry-After, but on an
idle box a sign of a query that outran its timeout), and the cases failing each kind of
check; then every distinct failure and the first 503 of each operation, each with a
request that reproduces it. Exits 1 on any failure or error.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import schemathesis
from schemathesis.engine import events
from schemathesis.engine import from_schema as fuzz_engine
from schemathesis.engine.recorder import ScenarioRecorder
from sqlalchemy import Engine, text

from bench.common import scratch_database
from locator.api import create_app
from locator.ingest.registry import load_registry
from locator.settings import get_settings

# the tests' API helpers import Starlette's TestClient, which warns about httpx on import
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
from tests.support.fuzz import (  # noqa: E402
    SEED,
    AsServed,
    FuzzValues,
    fuzz_config,
    openapi_document,
)

# Which check failing puts a case in which column.
COLUMNS = {
    "not_a_server_error": "server errors",
    "unavailable_says_when_to_retry": "server errors",
    "response_schema_conformance": "schema violations",
    "response_headers_conformance": "schema violations",
    "status_code_conformance": "undocumented statuses",
    "content_type_conformance": "content type",
}
OTHER = "other"  # negative data accepted, an undeclared method answered, ...
HEADERS = ["server errors", "schema violations", "undocumented statuses", "content type", OTHER]
SAMPLE = 60  # real ids and codes per dictionary, spread over the registry
T = TypeVar("T")
FailureKey = tuple[str, str, str, int]  # operation, check, failure title, status


@dataclass
class OperationTally:
    """What happened to one operation, over every phase."""

    cases: int = 0
    ok: int = 0
    unavailable: int = 0
    failing: Counter[str] = field(default_factory=Counter)


@dataclass
class Example:
    """The first request that showed something, and how often it recurred."""

    reproduction: str
    body: str
    message: str = ""
    count: int = 0


@dataclass
class Findings:
    tallies: dict[str, OperationTally] = field(default_factory=lambda: defaultdict(OperationTally))
    failures: dict[FailureKey, Example] = field(default_factory=dict)
    unavailable: dict[str, Example] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def sample(values: Sequence[T], head: int = 20, spread: int = SAMPLE) -> list[T]:
    """The first few (the catalogue's own rows: ministries, real offices) and an even
    spread over the rest (generated points, local units), so every kind of row is met."""
    step = max(1, len(values) // spread)
    return list(values[:head]) + list(values[head::step])


def registry_values(engine: Engine) -> FuzzValues:
    """Real ids and codes from the scratch registry, spread over all of it."""
    with engine.connect() as conn:

        def column(sql: str) -> list[str]:
            return list(conn.execute(text(sql)).scalars())

        return FuzzValues(
            point_ids=sample(
                conn.execute(text("SELECT id FROM service_point ORDER BY id")).scalars().all()
            ),
            service_codes=column("SELECT code FROM service ORDER BY code"),
            kinds=column("SELECT DISTINCT kind FROM service_point ORDER BY kind"),
            agencies=sample(column("SELECT code FROM agency ORDER BY id")),
            categories=column("SELECT DISTINCT category FROM service ORDER BY category"),
        )


def run(examples: int, seed: int) -> int:
    settings = get_settings()
    with scratch_database("locator_fuzz") as engine:
        started = time.perf_counter()
        load_registry(
            engine, settings.data_dir, settings.catalogue_dir, seed=settings.registry_seed
        )
        print(f"scratch registry loaded in {time.perf_counter() - started:.0f} s", flush=True)
        schema = schemathesis.openapi.from_dict(
            openapi_document(), config=fuzz_config(examples, registry_values(engine), seed)
        )
        schema.app = AsServed(
            create_app(owner_url=engine.url.render_as_string(hide_password=False))
        )
        started = time.perf_counter()
        findings = fuzz(schema)
        print_table(findings.tallies, examples, time.perf_counter() - started)
        print_findings(findings)
    failed = sum(sum(t.failing.values()) for t in findings.tallies.values())
    return 1 if failed or findings.errors else 0


def fuzz(schema: schemathesis.BaseSchema) -> Findings:
    """Every phase over every operation, as ``schemathesis run`` would, tallied per case."""
    findings = Findings()
    for event in fuzz_engine(schema).execute():
        if isinstance(event, events.NonFatalError):
            findings.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            findings.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.ScenarioFinished):
            tally(event.recorder, findings)
            print(
                f"  {event.phase.value:<9} {event.recorder.label:<52} "
                f"{len(event.recorder.cases):>6} cases {event.elapsed_time:6.1f} s",
                flush=True,
            )
    return findings


def tally(recorder: ScenarioRecorder, findings: Findings) -> None:
    label = recorder.label
    operation = findings.tallies[label]
    for case_id, node in recorder.cases.items():
        interaction = recorder.interactions.get(case_id)
        if interaction is None or interaction.response is None:
            continue  # never sent (a coverage scenario that was skipped)
        response = interaction.response
        body = response.content[:400].decode(errors="replace")
        operation.cases += 1
        if response.status_code < 400:
            operation.ok += 1
        elif response.status_code == 503:
            operation.unavailable += 1
            findings.unavailable.setdefault(label, Example(node.value.as_curl_command(), body))
        columns = set()
        for check in recorder.checks.get(case_id, []):
            if check.failure_info is None:
                continue
            columns.add(COLUMNS.get(check.name, OTHER))
            failure = check.failure_info.failure
            key = (label, check.name, failure.title, response.status_code)
            example = findings.failures.setdefault(
                key, Example(check.failure_info.code_sample, body, failure.message)
            )
            example.count += 1
        operation.failing.update(columns)


def print_table(tallies: dict[str, OperationTally], examples: int, elapsed: float) -> None:
    width = max((len(label) for label in tallies), default=10)
    print(f"\n{examples} fuzzed cases per operation (plus examples and coverage), {elapsed:.0f} s")
    print("(an operation without parameters has one distinct request: it runs once)\n")
    print(f"{'operation':<{width}}  {'cases':>6}  {'<400':>6}  {'503':>5}  " + "  ".join(HEADERS))
    total = OperationTally()
    for label in sorted(tallies):
        operation = tallies[label]
        total.cases += operation.cases
        total.ok += operation.ok
        total.unavailable += operation.unavailable
        total.failing.update(operation.failing)
        print(row(label, operation, width))
    print(row("total", total, width))


def row(label: str, operation: OperationTally, width: int) -> str:
    cells = "  ".join(f"{operation.failing[h]:>{len(h)}}" for h in HEADERS)
    return (
        f"{label:<{width}}  {operation.cases:>6}  {operation.ok:>6}  "
        f"{operation.unavailable:>5}  {cells}"
    )


def print_findings(findings: Findings) -> None:
    if findings.unavailable:
        print("\n503 answers (allowed with Retry-After; the first of each operation):")
        for label, example in sorted(findings.unavailable.items()):
            print(f"\n- {label}\n  reproduce: {example.reproduction}\n  response: {example.body}")
    if not findings.failures and not findings.errors:
        print("\nno failures")
        return
    print(f"\n{len(findings.failures)} distinct failures (operation, check, status):")
    for (label, check, title, status), example in sorted(findings.failures.items()):
        print(f"\n- {label}: {check} ({title}), status {status}, {example.count} cases")
        print("  " + example.message.replace("\n", "\n  "))
        print(f"  reproduce: {example.reproduction}")
        print(f"  response: {example.body}")
    for error in findings.errors:
        print(f"\nerror: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz the whole API with schemathesis.")
    parser.add_argument(
        "--examples", type=int, default=1000, help="fuzzed cases per operation (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"generation seed ({SEED})")
    args = parser.parse_args(argv)
    return run(args.examples, args.seed)


if __name__ == "__main__":
    sys.exit(main())
