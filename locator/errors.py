"""Domain errors, each carrying a message that is safe to show to the user.

The domain raises these; the API turns them into HTTP statuses in one place
(``locator.api.errors``) and the CLI prints them. Nothing here knows about HTTP.
"""

from __future__ import annotations

from typing import Any


class LocatorError(Exception):
    """Base of every error whose message is meant for the user."""

    code = "error"

    def __init__(self, message: str, *, action: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.action = action
        """What would fix it, as a word each door words its own way (the CLI names its
        command, the API its route): "migrate", "load_reference", "replace", "dump"."""
        self.details = details


class ConfigurationError(LocatorError):
    """The machine or the settings are not as the command needs (missing package, data)."""

    code = "configuration"


class DatabaseUnavailable(LocatorError):
    """The database cannot be reached or is not migrated."""

    code = "database_unavailable"


class EngineUnavailable(LocatorError):
    """The routing engine does not answer (stopped, starting, or too slow)."""

    code = "routing_unavailable"


class Busy(LocatorError):
    """The work could not be done in the time allowed (a lock, a query, a full pool);
    the same request may succeed a moment later."""

    code = "busy"


class InvalidInput(LocatorError):
    """The caller sent something we cannot use; the message says what to fix."""

    code = "invalid_input"


class NotFound(LocatorError):
    code = "not_found"


class Conflict(LocatorError):
    code = "conflict"


class PreconditionFailed(LocatorError):
    """An edit carried a stale ETag."""

    code = "precondition_failed"


class PreconditionRequired(LocatorError):
    code = "precondition_required"


class Unauthorized(LocatorError):
    code = "unauthorized"


class Forbidden(LocatorError):
    code = "forbidden"


class RateLimited(LocatorError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int, **details: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **details)
        self.retry_after_s = retry_after_s


class DumpFailed(LocatorError):
    code = "dump_failed"


class RestoreFailed(LocatorError):
    code = "restore_failed"


class VerificationFailed(LocatorError):
    """A restore committed, but the database is not what the dump held."""

    code = "verification_failed"
