"""Dump the database to one file and restore it exactly, with proof.

``dump`` writes a ``pg_dump`` custom-format archive and, beside it, a manifest
(``FILE.manifest.json``): the schema revision, the rows and a checksum of every table,
and the names of the indexes, triggers, constraints and functions. ``restore`` loads the
archive with ``pg_restore`` in one transaction (the schema and data arrive whole or not
at all), then, in a second one, gives the API's roles their privileges back, and
recomputes the same fingerprint: the restore is reported as verified only when every
figure matches.

Why a manifest file beside the archive rather than inside it: the archive stays a plain
``pg_dump`` file that ``pg_restore`` alone can read in an emergency, the manifest is
readable by a person or a script without PostgreSQL, and it carries the archive's
SHA-256, so a damaged archive, or an archive paired with another dump's manifest, is
refused before the database is touched.

Why the manifest and the archive come from one snapshot: the manifest is computed in a
repeatable-read transaction whose snapshot ``pg_dump`` imports (``--snapshot``), so a
rating written by the API during the dump is either in both or in neither, and the
verification never fails for a reason that is not a real difference.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, Enum, String, Table, text
from sqlalchemy.engine import make_url

from locator.db.cluster import find_pg_bin, installed_bin_dirs
from locator.db.engine import database_url, make_engine
from locator.db.migrate import alembic_config, current_revision, head_revision
from locator.db.roles import create_roles, grant
from locator.errors import (
    ConfigurationError,
    Conflict,
    DatabaseUnavailable,
    DumpFailed,
    InvalidInput,
    RestoreFailed,
    VerificationFailed,
)
from locator.ops.status import describe_url
from locator.progress import NullReporter, Reporter
from locator.registry.models import Base
from locator.settings import Settings

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1
CLIENT_HINT = (
    "install the PostgreSQL client programs (Debian: apt-get install postgresql-client-{v})"
)

# Row text depends on these session settings; fixing them makes a checksum a property of the
# data, not of the server's or the role's defaults (a target server in another time zone
# prints every timestamp differently).
_TEXT_SETTINGS = {
    "search_path": "public",  # how a function's argument types are named
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
}

# One whole-row checksum per table: every column counts, a geography through its exact
# (hex EWKB) text. Rows are hashed one by one (so a big table never becomes one huge
# string), then the hashes are hashed in primary-key order.
_TABLE_SUM = """
SELECT count(*), md5(coalesce(string_agg(md5(_row::text), '' ORDER BY {order}), ''))
FROM public."{table}" AS _row
"""

_PLURAL = {"table": "tables", "index": "indexes", "constraint": "constraints",
           "trigger": "triggers", "function": "functions"}  # fmt: skip

_OBJECTS = """
SELECT 'table', c.relname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT 'index', i.indexname FROM pg_indexes i
 WHERE i.schemaname = 'public' AND i.tablename = ANY(:tables)
UNION ALL
SELECT 'trigger', c.relname || '.' || t.tgname FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND NOT t.tgisinternal AND c.relname = ANY(:tables)
UNION ALL
SELECT 'constraint', c.relname || '.' || k.conname FROM pg_constraint k
  JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relname = ANY(:tables)
