"""The API in process (Starlette's TestClient), as the tests talk to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TypeVar

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from locator.api.deps import Reader, get_reader, get_settings_dep, get_writer
from locator.db.engine import Executor
from locator.settings import Settings

T = TypeVar("T")
BASE_URL = "http://localhost"  # a host the API answers to (LOCATOR_ALLOWED_HOSTS)


def with_settings(client: TestClient, settings: Settings) -> TestClient:
    """The API client answering with ``settings`` (another state folder, engine port)."""
    app = client.app
    app.dependency_overrides[get_settings_dep] = lambda: settings  # type: ignore[attr-defined]
    return client


def reading(session: Session) -> Reader:
    """A reader that runs every read in the test's transaction."""

    def read(work: Callable[[Executor], T]) -> T:
        return work(session)

    return read


@contextmanager
def in_transaction(app: FastAPI, session: Session) -> Iterator[TestClient]:
    """The app's client over the test's transaction: its writes vanish when the test ends."""

    def _in_test_transaction() -> AbstractContextManager[Session]:
        return nullcontext(session)

    app.dependency_overrides[get_reader] = lambda: reading(session)
    app.dependency_overrides[get_writer] = lambda: _in_test_transaction
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client
