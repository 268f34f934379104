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

from locator.db.roles import ROLES
from locator.errors import ConfigurationError, DatabaseUnavailable
from locator.settings import Settings

SUPERUSER = "locator"
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
    """One private cluster under ``state_dir``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.state_dir
        self.data_dir = self.root / "pgdata"
        self.socket_dir = self.root / "run"
        self.log_file = self.root / "postgres.log"
        self.port = settings.db_port
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
        """pg_hba.conf and pg_ident.conf: peer authentication, mapped to our roles."""
        users = sorted({getpass.getuser(), "root"})
        ident = "# locator: which operating-system users may log in as which roles\n" + "".join(
            f"locator  {user}  {role}\n" for user in users for role in (SUPERUSER, *ROLES)
        )
        hba = (
            "# locator: unix socket only (no TCP is opened), peer authentication\n"
            "local  all  all  peer  map=locator\n"
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

    def stop(self) -> bool:
        """Stop the cluster; returns False when it was not running."""
        if not self.is_running():
            return False
        self._run(["pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"])
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
        finally:
            conn.close()