UNION ALL
SELECT 'function', p.oid::regprocedure::text FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public'
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
"""


# --- the fingerprint: what "the same data" means ------------------------------------------
@dataclass(frozen=True)
class TableSum:
    rows: int
    md5: str


@dataclass(frozen=True)
class Fingerprint:
    revision: str | None
    tables: dict[str, TableSum]
    objects: dict[str, list[str]]

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "tables": {n: {"rows": s.rows, "md5": s.md5} for n, s in self.tables.items()},
            "objects": self.objects,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(
            revision=data["revision"],
            tables={
                str(n): TableSum(rows=int(s["rows"]), md5=str(s["md5"]))
                for n, s in data["tables"].items()
            },
            objects={str(k): sorted(map(str, v)) for k, v in data["objects"].items()},
        )

    def differences(self, restored: Fingerprint) -> list[str]:
        """What the restored database has other than this (the dump's) fingerprint."""
        out: list[str] = []
        if restored.revision != self.revision:
            out.append(f"schema revision {restored.revision}, the dump's is {self.revision}")
        for name in sorted(self.tables.keys() | restored.tables.keys()):
            want, got = self.tables.get(name), restored.tables.get(name)
            if want is None:
                out.append(f"table {name} is not in the dump")
            elif got is None:
                out.append(f"table {name} is missing")
            elif got.rows != want.rows:
                out.append(f"{name} has {got.rows:,} rows, the dump {want.rows:,}")
            elif got.md5 != want.md5:
                out.append(f"{name} has the dump's {want.rows:,} rows, but other contents")
        for kind in sorted(self.objects.keys() | restored.objects.keys()):
            want_set = set(self.objects.get(kind, []))
            got_set = set(restored.objects.get(kind, []))
            kinds = _PLURAL.get(kind, kind + "s")
            if want_set - got_set:
                out.append(f"missing {kinds}: {', '.join(sorted(want_set - got_set))}")
            if got_set - want_set:
                out.append(f"{kinds} not in the dump: {', '.join(sorted(got_set - want_set))}")
        return out


def _count_objects(fp: Fingerprint) -> str:
    return ", ".join(f"{len(fp.objects.get(kind, []))} {kinds}" for kind, kinds in _PLURAL.items())


def _order(table: Table) -> str:
    """Primary-key order, byte-wise for text so the order is the same under any collation."""
    keys = [
        f'_row."{c.name}"' + (' COLLATE "C"' if isinstance(c.type, String | Enum) else "")
        for c in table.primary_key.columns
    ]
    return ", ".join(keys) or 'md5(_row::text) COLLATE "C"'


def fingerprint(conn: Connection, reporter: Reporter | None = None) -> Fingerprint:
    """The one definition of "the same database" that dump writes and restore checks.

    Runs in the caller's transaction (the dump's exported snapshot); the text settings are
    set LOCAL, so they end with it.
    """
    reporter = reporter or NullReporter()
    for name, value in _TEXT_SETTINGS.items():
        conn.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})
    present = set(
        conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
    )
    tables = [t for name, t in sorted(Base.metadata.tables.items()) if name in present]
    reporter.stage(f"Counting rows and checksums of {len(tables)} tables", total=len(tables))
    sums: dict[str, TableSum] = {}
    for table in tables:
        sql = _TABLE_SUM.format(table=table.name, order=_order(table))
        rows, md5 = conn.execute(text(sql)).one()
        sums[table.name] = TableSum(rows=rows, md5=md5)
        reporter.advance()
    objects: dict[str, list[str]] = {}
    names = [*sums, "alembic_version"]
    for kind, name in conn.execute(text(_OBJECTS), {"tables": names}):
        objects.setdefault(kind, []).append(name)
    return Fingerprint(
        revision=current_revision(conn),
        tables=sums,
        objects={kind: sorted(v) for kind, v in sorted(objects.items())},
    )


# --- the manifest --------------------------------------------------------------------------
@dataclass(frozen=True)
class Manifest:
    fingerprint: Fingerprint
    dump_bytes: int
    dump_sha256: str
    created_at: str
    source: str
    server_version: str
    pg_dump_version: str

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "created_at": self.created_at,
            "source": self.source,
            "server_version": self.server_version,
            "pg_dump_version": self.pg_dump_version,
            "dump": {"bytes": self.dump_bytes, "sha256": self.dump_sha256},
            **self.fingerprint.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, this code reads {MANIFEST_FORMAT}")
        return cls(
            fingerprint=Fingerprint.from_json(data),
            dump_bytes=int(data["dump"]["bytes"]),
            dump_sha256=str(data["dump"]["sha256"]),
            created_at=str(data["created_at"]),
            source=str(data["source"]),
            server_version=str(data["server_version"]),
            pg_dump_version=str(data["pg_dump_version"]),
        )


def manifest_path(dump_file: Path) -> Path:
    return dump_file.with_name(dump_file.name + MANIFEST_SUFFIX)


