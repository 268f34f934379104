"""Dependencies shared by the routers: the settings, a write session, a reader."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from locator.db import Executor
from locator.settings import Settings

Reader = Callable[[], AbstractContextManager[Executor]]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; the route's writes commit when it returns without error."""
    with request.app.state.session_factory() as session, session.begin():
        yield session


async def get_reader(request: Request) -> Reader:
    """How a read-only route reaches the database: ``with reader() as db: ...``.

    The route opens it in its own worker thread and holds a pooled autocommit connection
    (``make_read_engine``) only while it queries. A generator dependency yielding a
    session instead cost a quarter of a nearest request's CPU: the ORM session's
    bookkeeping, and an async exit stack with a shielded cancel scope to close it.
    Checking out here, on the event loop, is no option: a full pool would block the loop.
    """
    return request.app.state.read_engine.connect


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
ReaderDep = Annotated[Reader, Depends(get_reader)]
