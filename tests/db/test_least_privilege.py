"""The API's database roles can do what its doors do and nothing more (issue 8, item 6)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from locator.db.engine import api_urls, make_read_engine, make_write_engine
from locator.settings import get_settings


@pytest.fixture(scope="module")
def api_engines(db_url: str) -> Iterator[tuple[Engine, Engine]]:
    """The engines exactly as the API makes them: (write, read)."""
    settings = get_settings()
    write_url, read_url = api_urls(db_url, settings)
    write = make_write_engine(write_url, settings)
    read = make_read_engine(read_url, settings)
    yield write, read
    write.dispose()
    read.dispose()


def _sqlstate(exc: DBAPIError) -> str:
    return getattr(exc.orig, "pgcode", "") or ""


def test_the_api_never_connects_as_a_superuser(api_engines: tuple[Engine, Engine]) -> None:
    for engine in api_engines:
        with engine.connect() as conn:
            user, superuser, createrole, createdb = conn.execute(
                text(
                    "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb "
                    "FROM pg_roles WHERE rolname = current_user"
                )
            ).one()
        assert user in ("locator_api", "locator_reader")
        assert not (superuser or createrole or createdb), user


def test_a_read_connection_cannot_write(api_engines: tuple[Engine, Engine]) -> None:
    _, read = api_engines
    insert = text(
        "INSERT INTO rating (point_id, score, client_hash) "
        "VALUES ((SELECT min(id) FROM service_point), 5, 'x')"
    )
    with read.connect() as conn, pytest.raises(DBAPIError) as refused:
        conn.execute(insert)
    assert _sqlstate(refused.value) == "25006"  # read-only transaction
    # and had the session been made writable, the role itself may not write
    with read.connect() as conn:
        conn.execute(text("SET default_transaction_read_only = off"))
        with pytest.raises(DBAPIError) as denied:
            conn.execute(insert)
        conn.execute(text("RESET default_transaction_read_only"))
    assert _sqlstate(denied.value) == "42501"  # insufficient privilege


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) FROM account",
        "SELECT count(*) FROM api_key",
        'SELECT count(*) FROM "change"',
        "SELECT client_hash FROM rating LIMIT 1",
    ],
)
def test_the_reader_sees_only_what_is_public(
    api_engines: tuple[Engine, Engine], query: str
) -> None:
    _, read = api_engines
    with read.connect() as conn, pytest.raises(DBAPIError) as denied:
        conn.execute(text(query))
    assert _sqlstate(denied.value) == "42501"
    with read.connect() as conn:
        assert conn.execute(text("SELECT count(score) FROM rating")).scalar_one() >= 0


@pytest.mark.parametrize(
    "statement",
    [
        # the agencies' door updates points and appends to the change log; it never
        # deletes a point nor rewrites the log
        "DELETE FROM service_point WHERE id = 1",
        "UPDATE change SET field = 'x'",
        "DELETE FROM change",
        "UPDATE account SET role = 'platform_admin'",
        "DELETE FROM rating",
        "UPDATE rating SET score = 1",
        "INSERT INTO agency (code, name_th, name_en) VALUES ('x', 'x', 'x')",
        "DROP TABLE rating",
        "CREATE TABLE intruder (id int)",
    ],
)
def test_the_api_role_writes_only_what_its_doors_write(
    api_engines: tuple[Engine, Engine], statement: str
) -> None:
    write, _ = api_engines
    with write.connect() as conn, pytest.raises(DBAPIError) as denied:
        conn.execute(text(statement))
    assert _sqlstate(denied.value) == "42501", statement


def test_the_api_role_can_rate(api_engines: tuple[Engine, Engine]) -> None:
    write, _ = api_engines
    with write.connect() as conn:
        trans = conn.begin()
        new_id = conn.execute(
            text(
                "INSERT INTO rating (point_id, score, client_hash) "
                "VALUES ((SELECT min(id) FROM service_point), 5, 'test') RETURNING id"
            )
        ).scalar_one()
        trans.rollback()
    assert new_id > 0


def test_every_wait_is_bounded(api_engines: tuple[Engine, Engine]) -> None:
    settings = get_settings()
    write, read = api_engines
    expected = {
        "lock_timeout": settings.lock_timeout_ms,
        "idle_in_transaction_session_timeout": settings.idle_in_transaction_timeout_ms,
    }
    for engine, statement_ms in (
        (write, settings.write_statement_timeout_ms),
        (read, settings.read_statement_timeout_ms),
    ):
        with engine.connect() as conn:
            for name, ms in {**expected, "statement_timeout": statement_ms}.items():
                shown = conn.execute(
                    text("SELECT setting::int FROM pg_settings WHERE name = :n"), {"n": name}
                ).scalar_one()
                assert shown == ms, (engine.url.username, name, shown)
        assert engine.pool.timeout() == settings.pool_timeout_s  # type: ignore[attr-defined]


def test_a_slow_query_is_stopped(api_engines: tuple[Engine, Engine]) -> None:
    _, read = api_engines
    with read.connect() as conn, pytest.raises(DBAPIError) as stopped:
        conn.execute(text("SELECT pg_sleep(60)"))
    assert _sqlstate(stopped.value) == "57014"  # canceled by statement_timeout


def test_the_embedded_cluster_trusts_nobody_by_default(server_url: str) -> None:
    if get_settings().database_url:
        pytest.skip("an external server: its authentication is its own")
    owner = create_engine(server_url)
    with owner.connect() as conn:
        rules = conn.execute(
            text("SELECT type, auth_method FROM pg_hba_file_rules WHERE error IS NULL")
        ).all()
    owner.dispose()
    assert rules and all(method == "peer" for _, method in rules), rules
    assert all(kind == "local" for kind, _ in rules), rules
