"""The app factory. The lifespan owns the engine, so tests can hand in their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import Engine

from locator import __version__
from locator.api import citizens, health, ogc, web
from locator.api.errors import install_error_handlers
from locator.db import make_engine, make_read_engine, make_session_factory
from locator.settings import Settings, get_settings

DESCRIPTION = """
Find Thai government service points: the nearest office that offers a service, asks for
no photocopies (No-Copy), is open now, and how to get there.

Errors always have the body `{"error": {"code", "message", "details"}}`; the message
says what to fix.
"""


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        owned = engine is None
        app.state.engine = engine if engine is not None else make_engine()
        app.state.session_factory = make_session_factory(app.state.engine)
        # the same database, through its own autocommit pool (see make_read_engine)
        app.state.read_engine = make_read_engine(app.state.engine.url, settings.api_threads)
        try:
            yield
        finally:
            app.state.read_engine.dispose()
            if owned:
                app.state.engine.dispose()

    app = FastAPI(
        title="locator",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(citizens.build_router(settings))
    app.include_router(ogc.build_router(settings))
    app.include_router(web.build_router(settings))
    web.mount_static(app)
    return app
