"""The server's log lines: each carries the id of the request it was written for, and
``LOCATOR_LOG_FORMAT=json`` makes every line one JSON object.

The request id lives in a context variable, set by the HTTP door for each request
(``locator.api.observability``) and read by a logging filter on every handler, so the
app's own warnings, a library's, and uvicorn's access line all carry it without any code
passing it along. uvicorn runs each request in a task of its own, which copies the
context, so one request's id never reaches the next one's lines.

``uvicorn_log_config`` is what ``locator serve`` hands uvicorn: its own configuration
with the filter on both handlers, the ``locator`` loggers beside uvicorn's, and, in JSON,
python-json-logger's formatter with the fields an operator's log pipeline indexes: time,
level, logger, message, request_id, and for an access line method, path, status,
duration_ms and client.
"""

from __future__ import annotations

import copy
import logging
import time
from contextvars import ContextVar
from typing import Any, Literal

REQUEST_ID: ContextVar[str | None] = ContextVar("locator_request_id", default=None)
REQUEST_STARTED: ContextVar[float | None] = ContextVar("locator_request_started", default=None)
"""``time.perf_counter()`` when the request arrived (for the access line's duration)."""

LogFormat = Literal["text", "json"]
ACCESS_LOGGER = "uvicorn.access"


class RequestContext(logging.Filter):
    """Adds ``request_id`` (``missing`` outside a request) to every record, and to
    uvicorn's access line its parts as fields of their own.

    uvicorn writes its access line when the answer's headers go out, so ``duration_ms``
    is the time to the first byte of the answer.
    """

    def __init__(self, missing: str | None = None) -> None:
        super().__init__()
        self.missing = missing

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or self.missing
        args = record.args
        if record.name == ACCESS_LOGGER and isinstance(args, tuple) and len(args) == 5:
            client, method, path, _http_version, status = args
            record.client, record.method, record.path, record.status = client, method, path, status
            started = REQUEST_STARTED.get()
            record.duration_ms = (
                None if started is None else round((time.perf_counter() - started) * 1000, 3)
            )
        return True


def uvicorn_log_config(log_format: LogFormat) -> dict[str, Any]:
    """uvicorn's logging configuration for ``locator serve``, in ``log_format``."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    json_lines = log_format == "json"
    config["filters"] = {
        "request": {"()": f"{__name__}.RequestContext", "missing": None if json_lines else "-"}
    }
    for handler in config["handlers"].values():
        handler["filters"] = ["request"]
    if json_lines:
        from pythonjsonlogger.core import RESERVED_ATTRS

        json_formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
            # uvicorn's coloured copy of a message, and the access line's raw arguments
            # (its fields are named by the filter instead)
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
        }
        config["formatters"] = {"default": json_formatter, "access": dict(json_formatter)}
        # one stream, so a log shipper reads one sequence of JSON lines
        config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    else:
        config["formatters"]["default"]["fmt"] = "%(levelprefix)s [%(request_id)s] %(message)s"
        config["formatters"]["access"]["fmt"] = (
            '%(levelprefix)s [%(request_id)s] %(client_addr)s - "%(request_line)s" %(status_code)s'
        )
    # the app's own warnings (database down, busy, refused) beside uvicorn's, and any
    # other library's warnings in the same format rather than bare on stderr
    config["loggers"]["locator"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config
