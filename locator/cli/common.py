"""What every command shares: the consoles, the one-line errors, the database engine.

Every command that needs a database starts the embedded cluster on demand (unless
LOCATOR_DATABASE_URL points elsewhere). Domain errors print their message and exit 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, NoReturn, TypeVar, cast

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from locator.db.engine import make_engine
from locator.errors import DatabaseUnavailable, LocatorError
from locator.settings import get_settings

# soft wrap: a long line (a URL, an error) stays one line, whatever the terminal's width
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

# what a domain error's ``action`` means on the command line
CLI_ACTIONS = {
    "migrate": "run `locator migrate`",
    "load_reference": "run `locator load reference`",
    "replace": "run the command again with --replace",
    "dump": "name a dump made by `locator db dump` (it writes FILE.manifest.json beside it)",
    "install_osrm": "run `make venv`",
    "import_roads": "run `locator roads import FILE.osm.pbf`",
    "start_roads": "run `locator roads start`",
}


def friendly(fn: F) -> F:
    """Show a domain or database error as one clear line, not a traceback; exit 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LocatorError as exc:
            step = CLI_ACTIONS.get(exc.action or "")
            message = f"{exc.message}: {step}" if step else exc.message
            err.print(f"[bold red]error:[/] {message}", highlight=False)
            raise typer.Exit(2) from exc
        except (DBAPIError, ArgumentError, PoolTimeout) as exc:
            url = get_settings().database_url
            err.print(f"[bold red]error:[/] {explain_database_error(exc, url)}", highlight=False)
            raise typer.Exit(2) from exc

    return cast(F, wrapper)


def explain_database_error(exc: BaseException, url: str | URL | None = None) -> str:
    """One line for a person: what the database said, where, and what to do about it."""
    orig = getattr(exc, "orig", None) or exc
    said = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    said = said.split(" failed: ", 1)[-1].replace("FATAL:", "").strip()  # libpq's preamble
    where = ""
    if url is not None:
        try:
            u = make_url(url)
            host = u.query.get("host") or u.host or "localhost"
            port = u.query.get("port") or u.port or 5432
            where = f" ({u.database!r} as {u.username} on {host}, port {port})"
        except Exception:  # an unparsable URL is the message itself
            where = ""
    low = said.lower()
    pgcode = str(getattr(orig, "pgcode", None) or "")
    if pgcode and not pgcode.startswith(("08", "28", "3D")):
        # the server answered: a statement it refused, not a connection problem
        return f"database error{where}: {said}"
    if any(k in low for k in ("password", "authentication", "role", "permission denied")):
        hint = "check the user and password in LOCATOR_DATABASE_URL"
    elif "does not exist" in low and "database" in low:
        hint = "create the database, or check its name in LOCATOR_DATABASE_URL"
    elif any(k in low for k in ("could not parse", "can't load plugin", "url")):
        hint = "LOCATOR_DATABASE_URL must look like postgresql+psycopg2://user:pw@host:5432/db"
    else:
        hint = (
            "is the server running and reachable? (`locator db start` starts the embedded "
            "one; LOCATOR_DATABASE_URL names another)"
        )
    return f"database error{where}: {said}; {hint}"


def refuse_rows(title: str, problems: Iterable[tuple[str, str, str]]) -> NoReturn:
    """A file imported all or nothing was refused: each problem (row, field, what is
    wrong) on one line of a table, then exit 2."""
    table = Table("row", "field", "problem", title=title)
    for problem in problems:
        table.add_row(*problem)
    console.print(table)
    console.print("nothing was written: fix the rows above and import again", highlight=False)
    raise typer.Exit(2)


def migrated_engine() -> Engine:
    """The database engine, once the schema is known to be there (else one line: migrate)."""
    # the migrations pull in the ORM models (a quarter second): only commands that use
    # the database pay for them, not `locator --help`
    from locator.db.migrate import current_revision

    engine = make_engine()
    with engine.connect() as conn:
        if current_revision(conn) is None:
            raise DatabaseUnavailable("the database has no schema yet: run `locator migrate`")
    return engine
