"""Dependencies shared by the routers: the settings and a database session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from locator.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; the route's writes commit when it returns without error."""
    with request.app.state.session_factory() as session, session.begin():
        yield session


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session for routes that only read: autocommit, one statement = one round trip.

    ``async`` on purpose: making a session does no I/O (it connects on first use, in the
    route's worker thread) and closing an autocommit session only returns its connection
    to the pool, so running both on the event loop saves two threadpool hops a request.
    """
    session = request.app.state.read_session_factory()
    try:
        yield session
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
