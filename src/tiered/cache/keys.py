"""How a cache key and its tags' versions become the key an entry is stored under.

A tagged entry's stored key carries the version of each of its tags, so
bumping a tag (one ``INCR``) makes every entry stored under the old version
unreachable at once; those entries then expire on their own TTL. Nothing is
ever scanned for.

Untagged keys are stored as ``k:<key>``; tagged ones as
``v:<length>.<tag>=<version>;…|<key>``, with tags sorted and each one
length-prefixed, so no choice of keys and tags can make two entries share a
stored key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["entry_key", "normalise_tags", "source_flight_key"]


def normalise_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags in one canonical order, duplicates dropped."""
    return tuple(sorted(set(tags)))


def entry_key(key: str, tags: Sequence[str] = (), versions: Sequence[int] = ()) -> str:
    """The stored key of ``key`` under ``tags`` (normalised) at ``versions``."""
    if not tags:
        return f"k:{key}"
    parts = "".join(
        f"{len(tag)}.{tag}={version};" for tag, version in zip(tags, versions, strict=True)
    )
    return f"v:{parts}|{key}"


def source_flight_key(key: str, tags: Sequence[str] = ()) -> str:
    """The single-flight key of a load made while the backend is unavailable.

    Tag versions are unknown then, so the key names the tags only; it starts
    with a NUL so it can never equal a stored key.
    """
    return "\x00" + entry_key(key, tags, [0] * len(tags))