def read_manifest(dump_file: Path) -> Manifest:
    """The manifest of a dump, checked for shape; every failure is one line for the user."""
    if not dump_file.exists():
        raise InvalidInput(f"{dump_file}: no such file")
    if not dump_file.is_file():
        raise InvalidInput(f"{dump_file} is not a file", action="dump")
    path = manifest_path(dump_file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput(
            f"{path.name} is missing: a restore needs the manifest written beside the dump",
            action="dump",
        ) from exc
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the manifest {path}: {exc}") from exc
    try:
        return Manifest.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"{path} is not a dump's manifest: {exc}", action="dump") from exc


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write beside, then rename: a reader never sees half a manifest."""
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    return size, digest.hexdigest()


# --- the PostgreSQL client programs ---------------------------------------------------------
@dataclass(frozen=True)
class PgTools:
    bin_dir: Path
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def path(self, program: str) -> str:
        return str(self.bin_dir / program)

    def require_server(self, server_major: int) -> None:
        """pg_dump refuses a server newer than itself; say which package fixes that."""
        if self.major < server_major:
            raise ConfigurationError(
                f"pg_dump {self.version} ({self.bin_dir}) cannot dump a PostgreSQL "
                f"{server_major} server: {CLIENT_HINT.format(v=server_major)}"
            )


def _tool_version(bin_dir: Path) -> str:
    out = subprocess.run(
        [str(bin_dir / "pg_dump"), "--version"], capture_output=True, text=True, check=False
    )
    found = re.search(r"(\d+(?:\.\d+)?)", out.stdout)
    return found.group(1) if found else "0"


def find_tools(settings: Settings) -> PgTools:
    """pg_dump and pg_restore that match the server.

    The embedded cluster's own binaries for the embedded cluster; for another server, the
    newest installed, which can dump every older server too (``require_server`` checks).
    """
    if not settings.database_url:
        folders = [find_pg_bin(settings.pg_bin_dir)]
    else:
        folders = installed_bin_dirs("pg_dump")
    for folder in folders:
        if (folder / "pg_dump").exists() and (folder / "pg_restore").exists():
            return PgTools(bin_dir=folder, version=_tool_version(folder))
    raise ConfigurationError(f"pg_dump and pg_restore not found: {CLIENT_HINT.format(v=15)}")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def libpq_target(url: str, settings: Settings, application: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string and environment for the database a SQLAlchemy URL names.

    The password travels in ``PGPASSWORD``, never on a command line that ``ps`` shows. The
    URL's query (``?host=<socket folder>&port=...``, ``sslmode``, ...) holds libpq keywords
    already: psycopg2 hands them to libpq the same way.
    """
    u = make_url(url)
    params: dict[str, str] = {}
    if u.host:
        params["host"] = u.host
    if u.port:
        params["port"] = str(u.port)
    if u.username:
        params["user"] = u.username
    if u.database:
        params["dbname"] = u.database
    for key, value in u.query.items():
        params[key] = value if isinstance(value, str) else ",".join(value)
    params.setdefault("connect_timeout", str(settings.connect_timeout_s))
    params.setdefault("application_name", application)
    conninfo = " ".join(f"{key}={_quote(value)}" for key, value in params.items())
    env = dict(os.environ, LC_MESSAGES="C")  # progress is read from the English messages
    if u.password:
        env["PGPASSWORD"] = u.password
    return conninfo, env


def _run(
    cmd: list[str], env: dict[str, str], reporter: Reporter, progress: tuple[str, ...]
) -> tuple[int, list[str]]:
    """Run pg_dump or pg_restore with --verbose; its progress lines advance the reporter,
    every other line is kept for the error message."""
    kept: list[str] = []
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace"
    )
    assert proc.stderr is not None
    for raw in proc.stderr:
        line = raw.rstrip("\n")
        if line.startswith(progress):
            reporter.advance()
        else:
            kept.append(line)
    return proc.wait(), kept


def _first_error(lines: Iterable[str], returncode: int) -> str:
    """One line out of a tool's complaint: its first error, the server's words kept."""
    lines = [line for line in lines if line.strip()]
    said = next((line for line in lines if ": error: " in line), None)
    if said is None:
        said = lines[0] if lines else f"exit status {returncode}"
    said = said.split(": error: ", 1)[-1]
    said = said.replace("could not execute query: ", "").replace("ERROR: ", "")
    return re.sub(r"\s+", " ", said).strip()


# --- dump ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DumpResult:
    path: Path
    manifest_path: Path
    manifest: Manifest
    seconds: float

    def summary(self) -> list[str]:
        fp = self.manifest.fingerprint
        rows = {name: s.rows for name, s in fp.tables.items()}
        return [
            f"dumped {self.manifest.source} to {self.path} "
            f"({self.manifest.dump_bytes / 1e6:.1f} MB) in {self.seconds:.1f} s",
            f"schema revision {fp.revision}; {rows.get('service_point', 0):,} service points, "
            f"{rows.get('offering', 0):,} offerings, {rows.get('rating', 0):,} ratings",
            f"manifest: {self.manifest_path} (rows and md5 of {len(fp.tables)} tables; "
            + _count_objects(fp)
            + ")",
        ]


