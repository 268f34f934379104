"""The API in process (Starlette's TestClient), as the tests talk to it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from locator.api.deps import get_settings_dep
from locator.settings import Settings

BASE_URL = "http://localhost"  # a host the API answers to (LOCATOR_ALLOWED_HOSTS)


def with_settings(client: TestClient, settings: Settings) -> TestClient:
    """The API client answering with ``settings`` (another state folder, engine port)."""
    app = client.app
    app.dependency_overrides[get_settings_dep] = lambda: settings  # type: ignore[attr-defined]
    return client
