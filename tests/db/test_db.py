"""The prepared-statement runner the hot read routes use (``locator.db.engine.run_prepared``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from locator.db.engine import api_urls, make_read_engine, run_prepared
from locator.settings import get_settings

TRIGRAM = "SELECT id, name_en FROM service_point WHERE name_en % :q ORDER BY id LIMIT :n"


@pytest.fixture
def reader(db_url: str) -> Iterator[Engine]:
    engine = make_read_engine(api_urls(db_url, get_settings())[1], get_settings())
    yield engine
    engine.dispose()


def test_a_statement_with_a_percent_sign_runs(session: Session) -> None:
    """pg_trgm's `%` operator: the old runner doubled it and broke the statement."""
    params = {"q": "Bang Rak District Office", "n": 3}
    rows = run_prepared(session, TRIGRAM, params)
    plain = [dict(r._mapping) for r in session.execute(text(TRIGRAM), params)]
    assert rows and rows == plain


def test_each_connection_prepares_a_statement_once(reader: Engine) -> None:
    with reader.connect() as conn:
        first = run_prepared(conn, TRIGRAM, {"q": "Chiang Mai", "n": 2})
        second = run_prepared(conn, TRIGRAM, {"q": "Chiang Mai", "n": 2})
        prepared = conn.execute(
            text("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'locator_%'")
        ).scalar_one()
    assert first == second
    assert prepared == 1


def test_the_read_pool_runs_generic_plans_even_after_a_rollback(reader: Engine) -> None:
    with reader.connect() as conn:
        conn.execute(text("SELECT 1"))
        assert conn.execute(text("SHOW plan_cache_mode")).scalar_one() == "force_generic_plan"
        with pytest.raises(DBAPIError):
            conn.execute(text("SELECT 1/0"))
        assert conn.execute(text("SHOW plan_cache_mode")).scalar_one() == "force_generic_plan"


def test_a_dead_connection_is_an_invalidated_error_and_the_pool_recovers(
    reader: Engine, db_url: str
) -> None:
    owner = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with reader.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with owner.connect() as admin:  # as a restart would: the server ends the session
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    owner.dispose()
    with reader.connect() as conn, pytest.raises(DBAPIError) as dead:
        run_prepared(conn, TRIGRAM, {"q": "Hat Yai", "n": 1})
    assert dead.value.connection_invalidated
    with reader.connect() as conn:  # a fresh connection, without anyone asking
        assert run_prepared(conn, TRIGRAM, {"q": "Hat Yai", "n": 1})


def test_database_errors_keep_their_sqlstate(session: Session) -> None:
    with pytest.raises(DBAPIError) as refused:
        run_prepared(session, "SELECT 1 / :zero AS x", {"zero": 0})
    assert getattr(refused.value.orig, "pgcode", None) == "22012"
