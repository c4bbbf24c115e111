"""L1: the in-process cache. LRU with per-entry TTL, bounded by entries and by bytes (cachetools).

Values are kept as Python objects, so a hit costs a dict lookup, not a decode. The caller gives
each value's size (the length of its encoded form), which is what the byte bound counts.
A lock makes it safe to share between the engine's loop and LangGraph's sync cache calls.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cachetools import TLRUCache


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    size: int
    expires: float  # time.monotonic() deadline, math.inf when the entry has no TTL
    tags: frozenset[str] = field(default_factory=frozenset)


class _Store(TLRUCache):
    """TLRUCache that reports capacity evictions (TTL expiry is not an eviction)."""

    def __init__(self, max_bytes: int, on_evict: Callable[[str], None]) -> None:
        super().__init__(
            maxsize=max_bytes,
            ttu=lambda _k, e, _now: e.expires,
            timer=time.monotonic,
            getsizeof=lambda e: e.size,
        )
        self._on_evict = on_evict

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self._on_evict(key)
        return key, value


@dataclass
class MemoryStats:
    hits: int = 0
    misses: int = 0
    sets: int = 0
    evictions: int = 0
    rejected: int = 0
    """Values larger than the whole byte budget, never stored."""


class MemoryCache:
    """Bounded in-process LRU+TTL cache of Python objects.

    >>> c = MemoryCache(max_entries=2, max_bytes=1_000)
    >>> c.set("k", {"a": 1}, size=8, ttl_s=60)
    True
    >>> c.get("k")
    {'a': 1}
    """

    def __init__(
        self, max_entries: int, max_bytes: int, *, on_evict: Callable[[str], None] | None = None
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.stats = MemoryStats()
        self.on_evict = on_evict
        """Called with the key of each capacity eviction (settable: the tiered cache counts them)."""
        self._lock = threading.Lock()
        self._store = _Store(max_bytes, self._evicted)

    def _evicted(self, key: str) -> None:
        self.stats.evictions += 1
        if self.on_evict is not None:
            self.on_evict(key)

    _MISSING = object()

    def get(self, key: str, default: Any = None) -> Any:
        """The value, or ``default`` when absent or expired (counted as hit or miss)."""
        with self._lock:
            entry = self._store.get(key, self._MISSING)
            if entry is self._MISSING:
                self.stats.misses += 1
                return default
            self.stats.hits += 1
            return entry.value  # type: ignore[union-attr]

    def set(self, key: str, value: Any, *, size: int, ttl_s: float | None, tags: Iterable[str] = ()) -> bool:
        """Store ``value`` (``size`` bytes) for ``ttl_s`` seconds (None = no expiry); False if too large."""
        expires = math.inf if ttl_s is None else time.monotonic() + ttl_s
        entry = _Entry(value, max(int(size), 1), expires, frozenset(tags))
        with self._lock:
            if entry.size > self.max_bytes:
                self.stats.rejected += 1
                self._store.pop(key, None)
                return False
            self._store[key] = entry
            while len(self._store) > self.max_entries:
                self._store.popitem()
            self.stats.sets += 1
            return True

    def replace(self, key: str, value: Any) -> bool:
        """Swap the value of a live entry, keeping its size, expiry, tags and LRU place (the engine
        swaps a result's plain data for its validated model). False when ``key`` is absent.

        >>> c = MemoryCache(max_entries=2, max_bytes=1_000)
        >>> c.set("k", {"a": 1}, size=8, ttl_s=60), c.replace("k", "A"), c.get("k"), c.replace("x", 1)
        (True, True, 'A', False)
        """
        with self._lock:
            entry = self._store.get(key, self._MISSING)
            if entry is self._MISSING:
                return False
            self._store[key] = _Entry(value, entry.size, entry.expires, entry.tags)  # type: ignore[union-attr]
            return True

    def delete(self, keys: Iterable[str]) -> int:
        with self._lock:
            return sum(self._store.pop(k, self._MISSING) is not self._MISSING for k in keys)

    def _purge(self, match: Callable[[str, _Entry], bool]) -> int:
        with self._lock:
            self._store.expire()
            doomed = [k for k in list(self._store) if match(k, self._store[k])]
            for k in doomed:
                del self._store[k]
            return len(doomed)

    def purge_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag``; returns how many."""
        return self._purge(lambda _k, e: tag in e.tags)

    def purge_prefix(self, prefix: str) -> int:
        """Remove every entry whose key starts with ``prefix``; returns how many."""
        return self._purge(lambda k, _e: k.startswith(prefix))

    def clear(self) -> None:
        with self._lock:
            self._store.clear()

    def size(self) -> int:
        """Live entries."""
        with self._lock:
            self._store.expire()
            return len(self._store)

    @property
    def bytes_used(self) -> int:
        with self._lock:
            self._store.expire()
            return int(self._store.currsize)

    def count_by_prefix(self, sep: str = ":") -> dict[str, int]:
        """Live entries per key prefix (the text before ``sep``)."""
        with self._lock:
            self._store.expire()
            out: dict[str, int] = {}
            for k in list(self._store):
                ns = k.split(sep, 1)[0]
                out[ns] = out.get(ns, 0) + 1
            return out
