"""The embedded default database: a private PostgreSQL + PostGIS cluster.

It lives in the git-ignored state folder (``LOCATOR_STATE_DIR``, default ``.locator/``),
listens only on a unix socket in a private directory (no TCP port is opened, so nothing
outside this machine, and no other local user, can reach it), and is started on demand
by every command that needs a database. When ``LOCATOR_DATABASE_URL`` is set none of
this runs.

PostgreSQL refuses to run as root, so when we are root the server runs as the
``postgres`` system user, and the cluster's folders are handed to that user.

Who may connect: besides the private socket folder, the server checks the operating-system
user of every connection (``peer`` authentication): only the user who set the cluster up
(and root) may log in, as the owner or as the API's two least-privilege roles
(``locator.db.roles``). No passwords exist, so none can leak.

Read replicas (``ReplicaCluster``, ``locator db replica``): hot standbys of the cluster on
the same machine, made by ``pg_basebackup`` and fed by PostgreSQL's own streaming
replication. They connect as ``locator_replication``, a role that may replicate and do
nothing else, over the same private socket; the server's own system user (``postgres``
when we are root) may log in as it, which grants nothing new: that user owns the data
files already.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from locator.db.roles import READER_ROLE, ROLES
from locator.errors import ConfigurationError, DatabaseUnavailable
from locator.settings import Settings

SUPERUSER = "locator"
REPLICATION_ROLE = "locator_replication"
REQUIRED_EXTENSIONS = ("postgis", "btree_gist", "pg_trgm", "pgrouting")
INSTALL_HINT = (
    "run `make deps` (it runs: apt-get install postgresql-15 postgresql-15-postgis-3 "
    "postgresql-15-pgrouting)"
)

_SERVER_CONFIG = {
    "listen_addresses": "''",
    "shared_buffers": "'512MB'",
    "work_mem": "'32MB'",
    "maintenance_work_mem": "'512MB'",
    "max_connections": "100",
    "jit": "off",
    "timezone": "'UTC'",
    "log_min_messages": "warning",
    "max_wal_size": "'2GB'",
}


def installed_bin_dirs(program: str) -> list[Path]:
    """PostgreSQL's binary folders, newest version first, then the one of ``program`` on
    the PATH."""
    folders = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    which = shutil.which(program)
    if which:
        folders.append(Path(which).resolve().parent)
    return folders


def find_pg_bin(configured: Path | None = None) -> Path:
    """The folder of the newest installed PostgreSQL server binaries."""
    candidates = ([configured] if configured is not None else []) + installed_bin_dirs("pg_ctl")
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise ConfigurationError(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}"
    )


def _sharedir(bin_dir: Path) -> Path:
    pg_config = bin_dir / "pg_config"
    if pg_config.exists():
        out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True)
        if out.returncode == 0:
            return Path(out.stdout.strip())
    version = bin_dir.parent.name
    return Path(f"/usr/share/postgresql/{version}")


def missing_extensions(bin_dir: Path) -> list[str]:
    """Extensions whose packages are not installed for these server binaries."""
    ext_dir = _sharedir(bin_dir) / "extension"
    return [e for e in REQUIRED_EXTENSIONS if not (ext_dir / f"{e}.control").exists()]


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    data_dir: Path
    socket_dir: Path
    port: int
    pid: int | None
    url: str


class LocalCluster:
    """One private cluster under ``state_dir`` (or ``root``, a replica's folder)."""

    def __init__(
        self, settings: Settings, root: Path | None = None, port: int | None = None
    ) -> None:
        self.settings = settings
        self.root = root or settings.state_dir
        self.data_dir = self.root / "pgdata"
        self.socket_dir = self.root / "run"
        self.log_file = self.root / "postgres.log"
        self.port = port or settings.db_port
        self.db_name = settings.db_name
        self._bin: Path | None = None

    # -- helpers ----------------------------------------------------------------------
    @property
    def bin_dir(self) -> Path:
        if self._bin is None:
            self._bin = find_pg_bin(self.settings.pg_bin_dir)
        return self._bin

    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a server tool, as the ``postgres`` user when we are root."""
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_root():
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
        if check and out.returncode != 0:
            raise DatabaseUnavailable(
                f"{args[0]} failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}"
                + self._log_tail()
            )
        return out

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- last lines of " + str(self.log_file) + " ---\n" + "\n".join(text)

    def _prepare_folders(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in (self.data_dir, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)
        self.log_file.touch(exist_ok=True)
        if self._as_root():
            try:
                pg = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ConfigurationError(
                    f"running as root needs the `postgres` system user: {INSTALL_HINT}"
                ) from exc
            if self.data_dir.owner() != "postgres":
                # a cluster first made by a non-root run: hand all of it over, once
                for path in self.data_dir.rglob("*"):
                    os.chown(path, pg.pw_uid, pg.pw_gid)
            for path in (self.data_dir, self.socket_dir, self.log_file):
                os.chown(path, pg.pw_uid, pg.pw_gid)
            check = subprocess.run(
                ["runuser", "-u", "postgres", "--", "test", "-w", str(self.data_dir)],
                cwd="/",
            )
            if check.returncode != 0:
                raise ConfigurationError(
                    f"the postgres system user cannot reach {self.data_dir} (a parent folder "
                    "is private); set LOCATOR_STATE_DIR to a folder it can reach, "
                    "for example /var/lib/locator"
                )

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def _pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def url(self) -> str:
        return (
            f"postgresql+psycopg2://{SUPERUSER}@/{self.db_name}"
            f"?host={self.socket_dir}&port={self.port}"
        )

    # -- lifecycle --------------------------------------------------------------------
    def is_running(self) -> bool:
        if not self.initialised:
            return False
        return (
            self._run(["pg_ctl", "status", "-D", str(self.data_dir)], check=False).returncode == 0
        )

    def status(self) -> ClusterStatus:
        running = self.is_running()
        return ClusterStatus(
            running=running,
            data_dir=self.data_dir,
            socket_dir=self.socket_dir,
            port=self.port,
            pid=self._pid() if running else None,
            url=self.url(),
        )

    def init(self) -> None:
        missing = missing_extensions(self.bin_dir)
        if missing:
            raise ConfigurationError(
                f"PostgreSQL extensions not installed: {', '.join(missing)}: {INSTALL_HINT}"
            )
        self._prepare_folders()
        if self.initialised:
            return
        self._run(
            [
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=peer",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ]
        )
        conf = self.data_dir / "postgresql.conf"
        extra = "\n# locator: private cluster settings\n" + "".join(
            f"{key} = {value}\n" for key, value in _SERVER_CONFIG.items()
        )
        if self._as_root():
            # the file belongs to postgres; append through it so ownership stays right
            subprocess.run(
                ["runuser", "-u", "postgres", "--", "tee", "-a", str(conf)],
                input=extra,
                text=True,
                capture_output=True,
                check=True,
                cwd="/",
            )
        else:
            with conf.open("a", encoding="utf-8") as fh:
                fh.write(extra)

    def _auth_files(self) -> dict[str, str]:
        """pg_hba.conf and pg_ident.conf: peer authentication, mapped to our roles; the
        replicas' connections (the server's own user, see the module) as the replication
        role, which ``all`` does not cover."""
        users = sorted({getpass.getuser(), "root"})
        server_user = "postgres" if self._as_root() else getpass.getuser()
        ident = (
            "# locator: which operating-system users may log in as which roles\n"
            + "".join(
                f"locator  {user}  {role}\n" for user in users for role in (SUPERUSER, *ROLES)
            )
            + "".join(
                f"locator  {user}  {REPLICATION_ROLE}\n" for user in sorted({*users, server_user})
            )
        )
        hba = (
            "# locator: unix socket only (no TCP is opened), peer authentication\n"
            "local  all  all  peer  map=locator\n"
            f"local  replication  {REPLICATION_ROLE}  peer  map=locator\n"
        )
        return {"pg_hba.conf": hba, "pg_ident.conf": ident}

    def _write_auth(self) -> bool:
        """Write the authentication files when they differ; True when they changed."""
        changed = False
        for name, content in self._auth_files().items():
            path = self.data_dir / name
            try:
                if path.read_text() == content:
                    continue
            except OSError:
                pass
            if self._as_root():
                subprocess.run(
                    ["runuser", "-u", "postgres", "--", "tee", str(path)],
                    input=content,
                    text=True,
                    capture_output=True,
                    check=True,
                    cwd="/",
                )
            else:
                path.write_text(content)
            changed = True
        return changed

    def start(self) -> bool:
        """Start the cluster; returns False when it was already running (a no-op)."""
        self.init()
        auth_changed = self._write_auth()
        if self.is_running():
            if auth_changed:
                self._run(["pg_ctl", "reload", "-D", str(self.data_dir)])
            self._ensure_database()
            return False
        # A crash leaves postmaster.pid behind; pg_ctl says "not running", so it is stale.
        for stale in (
            self.data_dir / "postmaster.pid",
            self.socket_dir / f".s.PGSQL.{self.port}.lock",
        ):
            if stale.exists():
                stale.unlink()
        self._run(
            [
                "pg_ctl",
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "60",
                "-o",
                f"-c port={self.port} -c unix_socket_directories='{self.socket_dir}'",
            ]
        )
        self._ensure_database()
        return True

    def stop(self, mode: str = "fast") -> bool:
        """Stop the cluster; returns False when it was not running."""
        if not self.is_running():
            return False
        self._run(["pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60"])
        return True

    def _ensure_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(
                    dbname="postgres", user=SUPERUSER, host=str(self.socket_dir), port=self.port
                )
                break
            except psycopg2.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise DatabaseUnavailable(
                        f"cannot connect to the local cluster: {exc}"
                    ) from exc
                time.sleep(0.2)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.db_name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{self.db_name}"')
                # the API's roles may log in here (the migrations grant what they may do)
                for role in ROLES:
                    cur.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,))
                    found = cur.fetchone()
                    if found is None:
                        cur.execute(f"CREATE ROLE {role} LOGIN")
                    elif not found[0]:
                        cur.execute(f"ALTER ROLE {role} LOGIN")
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (REPLICATION_ROLE,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE ROLE {REPLICATION_ROLE} LOGIN REPLICATION")
        finally:
            conn.close()


def _libpq(url: str, user: str, **extra: str) -> str:
    """A libpq connection string to ``url``'s server as ``user`` (pg_basebackup's ``-d``)."""
    parts = make_url(url)
    query = {k: (v[0] if isinstance(v, tuple) else v) for k, v in parts.query.items()}
    params = {
        "host": query.get("host") or parts.host or "",
        "port": str(parts.port or query.get("port") or ""),
        "user": user,
        **extra,
    }
    return " ".join(f"{key}={value}" for key, value in params.items() if value)


@dataclass(frozen=True)
class ReplicaStatus:
    running: bool
    port: int
    data_dir: Path
    socket_dir: Path
    pid: int | None
    reader_url: str
    """What ``LOCATOR_READ_DATABASE_URLS`` names: the database as ``locator_reader``."""
    behind_bytes: int | None
    """WAL the primary has written and the replica not yet replayed (None: not known)."""


class ReplicaCluster(LocalCluster):
    """A hot standby of the primary at ``primary_url``, in ``<state_dir>/replica-<port>/``.

    ``pg_basebackup -R`` copies the whole primary cluster (every database: PostgreSQL
    replicates clusters, not databases) and writes the standby's connection back to it.
    A physical replication slot (``locator_replica_<port>``) makes the primary keep the
    WAL the replica has not received, so a replica stopped for a while catches up
    instead of needing a new copy; ``remove`` drops the slot, which would otherwise hold
    WAL on the primary for ever.
    """

    def __init__(self, settings: Settings, port: int, primary_url: str) -> None:
        super().__init__(settings, root=settings.state_dir / f"replica-{port}", port=port)
        self.primary_url = primary_url
        self.slot = f"locator_replica_{port}"

    @classmethod
    def all(cls, settings: Settings, primary_url: str) -> list[ReplicaCluster]:
        """The replicas made in this state folder."""
        ports = sorted(
            int(folder.name.removeprefix("replica-"))
            for folder in settings.state_dir.glob("replica-*")
            if folder.name.removeprefix("replica-").isdigit()
        )
        return [cls(settings, port, primary_url) for port in ports]

    def reader_url(self) -> str:
        database = make_url(self.primary_url).database or self.db_name
        return (
            f"postgresql+psycopg2://{READER_ROLE}@/{database}"
            f"?host={self.socket_dir}&port={self.port}"
        )

    def init(self) -> None:
        if not self.initialised:
            raise ConfigurationError(
                f"no replica in {self.root}: make it with `locator db replica create "
                f"--port {self.port}`"
            )

    def create(self) -> None:
        """Copy the primary and start following it."""
        if self.initialised:
            raise ConfigurationError(
                f"a replica already exists in {self.root}: `locator db replica start "
                f"--port {self.port}`, or `remove` it first"
            )
        self._prepare_folders()
        conninfo = _libpq(
            self.primary_url, REPLICATION_ROLE, application_name=f"locator-replica-{self.port}"
        )
        out = self._run(
            [
                "pg_basebackup",
                *("-D", str(self.data_dir), "-d", conninfo, "-R", "-X", "stream"),
                *("-C", "-S", self.slot, "--checkpoint=fast", "--no-password"),
            ],
            check=False,
        )
        if out.returncode != 0:
            self._drop_slot()
            message = out.stderr.strip() or out.stdout.strip()
            hint = ""
            if "pg_hba.conf" in message or REPLICATION_ROLE in message:
                hint = (
                    f"\nthe primary does not let {REPLICATION_ROLE} replicate: an embedded "
                    "cluster learns it from `locator db start` (a running one too); another "
                    f"server needs `CREATE ROLE {REPLICATION_ROLE} LOGIN REPLICATION` and a "
                    "`replication` line in its pg_hba.conf"
                )
            raise DatabaseUnavailable(f"pg_basebackup failed: {message}{hint}")
        self.start()

    def _ensure_database(self) -> None:
        """A standby is read-only: the primary's databases and roles arrive by replay."""

    def behind_bytes(self) -> int | None:
        import psycopg2

        try:
            conn = psycopg2.connect(
                dbname="postgres", user=SUPERUSER, host=str(self.socket_dir), port=self.port
            )
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_last_wal_replay_lsn()::text")
                    replayed = cur.fetchone()
            finally:
                conn.close()
            if not replayed or replayed[0] is None:
                return None
            engine = create_engine(self.primary_url, poolclass=NullPool)
            try:
                with engine.connect() as primary:
                    behind = primary.execute(
                        text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), :lsn)::bigint"),
                        {"lsn": replayed[0]},
                    ).scalar_one()
            finally:
                engine.dispose()
            return max(0, int(behind))
        except (psycopg2.Error, SQLAlchemyError):
            return None

    def replica_status(self) -> ReplicaStatus:
        running = self.is_running()
        return ReplicaStatus(
            running=running,
            port=self.port,
            data_dir=self.data_dir,
            socket_dir=self.socket_dir,
            pid=self._pid() if running else None,
            reader_url=self.reader_url(),
            behind_bytes=self.behind_bytes() if running else None,
        )

    def _drop_slot(self) -> None:
        """Drop the slot; the primary's sender lets go of it a moment after the replica
        stopped, so an active slot is waited for (a bounded while)."""
        engine = create_engine(self.primary_url, poolclass=NullPool)
        deadline = time.monotonic() + 30
        try:
            with engine.connect() as conn:
                while True:
                    active = conn.execute(
                        text("SELECT active FROM pg_replication_slots WHERE slot_name = :slot"),
                        {"slot": self.slot},
                    ).scalar_one_or_none()
                    if active is None:
                        return
                    if not active or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                conn.execute(text("SELECT pg_drop_replication_slot(:slot)"), {"slot": self.slot})
                conn.commit()
        finally:
            engine.dispose()

    def remove(self) -> None:
        """Stop the replica, drop its slot on the primary and delete its files. Stopped
        at once (``immediate``): a polite stop first writes out what is deleted next."""
        if self.initialised:
            self.stop(mode="immediate")
        self._drop_slot()
        shutil.rmtree(self.root, ignore_errors=True)
