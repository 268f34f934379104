"""A service point's entity tags: one version counter, two tags.

A point's row carries ``version``, raised by every edit. Readers get ``"v7.<hash>"``: the
hash covers the whole detail body, so a new rating (which changes the body, not the point)
still refreshes a cache. Writers send it back in ``If-Match`` and only the version part is
compared, so that a rating between a clerk's read and their edit does not block the edit.
"""

from __future__ import annotations

import hashlib


def detail_etag(version: int, body: bytes) -> str:
    return f'"v{version}.{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or a list of tags, compared weakly (``W/`` ignored)."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def version_etag(version: int) -> str:
    """The tag a writer may send: the version part alone."""
    return f'"v{version}"'


def names_no_version(if_match: str) -> bool:
    """``If-Match: *`` (any version at all) would let an edit overwrite one its author
    never saw: an edit must name the version it was made on."""
    return all(t.strip() in ("*", "") for t in if_match.split(","))


def names_version(if_match: str, version: int) -> bool:
    """If-Match names this version: ``"v7"``, or the detail's ``"v7.<hash>"`` (the hash
    part is the cache's: a new rating changes it, and must not block an edit)."""
    for tag in (t.strip().removeprefix("W/") for t in if_match.split(",")):
        if tag.strip('"').split(".")[0] == f"v{version}":
            return True
    return False
