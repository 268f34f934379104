"""Secrets the service needs and a deployment must not share by accident.

Today one: the key of the hash that stands in for client addresses (``locator.registry.ratings``).
A fixed default key would let anyone who reads this code recompute which address made
which rating; so the embedded set-up makes a random key in its private state folder on
first use, and a deployment on its own database must set ``LOCATOR_CLIENT_HASH_KEY``.
"""

from __future__ import annotations

import os
import secrets

from locator.errors import ConfigurationError
from locator.settings import Settings

KEY_FILE = "client_hash_key"


def client_hash_key(settings: Settings) -> str:
    if settings.client_hash_key:
        return settings.client_hash_key
    if settings.database_url:
        raise ConfigurationError(
            "LOCATOR_CLIENT_HASH_KEY is not set: a deployment on its own database needs a "
            "secret key of at least 16 characters (for example from `openssl rand -hex 32`)"
        )
    path = settings.state_dir / KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key
