"""Stable cache keys: the same inputs give the same key in every process, on every run.

Keys are an xxh3-128 digest of a canonical encoding (orjson with sorted keys; tuples as lists,
sets sorted), never ``hash()``, which changes with ``PYTHONHASHSEED``. ``CACHE_SCHEMA_VERSION``
is part of every key: bump it when the shape of cached values changes and old entries are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson
import xxhash

from core.errors import CodecError

CACHE_SCHEMA_VERSION = 1
"""Bumped whenever cached values change shape; old entries then simply miss."""

_WS = re.compile(r"\s+")
_TRAILING = "?!.,;:…。？！ \t"


def _canonical(value: Any) -> Any:
    """Turn containers into a form whose JSON encoding does not depend on order or container type."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: orjson.dumps(v, option=orjson.OPT_SORT_KEYS))
    if isinstance(value, bytes):
        return value.hex()
    raise CodecError(f"cannot build a cache key from a value of type {type(value).__name__!r}")


def stable_key(*parts: Any) -> str:
    """A 32-hex-digit digest of ``parts``, identical across processes and hash seeds.

    >>> stable_key("a", {"y": 1, "x": (2, 3)}) == stable_key("a", {"x": [2, 3], "y": 1})
    True
    """
    encoded = orjson.dumps(_canonical(list(parts)), option=orjson.OPT_SORT_KEYS)
    return xxhash.xxh3_128_hexdigest(encoded)


def normalize_question(question: str) -> str:
    """Casefold, collapse whitespace and drop trailing punctuation, so trivial variants share a key.

    >>> normalize_question("  What is   asyncio? ")
    'what is asyncio'
    """
    return _WS.sub(" ", question.casefold()).strip().rstrip(_TRAILING)


def _sources(sources: Sequence[tuple[str, str]]) -> list[list[str]]:
    # Source order does not change an answer; the version does (a re-indexed corpus is new data).
    return sorted([str(name), str(version)] for name, version in sources)


def query_tag(question: str) -> str:
    """The tag every cache entry computed for this question carries (whatever its other options),
    so the question can be purged.

    >>> query_tag("Why?") == query_tag("  why ")
    True
    """
    return stable_key("question", normalize_question(question))


def result_key(question: str, max_sources: int, sources: Sequence[tuple[str, str]], model: str) -> str:
    """Key of a whole research result: the normalized question, its limits, the data and the model.

    >>> len(result_key("What is asyncio?", 5, [("stdlib", "3.11")], "offline"))
    32
    """
    return stable_key(
        "result", CACHE_SCHEMA_VERSION, normalize_question(question), max_sources, _sources(sources), model
    )
