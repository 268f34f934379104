"""The app factory. The lifespan owns the engines; tests hand in their own database URL."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from locator import __version__, metrics
from locator.api.deps import (
    documented_methods,
    query_parameter_names,
    reject_unknown_parameters,
)
from locator.api.errors import install_error_handlers
from locator.api.guards import CompressWhenAccepted, install_guards
from locator.api.observability import Observe
from locator.api.routers import agencies, analysis, citizens, health, ogc, pinning, web
from locator.db.engine import (
    api_urls,
    database_url,
    make_read_engine,
    make_session_factory,
    make_write_engine,
)
from locator.db.replicas import ReadRouting
from locator.registry.gazetteer import get_gazetteer
from locator.secrets import client_hash_key
from locator.settings import Settings, get_settings

log = logging.getLogger("locator.api")

DESCRIPTION = """
Find Thai government service points: the nearest office that offers a service, asks for
no photocopies (No-Copy), is open now, and how to get there.

Errors always have the body `{"error": {"code", "message", "details"}}`; the message
says what to fix. A 503 (database unavailable, or the server busy) carries
`Retry-After`.
"""


def _warm_gazetteer(engine: Engine) -> None:
    """Build the place gazetteer now (a second or two), not in the first search; a
    database not ready yet is fine: the first search builds it then."""
    try:
        with engine.connect() as conn:
            get_gazetteer(conn)
    except SQLAlchemyError as exc:
        log.warning("place gazetteer not built at start-up: %s", exc)


def create_app(settings: Settings | None = None, owner_url: str | None = None) -> FastAPI:
    """The API. ``owner_url`` names the database (default: ``database_url()``); the API
    connects to it as its own least-privilege roles, never as the owner."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        client_hash_key(settings)  # refuse to start without one, not at the first rating
        write_url, read_url = api_urls(owner_url or database_url(settings), settings)
        app.state.write_engine = make_write_engine(write_url, settings)
        app.state.session_factory = make_session_factory(app.state.write_engine)
        app.state.read_engine = make_read_engine(read_url, settings)
        app.state.reads = ReadRouting(app.state.read_engine, read_url, settings)
        app.state.query_names = query_parameter_names(app.openapi())
        app.state.path_methods = documented_methods(app.openapi())
        await anyio.to_thread.run_sync(_warm_gazetteer, app.state.read_engine)
        await anyio.to_thread.run_sync(app.state.reads.start)
        try:
            yield
        finally:
            app.state.reads.close()
            app.state.read_engine.dispose()
            app.state.write_engine.dispose()
            metrics.process_exited(os.getpid())

    app = FastAPI(
        title="locator",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # served by web.py from local files, with a Content-Security-Policy
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(reject_unknown_parameters)],
    )
    app.state.settings = settings
    install_error_handlers(app)
    # compressed when the client accepts it (a phone's first load: the page, Leaflet and
    # the province outlines); innermost, so refusals by the guards cost no compression
    app.add_middleware(CompressWhenAccepted, minimum_size=1024, compresslevel=5)
    install_guards(app, settings)
    # outermost: a request id and metrics for every request, the refused ones too
    app.add_middleware(Observe)
    app.include_router(health.router)
    app.include_router(citizens.build_router(settings))
    app.include_router(pinning.router)
    app.include_router(analysis.build_router(settings))
    app.include_router(agencies.router)
    app.include_router(ogc.build_router(settings))
    app.include_router(web.router)
    web.mount_static(app)
    return app