def _output_path(path: Path) -> Path:
    path = path.expanduser().absolute()
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder: name the dump file, e.g. {path / 'locator.dump'}")
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot write {path}: the folder {path.parent} does not exist")
    return path


def dump(settings: Settings, path: Path, reporter: Reporter | None = None) -> DumpResult:
    """Dump the configured database to ``path`` and write its manifest beside it."""
    reporter = reporter or NullReporter()
    started = time.perf_counter()
    path = _output_path(path)
    url = database_url(settings)
    tools = find_tools(settings)
    conninfo, env = libpq_target(url, settings, "locator-dump")
    source = describe_url(make_url(url))
    tmp = path.with_name(f".{path.name}.partial")
    engine = make_engine(url, settings)
    try:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            server_version = conn.execute(text("SHOW server_version")).scalar_one()
            server_num = int(conn.execute(text("SHOW server_version_num")).scalar_one())
            tools.require_server(server_num // 10000)
            if current_revision(conn) is None:
                raise DatabaseUnavailable(
                    f"{source} has no schema yet: nothing to dump", action="migrate"
                )
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            # owner-only from the first byte: a dump holds hashed API keys and raters' hashes
            tmp.unlink(missing_ok=True)
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            fp = fingerprint(conn, reporter)
            n_tables = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
            reporter.stage(f"pg_dump to {path.name}", total=n_tables)
            code, lines = _run(
                [
                    tools.path("pg_dump"),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    "--verbose",
                    f"--file={tmp}",
                    f"--dbname={conninfo}",
                ],
                env,
                reporter,
                ("pg_dump: dumping contents of table",),
            )
            if code != 0:
                raise DumpFailed(f"pg_dump failed: {_first_error(lines, code)}")
        reporter.stage(f"SHA-256 of {path.name}")
        size, sha = _sha256(tmp)
        os.replace(tmp, path)
    finally:
        engine.dispose()
        tmp.unlink(missing_ok=True)
    manifest = Manifest(
        fingerprint=fp,
        dump_bytes=size,
        dump_sha256=sha,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source=source,
        server_version=server_version,
        pg_dump_version=tools.version,
    )
    _write_json(manifest_path(path), manifest.to_json())
    return DumpResult(path, manifest_path(path), manifest, time.perf_counter() - started)


# --- restore ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RestoreResult:
    path: Path
    target: str
    manifest: Manifest
    restored: Fingerprint
    replaced_points: int
    head: str | None
    seconds: float

    def summary(self) -> list[str]:
        fp = self.restored
        replaced = (
            f", replacing {self.replaced_points:,} service points" if self.replaced_points else ""
        )
        width = max(len(name) for name in fp.tables)
        lines = [
            f"restored {self.path.name} into {self.target} in {self.seconds:.1f} s{replaced}",
            f"verified: rows and checksums of all {len(fp.tables)} tables match the dump "
            f"({self.manifest.created_at}, {self.manifest.source}), and so do its "
            + _count_objects(fp),
            *(
                f"  {name:<{width}}  {s.rows:>9,} rows  md5 {s.md5}  matches"
                for name, s in fp.tables.items()
            ),
            f"schema revision {fp.revision} (code head: {self.head})",
        ]
        if fp.revision != self.head:
            lines.append("the schema is older than this code: migrate it next")
        return lines


def _check_revision(revision: str | None) -> str | None:
    """Refuse a dump whose schema this code does not know: it comes from a newer locator,
    and restoring it would leave a database that the code's migrations cannot read."""
    head = head_revision()
    try:
        known = revision is not None and (
            ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
        )
    except CommandError:
        known = False
    if not known:
        raise InvalidInput(
            f"the dump is at schema revision {revision}, which this code does not know (its "
            f"newest is {head}): restore it with the newer locator that made it"
        )
    return head


_ENTRY = re.compile(r"^\d+; \d+ \d+ (?P<desc>[A-Z][A-Z ]*?) (?P<schema>\S+) (?P<rest>.*)$")


def _plan(toc: str, installed: set[str]) -> list[str]:
    """The archive's table of contents, less the extensions the target already has:
    ``--clean`` would drop and re-create them, which needs their owner (a managed
    server's superuser) and buys nothing."""
    restore: list[str] = []
    for line in toc.splitlines():
        entry = _ENTRY.match(line)
        if entry is None:
            continue
        desc, rest = entry["desc"], entry["rest"]
        if desc == "EXTENSION" and rest.split(" ")[0] in installed:
            continue
        if desc == "COMMENT" and rest.startswith("EXTENSION ") and rest.split(" ")[1] in installed:
            continue
        restore.append(line)
    return restore


def _service_points(conn: Connection) -> int:
    if conn.execute(text("SELECT to_regclass('public.service_point')")).scalar_one() is None:
        return 0
    count: int = conn.execute(text("SELECT count(*) FROM service_point")).scalar_one()
    return count


def restore(
    settings: Settings, path: Path, *, replace: bool = False, reporter: Reporter | None = None
) -> RestoreResult:
    """Restore a dump into the configured database, then prove it is the dump's data."""
    reporter = reporter or NullReporter()
    started = time.perf_counter()
    path = path.expanduser().absolute()
    manifest = read_manifest(path)
    reporter.stage(f"SHA-256 of {path.name}")
    size, sha = _sha256(path)
    if (size, sha) != (manifest.dump_bytes, manifest.dump_sha256):
        raise InvalidInput(
            f"{path} is damaged or is not the dump its manifest describes ({size:,} bytes, "
            f"sha256 {sha[:12]}...; the manifest says {manifest.dump_bytes:,} bytes, "
            f"{manifest.dump_sha256[:12]}...)"
        )
    head = _check_revision(manifest.fingerprint.revision)
    url = database_url(settings)
    target = describe_url(make_url(url))
    tools = find_tools(settings)
    conninfo, env = libpq_target(url, settings, "locator-restore")
    reporter.stage("Reading the archive's table of contents")
    toc = subprocess.run(
        [tools.path("pg_restore"), "--list", str(path)], capture_output=True, text=True, env=env
    )
    if toc.returncode != 0:
        raise InvalidInput(
            f"cannot read {path.name}: {_first_error(toc.stderr.splitlines(), toc.returncode)}"
        )
    engine = make_engine(url, settings)
    try:
        with engine.connect() as conn:
            points = _service_points(conn)
            installed = set(conn.execute(text("SELECT extname FROM pg_extension")).scalars())
        if points and not replace:
            raise Conflict(
                f"{target} already holds {points:,} service points: overwriting them with "
                f"{path.name} has to be asked for",
                action="replace",
            )
        entries = _plan(toc.stdout, installed)
        with tempfile.TemporaryDirectory(prefix="locator-restore-") as folder:
            listing = Path(folder) / "restore.list"
            listing.write_text("\n".join(entries) + "\n")
            # --clean announces a drop for every entry, then each is created or filled
            reporter.stage(f"pg_restore, one transaction: {len(entries)} objects", 2 * len(entries))
            code, lines = _run(
                [
                    tools.path("pg_restore"),
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-acl",
                    "--single-transaction",
                    "--exit-on-error",
                    "--verbose",
                    f"--use-list={listing}",
                    f"--dbname={conninfo}",
                    str(path),
                ],
                env,
                reporter,
                tuple(
                    f"pg_restore: {verb}"
                    for verb in ("dropping", "creating", "processing", "executing")
                ),
            )
        if code != 0:
            raise RestoreFailed(
                f"pg_restore failed, {target} is as it was: {_first_error(lines, code)}"
            )
        reporter.stage("The API roles' privileges")
        _grant(engine, target)
        reporter.stage("Planner statistics (ANALYZE)")
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("ANALYZE"))
        with engine.connect() as conn:
            restored = fingerprint(conn, reporter)
    finally:
        engine.dispose()
    differences = manifest.fingerprint.differences(restored)
    if differences:
        more = f"; and {len(differences) - 5} more" if len(differences) > 5 else ""
        raise VerificationFailed(
            f"restored into {target}, but it differs from the dump: "
            + "; ".join(differences[:5])
            + more
        )
    return RestoreResult(
        path=path,
        target=target,
        manifest=manifest,
        restored=restored,
        replaced_points=points,
        head=head,
        seconds=time.perf_counter() - started,
    )


def _grant(engine: Engine, target: str) -> None:
    """The API roles' privileges (``--no-acl`` left them out: the dump's grants name roles
    the target cluster may not have), in a transaction after pg_restore's."""
    try:
        with engine.begin() as conn:
            create_roles(conn)
            grant(conn)
    except Exception as exc:
        said = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0]
        raise RestoreFailed(
            f"the data was restored into {target}, but granting the API roles their "
            f"privileges failed ({said}); restore it again, replacing what is there",
            action="replace",
        ) from exc
