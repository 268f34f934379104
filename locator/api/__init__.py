"""The HTTP door. Only this package imports FastAPI."""

from locator.api.app import create_app

__all__ = ["create_app"]
