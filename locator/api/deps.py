"""Dependencies shared by the routers: the settings and a database session per request."""

from __future__ import annotations

from collections.abc import Iterator
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


def get_read_session(request: Request) -> Iterator[Session]:
    """A session for routes that only read: autocommit, one statement = one round trip."""
    with request.app.state.read_session_factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
