"""The hand-written YAML files of ``data/``, read into pydantic models.

Each entry is validated on read, so a typo in the data is a clear error naming the file
and the entry, not a foreign-key failure later.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from locator.errors import ConfigurationError


class Strict(BaseModel):
    """An entry of a data file: unknown keys are typos, and entries never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def read_entries(path: Path, model: type[M]) -> list[M]:
    """A file that is a list of entries, each a ``model``."""
    if not path.is_file():
        raise ConfigurationError(f"catalogue file missing: {path}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(raw, list):
        raise ConfigurationError(f"{path.name}: expected a list of entries")
    items: list[M] = []
    for i, entry in enumerate(raw):
        try:
            items.append(model.model_validate(entry))
        except ValidationError as exc:
            name = entry.get("code") or entry.get("kind") if isinstance(entry, dict) else None
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigurationError(
                f"{path.name}, entry {i + 1} ({name or '?'}): {problems}"
            ) from exc
    return items


def read_document(path: Path, model: type[M]) -> M:
    """A file that is one ``model``."""
    if not path.is_file():
        raise ConfigurationError(f"catalogue file missing: {path}")
    try:
        return model.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"{path.name}: {problems}") from exc
